"""Guide page for teaching: what each technique does, with the paper's claim beside the figure measured live on
the shipped root model (through app.services) or computed by the engine. No measured number is written here."""
import pandas as pd
import streamlit as st
from streamlit.errors import StreamlitAPIException

from app import charts, services
from core.compress.combine import SubModelSpec
from core.model.models import NUM_STAGES
from core.network.rates import APPLICATIONS, PAPER, REFERENCE_RATES, max_fraction_that_fits
from core.network.tiers import TIER_PRESETS, download_time, tier_for_latency

s = services.settings()
SEED = 0


def claim(where: str, text: str) -> None:
    """The paper's words, with where they stand in it."""
    st.markdown(f"**The paper says** ({where}):")
    st.info(text)


def link(page: str, label: str) -> None:
    """A link to another page; plain text where that page is not in this build's navigation."""
    try:
        st.page_link(page, label=label)
    except StreamlitAPIException:
        st.caption(f"See the {label} page.")


def verdict(ok: bool, yes: str, no: str) -> None:
    (st.success if ok else st.warning)(yes if ok else no)


st.title("Guide: in-situ model downloading in six steps")
st.caption("For a lecture or a presentation. Each step: what the technique does, what the paper claims, and what "
           "this app measures live on its own root model. The paper used ResNet-18 on CIFAR-100; this app ships a "
           "ResNet-18 trained on the scikit-learn digits, small enough to run on a laptop, so absolute accuracies "
           "differ while the trends can be checked.")

root, card = services.root_model(s.model)
c1, c2, c3 = st.columns(3)
c1.metric("Root model", card.arch, help=card.command)
c2.metric("Parameters (root, no exits)", f"{card.root_parameters:,}",
          help="The paper's ResNet-18 has 11.69 M parameters with its 100-class head (Sec. 4)")
c3.metric("Root test accuracy", f"{card.test_accuracy:.1%}", help=card.extra.get("data_source", card.dataset))

# ----- 1. Depth level -----
st.header("1. Depth level: download the first layers, let the server finish")
st.markdown("The device downloads the first *k* stages of a backbone network plus a small classifier (an **exit**). "
            "It can answer on its own at exit *k*, or send the features it computed up to the server, which runs "
            "the rest. Deeper splits download more but upload smaller features.")
split = services.split_rows(8, s.model)
left, right = st.columns(2)
with left:
    claim("Sec. 2.1", "The size of intermediate features shrinks with depth, so a larger downloaded model means "
          "less uplink data; and with server assistance a small downloaded model still reaches high accuracy.")
with right:
    st.markdown("**Measured here** (test split, features sent as 8-bit codes):")
    view = pd.DataFrame({"split point": [f"exit {k}" for k in split["depth"]],
                         "download (Mbit)": split["download_bits"] / 1e6,
                         "uplink per sample (kbit)": split["uplink_bits_per_sample"] / 1e3,
                         "accuracy on the device": split["exit_accuracy"],
                         "accuracy with the server": split["server_accuracy"]})
    st.dataframe(view, hide_index=True, width="stretch", key="guide_split",
                 column_config={"accuracy on the device": st.column_config.NumberColumn(format="percent"),
                                "accuracy with the server": st.column_config.NumberColumn(format="percent"),
                                "download (Mbit)": st.column_config.NumberColumn(format="%.2f")})
    shrinks = bool(split["uplink_bits_per_sample"].is_monotonic_decreasing)
    verdict(shrinks, "Holds: the uplink features shrink at every deeper split.",
            "Does not hold here: the uplink features do not shrink at every deeper split.")
    first = split.iloc[0]
    st.metric("Exit 1 with server assistance", f"{first['server_accuracy']:.1%}",
              delta=f"{(first['server_accuracy'] - first['exit_accuracy']) * 100:+.1f} points vs. the device alone",
              help=f"Downloads {first['download_bits'] / 1e6:.2f} Mbit")

n = s.samples
down, up = s.downlink_mbps * 1e6, s.uplink_mbps * 1e6
split_time = pd.DataFrame({"depth": split["depth"], "download_s": split["download_bits"] / down,
                           # the full model (last split) answers on the device: nothing goes up
                           "uplink_s": [0.0 if k == NUM_STAGES else n * b / up
                                        for k, b in zip(split["depth"], split["uplink_bits_per_sample"])]})
best = int(split_time.loc[(split_time["download_s"] + split_time["uplink_s"]).idxmin(), "depth"])
st.plotly_chart(charts.split_latency_figure(split_time, n), key="guide_split_chart")
st.caption(f"With the sidebar's {n} sample(s), {s.downlink_mbps:g} Mb/s down and {s.uplink_mbps:g} Mb/s up, the "
           f"quickest split is exit {best} (server compute time not included). Raise 'Samples per task' in the "
           "sidebar and watch the best split move deeper: the downlink-uplink trade-off.")

# ----- 2. Parameter level -----
st.header("2. Parameter level: prune the least important weights")
st.markdown("Magnitude pruning keeps the largest weights and sets the rest to zero; zeros need not be sent "
            "(their positions are coded instead). Re-training the kept weights recovers accuracy.")
keep = st.select_slider("Keep ratio (share of weights kept)", [0.05, 0.1, 0.2, 0.3, 0.5, 0.7], value=0.3,
                        key="guide_keep", format_func=lambda r: f"{r:.0%}")
left, right = st.columns(2)
with left:
    claim("Sec. 2.2 and 4, Fig. 3(b)", "The pruned model is re-trained to prevent it from suffering dramatic "
          "performance loss; the techniques are robust against model compression.")
with right:
    pruned = services.submodel(SubModelSpec(keep_ratio=keep, retrain_steps=0), SEED, s.model).card
    st.markdown("**Measured here**, pruned without re-training:")
    p1, p2 = st.columns(2)
    p1.metric("Size (% of the root download)", f"{pruned.size_pct_of_root:.1f} %")
    p2.metric("Accuracy, no re-training", f"{pruned.accuracy:.1%}",
              delta=f"{(pruned.accuracy - card.test_accuracy) * 100:+.1f} points vs. the root")
    verdict(card.test_accuracy - pruned.accuracy <= 0.02,
            f"Holds at {keep:.0%} even without re-training: at most 2 points lost. Try a smaller keep ratio.",
            f"Without re-training, keeping {keep:.0%} loses more than 2 points: this is why the paper re-trains.")
    if st.toggle("Re-train it (100 steps on this machine's CPU: a minute or more)", key="guide_retrain"):
        retrained = services.submodel(SubModelSpec(keep_ratio=keep, retrain_steps=100), SEED, s.model).card
        st.metric("Accuracy after re-training", f"{retrained.accuracy:.1%}",
                  delta=f"{(retrained.accuracy - pruned.accuracy) * 100:+.1f} points from re-training")

# ----- 3. Bit level -----
st.header("3. Bit level: fewer bits per weight")
st.markdown("Each weight is sent as a *b*-bit integer code with a scale per output channel instead of a 32-bit "
            "float. Mixed precision gives sensitive layers more bits.")
four = services.submodel(SubModelSpec(bits=4), SEED, s.model).card
left, right = st.columns(2)
with left:
    claim("Sec. 4", "The bit-level technique quantises each model parameter into a 4-bit representation; "
          "in-situ downloading is robust against this compression (Fig. 3(c)).")
with right:
    st.markdown("**Measured here**, uniform 4-bit codes, no re-training:")
    b1, b2 = st.columns(2)
    b1.metric("4-bit sub-model size", f"{four.total_bits / 1e6:.2f} Mbit",
              delta=f"{four.size_pct_of_root:.1f} % of the fp32 root", delta_color="off", delta_arrow="off")
    b2.metric("4-bit accuracy", f"{four.accuracy:.1%}",
              delta=f"{(four.accuracy - card.test_accuracy) * 100:+.1f} points vs. the root")
    verdict(card.test_accuracy - four.accuracy <= 0.02, "Holds: 4-bit codes lose at most 2 points here.",
            "Does not hold here: 4-bit codes lose more than 2 points.")

# ----- 4. AI library -----
st.header("4. The AI library: edge, local and central cloud")
st.markdown("Pre-generated sub-models are stored in three tiers. The nearer the tier, the sooner the first bit "
            "arrives; the air link then sets the pace.")
left, right = st.columns(2)
with left:
    claim("Sec. 3, Fig. 2", "Real-time models sit in the edge cloud, non-real-time models in the local cloud and "
          "generic/foundation models in the central cloud; placement near users is essential for the ultra-low "
          "latency of tactile applications.")
with right:
    st.markdown(f"**Computed here**: time to download the 4-bit sub-model above ({four.total_bits / 1e6:.2f} "
                f"Mbit) from each tier at the sidebar's {s.downlink_mbps:g} Mb/s (tier presets are assumptions, "
                "their sources below):")
    rows = []
    for name, tier in TIER_PRESETS.items():
        t = download_time(four.total_bits, tier, down)
        row = {"tier": name, "holds": tier.holds, "access latency (ms)": tier.access_latency_s * 1e3,
               "download time (ms)": t * 1e3}
        row.update({f"fits {a} ({APPLICATIONS[a].latency_s * 1e3:g} ms)": t <= APPLICATIONS[a].latency_s
                    for a in ("tactile", "video call", "image recognition")})
        rows.append(row)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="guide_tiers",
                 column_config={"download time (ms)": st.column_config.NumberColumn(format="%.3g")})
    st.caption("Tier for each application's budget (core.network.tiers): " + ", ".join(
        f"{a}: {tier_for_latency(APPLICATIONS[a].latency_s).name}" for a in ("tactile", "video call",
                                                                             "image recognition")) + ".")
with st.expander("Sources of the tier presets"):
    for tier in TIER_PRESETS.values():
        st.markdown(f"- **{tier.name}**: {tier.source}")

# ----- 5. Unreliable link -----
st.header("5. The unreliable link")
st.markdown("The topology (architecture, shapes, scales) is small and sent reliably; the parameter bits cross a "
            "link with bit-error rate (BER). A flipped bit in a float's exponent can turn a weight into a huge "
            "number; in a *b*-bit code it moves the weight by at most the code's range.")
flip = services.exponent_flip(30, s.model)
left, right = st.columns(2)
with left:
    claim("Sec. 4", "A BER of 1e-3 is sufficient to rein in the performance loss; ultra-reliable communication "
          "(BER below 1e-9) is an overkill.")
with right:
    st.markdown("**Measured here**: one flipped bit (bit 30, the top exponent bit) in one fp32 weight of the "
                "root model:")
    f1, f2 = st.columns(2)
    f1.metric("That weight", f"{flip['weight_after']:.3g}", delta=f"was {flip['weight_before']:.3g}",
              delta_color="off", delta_arrow="off")
    f2.metric("Root accuracy after one flip", f"{flip['flipped_accuracy']:.1%}",
              delta=f"{(flip['flipped_accuracy'] - flip['clean_accuracy']) * 100:+.1f} points")
    ber = s.effective_ber
    weights = card.root_parameters
    st.markdown(f"At the sidebar's BER ({ber:.0e}) the fp32 root model expects **{weights * ber:,.1f}** such "
                f"top-exponent flips ({weights:,} weights x BER); at BER 1e-3, **{weights * 1e-3:,.0f}**. The "
                f"4-bit sub-model's {four.total_bits / 1e6:.2f} Mbit expect {four.total_bits * ber:,.1f} flipped "
                "bits, each bounded by its code's range.")
    verdict(flip["flipped_accuracy"] < flip["clean_accuracy"] - 0.1,
            "One flip among millions of fp32 weights breaks the model, and at BER 1e-3 thousands happen: the "
            "claim can hold for integer codes or a receiver that sanitises impossible values, not for raw fp32 "
            "weights. The Live accuracy page measures it.", "One exponent flip did not hurt this model much.")
link("views/live.py", "Live accuracy")

# ----- 6. Predictive downloading -----
st.header("6. Predictive downloading and two accelerators")
st.markdown("If the network predicts where a user goes next, it can download that place's model before it is "
            "needed. With two AI accelerators, the new model loads into the spare one while the old one runs, so "
            "the switch is seamless.")
two = services.simulation("default", 200, 3600.0, 2, SEED).overall
one = services.simulation("default", 200, 3600.0, 1, SEED).overall
left, right = st.columns(2)
with left:
    claim("Sec. 3 and 5", "Tracking a user's location helps to predict the time of model use and download in "
          "advance, to ensure uninterrupted user experiences; two AI accelerators with their own memory make the "
          "switch transparent.")
with right:
    st.markdown("**Measured here**: 200 simulated users for an hour (the default scenario, seed 0), seconds per "
                "user that the application waited for its model:")
    sim = pd.DataFrame({"policy": two.index, "two accelerators (s)": two["interruption_s_per_user"].to_numpy(),
                        "one accelerator (s)": one["interruption_s_per_user"].to_numpy(),
                        "on time (two)": two["on_time_share"].to_numpy()})
    st.dataframe(sim, hide_index=True, width="stretch", key="guide_sim",
                 column_config={"two accelerators (s)": st.column_config.NumberColumn(format="%.2f"),
                                "one accelerator (s)": st.column_config.NumberColumn(format="%.2f"),
                                "on time (two)": st.column_config.NumberColumn(format="percent")})
    verdict(two.loc["predictive", "interruption_s_per_user"] < two.loc["reactive", "interruption_s_per_user"],
            "Holds: predictive downloads cut the waiting; the oracle shows what perfect prediction would give.",
            "Does not hold here: prediction did not reduce the waiting.")
link("views/mobility.py", "Predictive downloads")

# ----- Rates -----
st.header("And the rates it takes (Fig. 4)")
ue = REFERENCE_RATES["user-experienced"]
vgg = max_fraction_that_fits("VGG-16", APPLICATIONS["image recognition"].latency_s, ue.rate_bps)
resnet = max_fraction_that_fits("ResNet-50", APPLICATIONS["video call"].latency_s, ue.rate_bps)
left, right = st.columns(2)
with left:
    claim("Sec. 4, Fig. 4", "At the 6G user-experienced rate (1 Gb/s), VGG-16 must lose about 80 % of its bits "
          "for image recognition (1 s), and a video call (200 ms) allows ResNet-50 only at about 30 %.")
with right:
    st.markdown("**Computed here** (R = bits / latency, paper's counts, 32-bit):")
    r1, r2 = st.columns(2)
    r1.metric("VGG-16 share that fits in 1 s", f"{vgg:.1%}")
    r2.metric("ResNet-50 share that fits in 200 ms", f"{resnet:.1%}")
    st.caption(f"Rates: {ue.source}.")
    verdict(abs(vgg - 0.2) <= 0.05 and abs(resnet - 0.3) <= 0.05,
            "Holds: both within 5 points of the paper's rounded figures.",
            "Does not hold: the arithmetic is more than 5 points from the paper's figures.")
link("views/rates.py", "Rate requirements")
st.caption(f"Paper: {PAPER.split(', Sec.')[0]}.")
