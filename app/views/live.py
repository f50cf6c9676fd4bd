"""Live accuracy page: a sub-model downloaded over the current link, trial by trial, with a growing estimate."""
import numpy as np
import pandas as pd
import streamlit as st

from app import charts, services
from app.live import LIVE_SPECS, corrupted_predictions, working_copy
from core.link.reliability import iter_trials, summarise

s = services.settings()
ber, protection = s.effective_ber, s.protection
st.title("Live accuracy")
st.caption("The parameter payload crosses a binary symmetric channel with the sidebar's BER; the topology "
           "(shapes, bit widths, scales, value ranges) arrives intact. Each trial is one real download: bits "
           "flipped at random, decoded, protected as chosen, and evaluated on the root model's whole test split.")

options = {label: ("spec", spec) for label, spec in LIVE_SPECS.items()}
lib, _ = services.library_or_none(s.model)
if lib is not None:  # the sub-models the selection picks for the sidebar's device come first
    lib_key = f"{lib.folder}:{len(lib)}"
    sel = services.selection(lib, lib_key, tuple(sorted(s.to_query().items())), s, False)
    chosen = {f"Chosen for this device, {fam}: {c['label']} (device exit)": ("library", lib_key, int(c["id"]))
              for fam, c in sel.chosen.items() if c is not None and not c.get("generated_on_the_fly")}
    options = {**chosen, **options}
c1, c2, c3 = st.columns([3, 1, 1])
labels = list(options)
choice = c1.selectbox("Sub-model", labels, index=labels.index("Bit level: 4-bit codes"), key="live_choice")
trials = int(c2.number_input("Trials", min_value=1, max_value=200, value=10, step=1, key="live_trials"))
seed = int(c3.number_input("Seed", min_value=0, max_value=10**6, value=0, step=1, key="live_seed"))
ident = options[choice]
sub = services.live_submodel(ident, s.model)
data = services.dataset(s.model)
card = sub.card
m = st.columns(4)
m[0].metric("Clean accuracy (BER 0)", f"{card.accuracy:.1%}")
m[1].metric("Payload bits on the lossy link", f"{sub.payload.payload_bits / 1e6:.2f} Mbit")
m[2].metric("Expected flipped bits", f"{ber * sub.payload.payload_bits:,.0f}")
m[3].metric("BER / protection", f"{ber:.1e}", protection, delta_color="off", delta_arrow="off")

key = (ident, ber, protection, trials, seed)
cache = services.ber_results()
result = cache.get(key)
estimate = st.empty()
if result is None:
    working = working_copy(st.session_state, (ident, s.model), sub)
    bar = st.progress(0.0, text="Downloading over the link…")
    done = []
    for trial in iter_trials(sub, data, ber, protection, trials, seed, working=working):
        done.append(trial)
        partial = summarise(done, ber, protection, seed)
        bar.progress(len(done) / trials, text=f"Trial {len(done)} of {trials}: {trial.accuracy:.1%} "
                                              f"({trial.flips:,} bits flipped)")
        estimate.metric("Accuracy under this link", f"{partial.mean:.1%}",
                        f"95 % CI {partial.ci95[0]:.1%} – {partial.ci95[1]:.1%} after {len(done)} trial(s)",
                        delta_color="off", delta_arrow="off")
    result = summarise(done, ber, protection, seed)
    cache[key] = result
    bar.empty()
estimate.metric("Accuracy under this link", f"{result.mean:.1%}",
                f"95 % CI {result.ci95[0]:.1%} – {result.ci95[1]:.1%} over {len(result.trials)} trial(s)",
                delta_color="off", delta_arrow="off")
if protection == "uep":
    st.info(f"Unequal error protection moves {result.reliable_bits / 1e6:.2f} Mbit (the sign/exponent or most "
            f"significant code bits) to the reliable channel.")
trial_table = pd.DataFrame({"trial": range(len(result.trials)), "accuracy": result.trials})
with st.expander("Per-trial accuracies"):
    st.dataframe(trial_table, hide_index=True)
    st.download_button("Trials (CSV)", trial_table.to_csv(index=False), "trials.csv", "text/csv")


@st.fragment
def ber_curve():
    st.subheader("Accuracy against BER")
    n = int(st.select_slider("Trials per point", [1, 2, 3, 5], value=2, key="curve_trials"))
    protections = st.multiselect("Protections", ["none", "sanitise", "clamp", "uep"],
                                 default=sorted({"none", protection}), key="curve_prot")
    frame = services.ber_curve(ident, tuple(protections), n, seed, s.model)
    fig = charts.ber_curve_figure(frame, current=(ber, result.mean, protection))
    st.plotly_chart(fig, width="stretch")
    st.download_button("Chart (HTML)", charts.figure_html(fig), "accuracy_vs_ber.html", "text/html")
    st.download_button("Curve (CSV)", frame.to_csv(index=False), "accuracy_vs_ber.csv", "text/csv")


@st.fragment
def image_grid():
    n = min(16, len(data.y_test))
    st.subheader(f"What the device sees: {n} test images, clean and corrupted predictions")
    x, y = next(data.batches("test", n))
    raw = data.x_test[:n].numpy()
    working = working_copy(st.session_state, (ident, s.model), sub)
    clean, bad, flips = corrupted_predictions(working, x, ber, protection, seed)
    st.caption(f"One download at BER {ber:.1e} with '{protection}': {flips:,} bits flipped. "
               "✓ correct, ✗ wrong (clean → corrupted).")
    cols = st.columns(8)
    for i in range(n):
        img = raw[i].transpose(1, 2, 0).squeeze(-1) if raw.shape[1] == 1 else raw[i].transpose(1, 2, 0)
        img = (img / data.scale * 255).clip(0, 255).astype(np.uint8)
        # small images are enlarged by whole pixels so that they stay sharp
        factor = max(1, 64 // img.shape[0])
        big = np.kron(img, np.ones((factor, factor) + (() if img.ndim == 2 else (1,)), dtype=np.uint8))
        ok = lambda p: "✓" if p == int(y[i]) else "✗"  # noqa: E731
        cols[i % 8].image(big, caption=f"{ok(clean[i])} {data.classes[clean[i]]} → {ok(bad[i])} "
                                       f"{data.classes[bad[i]]}", width="stretch")


ber_curve()
image_grid()


@st.fragment
def packet_view():
    from core.link.channel import PacketConfig, packet_report
    from core.compress.combine import SubModelSpec
    from core.compress.payload import decode
    from core.link.reliability import accuracy_under_ber

    with st.expander("Packet view: retransmit lost packets, or run without them"):
        st.caption("The payload travels in packets; a packet with any bit error is detected. It is either sent "
                   "again (no errors, extra latency) or left missing: its values become zeros, or are taken from "
                   "a smaller model already on the device (graceful degradation, paper Section 5).")
        p1, p2, p3 = st.columns(3)
        size = p1.selectbox("Packet size", [256, 1500, 9000], index=1, key="pk_size",
                            format_func=lambda b: f"{b} bytes")
        mode = p2.selectbox("Lost packets", ["retransmit", "zero", "fallback"], key="pk_mode",
                            format_func={"retransmit": "retransmit", "zero": "leave missing (zeros)",
                                         "fallback": "take from a 4-bit local copy"}.get)
        n = int(p3.number_input("Trials", 1, 20, 3, key="pk_trials"))
        config = PacketConfig(size * 8, mode)
        report = packet_report(sub.payload.payload_bits, ber, config, s.downlink_mbps * 1e6)
        q = st.columns(3)
        q[0].metric("Packets", f"{report.packets:,}")
        q[1].metric("Packet error rate", f"{report.packet_error_rate:.2%}")
        if mode == "retransmit":
            extra = report.expected_extra_seconds
            q[2].metric("Expected extra download time",
                        "never completes" if extra is None or extra == float("inf") else charts.format_seconds(extra))
            return
        q[2].metric("Expected lost packets", f"{report.expected_lost_packets:,.0f}")
        fallback = None
        if mode == "fallback":
            local = services.live_submodel(("spec", SubModelSpec(depth=sub.spec.depth, bits=4)), s.model)
            fallback = {n_: t.numpy() for n_, t in decode(local.payload).items()}
            if set(fallback) != {r.name for r in sub.payload.records}:
                st.warning("The 4-bit local copy has other tensors than this sub-model; pick a dense sub-model.")
                return
        working = working_copy(st.session_state, (ident, s.model), sub)
        result = accuracy_under_ber(sub, data, ber, "none", n, seed, packets=config, fallback=fallback,
                                    working=working)
        st.metric("Accuracy with the lost packets' values replaced", f"{result.mean:.1%}",
                  f"95 % CI {result.ci95[0]:.1%} – {result.ci95[1]:.1%} over {n} trial(s)", delta_color="off",
                  delta_arrow="off")


packet_view()
