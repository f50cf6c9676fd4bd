"""Guide page: the depth level's split-point latency, size and accuracy per compression level, accuracy against BER
with the paper's marks, and download time from each tier of the AI library."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app import units
from app.charts.style import DASHES, GREY, OKABE_ITO, PALETTE, ber_axis, chance_line, require

SPLIT_PARTS = (("download_s", "download the device's part", "blue"),
               ("compute_s", "compute on the device", "orange"),
               ("uplink_s", "upload the features", "vermillion"),
               ("server_s", "server finishes", "green"))


def split_latency_figure(df: pd.DataFrame, samples: int, budget_s: float | None = None) -> go.Figure:
    """Depth level's downlink-uplink trade-off: per split point the seconds of each part of the task (columns
    depth, download_s, uplink_s and, where given, compute_s and server_s), stacked; ``budget_s`` as a line."""
    require(df, "df", ("depth", "download_s", "uplink_s"))
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
    require(df, "df", ("level", "accuracy", "size_pct"))
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
    require(frame, "frame", ("series", "ber", "mean", "ci95_low", "ci95_high"))
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
    require(df, "df", ("tier", "download_s"))
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


def situation_figure(df: pd.DataFrame, exit_: int) -> go.Figure:
    """Per situation at one exit: the situation model's accuracy beside the generic root's answer restricted to the
    situation's classes, on the situation's own test photos (columns situation, exit, situation_model,
    generic_restricted, chance, test_photos)."""
    require(df, "df", ("situation", "exit", "situation_model", "generic_restricted", "chance", "test_photos"))
    at = df[df["exit"] == exit_]
    x = [f"{r.situation}<br>({r.test_photos:,} photos)" for r in at.itertuples()]
    fig = go.Figure()
    for column, label, colour in (("generic_restricted", "generic root, answer restricted to the place's classes",
                                   "grey"),
                                  ("situation_model", "situation model (heads fine-tuned on the place's photos)",
                                   "blue")):
        fig.add_trace(go.Bar(x=x, y=100 * at[column], name=label, marker_color=OKABE_ITO.get(colour, GREY),
                             customdata=[units.percent(v) for v in at[column]],
                             hovertemplate="%{x}: %{customdata}<extra>" + label + "</extra>"))
    fig.add_trace(go.Scatter(x=x, y=100 * at["chance"], mode="markers", name="guessing among the place's classes",
                             marker=dict(symbol="line-ew", size=30, line=dict(width=3, color=OKABE_ITO["black"]))))
    fig.update_layout(barmode="group", title=f"Accuracy at exit {exit_} on each place's own photos",
                      yaxis_title="accuracy (%)", yaxis_range=[0, 100], height=420,
                      margin=dict(l=10, r=10, t=50, b=40), legend=dict(orientation="h", y=-0.3))
    return fig
