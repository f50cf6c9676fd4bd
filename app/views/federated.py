"""Improve together page (issue 23): devices that downloaded the same compressed sub-model improve it on their own
photos in federated rounds (Flower's FedAvg on a local Ray), sending only compressed updates. A small run starts in
the background; a fragment redraws its progress every few seconds while it lives, so other pages stay free."""
import streamlit as st

from app import charts, glossary, present, services, units

fed = services.federated
s = services.settings()
GENERATED = "generated"          # the choice "3-bit codes made from the root" (not a library entry)
REFRESH_S = 2.0                  # how often the progress is redrawn while a run lives

kept = st.session_state.setdefault("fed_kept", {
    "fed_entry": GENERATED, "fed_devices": 4, "fed_rounds": 3, "fed_steps": 4, "fed_update_bits": 8,
    "fed_eval": 500, "fed_seed": 0, "fed_central": True})
for key, value in kept.items():
    st.session_state.setdefault(key, value)

st.title("Improve together")
present.report_button("Improve together", s)
EXPLANATION = (
    "A sub-model that many devices downloaded can get better where it is used. Each device trains it a few steps on "
    "its **own photos**, which never leave it, and sends up only its **update**: how much each weight changed, "
    "compressed to a few bits per weight, as the download was. The server averages the updates, weighted by each "
    "device's photos (Flower's FedAvg), and sends the result back: one **round**. The training keeps the "
    "sub-model's compression (weights stay on their few-bit grid, pruned weights stay zero), so what comes back "
    "is as small to download as before. Each device holds a different mix of classes, as devices in different "
    "places do.")
st.markdown(EXPLANATION, help=glossary.tip("improving together", "round", "update", "FedAvg"))
present.remember("fed_explanation", "text", "How the devices improve the sub-model together",
                 EXPLANATION.replace("**", ""))

missing = fed.flower_missing()
if missing:
    st.warning("Flower's simulation (Flower on Ray) is not installed on this server, so no run can start here. "
               "Install both with `pip install -r requirements-ray.txt` (or Flower alone: `pip install flwr==1.42.0`, "
               "without its simulation extra, which would pin an older Ray) and restart the dashboard.")

choices, library_problem = fed.entry_choices(s.model)
options = [GENERATED] + list(choices)
if st.session_state["fed_entry"] not in options:
    st.session_state["fed_entry"] = GENERATED
words = {GENERATED: f"{fed.GENERATED_BITS}-bit codes, made from the root", **choices}

c1, c2, c3, c4 = st.columns([3, 2, 2, 2])
entry = c1.selectbox("Sub-model to improve", options, key="fed_entry", format_func=words.get,
                     help=glossary.tip("sub-model", "exit", "AI library") + "  \nEvery compressed entry of the root "
                     "model's AI library, or a 3-bit sub-model made from the root (the library has none).")
devices = c2.slider("Devices", *fed.LIVE_DEVICES, key="fed_devices",
                    help="How many devices take part; the training photos are shared out among them.")
rounds = c3.slider("Rounds", *fed.LIVE_ROUNDS, key="fed_rounds", help=glossary.explain("round"))
steps = c4.slider("Local steps per round", *fed.LIVE_LOCAL_STEPS, key="fed_steps",
                  help=glossary.explain("local steps"))
c1, c2, c3, c4 = st.columns([3, 2, 1.5, 2.5])
update_bits = c1.select_slider(
    "Bits per weight in each update", fed.UPDATE_BITS, key="fed_update_bits",
    format_func=lambda b: {16: "16 (half floats)", 32: "32 (full floats)"}.get(b, str(b)),
    help=glossary.explain("update") + " Fewer bits: a cheaper uplink, a coarser update.")
eval_limit = c2.selectbox("Test photos scored per round", fed.EVAL_LIMITS, key="fed_eval",
                          format_func=lambda n: f"{n:,}",
                          help="Every round is scored on this many test photos, a fixed draw with each class in its share (all of them if the data set has "
                               "fewer); more photos: a steadier number, a slower round.")
seed = int(c3.number_input("Seed", min_value=0, max_value=10**6, step=1, key="fed_seed",
                           help="The same seed gives the same shares of photos and the same training."))
central = c4.checkbox("Also train centrally", key="fed_central", help=glossary.explain("central training"))
kept.update({k: st.session_state[k] for k in kept})
if library_problem:
    st.caption(f"Only the generated sub-model is offered: {library_problem}")

try:
    spec = fed.run_spec(s.model, None if entry == GENERATED else entry, devices, rounds, steps, update_bits,
                        eval_limit, seed, central)
except (ValueError, OSError, KeyError) as err:
    st.error(f"These settings cannot be run: {err}")
    st.stop()

present.remember("fed_settings", "fact", "Run", (
    f"{words[entry]}; {devices} devices, {rounds} rounds of {steps} local steps, updates at {update_bits} bits per "
    f"weight, {eval_limit:,} test photos, seed {seed}", "central training for comparison" if central else ""))
state = fed.status(spec)
b1, _ = st.columns([1, 4])
if state.running:
    if b1.button("Stop", key="fed_stop", help="Stop this run; what it measured so far stays on the page."):
        fed.stop(spec)
        st.rerun()   # redrawn as stopped: Start again, no timer
elif state.state != "done":
    label = "Start again" if state.state in ("failed", "stopped") else "Start"
    if b1.button(label, key="fed_start", type="primary", disabled=bool(missing),
                 help="Runs in the background on this server; the page shows each round as it ends, and every other "
                      "page stays usable meanwhile."):
        try:
            fed.start(spec)
        except fed.RunLimit as err:
            st.warning(str(err))
        except (ValueError, RuntimeError, OSError) as err:
            st.error(f"The run could not be started: {err}")
        else:
            st.rerun()   # redrawn as running: Stop, and the progress redrawn every few seconds
else:
    st.caption("This run is finished. Change a control (the seed, for one) to run another.")

with st.expander("Larger runs: the command"):
    st.markdown("The page runs small configurations live (up to 10 devices, 5 rounds and 20 local steps, on "
                f"{fed.live_cpus()} processor cores). Larger ones come from the command line, which prints every "
                "round, with the same settings as here:")
    st.code(spec.command(), language="bash")
    st.markdown("For example 10 devices, 5 rounds and every test photo scored (add `--ray ADDRESS` to run the "
                "devices on a Ray cluster):")
    bigger = spec.command(devices=10, rounds=5)
    st.code(bigger.replace(f" --eval-limit {spec.eval_limit}", ""), language="bash")


def _draw(state) -> None:
    """The run's progress and results: charts of accuracy and uplink against rounds, the numbers beside them."""
    progress = state.progress
    for problem in progress.problems:
        st.warning(f"Part of the run's record could not be read: {problem}. The charts show what could be read.")
    if state.state == "none":
        st.info("No run with these settings yet. Press Start: a small run takes one to a few minutes on two "
                "processor cores (starting Flower and Ray and making the sub-model take the first half minute; "
                "the central training for comparison comes after the rounds).")
        return
    if state.state in ("failed", "stopped"):
        (st.error if state.state == "failed" else st.info)(state.message)
        if state.log:
            st.caption("The last lines of the run's log:")
            st.code(state.log, language="text")
    start = progress.start or {}
    planned = int(start.get("rounds") or spec.rounds)
    done_rounds = sum(1 for r in progress.rounds if r["round"] > 0)
    if state.running:
        import time

        elapsed = time.time() - state.started if state.started else 0.0
        if not progress.rounds:
            what = ("Making the sub-model and scoring the root" if progress.start is None else
                    "Starting Flower and Ray, scoring the sub-model as downloaded")
            st.progress(0.0, text=f"{what}… ({units.seconds(elapsed, 2)} so far)")
        elif done_rounds >= planned and spec.central and progress.central is None:
            st.progress(1.0, text=f"All rounds done; now the same training centrally on the pooled photos, for "
                                  f"comparison… ({units.seconds(elapsed, 2)} so far)")
        else:
            st.progress(done_rounds / planned,
                        text=units.progress_text("Rounds done", done_rounds, planned, elapsed))
    if not progress.rounds:
        return
    test_images = int(start.get("test_images") or spec.eval_limit)
    root_accuracy = start.get("root_accuracy")
    table = fed.rounds_frame(progress)
    downloaded = progress.rounds[0]["accuracy"] if progress.rounds[0]["round"] == 0 else None
    target = fed.default_target(progress)
    if state.state == "done" and target is not None:
        t1, _ = st.columns([1, 3])
        target = t1.number_input("Target accuracy (%)", 0.0, 100.0, round(target * 100, 1), 0.1, format="%.1f",
                                 key=f"fed_target_{spec.key}",
                                 help="Rounds to reach it are counted below, for the devices and for central "
                                      "training. Preset: halfway from the sub-model as downloaded to the "
                                      "uncompressed root.") / 100
    fig = charts.federated_accuracy_figure(table, planned, test_images, root_accuracy, progress.central, target)
    present.chart(fig, key="fed_accuracy", name="improve_together_accuracy")
    compared = ("the same training done centrally on all devices' photos pooled (dashed: the usual reference, "
                "which devices holding skewed shares of the photos should not beat on average, though one run scored "
                "on a few hundred test photos can land a point or two either side of it by chance), "
                if progress.central else "")
    st.caption(f"Accuracy of the version the devices would download after each round, on {test_images:,} test "
               f"photos (a fixed draw, each class in its share), compared with {compared}the root model uncompressed at the same exit "
               f"(dotted) and the sub-model as downloaded (grey): {words[entry]}.")

    rate = s.uplink_mbps * 1e6
    per_device = fed.device_frame(progress, rate)
    last = progress.rounds[-1]
    m = st.columns(4)
    if done_rounds:
        present.metric(m[0], f"Accuracy after round {last['round']}", units.percent(last["accuracy"]),
                       None if downloaded is None else f"{units.points(last['accuracy'] - downloaded)} on the download")
        largest = int(per_device["uplink_bits"].max())
        present.metric(m[1], "Uplink per device and round", units.bits(largest),
                       f"{units.bits(int(per_device['uplink_bits'].sum()))} in all so far", delta_color="off",
                       delta_arrow="off")
        present.metric(m[2], "One update over your uplink", units.seconds(largest / rate),
                       f"at {units.rate(rate)} (sidebar)", delta_color="off", delta_arrow="off")
    if target is not None and state.state == "done":
        fed_n = fed.target_rounds(progress.accuracy, target)
        central_n = fed.target_rounds(progress.central, target) if progress.central else None
        said = lambda n: "not reached" if n is None else glossary.count_words(n, "round")  # noqa: E731
        present.metric(m[3], f"Rounds to reach {units.percent(target)}", said(fed_n),
                       f"central training: {said(central_n)}" if progress.central else None,
                       delta_color="off", delta_arrow="off")
    if done_rounds:
        fig = charts.uplink_figure(per_device, planned, rate)
        present.chart(fig, key="fed_uplink", name="improve_together_uplink")
        st.caption(f"What the devices send up each round: every device's update at {spec.update_bits} bits per "
                   f"weight, stacked. At the sidebar's uplink rate ({units.rate(rate)}) one device's update takes "
                   f"{units.seconds(largest / rate)}; the download the devices get back each round is the "
                   f"sub-model itself (not counted here).")
        with st.expander("Per device and round"):
            shown = per_device.drop(columns=["photos"]) if per_device["photos"].isna().all() else per_device
            present.table(shown, "Uplink per device and round", hide_index=True, key="fed_devices_table",
                          column_config={"uplink_seconds": f"seconds at {units.rate(rate)}",
                                         "uplink_bits": "uplink (bit)"})
    if state.state == "done":
        rounds_s, whole_s = progress.done.get("seconds"), fed.run_seconds(spec)
        said = [f"the rounds took {units.seconds(rounds_s)} (starting Flower and Ray included)"
                if isinstance(rounds_s, (int, float)) else "",
                f"the whole run {units.seconds(whole_s)}" if whole_s else ""]
        if any(said):
            st.caption(f"On {spec.cpus} processor cores " + ", ".join(w for w in said if w) + ".")


def progress_view() -> None:
    now = fed.status(spec)
    _draw(now)
    if was_running and not now.running:   # finished: one full rerun drops the timer and shows the Start button
        st.rerun()


was_running = state.running
st.fragment(run_every=REFRESH_S if was_running else None)(progress_view)()
present.words("sub-model", "exit", "improving together", "round", "local steps", "update", "FedAvg",
              "central training")
