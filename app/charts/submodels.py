"""Sub-models page: the size-accuracy front of the library's candidates with the chosen sub-models, a sub-model's
per-layer profile, the offline area map on which the device's location is picked, a situation model beside the
generic root per exit, and the accuracy an on-device customisation gains against its steps."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from app import units
from app.charts.style import GREY, OKABE_ITO, PALETTE, chance_line, require

# Marker symbols per technique, so that depth and combined points differ in shape as well as colour.
TECHNIQUE_SYMBOLS = {"depth": "circle", "parameter": "square", "bit": "diamond", "combined": "triangle-up",
                     "root": "star"}


def pareto_figure(candidates: pd.DataFrame, chosen: dict, chance: float | None = None,
                  min_accuracy: float | None = None) -> go.Figure:
    """Size against accuracy at the device's BER for every library candidate, drawn as the selection rule sees it:
    the region that meets the accuracy requirement shaded (above ``min_accuracy``), candidates that meet every
    requirement filled (hollow: one fails), the chosen sub-models starred and each one's runner-up ringed.

    ``candidates`` needs label, technique, mode, total_bits, accuracy and binding; ``chosen`` maps technique to a
    candidate row (dict, with ``runner_up`` naming the next choice) or None.
    """
    require(candidates, "candidates", ("label", "technique", "total_bits", "accuracy", "binding"))
    fig = go.Figure()
    if min_accuracy is not None:
        fig.add_hrect(y0=min_accuracy, y1=1.02, fillcolor=OKABE_ITO["green"], opacity=0.08, line_width=0,
                      annotation_text=f"meets the accuracy asked (at least {units.percent(min_accuracy, 0)})",
                      annotation_position="bottom left")
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
        by_label = candidates.drop_duplicates("label").set_index("label")
        seconds = [(t, by_label.loc[c["runner_up"]]) for t, c in picks
                   if c.get("runner_up") and c["runner_up"] in by_label.index]
        if seconds:
            fig.add_trace(go.Scatter(
                x=[r["total_bits"] / 1e6 for _, r in seconds], y=[r["accuracy"] for _, r in seconds],
                mode="markers", name="runner-up", text=[f"{t}: next choice, {r.name}" for t, r in seconds],
                hovertemplate="%{text}<extra></extra>",
                marker=dict(size=22, symbol="circle-open", color="black", line=dict(width=2))))
    chance_line(fig, chance)
    fig.update_layout(xaxis=dict(type="log", dtick=1, title="download size (Mbit, log scale)"),
                      yaxis=dict(title="expected accuracy at the device's BER", range=[0, 1.02], tickformat=".0%"),
                      margin=dict(l=10, r=10, t=30, b=10))  # the legend at the right, clear of the axis title
    return fig


def layer_profile_figure(layers: pd.DataFrame, title: str = "") -> go.Figure:
    """Per-layer share of weights kept and bit width of a sub-model (columns layer, kept, bits)."""
    require(layers, "layers", ("layer", "kept", "bits"))
    fig = go.Figure()
    fig.add_trace(go.Bar(x=layers["layer"], y=layers["kept"], name="non-zero weights", yaxis="y",
                         marker_color=OKABE_ITO["sky"]))
    fig.add_trace(go.Scatter(x=layers["layer"], y=layers["bits"], name="bits", mode="lines+markers",
                             yaxis="y2", line=dict(color=OKABE_ITO["vermillion"])))
    # The title sits below the chart's toolbar row (style.below_toolbar places it when the chart is drawn).
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=300,
                      margin=dict(l=10, r=10, t=75, b=10), showlegend=False,
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


def _stage_of(layer: str) -> int | None:
    """0 for the stem, k for a layer of stage k (1-based), None for an exit head."""
    if layer.startswith("stem"):
        return 0
    if layer.startswith("stages."):
        return int(layer.split(".")[1]) + 1
    return None


def cut_figure(picks: list[tuple[str, dict, pd.DataFrame | None]], num_stages: int,
               layer_weights: dict[str, int] | None = None) -> go.Figure:
    """The root as its blocks (stem, stages, exit) and what each technique cut for its chosen sub-model: the paper's
    Fig. 1 for this device. ``picks``: (row title, candidate row with depth, keep_ratio, bits, mode, label, per-layer
    profile with columns layer, kept and bits, or None); ``layer_weights`` weights each layer's kept share by its
    number of weights (unweighted without it). Stages past the exit are greyed: the server runs them in split mode,
    else they are not sent."""
    names = ["stem"] + [f"stage {k}" for k in range(1, num_stages + 1)]
    rows = [("root model", {"depth": num_stages, "keep_ratio": 1.0, "bits": 32, "mode": "exit",
                            "label": "everything, fp32"}, None)] + list(picks)
    fig = go.Figure()
    colours = {"root model": GREY, "depth": OKABE_ITO["blue"], "parameter": OKABE_ITO["orange"],
               "bit": OKABE_ITO["green"], "combined": OKABE_ITO["vermillion"]}
    for r, (title, row, profile) in enumerate(rows):
        y = len(rows) - 1 - r
        depth = int(row["depth"])
        per_stage: dict[int, tuple[float, str]] = {}
        if profile is not None and len(profile):
            for stage in range(num_stages + 1):
                part = profile[[_stage_of(str(n)) == stage for n in profile["layer"]]]
                if not len(part):
                    continue
                w = np.array([(layer_weights or {}).get(str(n), 1) for n in part["layer"]], float)
                kept = float(np.average(part["kept"].astype(float), weights=w))
                widths = sorted({int(b) for b in part["bits"]})
                per_stage[stage] = (kept, "/".join(str(b) for b in widths) + "-bit")
        for stage, name in enumerate(names):
            on_device = stage <= depth
            kept, bits = per_stage.get(stage, (float(row["keep_ratio"]), f"{int(row['bits'])}-bit"))
            colour = colours.get(title.split()[0].lower(), colours.get(title, GREY)) if on_device else "#DDDDDD"
            text = (f"non-zero {kept:.0%}<br>{bits}" if on_device else
                    ("server" if row.get("mode") == "split" else "not sent"))
            fig.add_shape(type="rect", x0=stage + 0.08, x1=stage + 0.92, y0=y + 0.12, y1=y + 0.88, layer="below",
                          fillcolor=colour, opacity=0.15 + 0.45 * kept if on_device else 0.5,
                          line=dict(color=colour if on_device else GREY, dash="solid" if on_device else "dot"))
            fig.add_annotation(x=stage + 0.5, y=y + 0.5, text=text, showarrow=False,
                               font=dict(size=12, color="black" if on_device else "#555555"))
        fig.add_trace(go.Scatter(x=[depth + 1.0], y=[y + 0.5], mode="markers", hoverinfo="text",
                                 text=[f"exit {depth}: the device answers here"],
                                 marker=dict(symbol="diamond", size=12, color="black")))
    fig.update_xaxes(range=[0, len(names) + 0.6], tickvals=[i + 0.5 for i in range(len(names))], ticktext=names,
                     showgrid=False, zeroline=False, side="top")
    fig.update_yaxes(range=[0, len(rows)], tickvals=[len(rows) - 0.5 - i for i in range(len(rows))],
                     ticktext=[f"{t}: {row['label']}" for t, row, _ in rows], showgrid=False, zeroline=False)
    fig.update_layout(height=70 * len(rows) + 80, margin=dict(l=10, r=10, t=70, b=10), showlegend=False,
                      plot_bgcolor="white")
    return fig


# ---------- Situations and on-device customisation ----------

def situation_exits_figure(exits: pd.DataFrame, chance: float | None = None) -> go.Figure:
    """Per exit, the situation model's accuracy beside the generic root's with its answer restricted to the same
    classes, on the same test photos (columns exit, situation_model, generic_restricted)."""
    require(exits, "exits", ("exit", "situation_model", "generic_restricted"))
    fig = go.Figure()
    for column, name, colour in (("generic_restricted", "generic root, answer among these classes", GREY),
                                 ("situation_model", "situation model", OKABE_ITO["blue"])):
        fig.add_trace(go.Bar(x=[f"exit {int(k)}" for k in exits["exit"]], y=exits[column], name=name,
                             marker_color=colour, text=[units.percent(v) for v in exits[column]],
                             textposition="outside", hovertemplate="%{x}: %{y:.1%}<extra>" + name + "</extra>"))
    chance_line(fig, chance)
    low = float(np.nanmin(exits[["situation_model", "generic_restricted"]].to_numpy()))
    fig.update_layout(barmode="group", height=320, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=1.12),
                      yaxis=dict(title="accuracy on the situation's test photos", tickformat=".0%",
                                 range=[max(0.0, min(low, chance or low) - 0.1), 1.05]))
    return fig


def on_device_figure(curve: pd.DataFrame, chance: float | None = None, title: str = "") -> go.Figure:
    """Accuracy on the situation's test photos against the device's training steps (columns steps, accuracy), with
    the sub-model as downloaded (0 steps) drawn across as the line every point is compared with."""
    require(curve, "curve", ("steps", "accuracy"))
    start = float(curve["accuracy"].iloc[0])
    gains = [units.points(a - start) for a in curve["accuracy"]]
    fig = go.Figure(go.Scatter(
        x=curve["steps"], y=curve["accuracy"], mode="lines+markers", name="after this many steps",
        line=dict(color=OKABE_ITO["blue"]), customdata=gains,
        hovertemplate="%{x} steps: %{y:.1%} (%{customdata} against as downloaded)<extra></extra>"))
    fig.add_hline(y=start, line=dict(color=GREY, dash="dash"),
                  annotation_text=f"as downloaded: {units.percent(start)}", annotation_position="bottom right")
    chance_line(fig, chance)
    low = float(curve["accuracy"].min())
    fig.update_layout(title=dict(text=title, font=dict(size=13)) if title else None, height=340,
                      margin=dict(l=10, r=10, t=40 if title else 20, b=10), showlegend=False,
                      xaxis=dict(title="training steps on the device", rangemode="tozero"),
                      yaxis=dict(title="accuracy on the situation's test photos", tickformat=".0%",
                                 range=[max(0.0, min(low, chance or low) - 0.05), 1.02]))
    return fig
