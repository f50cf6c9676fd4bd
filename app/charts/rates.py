"""Rate requirements page: the paper's Fig. 4 (required downlink rate against sub-model size) and the heat map of
the largest share of each root model that fits."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from app import units
from app.charts.style import DASHES, PALETTE, format_rate, format_seconds, require

FIG4_COLUMNS = ("model", "application", "latency_s", "fraction", "required_rate_bps")
REFERENCE_COLUMNS = ("name", "low_bps", "high_bps")


def fig4_figure(df: pd.DataFrame, reference_rates: pd.DataFrame | None = None, log_y: bool = True, *,
                highlight: str | None = None, your_rate_bps: float | None = None,
                title: str = "Data rate required to download a sub-model within the latency budget") -> go.Figure:
    """Paper Fig. 4: required rate against sub-model size (% of the root model's bits), one colour per root model
    and one dash per application. ``reference_rates`` (columns name, low_bps, high_bps) are drawn as lines, or as
    bands where low < high; ``highlight`` names an application drawn thicker, ``your_rate_bps`` a marked rate."""
    require(df, "df", FIG4_COLUMNS)
    fig = go.Figure()
    models = list(dict.fromkeys(df["model"]))
    apps = list(dict.fromkeys(df["application"]))
    for (model, app), part in df.groupby(["model", "application"], sort=False):
        part = part.sort_values("fraction")
        strong = highlight is not None and app == highlight
        latency = float(part["latency_s"].iloc[0])
        fig.add_trace(go.Scatter(
            x=part["fraction"] * 100, y=part["required_rate_bps"], mode="lines",
            name=f"{model}, {app} ({format_seconds(latency)})", legendgroup=model,
            line=dict(color=PALETTE[models.index(model) % len(PALETTE)], dash=DASHES[apps.index(app) % len(DASHES)],
                      width=4 if strong else 2),
            opacity=1.0 if highlight is None or strong else 0.55,
            hovertemplate=f"{model}, {app}<br>sub-model %{{x:.0f}} % of the root<br>needs %{{y:.3s}}b/s"
                          "<extra></extra>"))
    if reference_rates is not None and len(reference_rates):
        require(reference_rates, "reference_rates", REFERENCE_COLUMNS)
        for i, r in enumerate(reference_rates.itertuples(index=False)):
            color = "#555555" if i % 2 == 0 else "#8c564b"
            if r.high_bps > r.low_bps:
                fig.add_hrect(y0=r.low_bps, y1=r.high_bps, fillcolor=color, opacity=0.12, line_width=0,
                              annotation_text=r.name, annotation_position="top left", annotation_font_size=11)
            else:
                fig.add_hline(y=r.low_bps, line=dict(color=color, dash="dot", width=1.5), annotation_text=r.name,
                              annotation_position="top left", annotation_font_size=11)
    if your_rate_bps is not None:
        fig.add_hline(y=your_rate_bps, line=dict(color="#000000", width=2.5),
                      annotation_text=f"your downlink {format_rate(your_rate_bps)}", annotation_position="bottom right",
                      annotation_font_size=12)
    fig.update_layout(title=title, xaxis_title="sub-model size (% of the root model's bits)",
                      yaxis_title="required downlink rate (bit/s)", hovermode="closest", height=560,
                      legend=dict(font_size=11), margin=dict(l=10, r=10, t=60, b=40))
    fig.update_xaxes(range=[0, 100])
    if log_y:  # a tick at every power of ten, read as the page writes rates ("10 Gb/s", not "10G" beside "5T")
        rates = [v for v in list(df["required_rate_bps"]) + [your_rate_bps or 0] if v > 0]
        if reference_rates is not None and len(reference_rates):
            rates += list(reference_rates["low_bps"]) + list(reference_rates["high_bps"])
        ticks = [10.0 ** e for e in range(math.floor(math.log10(min(rates))), math.ceil(math.log10(max(rates))) + 1)]
        fig.update_yaxes(type="log", tickvals=ticks, ticktext=[units.rate(t) for t in ticks])
    else:
        fig.update_yaxes(type="linear", tickformat="~s", exponentformat="SI", ticksuffix=" b/s")
    return fig


def fit_heatmap(table: pd.DataFrame, title: str = "Largest share of the root model that fits") -> go.Figure:
    """Heat map of ``max_fraction`` (0..1) per model (rows) and application (columns)."""
    require(table, "table", ("model", "application", "max_fraction"))
    grid = table.pivot(index="model", columns="application", values="max_fraction")
    grid = grid.reindex(index=list(dict.fromkeys(table["model"])), columns=list(dict.fromkeys(table["application"])))
    fig = go.Figure(go.Heatmap(z=grid.to_numpy() * 100, x=list(grid.columns), y=list(grid.index), zmin=0, zmax=100,
                               colorscale="Cividis", colorbar_title="%",
                               text=[[units.percent(v) for v in row] for row in grid.to_numpy()],
                               texttemplate="%{text}", hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_layout(title=title, height=120 + 50 * len(grid.index), margin=dict(l=10, r=10, t=50, b=40))
    fig.update_yaxes(autorange="reversed")
    return fig
