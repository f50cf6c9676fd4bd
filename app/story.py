"""The Guide's story: eleven steps, each one headline sentence, one live chart or card from the engine (through
app.services), the preset that makes its point, and a verdict on the paper's claim.

No streamlit drawing here: ``card(key, settings)`` returns a ``Card`` that the Guide draws and app.export writes
into the report. Every number in a sentence is formatted from an engine result (app.units), never typed in.
Steps of the same shape are data (``LEVEL_STEPS`` for pruning and quantisation; ``_ber_chart`` for the two BER
steps). About 500 lines because the other steps are different computations (rates, splits, the selection, tiers,
the mobility simulation), each with its own headline and verdict; one file keeps every claim and its test together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import pandas as pd

from app import charts, glossary, units
from app.settings import Settings
from core.validation import check_choice

HOLDS, CONDITIONAL, DOES_NOT_HOLD = "holds", "conditional", "does not hold"
VERDICT_KINDS = (HOLDS, CONDITIONAL, DOES_NOT_HOLD)
# A claim that a technique costs "no dramatic loss" holds here when it loses at most this much accuracy.
LOSS_TOLERANCE = 0.02
SEED = 0
STORY_BERS = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
STORY_BITS = (32, 8, 4)
SERIES = {32: "fp32 weights (32-bit floats)", 8: "8-bit integer codes", 4: "4-bit integer codes"}
PAPER_CLAIM_BER = 1e-3
ULTRA_RELIABLE_BER = 1e-9


@dataclass(frozen=True)
class Verdict:
    """The paper's claim and what this app finds: green (holds) only when unconditional, amber when
    conditional, red when it does not hold here."""

    kind: str
    claim: str
    finding: str

    def __post_init__(self):
        check_choice("kind", self.kind, VERDICT_KINDS)


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    help: str = ""


@dataclass(frozen=True)
class Card:
    """What one story step shows: a headline sentence, one figure (or an HTML map), a few facts, the verdict,
    an optional raw table (hidden in presenter view) and a note on where the numbers come from."""

    headline: str
    figure: object | None = None
    facts: tuple[Fact, ...] = ()
    verdict: Verdict | None = None
    table: pd.DataFrame | None = field(default=None, compare=False)
    html: str | None = None          # drawn in an iframe on the page (assets from the app's /app/static)
    html_offline: str | None = None  # the same with its assets inlined, for the report
    note: str = ""
    problem: str = ""   # set when the step cannot be computed (e.g. no AI library yet): said, never hidden


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    preset: str | None          # a scenario of app.settings.SCENARIOS that makes the step's point
    why_preset: str
    terms: tuple[str, ...]      # glossary terms the step uses (shown as tooltips)
    page: str | None = None     # the page that goes deeper


STEPS: tuple[Step, ...] = (
    Step("why", "Why compress at all", "pier",
         "a smartphone downloading an image recogniser at the paper's 6G user-experienced rate",
         ("in-situ model downloading", "sub-model", "user-experienced rate"), "views/rates.py"),
    Step("depth", "Depth level: download the first layers", "car",
         "a car that classifies 100 samples per task: many samples favour deeper splits",
         ("depth level", "exit", "split"), "views/submodels.py"),
    Step("parameter", "Parameter level: prune the small weights", "iot",
         "a sensor with 256 kB for models: only a heavily pruned model could fit",
         ("parameter level", "keep ratio"), "views/submodels.py"),
    Step("bit", "Bit level: fewer bits per weight", "pier",
         "a smartphone whose accelerator computes with 4-bit numbers",
         ("bit level", "integer code", "fp32"), "views/submodels.py"),
    Step("combined", "The combined choice for one device", "pier",
         "a smartphone asking for 95 % accuracy at BER 10⁻⁴",
         ("DSI", "binding constraint", "AI library"), "views/submodels.py"),
    Step("ber", "Bit errors: floats break, integer codes bend", "iot",
         "a weak link with BER 10⁻³, the value the paper calls sufficient",
         ("BER", "payload", "fp32", "integer code", "chance"), "views/live.py"),
    Step("protection", "What the receiver can do about errors", "iot",
         "the same weak link, with a receiver that sanitises impossible values",
         ("protection", "topology", "payload"), "views/live.py"),
    Step("tiers", "The three-tier AI library", "robot",
         "a robot that needs its new model within the tactile 1 ms budget",
         ("tier", "AI library", "latency budget"), "views/library.py"),
    Step("predictive", "Predictive downloading on the map", "car",
         "a driver walking to the car park: the network can guess the next place",
         ("predictive downloading", "accelerator", "interruption"), "views/mobility.py"),
    Step("situation", "The situation decides the model", "pier",
         "a smartphone whose owner walks from the park to a pier: what it sees changes, so its model does",
         ("situation", "customisation", "sub-model"), "views/submodels.py"),
    Step("verdicts", "Where the paper holds, and where it needs a caveat", None, "",
         ("binding constraint", "BER"), None),
)
STEP_KEYS = tuple(s.key for s in STEPS)


def step(key: str) -> Step:
    check_choice("key", key, STEP_KEYS)
    return STEPS[STEP_KEYS.index(key)]


def card(key: str, s: Settings) -> Card:
    """The card of story step ``key`` for the settings ``s`` (numbers from the engine via app.services)."""
    check_choice("key", key, STEP_KEYS)
    if not isinstance(s, Settings):
        raise ValueError(f"s={s!r} must be app.settings.Settings")
    return BUILDERS[key](s)


def _chance(model: str) -> float:
    from app import services

    _, root_card = services.root_model(model)
    return 1.0 / len(root_card.classes)


def _loss_verdict(claim: str, levels: list[tuple[str, float]], clean: float, what: str) -> Verdict:
    """HOLDS when every level loses at most LOSS_TOLERANCE, CONDITIONAL when some do, else DOES_NOT_HOLD."""
    ok = [name for name, acc in levels if clean - acc <= LOSS_TOLERANCE]
    tol = units.points(-LOSS_TOLERANCE).replace("-", "")
    if len(ok) == len(levels):
        return Verdict(HOLDS, claim, f"Every {what} shown loses at most {tol} of accuracy here.")
    if ok:
        return Verdict(CONDITIONAL, claim, f"Holds for {', '.join(ok)} (at most {tol} lost); not for "
                                           f"{', '.join(n for n, _ in levels if n not in ok)} without re-training.")
    return Verdict(DOES_NOT_HOLD, claim, f"Every {what} shown loses more than {tol} here without re-training.")


# ----------------------------------------------------------------------------------------------- 1. why
def _why(s: Settings) -> Card:
    from app import services
    from core.network.rates import APPLICATIONS, PAPER_APPLICATIONS, PAPER_MODELS, REFERENCE_RATES, \
        max_fraction_that_fits

    rate = s.downlink_mbps * 1e6
    image, video = APPLICATIONS["image recognition"].latency_s, APPLICATIONS["video call"].latency_s
    vgg = max_fraction_that_fits("VGG-16", image, rate)
    ue = REFERENCE_RATES["user-experienced"]
    vgg_ue = max_fraction_that_fits("VGG-16", image, ue.rate_bps)
    resnet_ue = max_fraction_that_fits("ResNet-50", video, ue.rate_bps)
    table = services.fig4(PAPER_MODELS, PAPER_APPLICATIONS)
    refs = pd.DataFrame([{"name": r.name, "low_bps": r.low_bps, "high_bps": r.high_bps}
                         for r in (ue, REFERENCE_RATES["peak"])])
    fig = charts.fig4_figure(table, refs, highlight="image recognition", your_rate_bps=rate,
                             title="Rate needed to download a model in time (paper Fig. 4)")
    if vgg < 1:
        headline = (f"At your downlink of {units.rate(rate)}, only {units.percent(vgg, 0)} of VGG-16 arrives within "
                    f"image recognition's {units.seconds(image)} budget: the model has to shrink.")
    else:
        headline = (f"At your downlink of {units.rate(rate)} all of VGG-16 arrives within {units.seconds(image)}; "
                    f"at 6G's user-experienced {units.rate(ue.rate_bps)} only {units.percent(vgg_ue, 0)} would.")
    close = abs(vgg_ue - 0.2) <= 0.05 and abs(resnet_ue - 0.3) <= 0.05
    verdict = Verdict(
        HOLDS if close else DOES_NOT_HOLD,
        "At 1 Gb/s VGG-16 must lose about 80 % of its bits for image recognition (1 s); a video call (200 ms) "
        "allows ResNet-50 only at about 30 % (Sec. 4, Fig. 4).",
        f"Rate = bits / time gives {units.percent(vgg_ue, 0)} of VGG-16 and {units.percent(resnet_ue, 0)} of "
        "ResNet-50 (32-bit weights, the paper's parameter counts): "
        + ("within 5 points of the paper's rounded figures." if close else "more than 5 points off."))
    facts = (Fact("VGG-16 share that fits in 1 s at your rate", units.percent(vgg, 0)),
             Fact("ResNet-50 share that fits in 200 ms at 1 Gb/s", units.percent(resnet_ue, 0)))
    return Card(headline, fig, facts, verdict, note=f"Rates: {ue.source}.")


# ----------------------------------------------------------------------------------------------- 2. depth
def _depth(s: Settings) -> Card:
    from app import services
    from core.network.select import SERVER_MACS_PER_S, depth_tradeoff

    split = services.split_rows(8, s.model)
    dsi = s.dsi()
    trade = depth_tradeoff(split, dsi, s.samples)
    best = trade[trade["best"]].iloc[0]
    first = split.sort_values("depth").iloc[0]
    shrinks = bool(split.sort_values("depth")["uplink_bits_per_sample"].is_monotonic_decreasing)
    fig = charts.split_latency_figure(trade, s.samples, budget_s=dsi.application.latency_budget_s)
    headline = (f"With {units.count(s.samples)} sample{'s' if s.samples != 1 else ''} per task the quickest split "
                f"is exit {int(best['depth'])} ({units.seconds(best['total_s'])}): deeper splits download more "
                "but send less up to the server.")
    verdict = Verdict(
        HOLDS if shrinks else DOES_NOT_HOLD,
        "Intermediate features shrink with depth, so a larger download means less uplink data (Sec. 2.1).",
        "The features sent up shrink at every deeper split of this root model." if shrinks else
        "The features sent up do not shrink at every deeper split of this root model.")
    facts = (Fact("Exit 1 on the device alone", units.percent(first["exit_accuracy"])),
             Fact("Exit 1 with the server finishing", units.percent(first["server_accuracy"]),
                  f"{units.points(first['server_accuracy'] - first['exit_accuracy'])} from server assistance"),
             Fact("Download at exit 1", units.bits(first["download_bits"])))
    table = trade.rename(columns={"depth": "exit", "download_s": "download (s)", "compute_s": "device compute (s)",
                                  "uplink_s": "uplink (s)", "server_s": "server (s)", "total_s": "total (s)",
                                  "accuracy": "accuracy", "within_budget": "within budget"})
    return Card(headline, fig, facts, verdict, table=table[[c for c in table.columns if c not in (
        "samples", "download_bits", "best")]],
        note=f"Your link: {units.rate(s.downlink_mbps * 1e6)} down, {units.rate(s.uplink_mbps * 1e6)} up; features "
             "sent as 8-bit codes; the edge server that finishes the task is assumed to compute "
             f"{units.count(SERVER_MACS_PER_S / 1e9)} billion multiply-adds per second (an A100-class GPU; the paper "
             "gives no figure).")


# ----------------------------------------------------------------------------------------------- 3/4. levels
@dataclass(frozen=True)
class LevelStep:
    """A compression level's step as data: the sub-models it compares, its chart, its claim and its headline."""

    values: tuple                 # keep ratios or bit widths, the last or ``featured`` one makes the headline
    spec: Callable                # value -> SubModelSpec
    label: Callable               # value -> "keep 10 %" / "4-bit"
    x_label: str
    title: str
    claim: str
    what: str                     # "pruned model": how the verdict names what it judges
    featured: object              # the value the headline and the verdict are about (None: every value judged)
    headline: Callable            # (value, its card, root card) -> sentence
    caveat: str = ""              # appended when the verdict is not HOLDS


def _spec(**kwargs):
    from core.compress.combine import SubModelSpec

    return SubModelSpec(**kwargs)


LEVEL_STEPS = {
    "parameter": LevelStep(
        (0.5, 0.2, 0.1), lambda r: _spec(keep_ratio=r, retrain_steps=0), lambda r: f"keep {r:.0%}",
        "share of weights kept (pruned by magnitude, no re-training)", "Pruning: smaller downloads, until accuracy "
        "breaks", "The pruned model is re-trained to prevent dramatic performance loss; in-situ downloading is "
        "robust against this compression (Sec. 2.2, Fig. 3(b)).", "pruned model", None,
        lambda r, c, root: (f"Keeping {units.percent(r, 0)} of the weights cuts the download to "
                            f"{units.percent(c.size_pct_of_root / 100)} of the root, but without re-training "
                            f"accuracy falls to {units.percent(c.accuracy)} (root {units.percent(root.test_accuracy)})."),
        " The paper re-trains; the Sub-models page measures re-trained ones."),
    "bit": LevelStep(
        (8, 4, 2), lambda b: _spec(bits=b), lambda b: f"{b}-bit",
        "bits per weight (uniform integer codes, no re-training)", "Quantisation: fewer bits per weight",
        "Each parameter is quantised into a 4-bit representation; in-situ downloading is robust against this "
        "compression (Sec. 4, Fig. 3(c)).", "4-bit model", 4,
        lambda b, c, root: (f"{b}-bit codes shrink the download to {units.percent(c.size_pct_of_root / 100)} of "
                            f"the 32-bit root with {units.percent(c.accuracy)} accuracy "
                            f"({units.points(c.accuracy - root.test_accuracy)}).")),
}


def _level(s: Settings, key: str) -> Card:
    from app import services

    level = LEVEL_STEPS[key]
    _, root_card = services.root_model(s.model)
    labels = [level.label(v) for v in level.values]
    cards = [services.story_card(level.spec(v), SEED, s.model) for v in level.values]
    df = pd.DataFrame([{"level": "root (no compression)", "accuracy": root_card.test_accuracy,
                        "size (% of root)": 100.0, "download (bit)": None}]
                      + [{"level": lab, "accuracy": c.accuracy, "size (% of root)": c.size_pct_of_root,
                          "download (bit)": c.total_bits} for lab, c in zip(labels, cards)])
    fig = charts.size_accuracy_figure(df.rename(columns={"size (% of root)": "size_pct"}), level.x_label,
                                      level.title, root_accuracy=root_card.test_accuracy, chance=_chance(s.model))
    featured = level.values[-1] if level.featured is None else level.featured
    judged = [(lab, c.accuracy) for v, lab, c in zip(level.values, labels, cards)
              if level.featured is None or v == level.featured]
    verdict = _loss_verdict(level.claim, judged, root_card.test_accuracy, level.what)
    if verdict.kind != HOLDS and level.caveat:
        verdict = Verdict(CONDITIONAL, verdict.claim, verdict.finding + level.caveat)
    facts = tuple(Fact(f"{lab}: download", units.bits(c.total_bits), f"accuracy {units.percent(c.accuracy)}")
                  for lab, c in zip(labels, cards))
    headline = level.headline(featured, cards[level.values.index(featured)], root_card)
    return Card(headline, fig, facts, verdict, table=df)


def needed_values() -> tuple[tuple, tuple]:
    """What the steps compute that takes time, for app.story_values (shipped so that no step waits): the specs
    whose cards steps 3, 4, 6 and 8 show, and the (bits, protection) BER curves of steps 6 and 7."""
    from core.link.protections import PROTECTIONS

    specs = [level.spec(v) for level in LEVEL_STEPS.values() for v in level.values]
    specs += [_spec(bits=b) for b in STORY_BITS]
    series = [(b, "none") for b in STORY_BITS] + [(32, p) for p in PROTECTIONS if p != "none"]
    return tuple(dict.fromkeys(specs)), tuple(dict.fromkeys(series))


# ----------------------------------------------------------------------------------------------- 5. combined
def explain_binding(row: dict, s: Settings) -> str:
    """Why a candidate cannot be sent, in words, from its binding constraint and its measured values."""
    binding = row.get("binding", "")
    if binding == "memory":
        return (f"it needs {units.size_bytes(row['memory_bytes'])} of memory and the {s.hardware} has "
                f"{units.size_bytes(row['memory_limit_bytes'])} for models")
    if binding == "precision":
        return (f"its weights are {int(row['bits'])}-bit numbers and the {s.hardware} computes with at most "
                f"{int(row['max_precision_bits'])} bits")
    if binding == "latency":
        return (f"download and computing take {units.seconds(row['latency_s'])}, over the "
                f"{units.seconds(row['latency_budget_s'])} budget (download alone {units.seconds(row['download_s'])})")
    if binding == "accuracy":
        acc = row["accuracy"]
        if acc is None or (isinstance(acc, float) and math.isnan(acc)):
            return f"its accuracy at BER {units.ber_short(s.effective_ber)} was not measured ({row['accuracy_source']})"
        why = (" — one flipped exponent bit turns an fp32 weight into a huge number" if int(row["bits"]) == 32
               and s.effective_ber > 0 else "")
        return (f"at BER {units.ber_short(s.effective_ber)} its expected accuracy is {units.percent(acc)}, below "
                f"the {units.percent(row['min_accuracy'], 0)} asked{why}")
    return "it meets every requirement too, but the selection rule prefers another (each card says why)"


def _combined(s: Settings) -> Card:
    from app import services

    lib, problem = services.library_or_none(s.model)
    if lib is None:
        return Card("The combined choice is made from the AI library, which is not built for this root model yet.",
                    problem=f"{problem} Build it on the AI library page, then come back to this step.")
    lib_key = services.library_key(lib)
    sel = services.selection(lib, lib_key, services.settings_key(s), s, False)
    cands = sel.candidates
    best = sel.best()
    chosen = sel.chosen
    fig = charts.pareto_figure(cands, chosen, chance=_chance(s.model), min_accuracy=s.min_accuracy)
    fig.update_layout(title="Every sub-model in the library: download size against expected accuracy "
                            "(hollow = cannot be sent)")
    if best is None:
        counts = cands["binding"].value_counts()
        reasons = "; ".join(f"{int(n)} fail on {c}" for c, n in counts.items() if c)
        example = cands[cands["binding"] != ""].sort_values("total_bits").iloc[0].to_dict() if len(cands) else None
        headline = f"Nothing in the library fits this {s.hardware}: {reasons}."
        facts = (Fact("For example", example["label"], "cannot be sent: " + explain_binding(example, s)),) \
            if example else ()
        return Card(headline, fig, facts, None, table=cands)
    bigger = cands[(cands["total_bits"] > best["total_bits"]) & (cands["key"] != best["key"])]
    bigger = bigger.sort_values("total_bits")
    rule = ("the smallest sub-model that meets every requirement" if sel.rule == "smallest" else
            "the most accurate within the limits (a tie within the intervals goes to the smaller)")
    headline = (f"For this {s.hardware} the network sends {best['label']} ({units.bits(best['total_bits'])}, "
                f"expected {units.percent(best['accuracy'])}) from the {best['tier']} cloud: {rule}")
    facts = [Fact("Chosen", best["label"], f"{best['mode']}; {best['accuracy_source']}"),
             Fact("Time to answer", units.seconds(best["latency_s"]),
                  f"budget {units.seconds(best['latency_budget_s'])}; download {units.seconds(best['download_s'])}, "
                  f"load {units.seconds(best['load_s'])}, compute {units.seconds(best['compute_s'])}"),
             Fact("Why this one", f"{int(best['feasible_count'])} meet every requirement",
                  f"next choice: {best['runner_up']}" if best.get("runner_up") else "no other meets them")]
    if len(bigger):
        nxt = bigger.iloc[0].to_dict()
        if nxt["binding"]:
            headline += f"; the next bigger, {nxt['label']}, cannot be sent, because {explain_binding(nxt, s)}."
        else:
            headline += (f"; the next bigger, {nxt['label']}, would fit too but costs "
                         f"{units.bits(nxt['total_bits'] - best['total_bits'])} more to download.")
        facts.append(Fact("Next bigger model", nxt["label"], explain_binding(nxt, s)))
    else:
        headline += "; it is the largest model in the library."
    return Card(headline, fig, tuple(facts), None, table=cands,
                note="Constraints are checked in the order memory, precision, latency, accuracy; the first that "
                     "fails is the binding constraint. " + glossary.ACCURACY_RULE_WORDS)


# ----------------------------------------------------------------------------------------------- 6/7. BER
_BER_CLAIM = ("A BER of 10⁻³ is sufficient to rein in the performance loss; ultra-reliable communication "
              "(BER below 10⁻⁹) is an overkill (Sec. 4).")


def _ber_chart(s: Settings, bits: tuple, protections: tuple, series: Callable, title: str):
    """The BER steps' shared part: accuracy against BER per (bits, protection), its chart and a lookup at a BER."""
    from app import services

    frame = pd.concat([services.story_ber(b, p, STORY_BERS, SEED, s.model) for b in bits for p in protections],
                      ignore_index=True)
    frame["series"] = [series(b, p) for b, p in zip(frame["bits"], frame["protection"])]
    fig = charts.ber_story_figure(frame, _chance(s.model), title=title)

    def at(b: int, ber: float, protection: str = "none") -> float:
        row = frame[(frame["bits"] == b) & (frame["protection"] == protection) & (frame["ber"] == ber)]
        return float(row["mean"].iloc[0])
    return frame, fig, at


def _ruined(frame: pd.DataFrame, b: int, ber: float, protection: str = "none") -> str:
    """'3 of 12 downloads ruined' for one point of a BER chart ('' for values made before ruin was counted)."""
    if "ruined" not in frame:
        return ""
    row = frame[(frame["bits"] == b) & (frame["protection"] == protection) & (frame["ber"] == ber)].iloc[0]
    return f"{int(row['ruined'])} of {int(row['trials'])} downloads ruined"


def _ber(s: Settings) -> Card:
    from app import services

    frame, fig, at_ber = _ber_chart(s, STORY_BITS, ("none",), lambda b, p: SERIES[b],
                                    "Accuracy of the downloaded model against bit-error rate (no protection)")
    chance = _chance(s.model)
    at = {b: at_ber(b, PAPER_CLAIM_BER) for b in STORY_BITS}
    made = {b: services.story_card(_spec(bits=b), SEED, s.model) for b in STORY_BITS}
    ruined32 = _ruined(frame, 32, PAPER_CLAIM_BER)
    headline = (f"At BER {units.ber_short(PAPER_CLAIM_BER)} the 4-bit model keeps {units.percent(at[4])} and the "
                f"8-bit {units.percent(at[8])}, while raw fp32 weights fall to {units.percent(at[32])} "
                f"(guessing: {units.percent(chance, 0)}" + (f"; {ruined32}" if ruined32 else "") + ").")
    ok = [SERIES[b] for b in STORY_BITS if made[b].accuracy - at[b] <= LOSS_TOLERANCE]
    tol = units.points(LOSS_TOLERANCE).lstrip("+")
    if len(ok) == len(STORY_BITS):
        verdict = Verdict(HOLDS, _BER_CLAIM, f"Every format loses at most {tol} at BER 10⁻³ here.")
    elif ok:
        verdict = Verdict(CONDITIONAL, _BER_CLAIM,
                          f"Holds for {' and '.join(ok)} (at most {tol} lost at 10⁻³), not for the others without a "
                          "protecting receiver (next step). Ultra-reliable links are not needed for integer codes.")
    else:
        verdict = Verdict(DOES_NOT_HOLD, _BER_CLAIM, f"Every format loses more than {tol} at BER 10⁻³ here.")
    fp32_bits = made[32].total_bits
    facts = (Fact("Flipped bits expected at 10⁻³ (fp32 model)", units.count(round(fp32_bits * PAPER_CLAIM_BER))),
             Fact("Flipped bits expected at 10⁻⁹ (fp32 model)", units.number(fp32_bits * ULTRA_RELIABLE_BER, 2)),
             Fact("fp32 accuracy at 10⁻⁷", units.percent(at_ber(32, 1e-7)), _ruined(frame, 32, 1e-7)))
    return Card(headline, fig, facts, verdict, table=frame,
                note="Each point: the paired estimate of the whole test split's accuracy from random trials of the "
                     "channel (bars: 95 % interval). Bits flip independently (binary symmetric channel). Where a "
                     f"download is either fine or ruined ({units.RUINED}) the mean sits between the two: the table "
                     "counts the ruined downloads.")


def _protection(s: Settings) -> Card:
    from core.link.protections import PROTECTIONS, protection_label

    names = tuple(PROTECTIONS)
    frame, fig, at_ber = _ber_chart(s, (32,), names, lambda b, p: f"fp32, {protection_label(p)}",
                                    "fp32 weights with each receiver protection")
    at = {p: at_ber(32, PAPER_CLAIM_BER, p) for p in names}
    best = max((p for p in names if p != "none"), key=lambda p: at[p])
    headline = (f"At BER {units.ber_short(PAPER_CLAIM_BER)} a receiver that uses {protection_label(best)} keeps "
                f"{units.percent(at[best])} of fp32 accuracy where doing nothing leaves {units.percent(at['none'])}.")
    clean = float(frame["clean"].iloc[0]) if "clean" in frame else None
    ok = [protection_label(p) for p in names if p != "none" and clean is not None and clean - at[p] <= LOSS_TOLERANCE]
    verdict = Verdict(CONDITIONAL if ok else DOES_NOT_HOLD, _BER_CLAIM,
                      (f"With {', '.join(ok)} even fp32 weights hold at 10⁻³: the claim needs such a receiver."
                       if ok else "No receiver protection keeps fp32 weights within tolerance at 10⁻³ here."))
    facts = tuple(Fact(protection_label(p), units.percent(at[p]), PROTECTIONS[p].description) for p in names)
    return Card(headline, fig, facts, verdict, table=frame)


# ----------------------------------------------------------------------------------------------- 8. tiers
def _tiers(s: Settings) -> Card:
    from app import services
    from core.network.rates import APPLICATIONS, REFERENCE_RATES
    from core.network.tiers import TIER_PRESETS, download_time

    four = services.story_card(_spec(bits=4), SEED, s.model)
    rate = s.downlink_mbps * 1e6
    df = pd.DataFrame([{"tier": name, "holds": t.holds, "download_s": download_time(four.total_bits, t, rate),
                        "access_s": t.access_latency_s, "source": t.source} for name, t in TIER_PRESETS.items()])
    budgets = {a: APPLICATIONS[a].latency_s for a in ("tactile", "video call", "image recognition")}
    fig = charts.tier_figure(df, budgets, f"Time to download the 4-bit model ({units.bits(four.total_bits)}) at "
                                          f"{units.rate(rate)}")
    t = dict(zip(df["tier"], df["download_s"]))
    fits_tactile = [n for n, v in t.items() if v <= budgets["tactile"]]
    headline = (f"From the edge cloud the 4-bit model arrives in {units.seconds(t['edge'])}, from the central cloud "
                f"in {units.seconds(t['central'])}: " + (
                    f"only the {' and '.join(fits_tactile)} cloud meet{'s' if len(fits_tactile) == 1 else ''} the "
                    f"tactile {units.seconds(budgets['tactile'])} budget." if fits_tactile else
                    f"none meets the tactile {units.seconds(budgets['tactile'])} budget at this rate."))
    # The claim is about placement, so it is judged where the air link is not the bottleneck: the 6G peak rate.
    peak = REFERENCE_RATES["peak"].rate_bps
    at_peak = [n for n, t_ in TIER_PRESETS.items()
               if download_time(four.total_bits, t_, peak) <= budgets["tactile"]]
    verdict = Verdict(CONDITIONAL if at_peak == ["edge"] else DOES_NOT_HOLD,
                      "Placing real-time models in the edge cloud near users is essential for the ultra-low latency "
                      "of tactile applications (Sec. 3, Fig. 2).",
                      (f"At the 6G peak rate ({units.rate(peak)}) only the edge cloud delivers the 4-bit model within "
                       f"{units.seconds(budgets['tactile'])}. This rests on the tier latencies assumed here (the "
                       "paper gives none): edge "
                       f"{units.seconds(TIER_PRESETS['edge'].access_latency_s)}, local "
                       f"{units.seconds(TIER_PRESETS['local'].access_latency_s)}." if at_peak == ["edge"] else
                       f"At the 6G peak rate ({units.rate(peak)}) the tiers do not separate as claimed: "
                       f"{', '.join(at_peak) or 'none'} meet{'s' if len(at_peak) == 1 else ''} the tactile budget."))
    facts = tuple(Fact(f"{n} cloud", units.seconds(v), TIER_PRESETS[n].source) for n, v in t.items())
    return Card(headline, fig, facts, verdict, table=df)


# ----------------------------------------------------------------------------------------------- 9. predictive
MOBILITY = ("default", 200, 3600.0)


def _predictive(s: Settings) -> Card:
    from app import services

    from core.mobility.area import area_file

    preset, users, duration = MOBILITY
    file = area_file(getattr(s, "area", ""))  # the sidebar's area: its file gives the name said below
    stamp = services.area_stamp(str(file))
    try:  # the same sizes as the Predictive downloads page: each situation model's own AI library
        sizes = services.mobility_sizes(str(file), stamp)
    except ValueError:
        sizes = None
    where = (str(file), sizes.models if sizes is not None else (), stamp)
    models_at = services.place_models(sizes) if sizes is not None else ()
    result = services.simulation(preset, users, duration, 2, SEED, *where)
    two = result.overall
    one = services.simulation(preset, users, duration, 1, SEED, *where).overall
    wait = two["interruption_s_per_user"]
    fig = charts.policy_bar(two, "interruption_s_per_user", "Seconds per user the application waited for its model")
    headline = (f"Predicting the next place cut each user's waiting from {units.wait(wait['reactive'])} "
                f"(download when needed) to {units.wait(wait['predictive'])}; knowing the future would give "
                f"{units.wait(wait['oracle'])}.")
    better = wait["predictive"] < wait["reactive"]
    verdict = Verdict(CONDITIONAL if better else DOES_NOT_HOLD,
                      "Tracking a user's location helps to predict the time of model use and download in advance "
                      "(Sec. 3 and 5).",
                      ("Holds in this simulation; how much depends on how predictable people are (real next-place "
                       "predictors reach about 70-93 %)." if better else
                       "Prediction did not reduce the waiting in this simulation."))
    facts = (Fact("On time with prediction", units.percent(two.loc["predictive", "on_time_share"])),
             Fact("Waiting with one accelerator (predictive)",
                  units.wait(one.loc["predictive", "interruption_s_per_user"]),
                  "with one AI accelerator every switch stops the application while the new model loads"))
    try:
        html = services.mobility_map(preset, users, duration, 2, SEED, "predictive", 20, False, *where,
                                     place_models=models_at)
        offline = services.mobility_map(preset, users, duration, 2, SEED, "predictive", 20, True, *where,
                                        place_models=models_at)
    except (TypeError, ValueError) as err:  # the map is an extra; its absence is said, not hidden
        html = offline = None
        problem = f"The map could not be drawn: {err}"
    else:
        problem = ""
    return Card(headline, fig, facts, verdict, table=two.reset_index(), html=html, html_offline=offline,
                problem=problem, note=f"{users} simulated users for {units.seconds(duration)} in {result.area_name} (seed {SEED}).")


# ----------------------------------------------------------------------------------------------- 10. situation
SITUATION_EXIT = 4  # the full backbone: the comparison at the deepest exit (the Sub-models page shows every exit)


def _situation(s: Settings) -> Card:
    from app.services import situation_library

    df, problems = situation_library.situation_cards()
    if df.empty:
        return Card("No situation model could be read.", problem=" ".join(problems.values()))
    at = df[df["exit"] == SITUATION_EXIT].set_index("situation")
    gain = at["situation_model"] - at["generic_restricted"]
    best, worst = gain.idxmax(), gain.idxmin()
    headline = (f"Each place gets its own model: the {len(at)} situation models are the root cut to the classes a "
                f"device sees there and fine-tuned on that place's photos. On each place's own photos they score "
                f"{units.percent(at['situation_model'].min())} to {units.percent(at['situation_model'].max())} at "
                f"exit {SITUATION_EXIT}; against the generic root with its answer restricted to the same classes the "
                f"largest difference is {units.points(gain[gain.abs().idxmax()])}.")
    verdict = Verdict(
        CONDITIONAL,
        "Customising the downloaded model to the device's situation improves it (Sec. 5, model customisation).",
        (f"Knowing the situation is what helps: on these clean photos the generic root with its answer restricted "
         f"to the place's classes is within a point of the customised model; fine-tuning changes it by "
         if gain.abs().max() < 0.01 else
         f"Fine-tuning on the place's photos changes the generic root's answer restricted to the place's classes by ")
        + f"{units.points(gain[worst])} ({worst}) to {units.points(gain[best])} ({best}). Fine-tuning pays where "
        "the device's photos differ from the root's training photos (see the Sub-models page's on-device "
        "customisation).")
    facts = tuple(Fact(name, f"{units.percent(r.situation_model)} vs {units.percent(r.generic_restricted)}",
                       f"{r.classes}; {r.test_photos:,} test photos; situation model vs generic root restricted to "
                       f"these classes, at exit {SITUATION_EXIT}")
                  for name, r in at.iterrows())
    table = df.rename(columns={"situation_model": "situation model accuracy",
                               "generic_restricted": "generic root restricted accuracy"})
    note = ("Accuracies from each situation model's card (measured on its situation's test photos when it was "
            "built); chance is one guess among the place's classes."
            + (f" Not shown: {', '.join(problems)} ({' '.join(problems.values())})" if problems else ""))
    return Card(headline, charts.situation_figure(df, SITUATION_EXIT), facts, verdict, table=table, note=note)


# ----------------------------------------------------------------------------------------------- 11. verdicts
def _verdicts(s: Settings) -> Card:
    rows = []
    for st_ in STEPS[:-1]:
        c = card(st_.key, s)
        if c.verdict is not None:
            rows.append({"step": st_.title, "verdict": c.verdict.kind, "paper": c.verdict.claim,
                         "here": c.verdict.finding})
    df = pd.DataFrame(rows)
    n = {kind: int(count) for kind, count in df["verdict"].value_counts().items()}
    holds = lambda k: "holds" if n.get(k, 0) == 1 else "hold"  # noqa: E731
    headline = (f"Of {len(df)} claims checked, {n.get(HOLDS, 0)} {holds(HOLDS)} without conditions, "
                f"{n.get(CONDITIONAL, 0)} {holds(CONDITIONAL)} with a caveat and {n.get(DOES_NOT_HOLD, 0)} "
                f"{'does' if n.get(DOES_NOT_HOLD, 0) == 1 else 'do'} not hold here.")
    return Card(headline, None, (), None, table=df)


BUILDERS = {"why": _why, "depth": _depth, "parameter": lambda s: _level(s, "parameter"),
            "bit": lambda s: _level(s, "bit"), "combined": _combined,
            "ber": _ber, "protection": _protection, "tiers": _tiers, "predictive": _predictive,
            "situation": _situation, "verdicts": _verdicts}
assert tuple(BUILDERS) == STEP_KEYS
