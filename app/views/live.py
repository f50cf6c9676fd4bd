"""Live accuracy page: a sub-model downloaded over the current link, trial by trial, with a growing estimate
that stops itself at the target interval, can be stopped and continued, and says what it rests on."""
import time

import numpy as np
import pandas as pd
import streamlit as st

from app import charts, glossary, present, services, units
from app.rootcard import dataset_words


def lead_sentence(res, label: str) -> str:
    """The page's result in one sentence of numbers, from the estimate on screen: accuracy over this link against
    the same sub-model error-free, with the change and its 95 % half-width, and the ruined downloads if any."""
    link = f"a link with bit-error rate {units.ber(res.ber)}" if res.ber > 0 else "an error-free link"
    text = f"Over {link}, the sub-model ({label}) classifies {units.percent(res.mean)} of the test images right"
    if res.first_look or res.trials < 2:
        return f"**{text} (a first look at {res.images:,} images; the interval follows).**"
    if res.ber > 0:
        ruin = res.ruin
        risk = (f"; {units.one_in(ruin.share)} downloads ruined ({ruin.ruined} of {ruin.downloads})"
                if ruin is not None and ruin.ruined else "")
        return (f"**{text}, against {units.percent(res.clean_accuracy)} error-free (change "
                f"{units.change(res.mean - res.clean_accuracy, res.half_width)}){risk}.**")
    return f"**{text} ({units.plus_minus(res.half_width)}).**"


s = services.settings()
ber, protection = s.effective_ber, s.protection
st.title("Live accuracy")
lead = st.empty()  # the page's result in one sentence, filled by the estimate below as it grows
present.report_button("Live accuracy", s)
st.caption("The parameter payload crosses a binary symmetric channel with the sidebar's BER; the topology "
           "(shapes, bit widths, scales, value ranges) arrives intact. Each trial is one real download: bits "
           "flipped at random, decoded, protected as chosen, and evaluated on a fresh random set of test images. "
           "The estimate is the clean accuracy on the whole test split plus the average change that the "
           "download causes on those images (a paired estimate), with a 95 % interval that counts both the "
           "channel's and the image sampling's randomness.", help=glossary.tip("payload", "topology", "BER"))

options = {label: services.SubModelRef.generated(spec) for label, spec in services.LIVE_SPECS.items()}
improved_ids = set()  # library entries that are improved versions (they cannot be made again from the root)
lib, _ = services.library_or_none(s.model)
if lib is not None:  # the sub-models the selection picks for the sidebar's device come first
    lib_key = services.library_key(lib)
    sel = services.selection(lib, lib_key, services.settings_key(s), s, False)
    chosen = {f"Chosen for this device, {fam}: {c['label']} (device exit)":
              services.SubModelRef.library_entry(lib_key, int(c["id"]))
              for fam, c in sel.chosen.items() if c is not None and not c.get("generated_on_the_fly")}
    versions = services.library_versions(lib, lib_key)
    improved = {} if versions.empty else {
        f"Improved version from the AI library: {r.label}": services.SubModelRef.library_entry(lib_key, int(r.id))
        for r in versions[versions["side"] == "version"].itertuples()}
    improved_ids = {ref.entry_id for ref in improved.values()}
    options = {**chosen, **improved, **options}
c1, c2, c3, c4 = st.columns([3, 1, 1, 1])
labels = list(options)
choice = c1.selectbox("Sub-model", labels, index=labels.index("Bit level: 4-bit codes"), key="live_choice")
target = c2.select_slider("Target ± (points)", [2.0, 1.0, 0.5, 0.25], value=1.0, key="live_target",
                          help="The estimate stops when its 95 % interval is this narrow (in accuracy points).")
max_trials = int(c3.number_input("Most trials", min_value=2, max_value=200, value=200, step=1, key="live_trials"))
seed = int(c4.number_input("Seed", min_value=0, max_value=10**6, value=0, step=1, key="live_seed"))
budget = float(st.sidebar.number_input("Live estimate: seconds per run", min_value=1.0, max_value=600.0,
                                       value=10.0, step=1.0, key="live_budget",
                                       help="A run stops after this long; Continue runs it further."))
ref = options[choice]
config = services.live_config(target, max_trials, budget, first_look=True)
# A first look at this sub-model in this session: while it is generated or loaded (up to ~20 s on photos), the
# curve the AI library measured for it is on screen at once; it goes when the page's own numbers come.
preview, previewed = st.empty(), st.session_state.setdefault("live_previewed", set())
if (ref, s.model) not in previewed:
    previewed.add((ref, s.model))
    stored_first = services.library_curve(ref, s.model, tuple(sorted({"none", protection})))
    if stored_first is not None:
        _, first_card = services.root_model(s.model)
        with preview.container():
            st.caption("While this sub-model is prepared: its accuracy against bit-error rate as the AI library "
                       f"measured it ({units.count_range(stored_first['trials'])} downloads per point, floating "
                       "point). The page's own estimate follows.")
            present.chart(charts.ber_curve_figure(stored_first, chance=1 / len(first_card.classes)),
                          key="ber_curve_preview", width="stretch")
            present.forget("ber_curve_preview")
try:
    sub, note = services.live_submodel_noting(ref, s.model)
except ValueError as err:  # e.g. a damaged library entry: say which and how to repair it, no traceback
    repair = ("An improved version cannot be made again from the root: restore its weight file or improve the "
              "entry again;" if ref.kind == "library" and ref.entry_id in improved_ids else
              "\"Complete the library\" on the AI library page regenerates damaged entries;")
    st.error(f"The sub-model \"{choice}\" cannot be loaded: {str(err)[:400]} {repair} the other sub-models here "
             "still work.")
    st.stop()
preview.empty()
if note:  # a read-only library folder: the weights were made and checked, just not kept
    st.info(note, icon=":material/info:")
arithmetics = services.live_arithmetics(ref, s.model)
if len(arithmetics) > 1:
    arithmetic = st.radio("How the device computes", arithmetics, format_func=services.ARITHMETIC_LABELS.get,
                          horizontal=True, key="live_arithmetic",
                          help="This sub-model's weights are all integer codes, so a device can run it with 8-bit "
                               "integer arithmetic (its activations are rounded to 8 bits too), about five times "
                               "faster here than floating point. Accuracy can differ by a few tenths of a point; "
                               "the library's figures use floating point.")
else:
    arithmetic = "float"
_, root_card = services.root_model(s.model)
st.caption(f"Root model: ResNet-18 trained on {dataset_words(root_card)}. Sub-model: {sub.card.label}. "
           + ("Computed with 8-bit integer arithmetic." if arithmetic == "int8" else
              "Computed in floating point" + (" (its weights are floating-point numbers, so 8-bit integer "
                                              "arithmetic is not offered)." if len(arithmetics) == 1 else ".")))
m = st.columns(3)
present.metric(m[0], "Weight bits sent over the error-prone link", units.bits(sub.payload.payload_bits),
               help=glossary.explain("payload"))
present.metric(m[1], "Expected flipped bits per download", units.count(round(ber * sub.payload.payload_bits)))
present.metric(m[2], "BER / protection", units.ber_short(ber), services.PROTECTIONS[protection].label,
               delta_color="off", delta_arrow="off", help=glossary.tip("BER", "protection"))


def _show(res, slot, note, lead_slot):
    lead_slot.markdown(lead_sentence(res, sub.card.label))
    if res.first_look:
        interval = (f"first look: {res.images} of the first download's {config.images_per_trial} test images; "
                    "interval after 2 trials")
    elif res.trials < 2:
        interval = f"interval after 2 trials; 1 trial of {res.images_per_trial} images so far"
    else:
        interval = (f"95 % interval {units.interval(res.lo, res.hi)} ({units.plus_minus(res.half_width)}) over "
                    f"{res.trials} trial(s) of {res.images_per_trial} images")
    downloads = "1 download" if res.trials == 1 else f"{res.trials} downloads"
    with slot.container():
        present.metric(st, "Accuracy under this link", units.percent(res.mean), interval, delta_color="off",
                       delta_arrow="off", help=glossary.explain("confidence interval"))
        if res.trials >= 2 and not res.first_look:  # never above clean without a word of why
            loss = units.loss_against_clean(res.mean, res.clean_accuracy, res.lo, res.hi,
                                            1 / len(root_card.classes))
            st.markdown(f"**Against the error-free sub-model:** {loss}.")
            ruin = res.ruin
            if ruin is not None and res.ber > 0:  # the risk beside the mean: at high BER a download is fine or ruined
                words = units.ruin_words(ruin.share, ruin.lo, ruin.hi, ruin.ruined, ruin.downloads)
                spread = (f"single downloads between {units.percent(res.p10)} and {units.percent(res.p90)} "
                          "(10th to 90th percentile)")
                st.markdown(f"**Ruined downloads:** {words}; {spread}.", help=f"A download is {units.RUINED}.")
        st.caption(f"Rests on {downloads} at a bit-error rate of {units.ber_short(res.ber)} and {res.images:,} "
                   f"evaluated test images (seed {res.seed}; the split has {res.n_test:,}; the clean sub-model was "
                   f"evaluated on all of them: {units.percent(res.clean_accuracy)}). {res.changed:,} evaluated images "
                   f"changed between right and wrong. {note}")


SHOW_EVERY_S = 0.25  # the running estimate is redrawn at most four times a second
STOP_REASONS = {"target": "Stopped: the interval reached the target.",
                "max_trials": "Stopped: the most trials asked for are done.",
                "time": "Paused: this run's time is up; press Continue to narrow it further.",
                "": "Running…"}


@st.fragment
def live_estimate():
    run_key = (ref, s.model, ber, protection, seed, target, max_trials, arithmetic)
    paused = st.session_state.get("live_paused") == run_key
    b1, b2, _ = st.columns([1, 1, 4])
    button = b1.empty()  # one place: Stop while running, Continue once stopped (swapped in the same run)
    if paused:
        if button.button("Continue", key="live_continue"):
            st.session_state.pop("live_paused", None)
            paused = False
            button.button("Stop", key="live_stop", help="Stop after the current trial; the estimate so far stays.")
    elif button.button("Stop", key="live_stop", help="Stop after the current trial; the estimate so far stays."):
        st.session_state["live_paused"] = run_key
        paused = True
        button.button("Continue", key="live_continue")
    clean_slot, slot = st.empty(), st.empty()
    # The lead sits above the fragment: written on every run of it (a full run reserves its place, so that the
    # fragment's own reruns, Stop and Continue, may fill it).
    lead_slot = lead.empty()
    if paused:
        res = services.live_stored(ref, s.model, ber, protection, seed, config, arithmetic=arithmetic)
        if res is None:
            slot.info("Stopped before the first trial finished. Press Continue.")
            return None
        _show(res, slot, "Stopped by you; press Continue to go on.", lead_slot)
    else:
        res, shown = None, 0.0
        for res in services.live_estimates(ref, s.model, ber, protection, seed, config,
                                           arithmetic=arithmetic):
            # Every trial counts; the screen is redrawn at most every SHOW_EVERY_S (and always for the first
            # numbers and the last): drawing every 0.07 s int8 trial slowed the estimate down in the browser
            # (bench_pages: +-2 points in 2.5-4.8 s, against 0.7-1.6 s for the engine alone).
            if res.first_look or res.trials < 2 or res.stopped or time.perf_counter() - shown >= SHOW_EVERY_S:
                _show(res, slot, STOP_REASONS[res.stopped], lead_slot)
                shown = time.perf_counter()
    card_words = ""
    if arithmetic == "int8" and np.isfinite(sub.card.accuracy):
        card_words = f"8-bit integers; {units.percent(sub.card.accuracy)} in floating point (its card)"
    present.metric(clean_slot, "Clean accuracy (BER 0, whole split)", units.percent(res.clean_accuracy),
                   card_words or None, delta_color="off", delta_arrow="off")
    if protection == "uep":
        st.info(f"Unequal error protection moves {units.bits(res.reliable_bits)} (the sign/exponent or most "
                f"significant code bits) to the reliable channel.")
    with st.expander("Per-trial estimates"):
        table = pd.DataFrame({"trial": range(1, res.trials + 1), "estimated accuracy": res.estimates})
        present.table(table, "Per-trial estimates", hide_index=True, key="trials_table",
                      column_config={"estimated accuracy": st.column_config.NumberColumn("estimated accuracy",
                                                                                         **units.PERCENT_COLUMN)})
        st.download_button("Trials (CSV)", table.to_csv(index=False), "trials.csv", "text/csv")
    return res


result = live_estimate()


@st.fragment
def ber_curve():
    st.subheader("Accuracy against BER")
    st.caption("Each point is a paired estimate, stopped at ± 3 points or after 10 trials.")
    protections = st.multiselect("Protections", list(services.PROTECTIONS), default=sorted({"none", protection}),
                                 format_func=lambda p: services.PROTECTIONS[p].label, key="curve_prot")
    curve_config = services.live_config(3.0, 10, None)
    total = len(services.BER_GRID) * len(protections)
    chance = 1 / len(root_card.classes)
    now = None if result is None else (ber, result.mean, protection)
    bar, early = st.empty(), st.empty()  # a first visit measures every point (about a second each on photos)
    stored = services.library_curve(ref, s.model, tuple(protections))
    if stored is not None:  # the library's own measurement, drawn at once while the page measures its own
        per = int(stored["images"].min() / stored["trials"].min())
        with early.container():
            st.caption(f"Drawn from the AI library's measurements ({units.count_range(stored['trials'])} downloads "
                       f"of {per} photos per point, floating point) while this page measures its own curve.")
            present.chart(charts.ber_curve_figure(stored, current=now, chance=chance), key="ber_curve_stored",
                          width="stretch")
            present.forget("ber_curve_stored")  # the report keeps the page's own curve
    rows = []
    for b, p, r in services.ber_sweep(ref, s.model, tuple(protections), seed, curve_config,
                                      arithmetic=arithmetic):
        rows.append({**r.row(), "ber": b, "protection": p})
        if len(rows) < total:
            bar.progress(len(rows) / total, text=f"Measuring the curve: {len(rows)} of {total} points")
    bar.empty()
    early.empty()
    frame = pd.DataFrame(rows).rename(columns={"ci_low": "ci95_low", "ci_high": "ci95_high"})
    fig = charts.ber_curve_figure(frame, current=now, chance=chance) if len(frame) else None
    if fig is not None:
        present.chart(fig, key="ber_curve_chart", name="accuracy_vs_ber", width="stretch")
        st.download_button("Chart (HTML)", charts.figure_html(fig), "accuracy_vs_ber.html", "text/html")
        st.download_button("Curve (CSV)", frame.to_csv(index=False), "accuracy_vs_ber.csv", "text/csv")


@st.fragment
def image_grid():
    data = services.dataset(s.model)
    n = min(16, len(data.y_test))
    st.subheader(f"What the device sees: {n} test images, clean and corrupted predictions")
    clean, bad, flips = services.live_predictions(ref, services.root_identity(s.model), s.model, ber,
                                                  protection, seed, n, arithmetic)
    y = data.y_test[:n].numpy()
    raw = data.x_test[:n].numpy()
    st.caption(f"One download at BER {units.ber_short(ber)} with {services.PROTECTIONS[protection].label}: "
               f"{flips:,} bits flipped. Under each image: its true class, then the prediction of the clean model → "
               "of the downloaded one (✓ correct, ✗ wrong).")
    present.remember("image_grid", "table", f"{n} test images: true class and predictions", pd.DataFrame({
        "true class": [data.classes[int(v)] for v in y], "clean model": [data.classes[int(v)] for v in clean[:n]],
        "downloaded model": [data.classes[int(v)] for v in bad[:n]]}))
    cols = st.columns(8)
    for i in range(n):
        img = raw[i].transpose(1, 2, 0).squeeze(-1) if raw.shape[1] == 1 else raw[i].transpose(1, 2, 0)
        img = (img / data.scale * 255).clip(0, 255).astype(np.uint8)
        # small images are enlarged by whole pixels so that they stay sharp
        factor = max(1, 64 // img.shape[0])
        big = np.kron(img, np.ones((factor, factor) + (() if img.ndim == 2 else (1,)), dtype=np.uint8))
        ok = lambda p: "✓" if p == int(y[i]) else "✗"  # noqa: E731
        cols[i % 8].image(big, caption=f"true {data.classes[int(y[i])]}: {ok(clean[i])} {data.classes[clean[i]]} → "
                                       f"{ok(bad[i])} {data.classes[bad[i]]}", width="stretch")


ber_curve()
image_grid()


@st.fragment
def packet_view():
    with st.expander("Packet view: retransmit lost packets, or run without them"):
        st.caption("The payload travels in packets; a packet with any bit error is detected. It is either sent "
                   "again (no errors, extra latency) or left missing: its values become zeros, or are taken from "
                   "a smaller model already on the device (graceful degradation, paper Section 5).")
        p1, p2 = st.columns(2)
        size = p1.selectbox("Packet size", [256, 1500, 9000], index=1, key="pk_size",
                            format_func=lambda b: f"{b} bytes")
        mode = p2.selectbox("Lost packets", services.PACKET_MODES, key="pk_mode",
                            format_func={"retransmit": "retransmit", "zero": "leave missing (zeros)",
                                         "fallback": "take from a 4-bit local copy"}.get)
        packets = services.PacketConfig(size * 8, mode)
        report = services.packet_report(sub.payload.payload_bits, ber, packets, s.downlink_mbps * 1e6)
        q = st.columns(3)
        present.metric(q[0], "Packets", f"{report.packets:,}")
        present.metric(q[1], "Packet error rate", units.percent(report.packet_error_rate, 2),
                       help="The share of packets with at least one flipped bit")
        if mode == "retransmit":
            extra = report.expected_extra_seconds
            present.metric(q[2], "Expected extra download time",
                           "never completes" if extra is None or extra == float("inf") else units.seconds(extra))
            return
        present.metric(q[2], "Expected lost packets", units.count(round(report.expected_lost_packets)))
        fallback = services.live_fallback(sub) if mode == "fallback" else None
        try:
            res = services.live_estimate(ref, s.model, ber, "none", seed, services.live_config(2.0, 20, budget),
                                         packets, fallback, arithmetic)
        except ValueError as err:
            st.warning(f"The local copy cannot stand in for this sub-model: {str(err)[:300]}")
            return
        present.metric(st, "Accuracy with the lost packets' values replaced", units.percent(res.mean),
                  f"95 % interval {units.interval(res.lo, res.hi)} over {res.trials} trial(s) of "
                  f"{res.images_per_trial} images", delta_color="off", delta_arrow="off")


packet_view()
present.words("sub-model", "exit", "split", "BER", "payload", "topology", "protection", "confidence interval",
              "chance")
