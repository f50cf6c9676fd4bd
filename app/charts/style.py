"""The dashboard's chart style, shared by every page's figures: Okabe-Ito colours, log BER axes, the chance line,
slide export (``plot_config``), the presenter view's enlargement (``readable``), offline HTML (``figure_html``) and
readable units.

Colours are Okabe-Ito's colour-blind-safe set; within one chart a colour has one meaning. Every st.plotly_chart
call passes ``plot_config`` (through app.present.chart), so each chart's camera button saves a 16:9 slide image.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app import units
from core.validation import check_choice

# Okabe & Ito (2008), "Color universal design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
             "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000"}
PALETTE = tuple(OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "black"))
GREY = "#999999"
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")

# Slide export: the modebar's camera button saves this size (16:9), drawn in the browser (no server, no network).
SLIDE_WIDTH, SLIDE_HEIGHT = 1920, 1080
IMAGE_FORMATS = ("png", "svg")


# A small chart (a card's per-layer profile, a few hundred pixels wide) keeps only the camera: the full toolbar would
# wrap onto a second row there, over the chart's title.
ZOOM_BUTTONS = ["zoom2d", "pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d", "resetScale2d"]


def plot_config(name: str, image_format: str = "png", compact: bool = False) -> dict:
    """plotly config for st.plotly_chart: the camera button saves ``name``.png or .svg at 1920x1080, offline;
    ``compact`` leaves out the zoom buttons (a small chart)."""
    check_choice("image_format", image_format, IMAGE_FORMATS)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name={name!r} must be a non-empty file name for the chart's image")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name.strip())
    return {"displaylogo": False, "displayModeBar": True,
            "toImageButtonOptions": {"format": image_format, "filename": safe, "width": SLIDE_WIDTH,
                                     "height": SLIDE_HEIGHT, "scale": 1},
            "modeBarButtonsToRemove": ["lasso2d", "select2d"] + (ZOOM_BUTTONS if compact else [])}


def readable(fig: go.Figure, scale: float = 1.0) -> go.Figure:
    """A copy of ``fig`` in the palette, with fonts scaled by ``scale`` (presenter view: 1.4) and its title below
    the chart's toolbar."""
    if not scale > 0:
        raise ValueError(f"scale={scale!r} must be positive")
    out = go.Figure(fig)
    out.update_layout(colorway=list(PALETTE), font=dict(size=round(14 * scale)),
                      title_font=dict(size=round(18 * scale)), legend_font=dict(size=round(13 * scale)))
    if scale != 1.0:
        height = out.layout.height or 450
        out.update_layout(height=round(height * min(scale, 1.5)))
        for ann in out.layout.annotations or ():
            ann.font.size = round((ann.font.size or 12) * scale)
    return below_toolbar(out)


# plotly's toolbar (camera, zoom, ...) is a row at the chart's top right, drawn over whatever is there: 26 pixels
# high, 38 with the presenter view's larger text (measured in Chromium); the title starts below it.
TOOLBAR_PX = 40


def below_toolbar(fig: go.Figure) -> go.Figure:
    """Place ``fig``'s title (if any) in the top margin below the toolbar row, the margin grown to hold it: a long
    title never runs under the toolbar's icons, whatever the chart's width or height. Changes ``fig``, returns it."""
    text = getattr(fig.layout.title, "text", None)
    if not text:
        return fig
    size = fig.layout.title.font.size or 18
    lines = str(text).count("<br>") + 1
    pad = TOOLBAR_PX + 6  # plotly draws the text a few pixels above the padded line
    needed = pad + math.ceil(lines * size * 1.3) + 8
    fig.update_layout(title=dict(yref="container", y=1.0, yanchor="top", pad=dict(t=pad)),
                      margin=dict(t=max(needed, fig.layout.margin.t if fig.layout.margin.t is not None else 100)))
    return fig


def ber_axis(fig: go.Figure, lo: float, hi: float, axis: str = "xaxis", title: str = "bit-error rate (BER)") -> None:
    """A log BER axis ticked at every power of ten as '10⁻³', never '100n' or '1e-3'."""
    values, labels = units.log_ticks(lo, hi)
    pad = 0.15  # of a decade on each side, so that markers at the first and last tick are drawn whole
    fig.update_layout({axis: dict(type="log", title=title, tickvals=values, ticktext=labels,
                                  range=[np.log10(lo) - pad, np.log10(hi) + pad])})


def chance_line(fig: go.Figure, chance: float | None, **where) -> None:
    """A dotted line at the accuracy of guessing, labelled, so that 10 % reads as 'no better than chance'."""
    if chance is None:
        return
    if not 0 < chance < 1:
        raise ValueError(f"chance={chance!r} must be between 0 and 1 (1 / number of classes)")
    fig.add_hline(y=chance, line=dict(color=GREY, dash="dot", width=2),
                  annotation_text=f"chance ({units.percent(chance, 0)})",
                  annotation_position="bottom right", **where)



def require(df: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(df.columns)}")


def figure_html(fig: go.Figure) -> str:
    """A figure as one self-contained HTML page: plotly.js is embedded (no CDN), so the file opens offline."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})



def format_seconds(s: float) -> str:
    """Seconds in the most readable unit, three significant figures (1e-6 s -> '1 µs'); see app.units."""
    return units.seconds(s)


def format_rate(bps: float) -> str:
    return units.rate(bps)
