"""The paper's Fig. 3 reproduced: accuracy against downloaded size per technique, one line per BER and protection,
from the table of ``python -m core.experiments fig3`` (drawn to fig3.html by ``python scripts/fig3.py``)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from app.charts.style import require

FIG3_FAMILY_TITLES = {"depth": "(a) depth level", "parameter": "(b) parameter level", "bit": "(c) bit level"}


def fig3_figure(df: pd.DataFrame) -> go.Figure:
    """Three panels (depth, parameter, bit level): accuracy against downloaded size, one line per BER and
    protection, with the 95 % interval of the paired estimator as error bars. A pure function of the table."""
    require(df, "the Fig. 3 table", ["family", "ber", "protection", "size_pct", "accuracy", "ci95_low",
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
