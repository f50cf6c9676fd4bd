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
