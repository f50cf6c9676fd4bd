"""Pure figure builders for the dashboard: a DataFrame in, a plotly Figure out. No streamlit, no engine calls, no
network: figures embed their data and, when saved with ``figure_html``, plotly.js itself.

One section per page; add new pages' functions in a new section at the end of the file.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# The palette of plotly's default template, spelled out so that a model keeps its colour whatever is selected.
PALETTE = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880", "#ff97ff",
           "#fecb52")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
POLICY_COLORS = {"reactive": "#d62728", "predictive": "#1f77b4", "oracle": "#2ca02c"}


def _require(df: pd.DataFrame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing}; it has {list(df.columns)}")


def figure_html(fig: go.Figure) -> str:
    """A figure as one self-contained HTML page: plotly.js is embedded (no CDN), so the file opens offline."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config={"displaylogo": False})


# ---------------------------------------------------------------------------------------------------------------
# Rate requirements (paper Fig. 4)
# ---------------------------------------------------------------------------------------------------------------

FIG4_COLUMNS = ("model", "application", "latency_s", "fraction", "required_rate_bps")
REFERENCE_COLUMNS = ("name", "low_bps", "high_bps")


def fig4_figure(df: pd.DataFrame, reference_rates: pd.DataFrame | None = None, log_y: bool = True, *,
                highlight: str | None = None, your_rate_bps: float | None = None,
                title: str = "Data rate required to download a sub-model within the latency budget") -> go.Figure:
    """Paper Fig. 4: required rate against sub-model size (% of the root model's bits), one colour per root model
    and one dash per application. ``reference_rates`` (columns name, low_bps, high_bps) are drawn as lines, or as
    bands where low < high; ``highlight`` names an application drawn thicker, ``your_rate_bps`` a marked rate."""
    _require(df, "df", FIG4_COLUMNS)
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
        _require(reference_rates, "reference_rates", REFERENCE_COLUMNS)
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
    fig.update_yaxes(type="log" if log_y else "linear", tickformat="~s", exponentformat="SI")
    return fig


def fit_heatmap(table: pd.DataFrame, title: str = "Largest share of the root model that fits") -> go.Figure:
    """Heat map of ``max_fraction`` (0..1) per model (rows) and application (columns)."""
    _require(table, "table", ("model", "application", "max_fraction"))
    grid = table.pivot(index="model", columns="application", values="max_fraction")
    grid = grid.reindex(index=list(dict.fromkeys(table["model"])), columns=list(dict.fromkeys(table["application"])))
    fig = go.Figure(go.Heatmap(z=grid.to_numpy() * 100, x=list(grid.columns), y=list(grid.index), zmin=0, zmax=100,
                               colorscale="RdYlGn", colorbar_title="%",
                               text=[[f"{v:.3g} %" for v in row] for row in grid.to_numpy() * 100],
                               texttemplate="%{text}", hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_layout(title=title, height=120 + 50 * len(grid.index), margin=dict(l=10, r=10, t=50, b=40))
    fig.update_yaxes(autorange="reversed")
    return fig


def format_seconds(s: float) -> str:
    """Seconds in the most readable unit, three significant figures (1e-6 s -> '1 µs')."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return "0 s" if s == 0 else f"{s / 1e-9:.3g} ns"


def format_rate(bps: float) -> str:
    for unit, scale in (("Tb/s", 1e12), ("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.3g} {unit}"
    return f"{bps:.3g} b/s"


# ---------------------------------------------------------------------------------------------------------------
# Predictive downloads (mobility simulator)
# ---------------------------------------------------------------------------------------------------------------

POLICY_METRICS = {
    "interruption_s_per_user": "interruption per user (s)",
    "on_time_share": "share of switches on time",
    "wasted_Mbit": "wasted downloads (Mbit)",
    "peak_bs_load_Mbps": "peak base-station load (Mb/s)",
}


def policy_bar(overall: pd.DataFrame, metric: str = "interruption_s_per_user", label: str | None = None) -> go.Figure:
    """One bar per policy for one column of the simulator's ``overall`` table (policy as index or column)."""
    df = overall.reset_index() if "policy" not in overall.columns else overall
    _require(df, "overall", ("policy", metric))
    label = label or POLICY_METRICS.get(metric, metric)
    fig = go.Figure(go.Bar(x=df["policy"], y=df[metric], text=[f"{v:.3g}" for v in df[metric]],
                           textposition="outside",
                           marker_color=[POLICY_COLORS.get(p, "#7f7f7f") for p in df["policy"]],
                           hovertemplate="%{x}: %{y:.4g}<extra></extra>"))
    fig.update_layout(title=label, yaxis_title=label, xaxis_title="policy", height=320, showlegend=False,
                      margin=dict(l=10, r=10, t=50, b=40))
    return fig


def load_figure(load_df: pd.DataFrame, policies: Iterable[str] | None = None) -> go.Figure:
    """Downlink load of the model downloads per base station over time, one panel per policy (shared y axis)."""
    _require(load_df, "load_df", ("policy", "time_s", "base_station", "load_bps"))
    policies = list(policies) if policies is not None else list(dict.fromkeys(load_df["policy"]))
    stations = list(dict.fromkeys(load_df["base_station"]))
    fig = make_subplots(rows=1, cols=max(len(policies), 1), shared_yaxes=True, subplot_titles=policies,
                        horizontal_spacing=0.03)
    for col, policy in enumerate(policies, start=1):
        part = load_df[load_df["policy"] == policy]
        for i, (bs, g) in enumerate(part.groupby("base_station", sort=False)):
            fig.add_trace(go.Scatter(
                x=g["time_s"] / 60, y=g["load_bps"] / 1e6, mode="lines", name=bs, legendgroup=bs,
                showlegend=col == 1, line=dict(color=PALETTE[stations.index(bs) % len(PALETTE)], width=1.5),
                hovertemplate=f"{bs} ({policy})<br>minute %{{x:.0f}}: %{{y:.2f}} Mb/s<extra></extra>"), row=1, col=col)
        fig.update_xaxes(title_text="time (min)", row=1, col=col)
    fig.update_yaxes(title_text="download load (Mb/s)", row=1, col=1)
    fig.update_layout(title="Downlink load of model downloads per base station", height=380,
                      legend_title_text="base station", margin=dict(l=10, r=10, t=70, b=40))
    return fig


# ---------------------------------------------------------------------------------------------------------------
# Guide
# ---------------------------------------------------------------------------------------------------------------

def split_latency_figure(df: pd.DataFrame, samples: int) -> go.Figure:
    """Depth level's downlink-uplink trade-off: per split point, the download time and the uplink time of
    ``samples`` samples, stacked (columns depth, download_s, uplink_s)."""
    _require(df, "df", ("depth", "download_s", "uplink_s"))
    x = [f"exit {k}" for k in df["depth"]]
    fig = go.Figure([
        go.Bar(x=x, y=df["download_s"], name="download the device part", marker_color="#1f77b4",
               hovertemplate="%{x}: %{y:.3g} s<extra>download</extra>"),
        go.Bar(x=x, y=df["uplink_s"], name=f"upload features of {samples} sample(s)", marker_color="#ff7f0e",
               hovertemplate="%{x}: %{y:.3g} s<extra>uplink</extra>"),
    ])
    fig.update_layout(barmode="stack", title="Where the time goes at each split point", yaxis_title="seconds",
                      height=340, margin=dict(l=10, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


# ---------- Live accuracy ----------


def ber_curve_figure(frame, current: tuple[float, float, str] | None = None):
    """Accuracy (mean with 95 % interval) against BER on a log axis, one line per protection."""
    fig = go.Figure()
    for protection, part in frame.groupby("protection", sort=False):
        fig.add_trace(go.Scatter(
            x=part["ber"], y=part["mean"], mode="lines+markers", name=protection,
            error_y=dict(type="data", symmetric=False, array=part["ci95_high"] - part["mean"],
                         arrayminus=part["mean"] - part["ci95_low"])))
    if current is not None and current[0] > 0:
        fig.add_trace(go.Scatter(x=[current[0]], y=[current[1]], mode="markers", name=f"now ({current[2]})",
                                 marker=dict(size=14, symbol="star", color="black")))
    fig.update_layout(xaxis=dict(type="log", title="bit-error rate"), yaxis=dict(title="accuracy", range=[0, 1.02]),
                      margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"))
    return fig


# ---------- Sub-models ----------

def pareto_figure(candidates: pd.DataFrame, chosen: dict) -> go.Figure:
    """Size against accuracy at the device's BER for every library candidate; the chosen sub-models starred.

    ``candidates`` needs label, family, mode, total_bits, accuracy and binding; ``chosen`` maps technique to a
    candidate row (dict) or None.
    """
    _require(candidates, "candidates", ("label", "family", "total_bits", "accuracy", "binding"))
    fig = go.Figure()
    for family, part in candidates.groupby("family", sort=False):
        fig.add_trace(go.Scatter(
            x=part["total_bits"] / 1e6, y=part["accuracy"], mode="markers", name=family,
            text=part["label"] + " (" + part["mode"] + ")",
            customdata=part["binding"].replace("", "feasible"),
            hovertemplate="%{text}<br>%{x:.2f} Mbit, accuracy %{y:.3f}<br>%{customdata}<extra></extra>",
            marker=dict(size=9, opacity=0.8,
                        symbol=["circle" if b == "" else "x" for b in part["binding"]])))
    picks = [(t, c) for t, c in chosen.items() if c is not None]
    if picks:
        fig.add_trace(go.Scatter(
            x=[c["total_bits"] / 1e6 for _, c in picks], y=[c["accuracy"] for _, c in picks],
            mode="markers+text", name="chosen", text=[t for t, _ in picks], textposition="top center",
            marker=dict(size=18, symbol="star", color="black", line=dict(width=1, color="white"))))
    fig.update_layout(xaxis=dict(type="log", title="download size (Mbit, log)"),
                      yaxis=dict(title="accuracy at the device's BER", range=[0, 1.02]),
                      margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"))
    return fig


def layer_profile_figure(layers: pd.DataFrame, title: str = "") -> go.Figure:
    """Per-layer share of weights kept and bit width of a sub-model (columns layer, kept, bits)."""
    _require(layers, "layers", ("layer", "kept", "bits"))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=layers["layer"], y=layers["kept"], name="non-zero weights", yaxis="y",
                         marker_color="#9ecae1"))
    fig.add_trace(go.Scatter(x=layers["layer"], y=layers["bits"], name="bits", mode="lines+markers",
                             yaxis="y2", line=dict(color="#d62728")))
    fig.update_layout(title=title, height=260, margin=dict(l=10, r=10, t=30, b=10), showlegend=False,
                      xaxis=dict(showticklabels=False, title="layers, input to output"),
                      yaxis=dict(title="non-zero", range=[0, 1.05], tickformat=".0%"),
                      yaxis2=dict(title="bits", overlaying="y", side="right", range=[0, 33]))
    return fig


# ---------- Location picker ----------

def area_figure(area, selected: str | None = None) -> go.Figure:
    """The city area drawn from its own data (no tiles, works offline): streets, base stations and places;
    places carry their name as customdata so that a click can select one."""
    lat, lon = area.node_latlon[:, 0], area.node_latlon[:, 1]
    xs, ys = [], []
    for a, b, _ in area.edges:
        xs += [lon[a], lon[b], None]
        ys += [lat[a], lat[b], None]
    fig = go.Figure(go.Scatter(x=xs, y=ys, mode="lines", line=dict(color="#bbbbbb", width=2), hoverinfo="skip",
                               name="streets"))
    fig.add_trace(go.Scatter(x=[b.lon for b in area.base_stations], y=[b.lat for b in area.base_stations],
                             mode="markers", marker=dict(symbol="triangle-up", size=12, color="#555555"),
                             name="base stations", text=[b.name for b in area.base_stations],
                             hovertemplate="%{text}<extra>base station</extra>"))
    for context in sorted({p.context for p in area.places}):
        places = [p for p in area.places if p.context == context]
        fig.add_trace(go.Scatter(
            x=[p.lon for p in places], y=[p.lat for p in places], mode="markers", name=context,
            customdata=[p.name for p in places], text=[p.name for p in places],
            marker=dict(size=[18 if p.name == selected else 11 for p in places],
                        line=dict(width=[3 if p.name == selected else 0 for p in places], color="black")),
            hovertemplate="%{text}<extra>" + context + "</extra>"))
    mid = float(np.mean(lat))
    fig.update_layout(height=330, margin=dict(l=0, r=0, t=10, b=0), legend=dict(orientation="h"),
                      xaxis=dict(visible=False), clickmode="event+select", dragmode=False,
                      yaxis=dict(visible=False, scaleanchor="x", scaleratio=1 / np.cos(np.radians(mid))))
    return fig
