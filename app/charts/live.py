"""Live accuracy page: accuracy against BER per protection, with the current link starred."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from app.charts.style import DASHES, PALETTE, ber_axis, chance_line

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
