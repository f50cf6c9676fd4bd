"""Sections of the Sub-models page about the device's situation: the situation picker with the situation model's
card beside the generic root, and on-device customisation (the paper's Sec. 5) of the downloaded sub-model on the
device's own labelled photos. Rendered from app/views/submodels.py; not a page of its own."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from app import glossary, present, units
from app.charts.submodels import on_device_figure, situation_exits_figure
from app.services import customisation

GENERIC = ""   # the picker's "none": the generic root, all its classes
PICKER = "sm_situation"


def _remember_pick() -> None:
    """The picker's choice becomes the session's situation (other pages read and set the same key)."""
    st.session_state[customisation.SESSION_KEY] = st.session_state[PICKER] or None


def situation_picker(model: str) -> str:
    """"Situation: what the device sees": none (the generic root) or one of this root's situations; it starts at
    the situation the session holds (the Predictive downloads map sets it when a place is clicked)."""
    names = customisation.situation_names(model)
    asked, note = customisation.requested(model)
    if not names:
        st.caption("Situation: this root model has no situations registered (they are class groups of a shipped "
                   "root's classes), so the device is served the generic root.")
        return GENERIC
    st.session_state[PICKER] = asked  # the session's situation, set here or on another page
    name = st.selectbox(
        "Situation: what the device sees", [GENERIC, *names], key=PICKER, on_change=_remember_pick,
        format_func=lambda n: "none: the generic root, all its classes" if n == GENERIC else n,
        help=glossary.tip("situation", "customisation"))
    if note:
        st.info(note)
    return name


def situation_card(name: str, model: str, root_classes: int) -> None:
    """The situation model's card: classes, photos it is scored on, accuracy per exit beside the generic root
    restricted to the same classes on the same photos, and sizes; the full comparison on request."""
    sm, problem = customisation.situation_model(name, model)
    if sm is None:
        st.warning(f"{problem} The page goes on with the generic root.")
        return
    card = sm.card
    generic = customisation.generic_restricted(name, model)
    n = len(card.classes)
    st.markdown(f"**{name.capitalize()}**: {card.description}. The device sees {n} classes: "
                f"{', '.join(card.classes)}.")
    c1, c2, c3, c4 = st.columns(4)
    present.metric(c1, "Classes it answers among", f"{n}", f"the generic root: {root_classes}", delta_color="off",
                   delta_arrow="off", report_label="situation: classes")
    present.metric(c2, "Test photos it is scored on", units.count(card.test_photos),
                   "the situation's photos of the test split", delta_color="off", delta_arrow="off",
                   report_label="situation: test photos")
    present.metric(c3, "Customised on", f"{units.count(card.train_photos)} photos",
                   f"{card.config.steps} training steps of {customisation.FINE_TUNED[card.config.fine_tune].label}",
                   delta_color="off", delta_arrow="off",
                   report_label="situation: training photos")
    present.metric(c4, "Extra download", units.size_bytes(customisation.weights_bytes(name)),
                   f"{units.count(card.trained_parameters)} new parameters; the rest is the root's",
                   delta_color="off", delta_arrow="off", report_label="situation: extra download")
    exits = pd.DataFrame({"exit": range(1, len(card.exit_accuracy) + 1),
                          "situation_model": list(card.exit_accuracy), "generic_restricted": list(generic)})
    exits["difference"] = [units.points(a - b) for a, b in zip(exits["situation_model"],
                                                                exits["generic_restricted"])]
    left, right = st.columns([3, 2])
    with left:
        present.chart(situation_exits_figure(exits, 1 / n if n > 1 else None), key="situation_exits_chart",
                      name="situation_model_per_exit", width="stretch")
    with right:
        present.table(exits, f"The {name} model per exit", hide_index=True, width="stretch", key="situation_exits",
                      column_config={
                          "exit": st.column_config.NumberColumn("exit"),
                          "situation_model": st.column_config.NumberColumn("situation model",
                                                                           **units.PERCENT_COLUMN),
                          "generic_restricted": st.column_config.NumberColumn(
                              "generic root, answer among these classes", **units.PERCENT_COLUMN),
                          "difference": "situation model against it"})
    st.caption(f"Both columns are accuracy on the same {units.count(card.test_photos)} test photos of the "
               f"{name}. The generic root is scored with its answer restricted to the situation's {n} classes "
               "(the most likely of them): that is where customisation starts, so the difference is what training "
               "on the situation's photos adds. Chance, for comparison: "
               f"{units.percent(1 / n, 0)} (1 in {n}).")
    if st.session_state.get("situation_compared") == (name, model) or st.button(
            "Compare in full: download sizes and 95 % intervals (about a minute on 2 cores)", key="situation_compare"):
        st.session_state["situation_compared"] = (name, model)
        _full_comparison(name, model)


def _full_comparison(name: str, model: str) -> None:
    result = customisation.comparison(name, model)
    rows = pd.DataFrame([{
        "exit": e.exit, "situation_model": e.specialised_accuracy, "generic_restricted": e.generic_restricted_accuracy,
        "generic": e.generic_accuracy,
        "change": units.change(e.over_restricted.mean, (e.over_restricted.high - e.over_restricted.low) / 2),
        "verdict": {"wins": "better", "tie": "level", "loses": "worse"}[e.verdict],
        "situation_download": e.specialised_bits / 1e6, "generic_download": e.generic_bits / 1e6,
        "update": e.update_bits / 1e6} for e in result.exits])
    percent = {c: st.column_config.NumberColumn(label, **units.PERCENT_COLUMN) for c, label in (
        ("situation_model", "situation model"), ("generic_restricted", "generic root, answer among these classes"),
        ("generic", "generic root, answer among all its classes"))}
    mbit = {c: st.column_config.NumberColumn(label, format="%.3f") for c, label in (
        ("situation_download", "situation model's download (Mbit)"),
        ("generic_download", "generic root's download (Mbit)"),
        ("update", "update for a device holding the generic one (Mbit)"))}
    present.table(rows, f"The {name} model against the generic root", hide_index=True, width="stretch",
                  key="situation_comparison",
                  column_config={"exit": st.column_config.NumberColumn("exit"), **percent, **mbit,
                                 "change": "situation model against the restricted root (95 % interval)",
                                 "verdict": "verdict"})
    st.caption(f"Per exit, on the same {units.count(result.exits[0].photos)} test photos: the change is the "
               "situation model's accuracy minus the restricted generic root's, photo by photo, with its 95 % "
               "interval; \"level\" means the interval holds zero. Downloads are each model's first stages up to "
               "that exit in 32-bit floats; the update is what a device that already holds the generic one "
               "downloads more (the new rows of the exit's last layer and the retrained heads).")


# ----- on-device customisation ------------------------------------------------------------------------------------

def _checkpoints(steps: int) -> tuple[int, ...]:
    """Step counts the curve is measured at: a few early ones (the first steps move most) and ten even ones."""
    early = tuple(s for s in (1, 2, 5, 10, 20) if s < steps)
    return tuple(sorted({*early, *(round(steps * i / 10) for i in range(11))}))


def on_device_section(s, name: str) -> None:
    """On-device customisation (paper Sec. 5): the device fine-tunes the head of the sub-model it downloaded on its
    own labelled photos; accuracy gained against steps on the situation's test photos, its time on this device."""
    st.subheader("Customise on the device: its own labelled photos", help=glossary.tip("customisation"))
    st.caption("The paper's model customisation (Sec. 5): the device trains the head of the sub-model it holds on "
               "a few photos it took and labelled itself, cut to the classes it sees, and keeps the result.")
    st.caption("Where it cannot help: a sub-model with 2-bit codes made without quantisation-aware training, or "
               "one pruned so hard without re-training that its stages lost the structure of their features (here: "
               "keep 2 % of the weights; at 10 % the head's training still wins most of the accuracy back). The "
               "device trains only the head; it cannot repair the stages, which compute what the head reads.")
    if not name:
        st.info("Pick a situation at the top of the page: the device customises its sub-model to the classes it "
                "sees there." if customisation.situation_names(s.model) else
                "This root model has no situations registered, so there is nothing to customise to here.")
        return
    _on_device(s, name)


@st.fragment
def _on_device(s, name: str) -> None:
    """The controls and the curve: a fragment, so moving a slider reruns this part alone."""
    c1, c2, c3 = st.columns(3)
    label = c1.selectbox("The sub-model the device downloaded", list(customisation.DEVICE_SPECS), key="od_start",
                         help=glossary.tip("sub-model", "exit"))
    part = c2.radio("What the device trains", list(customisation.ON_DEVICE_PARTS), key="od_part",
                    format_func=lambda p: customisation.ON_DEVICE_PARTS[p].label,
                    help=" ".join(f"**{v.label}**: {v.note}." for v in customisation.ON_DEVICE_PARTS.values()))
    sigma = c3.radio("The device's camera", list(customisation.CAMERAS), key="od_camera",
                     format_func=customisation.CAMERAS.get,
                     help="The root was trained on the data set's own photos; a noisier camera takes photos unlike "
                          "them, which is where customisation has something to learn.")
    d1, d2 = st.columns(2)
    per_class = d1.slider("Labelled photos per class on the device", 1, 100, 20, key="od_photos")
    steps = d2.slider("Training steps", 10, 500, 100, 10, key="od_steps")
    hard = customisation.limit(label)
    if hard:
        st.warning(f"This sub-model is such a case: {hard}", icon=":material/block:")
    measured, total = customisation.measured_photos(name, s.model)
    run_key = (name, label, s.model, sigma, part)
    prepared = st.session_state.get("od_prepared", frozenset())
    if run_key not in prepared:
        st.info(f"The first run passes {units.count(measured)} of the situation's test photos through this "
                "sub-model once (seconds on a quiet computer, up to half a minute on 2 busy cores); after that each "
                "change of photos or steps takes a second or two.")
        if not st.button("Customise on the device", key="od_run", type="primary"):
            return
        st.session_state["od_prepared"] = prepared | {run_key}
    config = customisation.OnDeviceConfig(photos_per_class=per_class, steps=steps, fine_tune=part,
                                       checkpoints=_checkpoints(steps), test_photos=customisation.ON_DEVICE_TEST_PHOTOS)
    try:
        result = customisation.on_device(name, label, s.model, sigma, config, 0, s.dsi().hardware)
    except ValueError as err:
        st.error(str(err))
        return
    hw = s.dsi().hardware
    start, end = result.accuracy[0], result.accuracy[-1]
    best = max(range(len(result.steps)), key=lambda i: result.accuracy[i])
    m1, m2, m3, m4 = st.columns(4)
    present.metric(m1, "Accuracy as downloaded", units.percent(start),
                   f"cut to the {len(result.classes)} classes, before training", delta_color="off",
                   delta_arrow="off", report_label="on the device: accuracy as downloaded")
    present.metric(m2, f"After {steps} steps", units.percent(end), f"{units.points(end - start)} against as "
                   "downloaded", delta_color="normal" if end != start else "off",
                   report_label="on the device: accuracy after training")
    present.metric(m3, "Training time on this device", units.seconds(result.device_seconds),
                   f"{hw.name}, estimated", delta_color="off", delta_arrow="off",
                   report_label="on the device: training time")
    present.metric(m4, "What the device changed", units.size_bytes(result.update_bits / 8),
                   f"{units.count(result.trained_parameters)} parameters at {customisation.TRAINING_BITS} bits",
                   delta_color="off", delta_arrow="off", report_label="on the device: change stored")
    curve = pd.DataFrame({"steps": result.steps, "accuracy": result.accuracy})
    present.chart(on_device_figure(curve, 1 / len(result.classes)), key="on_device_chart",
                  name="on_device_customisation", width="stretch")
    photos = (f"all {units.count(total)}" if measured == total else
              f"{units.count(measured)} of the {units.count(total)}, drawn at random once")
    if best == 0:
        trend = "no step count beat the sub-model as downloaded on these photos"
    elif best == len(result.steps) - 1:
        trend = f"it was still rising at the last step ({units.percent(end)})"
    else:
        trend = (f"the best point, {units.percent(result.accuracy[best])} after {result.steps[best]} steps, shows "
                 "where more steps on the same few photos stop helping")
    st.caption(f"Accuracy on {photos} test photos of the {name}, taken by {customisation.CAMERAS[sigma]}; each point "
               f"is compared with the sub-model as downloaded (0 steps, dashed). The device trained "
               f"{customisation.ON_DEVICE_PARTS[part].label} on {units.count(result.train_photos)} photos of its own "
               f"({per_class} per class), {result.photos_per_step} per step: {trend}.")
    st.caption(f"Training time: {customisation.TRAINING_MAC_FACTOR} × the sub-model's "
               f"{units.count(result.macs_per_photo)} multiply-adds per photo × {result.photos_per_step} photos per "
               f"step × {steps} steps, at the {hw.name}'s 32-bit float speed of "
               f"{units.count(result.device_macs_per_s / 1e9)} billion multiply-adds per second. Why 3 ×: training "
               "runs the photo forward and then two backward products (one for the layer's inputs, one for its "
               "weights), each about as costly as the forward pass. Only the head learns here, so the backward pass "
               "could stop at the head and the true cost is nearer 1 × for the stages: 3 × is the cautious figure. "
               f"This run took {units.seconds(result.wall_seconds)} on this computer.")
