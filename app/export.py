"""'Download this view as a report': one self-contained HTML file (plotly.js embedded, no network) with the
current settings, every figure and the numbers behind it. Pure Python: the sections come from app.story."""
from __future__ import annotations

import datetime as _dt
import html

import pandas as pd
import plotly.graph_objects as go

from app import glossary

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
    shown = df.head(max_rows)
    more = f"<p class='note'>First {max_rows} of {len(df):,} rows.</p>" if len(df) > max_rows else ""
    return shown.to_html(index=False, border=0, na_rep="", float_format=lambda v: f"{v:.6g}") + more


def settings_table(settings) -> str:
    """The settings as a two-column table (name, value), every field of the record."""
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in settings.__dict__.items())
    return f"<table>{rows}</table>"


def report_html(title: str, settings, sections, *, generated: str | None = None) -> str:
    """The report: ``sections`` is a list of (heading, Card) from app.story. The first figure embeds plotly.js
    (include_plotlyjs=True), the others reuse it: the file opens offline in any browser."""
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"title={title!r} must be a non-empty string")
    sections = list(sections)
    if not sections:
        raise ValueError("sections=[] : a report needs at least one section")
    generated = generated or _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{_esc(title)}</h1>",
             f"<p class='note'>Generated {_esc(generated)} by the in-situ model downloading dashboard. Every number "
             "was computed by its engine for the settings below.</p><h2>Settings</h2>", settings_table(settings)]
    plotly_included = False
    for i, (heading, card) in enumerate(sections, start=1):
        parts.append(f"<h2>{i}. {_esc(heading)}</h2><p class='headline'>{_esc(card.headline)}</p>")
        if card.problem:
            parts.append(f"<p class='problem'>{_esc(card.problem)}</p>")
        if isinstance(card.figure, go.Figure):
            parts.append(card.figure.to_html(full_html=False, include_plotlyjs=not plotly_included,
                                             config={"displaylogo": False}, default_width="100%"))
            plotly_included = True
        if getattr(card, "html_offline", None):
            parts.append(f"<iframe srcdoc=\"{_esc(card.html_offline)}\" style='width:100%;height:560px;border:0' "
                         "title='map'></iframe>")
        if card.facts:
            parts.append("<table>" + "".join(
                f"<tr><th>{_esc(f.label)}</th><td>{_esc(f.value)}</td><td style='text-align:left'>{_esc(f.help)}"
                "</td></tr>" for f in card.facts) + "</table>")
        if card.verdict is not None:
            colour, word = VERDICT_COLOURS[card.verdict.kind]
            parts.append(f"<div class='verdict' style='border-color:{colour}'><b>{word}.</b> "
                         f"<i>The paper:</i> {_esc(card.verdict.claim)}<br><i>Here:</i> "
                         f"{_esc(card.verdict.finding)}</div>")
        if card.note:
            parts.append(f"<p class='note'>{_esc(card.note)}</p>")
        parts.append(_table(card.table))
    parts.append("<h2>Words used</h2><dl class='glossary'>" + "".join(
        f"<dt>{_esc(t)}</dt><dd>{_esc(e)}</dd>" for t, e in glossary.TERMS.items()) + "</dl></body></html>")
    return "".join(parts)
