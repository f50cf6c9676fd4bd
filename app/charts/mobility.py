"""Predictive downloads page: the mobility simulator's policies compared, and the download load per base station."""
from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app import units
from app.charts.style import OKABE_ITO, PALETTE, require

POLICY_COLORS = {"reactive": OKABE_ITO["vermillion"], "predictive": OKABE_ITO["blue"], "oracle": OKABE_ITO["green"]}
POLICY_METRICS = {
    "interruption_s_per_user": "interruption per user (s)",
    "on_time_share": "share of switches on time",
    "wasted_Mbit": "wasted downloads (Mbit)",
    "peak_bs_load_Mbps": "peak base-station load (Mb/s)",
}


# How a bar's number is written: as the page's cards and tables write the same quantity.
POLICY_TEXT = {"interruption_s_per_user": units.wait, "on_time_share": units.percent,
               "wasted_Mbit": lambda v: units.count(round(v)), "peak_bs_load_Mbps": lambda v: f"{v:,.1f}"}


def policy_bar(overall: pd.DataFrame, metric: str = "interruption_s_per_user", label: str | None = None) -> go.Figure:
    """One bar per policy for one column of the simulator's ``overall`` table (policy as index or column)."""
    df = overall.reset_index() if "policy" not in overall.columns else overall
    require(df, "overall", ("policy", metric))
    label = label or POLICY_METRICS.get(metric, metric)
    text = POLICY_TEXT.get(metric, units.number)
    fig = go.Figure(go.Bar(x=df["policy"], y=df[metric], text=[text(v) for v in df[metric]],
                           textposition="outside",
                           marker_color=[POLICY_COLORS.get(p, "#7f7f7f") for p in df["policy"]],
                           hovertemplate="%{x}: %{y:.4g}<extra></extra>"))
    fig.update_layout(title=label, yaxis_title=label, xaxis_title="policy", height=320, showlegend=False,
                      margin=dict(l=10, r=10, t=50, b=40))
    return fig


def load_figure(load_df: pd.DataFrame, policies: Iterable[str] | None = None,
                names: dict[str, str] | None = None) -> go.Figure:
    """Downlink load of the model downloads per base station over time, one panel per policy (shared y axis);
    ``names`` maps a base station's id to the name shown (the area's names, not its ids)."""
    require(load_df, "load_df", ("policy", "time_s", "base_station", "load_bps"))
    policies = list(policies) if policies is not None else list(dict.fromkeys(load_df["policy"]))
    stations = list(dict.fromkeys(load_df["base_station"]))
    fig = make_subplots(rows=1, cols=max(len(policies), 1), shared_yaxes=True, subplot_titles=policies,
                        horizontal_spacing=0.03)
    for col, policy in enumerate(policies, start=1):
        part = load_df[load_df["policy"] == policy]
        for i, (bs, g) in enumerate(part.groupby("base_station", sort=False)):
            name = (names or {}).get(bs, bs)
            fig.add_trace(go.Scatter(
                x=g["time_s"] / 60, y=g["load_bps"] / 1e6, mode="lines", name=name, legendgroup=bs,
                showlegend=col == 1, line=dict(color=PALETTE[stations.index(bs) % len(PALETTE)], width=1.5),
                hovertemplate=f"{name} ({policy})<br>minute %{{x:.0f}}: %{{y:.2f}} Mb/s<extra></extra>"),
                row=1, col=col)
        fig.update_xaxes(title_text="time (min)", row=1, col=col)
    fig.update_yaxes(title_text="download load (Mb/s)", row=1, col=1)
    fig.update_layout(title="Downlink load of model downloads per base station", height=380,
                      legend_title_text="base station", margin=dict(l=10, r=10, t=110, b=40))  # title above panel names
    return fig


# Noticing the mismatch (core.situation.mismatch): the ways of switching models, compared on the same users.
WAY_COLORS = {"prediction": OKABE_ITO["blue"], "detector": OKABE_ITO["purple"],
              "prediction_and_detector": OKABE_ITO["orange"], "oracle": OKABE_ITO["green"]}


def mismatch_bar(summary: pd.DataFrame, metric: str, label: str, text=units.number) -> go.Figure:
    """One bar per way of switching models for one column of the comparison's ``summary`` (way as index or
    column, with a ``label`` column naming each way in words)."""
    df = summary.reset_index() if "way" not in summary.columns else summary
    require(df, "summary", ("way", "label", metric))
    fig = go.Figure(go.Bar(x=df["label"], y=df[metric], text=[text(v) for v in df[metric]], textposition="outside",
                           marker_color=[WAY_COLORS.get(w, "#7f7f7f") for w in df["way"]],
                           hovertemplate="%{x}: %{y:.4g}<extra></extra>"))
    fig.update_layout(title=label, yaxis_title=label, height=340, showlegend=False,
                      margin=dict(l=10, r=10, t=50, b=40))
    return fig


def mismatch_timeline(segments: pd.DataFrame, held: pd.DataFrame, triggers: pd.DataFrame, user: int,
                      ways: dict[str, str], horizon: float, color, labels: dict | None = None,
                      trigger_color: str = "#882255") -> go.Figure:
    """One user's day: the situation where the user is (top row) and, per way of switching (``ways``: way ->
    label, in order), the model the device holds; diamonds where that way's detector fired, filled when the held
    model was wrong for the place, hollow for a false alarm. ``segments`` (user, start_s, end_s, context),
    ``held`` (way, user, time_s, model) and ``triggers`` (way, user, time_s, held, place, true) are the engine's
    frames; ``color`` maps a situation to its colour (the map's)."""
    require(segments, "segments", ("user", "start_s", "end_s", "context"))
    require(held, "held", ("way", "user", "time_s", "model"))
    require(triggers, "triggers", ("way", "user", "time_s", "held", "place", "true"))
    word = lambda c: (labels or {}).get(c, str(c))  # noqa: E731
    place_row = "where the user is"
    rows = [place_row] + [f"{label}: model held" for label in ways.values()]
    fig = go.Figure()
    seen = set()

    def bar(row, start, end, context, text):
        if end <= start or not context:
            return
        name = word(context)
        fig.add_trace(go.Bar(y=[row], x=[end - start], base=[start], orientation="h", marker_color=color(context),
                             name=name, legendgroup=name, showlegend=name not in seen,
                             hovertemplate=f"{text}<br>%{{base:.0f}} s to {end:.0f} s<extra></extra>"))
        seen.add(name)

    for r in segments[segments["user"] == user].itertuples(index=False):
        bar(place_row, r.start_s, r.end_s, r.context, f"at a place of the {word(r.context)} situation"
            if r.context else "")
    for (way, label), row in zip(ways.items(), rows[1:]):
        h = held[(held["way"] == way) & (held["user"] == user)].sort_values("time_s", kind="stable")
        times = h["time_s"].tolist() + [horizon]
        for k, model in enumerate(h["model"].tolist()):
            bar(row, times[k], times[k + 1], model, f"{label}: the {word(model)} model")
        t = triggers[(triggers["way"] == way) & (triggers["user"] == user)]
        for true in (True, False):
            part = t[t["true"].astype(bool) == true]
            if not len(part):
                continue
            name = "detector fired, model was wrong" if true else "detector fired, model was right (false alarm)"
            fig.add_trace(go.Scatter(
                x=part["time_s"], y=[row] * len(part), mode="markers", name=name, legendgroup=name,
                showlegend=name not in seen,
                marker=dict(symbol="diamond" if true else "diamond-open", size=13, color=trigger_color,
                            line=dict(width=2, color=trigger_color)),
                customdata=[[word(a), word(b)] for a, b in zip(part["held"], part["place"])],
                hovertemplate="detector fired at %{x:.0f} s: held the %{customdata[0]} model, the user is at a "
                              "place of the %{customdata[1]} situation<extra></extra>"))
            seen.add(name)
    fig.update_layout(barmode="overlay", title=f"User {user}: where the user is and the model each way holds",
                      xaxis_title="time (s)", xaxis_range=[0, horizon], height=150 + 55 * len(rows),
                      legend_title_text="", margin=dict(l=10, r=10, t=50, b=40))
    fig.update_yaxes(autorange="reversed", categoryorder="array", categoryarray=rows)
    return fig
