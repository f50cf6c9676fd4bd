"""'Download this view as a report': one self-contained HTML file (plotly.js embedded, no network) with the
current settings, every figure and the numbers behind it. Pure Python: the Guide's sections come from app.story,
any other page's items from what app.present drew (``view_report``)."""
from __future__ import annotations

import datetime as _dt
import html

import pandas as pd
import plotly.graph_objects as go

from app import glossary, units

VERDICT_COLOURS = {"holds": ("#009E73", "Holds"), "conditional": ("#E69F00", "Holds with a caveat"),
                   "does not hold": ("#D55E00", "Does not hold here")}
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2rem auto; padding: 0 1rem; color: #111;
       line-height: 1.45; }
h1 { font-size: 1.8rem; } h2 { font-size: 1.35rem; margin-top: 2.5rem; border-top: 1px solid #ccc;
       padding-top: 1rem; }
.headline { font-size: 1.15rem; font-weight: 600; }
.verdict { border-left: 6px solid; padding: .5rem 1rem; margin: 1rem 0; background: #f7f7f7; }
.problem { border-left: 6px solid #D55E00; padding: .5rem 1rem; background: #fff3ec; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
td, th { border: 1px solid #ccc; padding: .2rem .5rem; text-align: right; }
th { background: #eee; } .note { color: #444; font-size: .9rem; }
dl.glossary dt { font-weight: 600; } dl.glossary dd { margin: 0 0 .5rem 1rem; }
"""


def _esc(text) -> str:
    return html.escape(str(text))


def _table(df: pd.DataFrame | None, max_rows: int = 200) -> str:
    if df is None or not len(df):
        return ""
    shown = units.plain_table(df.head(max_rows))
    more = f"<p class='note'>First {max_rows} of {len(df):,} rows.</p>" if len(df) > max_rows else ""
    return shown.to_html(index=False, border=0, na_rep="", float_format=lambda v: units.number(v, 4)) + more


# Settings fields in the sidebar's words (a field not listed is shown with its underscores read as spaces).
SETTING_WORDS = {"scenario": "Device scenario", "hardware": "Hardware", "memory_mb": "Model memory (MB)",
                 "compute_gmacs": "Compute at the fastest precision (billion multiply-adds per second)",
                 "accelerators": "AI accelerators", "place": "Location", "application": "Application",
                 "latency_ms": "Latency budget (ms)", "min_accuracy": "Minimum accuracy", "samples": "Samples per task",
                 "selection_rule": "Which sub-model to send", "downlink_mbps": "Downlink (Mb/s)",
                 "uplink_mbps": "Uplink (Mb/s)", "channel_mode": "Errors given by", "ber": "Bit-error rate (BER)",
                 "snr_db": "SNR (dB)", "modulation": "Modulation", "protection": "Receiver protection",
                 "model": "Root model"}


def settings_table(settings) -> str:
    """The settings as a two-column table (the sidebar's label, value), every field of the record; a preset's
    value (None in the record) reads 'preset'."""
    def shown(k, v):
        return "preset" if v is None else units.ber(v) if k == "ber" else v
    rows = "".join(f"<tr><th>{_esc(SETTING_WORDS.get(k, k.replace('_', ' ')))}</th>"
                   f"<td>{_esc(shown(k, v))}</td></tr>" for k, v in settings.__dict__.items())
    return f"<table>{rows}</table>"


def _head(title: str, generated: str | None) -> str:
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"title={title!r} must be a non-empty string")
    generated = generated or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{_esc(title)}</h1>"
            f"<p class='note'>Generated {_esc(generated)} by the in-situ model downloading dashboard. Every number "
            "was computed by its engine for the settings below.</p><h2>Settings</h2>")


def _figure(fig: go.Figure, with_plotly: bool) -> str:
    """A figure as HTML; the first of a file embeds plotly.js (no network), the others reuse it."""
    return fig.to_html(full_html=False, include_plotlyjs=with_plotly, config={"displaylogo": False},
                       default_width="100%")


def _facts(facts) -> str:
    """(label, value, note) rows as a table."""
    return "<table>" + "".join(f"<tr><th>{_esc(a)}</th><td>{_esc(b)}</td><td style='text-align:left'>{_esc(c)}"
                               "</td></tr>" for a, b, c in facts) + "</table>"


def _iframe(page: str) -> str:
    return f"<iframe srcdoc=\"{_esc(page)}\" style='width:100%;height:560px;border:0' title='map'></iframe>"


def _glossary() -> str:
    return "<h2>Words used</h2><dl class='glossary'>" + "".join(
        f"<dt>{_esc(t)}</dt><dd>{_esc(e)}</dd>" for t, e in glossary.TERMS.items()) + "</dl></body></html>"


def view_report(title: str, settings, items, *, generated: str | None = None) -> str:
    """The report of one page: ``items`` are (kind, title, value) in the order drawn, kind "figure" (a plotly
    figure), "table" (a DataFrame), "fact" ((value, note): one number), "html" (a callable giving an offline HTML
    page, drawn in an iframe) or "text". Numbers are gathered into one table at the top."""
    items = list(items)
    if not items:
        raise ValueError("items=[] : a report needs at least one thing from the page")
    parts = [_head(title, generated), settings_table(settings)]
    facts = [(t, v[0], v[1]) for kind, t, v in items if kind == "fact"]
    if facts:
        parts.append("<h2>Numbers</h2>" + _facts(facts))
    with_plotly = True
    for kind, heading, value in items:
        if kind == "fact":
            continue
        parts.append(f"<h2>{_esc(heading)}</h2>" if heading else "")
        if kind == "figure" and isinstance(value, go.Figure):
            parts.append(_figure(value, with_plotly))
            with_plotly = False
        elif kind == "table":
            parts.append(_table(value))
        elif kind == "html":
            parts.append(_iframe(value() if callable(value) else value))
        elif kind == "text":
            parts.append(f"<p>{_esc(value)}</p>")
        else:
            raise ValueError(f"kind={kind!r} is not a report item; allowed: figure, table, fact, html, text")
    parts.append(_glossary())
    return "".join(parts)


def report_html(title: str, settings, sections, *, generated: str | None = None) -> str:
    """The report: ``sections`` is a list of (heading, Card) from app.story. The first figure embeds plotly.js
    (include_plotlyjs=True), the others reuse it: the file opens offline in any browser."""
    sections = list(sections)
    if not sections:
        raise ValueError("sections=[] : a report needs at least one section")
    parts = [_head(title, generated), settings_table(settings)]
    plotly_included = False
    for i, (heading, card) in enumerate(sections, start=1):
        parts.append(f"<h2>{i}. {_esc(heading)}</h2><p class='headline'>{_esc(card.headline)}</p>")
        if card.problem:
            parts.append(f"<p class='problem'>{_esc(card.problem)}</p>")
        if isinstance(card.figure, go.Figure):
            parts.append(_figure(card.figure, not plotly_included))
            plotly_included = True
        if getattr(card, "html_offline", None):
            parts.append(_iframe(card.html_offline))
        if card.facts:
            parts.append(_facts((f.label, f.value, f.help) for f in card.facts))
        if card.verdict is not None:
            colour, word = VERDICT_COLOURS[card.verdict.kind]
            parts.append(f"<div class='verdict' style='border-color:{colour}'><b>{word}.</b> "
                         f"<i>The paper:</i> {_esc(card.verdict.claim)}<br><i>Here:</i> "
                         f"{_esc(card.verdict.finding)}</div>")
        if card.note:
            parts.append(f"<p class='note'>{_esc(card.note)}</p>")
        parts.append(_table(card.table))
    parts.append(_glossary())
    return "".join(parts)
