"""Sub-models page: what each technique would download for the sidebar's device, link and application; the
situation the device is in (its situation model beside the generic root) and customisation on the device."""
import math

import pandas as pd
import streamlit as st

from app import charts, glossary, present, services, units
from app.controls import RULE_WORDS, rate_words
from app.library_build import build_button
from app.location import location_picker
from app.rootcard import root_card
from app.story import explain_binding
from app.views import customise

TIME_HELP = ("Time to answer = tier access (the library's tier) + transfer (the bits through the slower of backhaul "
             "and radio link) + resent (none: the receiver keeps what arrives, errors and all; the Live page prices "
             "resending) + load into the accelerator + compute (at the rate of the model's precision) + uplink and "
             "server (split inference only) + generation (a sub-model made now).")
TIME_PARTS = (("access_s", "tier access"), ("transfer_s", "transfer"), ("retransmission_s", "resent"),
              ("load_s", "load"), ("compute_s", "compute"), ("uplink_s", "uplink"), ("server_s", "server"),
              ("generation_s", "generation"))


def _sentence(text: str) -> str:
    return f"{text[0].upper()}{text[1:]}."


def _ruined_cell(c: dict) -> str:
    """A candidate's ruined downloads for the table: '3 of 12', or the interpolated share, or a dash."""
    share = c.get("ruin_share", math.nan)
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return units.MISSING
    if c.get("ruin_hi", 1.0) == 0:  # error-free link: nothing flips, nothing is ruined
        return "none"
    if int(c.get("downloads", 0) or 0) > 0 and int(c.get("ruined", -1)) >= 0:
        return f"{int(c['ruined'])} of {int(c['downloads'])}"
    return f"{units.percent(share)} (interpolated)"


def time_sentence(c: dict) -> str:
    """The parts of the time to answer, adding up to the total shown (the engine's LATENCY_PARTS)."""
    shown = [f"{name} {units.seconds(c[key])}" for key, name in TIME_PARTS
             if key != "generation_s" or c.get(key, 0)]
    return " + ".join(shown) + f" = **{units.seconds(c['latency_s'])}**"


def rule_sentence(c: dict, rule: str) -> str:
    """Why this sub-model: the rule, how many meet every requirement, and the next choice with why it lost."""
    n = int(c["feasible_count"])
    head = (f"Smallest of {n} that meet all four requirements" if rule == "smallest" else
            f"Most accurate of {n} that meet all four requirements (estimates within each other's intervals count "
            "as a tie, which goes to the smaller download)")
    if not c.get("runner_up"):
        return head + "; no other sub-model meets them."
    more = int(c["runner_up_bits"]) - int(c["total_bits"])
    size = (f"{units.bits(more)} more to download" if more > 0 else
            f"{units.bits(-more)} less to download" if more < 0 else "the same size")
    return f"{head}; next: {c['runner_up']} ({units.bits(c['runner_up_bits'])}, {size})."


s = services.settings()
root, card = services.root_model(s.model)
dsi = s.dsi()

st.title("Sub-models")
lead = st.empty()  # the page's result in one sentence, filled once the selection is known
present.report_button("Sub-models", s)
hw, app_, ch = dsi.hardware, dsi.application, dsi.channel
st.caption(f"The device situation (DSI) the network answers: **{hw.name}** ({units.size_bytes(hw.model_memory_bytes)} "
           f"for models, {rate_words(hw)}) · **{app_.name}**: {units.seconds(app_.latency_budget_s)} "
           f"budget, accuracy ≥ {units.percent(app_.min_accuracy, 0)}, "
           f"{glossary.count_words(app_.samples_per_task, 'sample')} · downlink "
           f"{units.rate(ch.downlink_bps)}, uplink {units.rate(ch.uplink_bps)}, bit-error rate "
           f"{units.ber(ch.ber)} · receiver: {services.protection_label(s.protection)}",
           help=glossary.tip("DSI", "BER", "protection"))

location_picker(s.place)

root_card(card)

situation = customise.situation_picker(s.model)
if situation:
    customise.situation_card(situation, s.model, len(card.classes))

lib, problem = services.library_or_none(s.model)
if lib is None:
    command = (f"python -m core.network.library build --out {units.path(services.library_path(s.model))} "
               f"--checkpoint {units.path(services.checkpoint_path(s.model))}")
    st.warning(f"{problem} The selection needs the AI library: build it here (a few minutes on 2 cores) or with "
               f"`{command}`.")
    build_button(services.library_path(s.model), s.model)
    st.stop()

allow_generate = st.toggle("Generate missing levels on the fly (no re-training)", value=False,
                           help="A DSI whose precision has no library entry is served by generating it now")
lib_key = services.library_key(lib)
sel = services.selection(lib, lib_key, services.settings_key(s), s, allow_generate)
cands = sel.candidates
best = sel.best()
if best is None:
    lead.markdown(f"**Nothing in the library fits this {hw.name}** for {app_.name} at "
                  f"{units.rate(ch.downlink_bps)}: each technique's card below says which requirement fails.")
else:
    change = units.loss_short(best["accuracy"], best["clean_accuracy"], best["accuracy_lo"], best["accuracy_hi"])
    lead.markdown(f"**For this {hw.name} the network sends {best['label']}: {units.bits(best['total_bits'])} "
                  f"({units.percent(best['size_pct_of_root'] / 100)} of the root), an answer in "
                  f"{units.seconds(best['latency_s'])} "
                  f"of the {units.seconds(app_.latency_budget_s)} allowed, {units.percent(best['accuracy'])} expected"
                  + (f" at BER {units.ber_short(ch.ber)} ({change})" if ch.ber > 0 else "") + ".**")

st.subheader("What the network would download")
st.caption(f"Rule: the {RULE_WORDS[sel.rule]} (sidebar, *Which sub-model to send*). Each card names the next choice "
           "and why it lost; the chart below rings it.")
cols = st.columns(len(services.TECHNIQUES))
for col, technique in zip(cols, services.TECHNIQUES):
    chosen = sel.chosen.get(technique)
    with col.container(border=True):
        st.markdown(f"**{technique.capitalize()} level**" if technique != "combined" else "**Combined (Fig. 1)**")
        if chosen is None:
            mine = cands[cands["technique"] == technique] if "technique" in cands else cands.iloc[:0]
            if not len(mine):
                st.error(f"Nothing to send: the library has no {technique}-level sub-model.", icon=":material/cancel:")
                continue
            closest = mine.sort_values("total_bits").iloc[0].to_dict()
            reasons = glossary.binding_counts(glossary.binding_reasons(mine))
            st.error(f"Nothing fits: of {glossary.count_words(len(mine), 'sub-model')}, {reasons}. The "
                     f"smallest, {closest['label']}, cannot be sent because {explain_binding(closest, s)}.",
                     icon=":material/cancel:")
            continue
        st.markdown(f"**{chosen['label']}** · {chosen['mode']} · from the **{chosen['tier']}** cloud"
                    + (" · generated now" if chosen.get("generated_on_the_fly") else ""),
                    help=glossary.tip("exit", "split", "tier"))
        st.caption(rule_sentence(chosen, sel.rule))
        source, loss = chosen["accuracy_source"], ""
        if dsi.channel.ber > 0:  # every accuracy under errors beside its change from the same model's clean one
            loss = units.loss_against_clean(chosen["accuracy"], chosen["clean_accuracy"], chosen["accuracy_lo"],
                                            chosen["accuracy_hi"], 1 / len(card.classes))
            source = units.loss_short(chosen["accuracy"], chosen["clean_accuracy"], chosen["accuracy_lo"],
                                      chosen["accuracy_hi"])
        present.metric(st, "Expected accuracy", units.percent(chosen["accuracy"]), source,
                       delta_color="off", delta_arrow="off", report_label=f"{technique} level: expected accuracy")
        if loss:
            ruin = ""
            if not math.isnan(chosen.get("ruin_share", math.nan)):  # the risk beside the mean: bimodal downloads
                ruin = " " + _sentence(units.ruin_words(chosen["ruin_share"], chosen["ruin_lo"], chosen["ruin_hi"],
                                                        int(chosen["ruined"]), int(chosen["downloads"])))
            st.caption(f"{loss[0].upper()}{loss[1:]}; {chosen['accuracy_source']}.{ruin}",
                       help=f"A download is {units.RUINED}.")
        present.metric(st, "Download", units.bits(chosen["total_bits"]),
                       f"{units.percent(chosen['size_pct_of_root'] / 100)} of the root", delta_color="off",
                       delta_arrow="off",
                       report_label=f"{technique} level: download")
        budget = chosen["latency_budget_s"]
        st.progress(min(1.0, chosen["latency_s"] / budget),
                    text=f"time to answer {units.seconds(chosen['latency_s'])} of {units.seconds(budget)}")
        st.progress(min(1.0, chosen["memory_bytes"] / chosen["memory_limit_bytes"]),
                    text=f"memory {units.size_bytes(chosen['memory_bytes'])} of "
                         f"{units.size_bytes(chosen['memory_limit_bytes'])}")
        st.caption(time_sentence(chosen), help=TIME_HELP)
        st.markdown(" ".join((":green[:material/check_circle:] " if chosen[f"{c}_ok"] else
                              ":red[:material/cancel:] ") + c for c in ("memory", "precision", "latency", "accuracy")),
                    help="The four requirements, checked in this order; the first that fails is the binding "
                         "constraint. " + glossary.explain("binding constraint"))
        if "id" in chosen and not chosen.get("generated_on_the_fly"):
            prof = services.layer_profile(lib, lib_key, int(chosen["id"]))
            present.chart(charts.layer_profile_figure(prof, f"{technique.capitalize()} level, per layer:<br>share "
                                                            "of weights kept, bits per weight"),
                          width="stretch", key=f"prof_{technique}", compact=True)

picks = [(technique, c, services.layer_profile(lib, lib_key, int(c["id"]))
          if "id" in c and not c.get("generated_on_the_fly") else None)
         for technique, c in sel.chosen.items() if c is not None]
if picks:
    st.subheader("What each technique cut (the paper's Fig. 1 for this device)")
    weights = {name.removesuffix(".weight"): int(p.numel()) for name, p in root.state_dict().items()
               if name.endswith(".weight") and p.dim() > 1}
    present.chart(charts.cut_figure(picks, len(card.exit_test_accuracy), weights), key="cut_chart",
                  name="what_each_technique_cut", width="stretch")
    st.caption("Each row is a chosen sub-model drawn over the root's blocks: the stages it keeps on the device, the "
               "share of their weights sent as non-zero (pruning removes weights; coarse codes round small ones to "
               "zero too; weighted by layer size) and the bits per weight; the diamond is the exit where the device "
               "answers; greyed stages are not sent (the server runs them in split mode). From the library's "
               "per-layer records.")

st.subheader("The library's size–accuracy front")
fig = charts.pareto_figure(cands, sel.chosen, chance=1 / len(card.classes), min_accuracy=app_.min_accuracy)
present.chart(fig, key="pareto_chart", name="size_accuracy_front", width="stretch")
st.download_button("Chart (HTML)", charts.figure_html(fig), "pareto.html", "text/html")
st.caption(glossary.ACCURACY_RULE_WORDS)
present.words("DSI", "sub-model", "exit", "split", "binding constraint", "BER", "protection", "tier")

st.subheader("Every candidate and its binding constraint", help=glossary.explain("binding constraint"))
only = st.radio("Show", ["all", "feasible", "rejected"], horizontal=True, key="cand_filter",
                format_func={"all": "all", "feasible": "can be sent", "rejected": "cannot be sent"}.get)
view = cands if only == "all" else cands[(cands["binding"] == "") == (only == "feasible")]
# Accuracy beside the same sub-model's clean accuracy (BER 0) and the change; one never measured at this BER
# says so in words instead of an empty cell.
measured = view["accuracy"].notna()
shown = view[["label", "technique", "mode", "tier", "total_bits", "memory_bytes", "latency_s"]].assign(
    total_bits=view["total_bits"] / 1e6, memory_bytes=view["memory_bytes"] / 1e6, latency_s=view["latency_s"] * 1e3,
    clean=[units.percent(a) for a in view["clean_accuracy"]],
    accuracy=[units.percent(a) if ok else "not measured at this BER" for a, ok in zip(view["accuracy"], measured)],
    change=[units.loss_short(a, c, lo, hi) if ok else "" for a, c, lo, hi, ok in
            zip(view["accuracy"], view["clean_accuracy"], view["accuracy_lo"], view["accuracy_hi"], measured)],
    ruined=[_ruined_cell(r) for r in view.to_dict("records")],
    binding=glossary.binding_reasons(view))
present.table(shown, "Every candidate and its binding constraint", hide_index=True, width="stretch",
              key="candidates_table",
              column_config={"label": "sub-model", "total_bits": st.column_config.NumberColumn("download (Mbit)",
                                                                                               format="%.3f"),
                             "memory_bytes": st.column_config.NumberColumn("device memory (MB)", format="%.3f"),
                             "latency_s": st.column_config.NumberColumn("time to answer (ms)", format="%.2f"),
                             "clean": "accuracy error-free (BER 0)",
                             "accuracy": "expected accuracy at this BER", "change": "change from error-free",
                             "ruined": st.column_config.TextColumn(
                                 "ruined downloads", help=f"Downloads measured that were {units.RUINED}."),
                             "binding": "binding constraint"})
st.download_button("Candidates (CSV)", cands.to_csv(index=False), "candidates.csv", "text/csv")
st.caption(f"Of {len(cands)} candidates: {glossary.binding_counts(glossary.binding_reasons(cands))}. An empty "
           "binding constraint "
           "means the sub-model can be sent.")

customise.on_device_section(s, situation)

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
        present.table(curve, column_config={c: st.column_config.NumberColumn(c, format="%.1f")
                                            for c in ("accuracy (%)", "finished on the device (%)")})

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
            present.table(shown, "Progressive download path", hide_index=True, width="stretch",
                          column_config={"accuracy": st.column_config.NumberColumn("accuracy", **units.PERCENT_COLUMN),
                                         **{c: st.column_config.NumberColumn(c, format="%.3f") for c in shown.columns
                                            if c.endswith("(Mbit)")}})
            st.download_button("Progressive path (CSV)", path.to_csv(index=False), "progressive.csv", "text/csv")
