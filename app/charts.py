"""Pure figure builders for the dashboard: a DataFrame in, a plotly Figure out. No streamlit, no engine calls, no
network: figures embed their data and, when saved with ``figure_html``, plotly.js itself.

Colours are Okabe-Ito's colour-blind-safe set; within one chart a colour has one meaning. Every st.plotly_chart
call passes ``plot_config`` (through app.present.chart), so each chart's camera button saves a 16:9 slide image.
One section per page; add new pages' functions in a new section at the end of the file.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app import units
from core.validation import check_choice

# Okabe & Ito (2008), "Color universal design": distinguishable with every common colour-vision deficiency.
OKABE_ITO = {"blue": "#0072B2", "orange": "#E69F00", "green": "#009E73", "vermillion": "#D55E00",
             "purple": "#CC79A7", "sky": "#56B4E9", "yellow": "#F0E442", "black": "#000000"}
PALETTE = tuple(OKABE_ITO[c] for c in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "black"))
GREY = "#999999"
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
POLICY_COLORS = {"reactive": OKABE_ITO["vermillion"], "predictive": OKABE_ITO["blue"], "oracle": OKABE_ITO["green"]}
# Marker symbols per technique, so that depth and combined points differ in shape as well as colour.
TECHNIQUE_SYMBOLS = {"depth": "circle", "parameter": "square", "bit": "diamond", "combined": "triangle-up",
                     "root": "star"}

# Slide export: the modebar's camera button saves this size (16:9), drawn in the browser (no server, no network).
SLIDE_WIDTH, SLIDE_HEIGHT = 1920, 1080
IMAGE_FORMATS = ("png", "svg")


def plot_config(name: str, image_format: str = "png") -> dict:
    """plotly config for st.plotly_chart: the camera button saves ``name``.png or .svg at 1920x1080, offline."""
    check_choice("image_format", image_format, IMAGE_FORMATS)
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"name={name!r} must be a non-empty file name for the chart's image")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name.strip())
    return {"displaylogo": False, "displayModeBar": True,
            "toImageButtonOptions": {"format": image_format, "filename": safe, "width": SLIDE_WIDTH,
                                     "height": SLIDE_HEIGHT, "scale": 1},
            "modeBarButtonsToRemove": ["lasso2d", "select2d"]}


def readable(fig: go.Figure, scale: float = 1.0) -> go.Figure:
    """A copy of ``fig`` in the palette, with fonts scaled by ``scale`` (presenter view: 1.4)."""
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
    return out


def ber_axis(fig: go.Figure, lo: float, hi: float, axis: str = "xaxis", title: str = "bit-error rate (BER)") -> None:
    """A log BER axis ticked at every power of ten as '10⁻³', never '100n' or '1e-3'."""
    values, labels = units.log_ticks(lo, hi)
    fig.update_layout({axis: dict(type="log", title=title, tickvals=values, ticktext=labels,
                                  range=[np.log10(lo), np.log10(hi)])})


def chance_line(fig: go.Figure, chance: float | None, **where) -> None:
    """A dotted line at the accuracy of guessing, labelled, so that 10 % reads as 'no better than chance'."""
    if chance is None:
        return
    if not 0 < chance < 1:
        raise ValueError(f"chance={chance!r} must be between 0 and 1 (1 / number of classes)")
    fig.add_hline(y=chance, line=dict(color=GREY, dash="dot", width=2), annotation_text=f"chance ({chance:.0%})",
                  annotation_position="bottom right", **where)


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
                               colorscale="Cividis", colorbar_title="%",
                               text=[[f"{v:.3g} %" for v in row] for row in grid.to_numpy() * 100],
                               texttemplate="%{text}", hovertemplate="%{y}, %{x}: %{text}<extra></extra>"))
    fig.update_layout(title=title, height=120 + 50 * len(grid.index), margin=dict(l=10, r=10, t=50, b=40))
    fig.update_yaxes(autorange="reversed")
    return fig


def format_seconds(s: float) -> str:
    """Seconds in the most readable unit, three significant figures (1e-6 s -> '1 µs'); see app.units."""
    return units.seconds(s)


def format_rate(bps: float) -> str:
    return units.rate(bps)


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

SPLIT_PARTS = (("download_s", "download the device's part", "blue"),
               ("compute_s", "compute on the device", "orange"),
               ("uplink_s", "upload the features", "vermillion"),
               ("server_s", "server finishes", "green"))


def split_latency_figure(df: pd.DataFrame, samples: int, budget_s: float | None = None) -> go.Figure:
    """Depth level's downlink-uplink trade-off: per split point the seconds of each part of the task (columns
    depth, download_s, uplink_s and, where given, compute_s and server_s), stacked; ``budget_s`` as a line."""
    _require(df, "df", ("depth", "download_s", "uplink_s"))
    x = [f"exit {k}" for k in df["depth"]]
    fig = go.Figure()
    for column, label, colour in SPLIT_PARTS:
        if column not in df.columns:
            continue
        label = f"{label} ({samples} sample{'s' if samples != 1 else ''})" if column != "download_s" else label
        fig.add_trace(go.Bar(x=x, y=df[column], name=label, marker_color=OKABE_ITO[colour],
                             customdata=[units.seconds(v) for v in df[column]],
                             hovertemplate="%{x}: %{customdata}<extra>" + label + "</extra>"))
    if "best" in df.columns and df["best"].any():
        best = df[df["best"]].iloc[0]
        total = sum(float(best[c]) for c, _, _ in SPLIT_PARTS if c in df.columns)
        fig.add_annotation(x=f"exit {int(best['depth'])}", y=total, text="quickest", showarrow=True, arrowhead=2,
                           font=dict(size=14))
    if budget_s is not None:
        fig.add_hline(y=budget_s, line=dict(color=OKABE_ITO["black"], dash="dash", width=2),
                      annotation_text=f"latency budget {units.seconds(budget_s)}", annotation_position="top left")
    fig.update_layout(barmode="stack", title="Where the time goes at each split point", yaxis_title="seconds",
                      xaxis_title="where the device stops and the server takes over",
                      height=420, margin=dict(l=10, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def size_accuracy_figure(df: pd.DataFrame, x_label: str, title: str, root_accuracy: float | None = None,
                         chance: float | None = None) -> go.Figure:
    """Accuracy (bars) and download size (% of the root, line) per compression level (columns level, accuracy,
    size_pct); the root's accuracy dashed, guessing dotted."""
    _require(df, "df", ("level", "accuracy", "size_pct"))
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=df["level"], y=df["accuracy"], name="accuracy (left axis)",
                         marker_color=OKABE_ITO["blue"], text=[units.percent(v, 0) for v in df["accuracy"]],
                         textposition="outside", hovertemplate="%{x}: accuracy %{y:.1%}<extra></extra>"),
                  secondary_y=False)
    fig.add_trace(go.Scatter(x=df["level"], y=df["size_pct"], name="download size, % of the root (right axis)",
                             mode="lines+markers", line=dict(color=OKABE_ITO["orange"], width=3),
                             marker=dict(symbol="diamond", size=11),
                             hovertemplate="%{x}: %{y:.1f} % of the root's bits<extra></extra>"), secondary_y=True)
    if root_accuracy is not None:
        fig.add_hline(y=root_accuracy, line=dict(color=OKABE_ITO["black"], dash="dash", width=1.5),
                      annotation_text=f"root model {units.percent(root_accuracy)}", annotation_position="top left")
    chance_line(fig, chance)
    fig.update_yaxes(title_text="accuracy on the test images", range=[0, 1.12], tickformat=".0%", secondary_y=False)
    fig.update_yaxes(title_text="download size (% of the root)", range=[0, 112], secondary_y=True, showgrid=False)
    fig.update_layout(title=title, xaxis_title=x_label, height=420, margin=dict(l=10, r=10, t=50, b=40),
                      legend=dict(orientation="h", y=-0.25))
    return fig


BER_MARKS = ((1e-3, "BER 10⁻³: 'sufficient' (paper)"), (1e-9, "BER 10⁻⁹: ultra-reliable"))


def ber_story_figure(frame: pd.DataFrame, chance: float | None = None, marks=BER_MARKS,
                     title: str = "Accuracy against bit-error rate") -> go.Figure:
    """Accuracy against BER, one line per ``series`` (e.g. fp32, 8-bit, 4-bit), with each point's 95 % interval
    (drawn within 0-100 %), vertical marks at the BERs in ``marks`` and the chance line."""
    _require(frame, "frame", ("series", "ber", "mean", "ci95_low", "ci95_high"))
    fig = go.Figure()
    symbols = ("circle", "square", "diamond", "triangle-up", "x")
    for i, (series, part) in enumerate(frame.groupby("series", sort=False)):
        part = part.sort_values("ber")
        high, low = part["ci95_high"].clip(upper=1.0), part["ci95_low"].clip(lower=0.0)
        fig.add_trace(go.Scatter(
            x=part["ber"], y=part["mean"], mode="lines+markers", name=str(series),
            line=dict(color=PALETTE[i % len(PALETTE)], width=3, dash=DASHES[i % len(DASHES)]),
            marker=dict(size=10, symbol=symbols[i % len(symbols)]),
            customdata=np.stack([[units.ber_short(b) for b in part["ber"]], low, high], axis=-1),
            error_y=dict(type="data", symmetric=False, array=high - part["mean"], arrayminus=part["mean"] - low,
                         thickness=1.5, width=4),
            hovertemplate=f"{series}<br>BER %{{customdata[0]}}: accuracy %{{y:.1%}}<extra></extra>"))
    bers = [b for b in frame["ber"] if b > 0] + [b for b, _ in marks]
    lo, hi = 10 ** np.floor(np.log10(min(bers))), 10 ** np.ceil(np.log10(max(bers)))
    for ber, text in marks:
        fig.add_vline(x=ber, line=dict(color=GREY, dash="dash", width=2))
        fig.add_annotation(x=np.log10(ber), y=1.04, text=text, showarrow=False, xanchor="left", yanchor="bottom",
                           font=dict(size=12))
    chance_line(fig, chance)
    ber_axis(fig, lo, hi)
    fig.update_layout(title=title, yaxis=dict(title="accuracy on the test images", range=[0, 1.12],
                                              tickformat=".0%"),
                      height=460, margin=dict(l=10, r=10, t=60, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


def tier_figure(df: pd.DataFrame, budgets: dict[str, float], title: str) -> go.Figure:
    """Download time from each tier (columns tier, download_s; log axis) against applications' budgets (lines)."""
    _require(df, "df", ("tier", "download_s"))
    colours = {"edge": OKABE_ITO["green"], "local": OKABE_ITO["orange"], "central": OKABE_ITO["purple"]}
    fig = go.Figure(go.Bar(x=df["tier"] + " cloud", y=df["download_s"],
                           marker_color=[colours.get(t, GREY) for t in df["tier"]],
                           text=[units.seconds(v) for v in df["download_s"]], textposition="outside",
                           hovertemplate="%{x}: %{text}<extra></extra>", showlegend=False))
    dashes = iter(DASHES[1:])
    for name, budget in budgets.items():
        fig.add_hline(y=budget, line=dict(color=OKABE_ITO["black"], dash=next(dashes, "dot"), width=1.5),
                      annotation_text=f"{name}: {units.seconds(budget)}", annotation_position="top left")
    values = list(df["download_s"]) + list(budgets.values())
    lo, hi = min(values) / 3, max(values) * 5
    ticks = [10.0 ** e for e in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)]
    fig.update_layout(title=title, xaxis_title="where the AI library keeps the model", height=420,
                      yaxis=dict(type="log", title="time to download (log scale)", range=[np.log10(lo), np.log10(hi)],
                                 tickvals=ticks, ticktext=[units.seconds(t) for t in ticks]),
                      margin=dict(l=10, r=10, t=50, b=40))
    return fig


# ---------- Live accuracy ----------


def ber_curve_figure(frame, current: tuple[float, float, str] | None = None, chance: float | None = None):
    """Accuracy (mean with 95 % interval, drawn within 0-100 %) against BER on a log axis ticked 10⁻⁷ ... 10⁻²,
    one line per protection; ``current`` = (BER, accuracy, label) starred, ``chance`` dotted."""
    fig = go.Figure()
    for i, (protection, part) in enumerate(frame.groupby("protection", sort=False)):
        high, low = part["ci95_high"].clip(upper=1.0), part["ci95_low"].clip(lower=0.0)
        fig.add_trace(go.Scatter(
            x=part["ber"], y=part["mean"], mode="lines+markers", name=protection,
            line=dict(color=PALETTE[i % len(PALETTE)], dash=DASHES[i % len(DASHES)]),
            error_y=dict(type="data", symmetric=False, array=high - part["mean"], arrayminus=part["mean"] - low)))
    if current is not None and current[0] > 0:
        fig.add_trace(go.Scatter(x=[current[0]], y=[current[1]], mode="markers", name=f"now ({current[2]})",
                                 marker=dict(size=14, symbol="star", color="black")))
    chance_line(fig, chance)
    bers = [b for b in frame["ber"] if b > 0] + ([current[0]] if current is not None and current[0] > 0 else [])
    if bers:
        ber_axis(fig, 10 ** np.floor(np.log10(min(bers))), 10 ** np.ceil(np.log10(max(bers))))
    fig.update_layout(yaxis=dict(title="accuracy", range=[0, 1.02], tickformat=".0%"),
                      margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"))
    return fig


# ---------- Sub-models ----------

def pareto_figure(candidates: pd.DataFrame, chosen: dict, chance: float | None = None) -> go.Figure:
    """Size against accuracy at the device's BER for every library candidate; the chosen sub-models starred.

    ``candidates`` needs label, technique, mode, total_bits, accuracy and binding; ``chosen`` maps technique to a
    candidate row (dict) or None.
    """
    _require(candidates, "candidates", ("label", "technique", "total_bits", "accuracy", "binding"))
    fig = go.Figure()
    for technique, part in candidates.groupby("technique", sort=False):
        fig.add_trace(go.Scatter(
            x=part["total_bits"] / 1e6, y=part["accuracy"], mode="markers", name=technique,
            text=part["label"] + " (" + part["mode"] + ")",
            customdata=part["binding"].replace("", "feasible"),
            hovertemplate="%{text}<br>%{x:.2f} Mbit, accuracy %{y:.3f}<br>%{customdata}<extra></extra>",
            marker=dict(size=10, opacity=0.85, color=PALETTE[list(TECHNIQUE_SYMBOLS).index(technique)
                                                            % len(PALETTE)] if technique in TECHNIQUE_SYMBOLS
                        else GREY,
                        symbol=[TECHNIQUE_SYMBOLS.get(technique, "circle") + ("" if b == "" else "-open")
                                for b in part["binding"]])))
    picks = [(t, c) for t, c in chosen.items() if c is not None]
    if picks:
        fig.add_trace(go.Scatter(
            x=[c["total_bits"] / 1e6 for _, c in picks], y=[c["accuracy"] for _, c in picks],
            mode="markers+text", name="chosen", text=[t for t, _ in picks], textposition="top center",
            marker=dict(size=18, symbol="star", color="black", line=dict(width=1, color="white"))))
    chance_line(fig, chance)
    fig.update_layout(xaxis=dict(type="log", title="download size (Mbit, log scale)"),
                      yaxis=dict(title="expected accuracy at the device's BER", range=[0, 1.02], tickformat=".0%"),
                      margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"))
    return fig


def layer_profile_figure(layers: pd.DataFrame, title: str = "") -> go.Figure:
    """Per-layer share of weights kept and bit width of a sub-model (columns layer, kept, bits)."""
    _require(layers, "layers", ("layer", "kept", "bits"))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=layers["layer"], y=layers["kept"], name="non-zero weights", yaxis="y",
                         marker_color=OKABE_ITO["sky"]))
    fig.add_trace(go.Scatter(x=layers["layer"], y=layers["bits"], name="bits", mode="lines+markers",
                             yaxis="y2", line=dict(color=OKABE_ITO["vermillion"])))
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


# ---------- Fig. 3 (python -m core.experiments fig3) ----------

FIG3_FAMILY_TITLES = {"depth": "(a) depth level", "parameter": "(b) parameter level", "bit": "(c) bit level"}


def fig3_figure(df: pd.DataFrame) -> go.Figure:
    """Three panels (depth, parameter, bit level): accuracy against downloaded size, one line per BER and
    protection, with the 95 % interval of the paired estimator as error bars. A pure function of the table."""
    _require(df, "the Fig. 3 table", ["family", "ber", "protection", "size_pct", "accuracy", "ci95_low",
                                      "ci95_high", "label", "trials"])
    fig = make_subplots(rows=1, cols=3, subplot_titles=list(FIG3_FAMILY_TITLES.values()), shared_yaxes=True)
    colours = {0.0: "black", 1e-4: "#1f77b4", 1e-3: "#2ca02c", 1e-2: "#d62728"}
    dashes = {"-": "solid", "none": "dot", "sanitise": "dash", "clamp": "dashdot", "uep": "longdash"}
    seen = set()
    for col, family in enumerate(FIG3_FAMILY_TITLES, start=1):
        part = df[df.family == family]
        for (ber, protection), line in part.groupby(["ber", "protection"], sort=True):
            line = line.sort_values("size_pct")
            name = "BER 0" if ber == 0 else f"BER {ber:g}, {protection}"
            fig.add_trace(go.Scatter(
                x=line.size_pct, y=100 * line.accuracy, mode="lines+markers", name=name, legendgroup=name,
                showlegend=name not in seen,
                line=dict(color=colours.get(ber, "grey"), dash=dashes.get(protection, "solid")),
                error_y=dict(type="data", symmetric=False, array=100 * (line.ci95_high - line.accuracy),
                             arrayminus=100 * (line.accuracy - line.ci95_low), thickness=1),
                customdata=np.stack([line.label, line.trials], axis=1),
                hovertemplate="%{customdata[0]}<br>size %{x:.1f} %<br>accuracy %{y:.1f} %"
                              "<br>trials %{customdata[1]}<extra>" + name + "</extra>"), row=1, col=col)
            seen.add(name)
        ref = "4-bit model" if family == "bit" else "root model"
        fig.update_xaxes(title_text=f"downloaded size (% of {ref})", row=1, col=col)
    fig.update_yaxes(title_text="local inference accuracy (%)", row=1, col=1)
    fig.update_layout(title="Fig. 3 reproduced: accuracy against downloaded size, reliable and lossy links",
                      height=480, legend=dict(orientation="v"))
    return fig
