"""Sub-models page: what each technique would download for the sidebar's device, link and application."""
import pandas as pd
import streamlit as st

from app import charts, present, services, units
from app.rootcard import root_card
from app.library_build import build_button
from app.location import location_picker

s = services.settings()
root, card = services.root_model(s.model)
dsi = s.dsi()

st.title("Sub-models")
hw, app_, ch = dsi.hardware, dsi.application, dsi.channel
st.caption(f"**{hw.name}** ({hw.model_memory_bytes / 1e6:g} MB for models, {hw.compute_macs_per_s / 1e9:g} GMAC/s, "
           f"precisions {list(hw.precisions)}) · **{app_.name}**: {charts.format_seconds(app_.latency_budget_s)} "
           f"budget, accuracy ≥ {app_.min_accuracy:.0%}, {app_.samples_per_task} sample(s) · downlink "
           f"{charts.format_rate(ch.downlink_bps)}, uplink {charts.format_rate(ch.uplink_bps)}, BER {ch.ber:.1e} · "
           f"receiver: {s.protection}")

location_picker(s.place)

root_card(card)

lib, problem = services.library_or_none(s.model)
if lib is None:
    command = (f"python -m core.network.library build --out {services.library_path(s.model)} "
               f"--checkpoint {services.checkpoint_path(s.model)}")
    st.warning(f"{problem} The selection needs the AI library: build it here (a few minutes on 2 cores) or with "
               f"`{command}`.")
    build_button(services.library_path(s.model), s.model)
    st.stop()

allow_generate = st.toggle("Generate missing levels on the fly (no re-training)", value=False,
                           help="A DSI whose precision has no library entry is served by generating it now")
lib_key = f"{lib.folder}:{len(lib)}"
settings_key = tuple(sorted(s.to_query().items()))
sel = services.selection(lib, lib_key, settings_key, s, allow_generate)
cands = sel.candidates

st.subheader("What the network would download")
cols = st.columns(len(services.TECHNIQUES))
for col, technique in zip(cols, services.TECHNIQUES):
    chosen = sel.chosen.get(technique)
    with col.container(border=True):
        st.markdown(f"**{technique.capitalize()} level**" if technique != "combined" else "**Combined (Fig. 1)**")
        if chosen is None:
            st.error(f"Nothing fits: {sel.reasons.get(technique, '')}")
            continue
        st.markdown(f"`{chosen['label']}` · {chosen['mode']} · from the **{chosen['tier']}** cloud"
                    + (" · generated now" if chosen.get("generated_on_the_fly") else ""))
        st.metric("Expected accuracy", f"{chosen['accuracy']:.1%}", chosen["accuracy_source"], delta_color="off", delta_arrow="off")
        st.metric("Download", f"{chosen['total_bits'] / 1e6:.2f} Mbit",
                  f"{chosen['size_pct_of_root']:.1f} % of the root", delta_color="off", delta_arrow="off")
        budget = chosen["latency_budget_s"]
        st.progress(min(1.0, chosen["latency_s"] / budget),
                    text=f"latency {charts.format_seconds(chosen['latency_s'])} of "
                         f"{charts.format_seconds(budget)}")
        st.progress(min(1.0, chosen["memory_bytes"] / chosen["memory_limit_bytes"]),
                    text=f"memory {chosen['memory_bytes'] / 1e6:.2f} of {chosen['memory_limit_bytes'] / 1e6:g} MB")
        st.caption(f"download {charts.format_seconds(chosen['download_s'])} · compute "
                   f"{charts.format_seconds(chosen['compute_s'])} · uplink {charts.format_seconds(chosen['uplink_s'])}"
                   f" · server {charts.format_seconds(chosen['server_s'])}")
        st.markdown(" ".join((":green[:material/check_circle:] " if chosen[f"{c}_ok"] else
                              ":red[:material/cancel:] ") + c for c in ("memory", "precision", "latency", "accuracy")))
        if "id" in chosen and not chosen.get("generated_on_the_fly"):
            prof = services.layer_profile(lib, lib_key, int(chosen["id"]))
            present.chart(charts.layer_profile_figure(prof, "per layer: non-zero share, bits"),
                          width="stretch", key=f"prof_{technique}")

st.subheader("The library's size–accuracy front")
fig = charts.pareto_figure(cands, sel.chosen)
present.chart(fig, key="pareto_chart", name="size_accuracy_front", width="stretch")
st.download_button("Chart (HTML)", charts.figure_html(fig), "pareto.html", "text/html")
st.caption(services.ACCURACY_RULE)

st.subheader("Every candidate and its binding constraint")
only = st.radio("Show", ["all", "feasible", "rejected"], horizontal=True, key="cand_filter")
view = cands if only == "all" else cands[(cands["binding"] == "") == (only == "feasible")]
shown = view[["label", "technique", "mode", "tier", "total_bits", "memory_bytes", "latency_s", "accuracy",
              "binding"]].rename(columns={"binding": "binding constraint"})
st.dataframe(shown, hide_index=True, width="stretch")
st.download_button("Candidates (CSV)", cands.to_csv(index=False), "candidates.csv", "text/csv")
counts = cands["binding"].replace("", "feasible").value_counts()
st.caption("Candidates by verdict: " + ", ".join(f"{k}: {v}" for k, v in counts.items()))

with st.expander("Depth level: confidence-based early exit"):
    st.caption("The device answers at its exit when the softmax confidence reaches the threshold; otherwise it "
               "sends its features (8-bit codes) up and the server finishes with the rest of the network.")
    e1, e2 = st.columns(2)
    k = e1.select_slider("Split point (exit)", [1, 2, 3], value=1, key="ee_depth")
    threshold = e2.slider("Confidence threshold", 0.0, 1.0, 0.9, 0.01, key="ee_threshold")
    measured = st.session_state.get("ee_measured", frozenset())
    if (s.model, k) not in measured:
        st.info(f"Measuring exit {k} runs every test image through the device's part and the server once (about "
                "half a minute for the photos on 2 cores); after that every threshold is instant.")
        if st.button(f"Measure exit {k} on the test images", key="ee_run"):
            measured = measured | {(s.model, k)}
            st.session_state["ee_measured"] = measured
    if (s.model, k) in measured:
        outcomes = services.exit_outcomes(k, 8, s.model)
        ee = outcomes.at(threshold)
        m1, m2, m3 = st.columns(3)
        m1.metric("Accuracy", units.percent(ee.accuracy))
        m2.metric("Finished on the device", units.percent(ee.device_share, 0))
        m3.metric("Mean uplink per sample", units.bits(ee.mean_uplink_bits))
        curve = pd.DataFrame([{"confidence threshold": r.threshold, "accuracy (%)": 100 * r.accuracy,
                               "finished on the device (%)": 100 * r.device_share}
                              for r in outcomes.curve((0.0, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0))])
        st.caption(f"The same {len(outcomes.confidence):,} test images at other thresholds:")
        present.table(curve)

with st.expander("Parameter level: progressive download path"):
    st.caption("Nested sub-models share one set of weights (trained all-in-one), so a device upgrades from one "
               "level to the next by downloading only the new weights plus re-estimated BatchNorm statistics.")
    levels = st.multiselect("Keep ratios of the levels", [0.05, 0.1, 0.25, 0.5, 1.0], default=[0.1, 0.25, 0.5, 1.0],
                            key="prog_levels")
    steps = st.select_slider("Joint training steps", [20, 50, 100, 200], value=100, key="prog_steps")
    if st.button("Train the nested levels and measure the path", key="prog_run") or \
            st.session_state.get("prog_done") == (tuple(sorted(levels)), steps):
        if len(levels) < 2:
            st.warning("Pick at least two levels.")
        else:
            st.session_state["prog_done"] = (tuple(sorted(levels)), steps)
            path = services.progressive(tuple(sorted(levels)), steps, 0, s.model)
            shown = pd.DataFrame({"level": path["keep_ratio"].map(lambda r: f"keep {r:.0%}"),
                                  "accuracy": path["accuracy"], "direct (Mbit)": path["direct_bits"] / 1e6,
                                  "upgrade (Mbit)": path["delta_bits"] / 1e6,
                                  "path so far (Mbit)": path["cumulative_bits"] / 1e6,
                                  "extra vs direct (Mbit)": path["overhead_bits"] / 1e6})
            st.dataframe(shown, hide_index=True, width="stretch")
            st.download_button("Progressive path (CSV)", path.to_csv(index=False), "progressive.csv", "text/csv")
