"""Improve together page: accuracy against rounds (devices together, central training, the root and the entry as
downloaded as reference lines) and the uplink bits each round costs, per device."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go

from app import units
from app.charts.style import GREY, OKABE_ITO, PALETTE, require


def federated_accuracy_figure(rounds: pd.DataFrame, planned_rounds: int, test_images: int,
                              root_accuracy: float | None = None, central: tuple[float, ...] | None = None,
                              target: float | None = None) -> go.Figure:
    """Accuracy after each round (``rounds``: columns round, accuracy; round 0 the entry as downloaded), with the
    same training done centrally (``central``, index 0 as downloaded), the uncompressed root and the entry as
    downloaded as horizontal lines, and the target, on ``test_images`` test photos."""
    require(rounds, "rounds", ("round", "accuracy"))
    if not isinstance(planned_rounds, int) or planned_rounds < 1:
        raise ValueError(f"planned_rounds={planned_rounds!r} must be a whole number of rounds, at least 1")
    if not isinstance(test_images, int) or test_images < 1:
        raise ValueError(f"test_images={test_images!r} must be a whole number of photos, at least 1")
    fig = go.Figure()
    if central:
        fig.add_trace(go.Scatter(
            x=list(range(len(central))), y=list(central), mode="lines+markers",
            name="central training on all devices' photos pooled (reference)",
            line=dict(color=OKABE_ITO["orange"], dash="dash"), marker=dict(symbol="square"),
            hovertemplate="round %{x}: %{y:.1%} (central)<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=rounds["round"], y=rounds["accuracy"], mode="lines+markers", name="devices together (federated)",
        line=dict(color=OKABE_ITO["blue"], width=3), marker=dict(size=9),
        hovertemplate="round %{x}: %{y:.1%} (federated)<extra></extra>"))
    if root_accuracy is not None:
        fig.add_hline(y=root_accuracy, line=dict(color=OKABE_ITO["black"], dash="dot", width=2),
                      annotation_text=f"root, uncompressed: {units.percent(root_accuracy)}",
                      annotation_position="top left")
    if len(rounds) and int(rounds["round"].iloc[0]) == 0:
        downloaded = float(rounds["accuracy"].iloc[0])
        fig.add_hline(y=downloaded, line=dict(color=GREY, dash="dash", width=2),
                      annotation_text=f"as downloaded: {units.percent(downloaded)}",
                      annotation_position="bottom left")
    if target is not None:
        fig.add_hline(y=target, line=dict(color=OKABE_ITO["green"], dash="dashdot", width=1.5),
                      annotation_text=f"target: {units.percent(target)}", annotation_position="top right")
    values = [v for v in list(rounds["accuracy"]) + list(central or ()) + [root_accuracy, target] if v is not None]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    pad = max(0.01, (hi - lo) * 0.15)
    fig.update_layout(
        title=f"Accuracy after each round, on {test_images:,} test photos",
        xaxis=dict(title="round (0: the sub-model as downloaded)", dtick=1, range=[-0.3, planned_rounds + 0.3]),
        yaxis=dict(title="accuracy", tickformat=".1%", range=[max(0.0, lo - pad), min(1.0, hi + pad)]),
        legend=dict(orientation="h", yanchor="top", y=-0.2), margin=dict(l=10, r=10, b=10))
    return fig


def uplink_figure(devices: pd.DataFrame, planned_rounds: int, uplink_bps: float) -> go.Figure:
    """Uplink bits per round, stacked by device (``devices``: columns round, device, uplink_bits), with the seconds
    each update takes at ``uplink_bps`` in the hover text."""
    require(devices, "devices", ("round", "device", "uplink_bits"))
    if not isinstance(planned_rounds, int) or planned_rounds < 1:
        raise ValueError(f"planned_rounds={planned_rounds!r} must be a whole number of rounds, at least 1")
    if not (isinstance(uplink_bps, (int, float)) and uplink_bps > 0 and math.isfinite(uplink_bps)):
        raise ValueError(f"uplink_bps={uplink_bps!r} must be a positive rate in bit/s")
    fig = go.Figure()
    for i, (device, part) in enumerate(devices.groupby("device", sort=True)):
        text = [f"device {device}, round {r}: {units.bits(b)}, {units.seconds(b / uplink_bps)} at "
                f"{units.rate(uplink_bps)}" for r, b in zip(part["round"], part["uplink_bits"])]
        fig.add_trace(go.Bar(x=part["round"], y=part["uplink_bits"] / 1e6, name=f"device {device}",
                             marker_color=PALETTE[i % len(PALETTE)], hovertext=text, hoverinfo="text"))
    devices_n = int(devices["device"].nunique()) if len(devices) else 0
    fig.update_layout(
        barmode="stack",
        title=f"Uplink per round: each device's compressed update ({devices_n} devices)",
        xaxis=dict(title="round", dtick=1, range=[0.4, planned_rounds + 0.6]),
        yaxis=dict(title="uplink (Mbit)", rangemode="tozero"),
        legend=dict(orientation="h", yanchor="top", y=-0.2, traceorder="normal"), margin=dict(l=10, r=10, b=10))
    return fig
