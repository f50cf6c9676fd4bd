"""Plain-language explanations of the words the dashboard uses, one home for all of them: tooltips (``help=``),
the Guide's glossary and the report read from here. Pure Python."""
from __future__ import annotations

from core.validation import check_choice

TERMS: dict[str, str] = {
    "root model": "The full trained network (here a ResNet-18) from which every smaller download is made.",
    "sub-model": "A smaller version of the root model that is actually downloaded to the device: fewer layers, "
                 "fewer weights, or fewer bits per weight.",
    "in-situ model downloading": "Downloading the AI model a device needs, when and where it needs it, "
                                 "instead of storing every model on the device.",
    "exit": "A small classifier attached after part of the network, so that the device can answer without "
            "running the rest. 'Exit 2' = answer after the second of the four stages.",
    "split": "Where the device's part of the network ends and the server's part begins: the device sends the "
             "features it computed up to the server, which finishes the job.",
    "depth level": "Compressing by downloading only the first layers (up to an exit).",
    "parameter level": "Compressing by pruning: the smallest weights are set to zero and not sent.",
    "bit level": "Compressing by quantisation: each weight is sent with fewer bits (e.g. 4 instead of 32).",
    "keep ratio": "The share of weights kept after pruning (50 % = half of them are sent).",
    "DSI": "Device situation information: what the device tells the network about itself (memory, compute, "
           "location, its application's deadline and accuracy need, and its radio link).",
    "binding constraint": "The first requirement a model fails, in the order memory, precision, latency, "
                          "accuracy: the reason the network cannot send it.",
    "BER": "Bit-error rate: the share of transmitted bits that arrive flipped. 10⁻³ means 1 bit in 1,000.",
    "payload": "The weights' bits, sent over the error-prone radio link (the architecture is sent separately, "
               "without errors).",
    "topology": "The model's architecture, shapes and scales: small, sent over a reliable channel.",
    "protection": "What the receiving device does about flipped bits: nothing, 'sanitise' (replace impossible "
                  "values such as infinity by zero), 'clamp' (limit each weight to its layer's known range) or "
                  "unequal error protection (extra protection for the most important bits).",
    "tier": "Where the AI library stores a model: edge cloud (next to the base station, for real-time "
            "models), local cloud (non-real-time), or central cloud (generic and foundation models).",
    "situation": "What a device meets where it is, as the classes it sees there: a road shows cars and trucks, a "
                 "pier ships and aircraft, a park animals, a home cats and dogs, a post office handwritten digits.",
    "customisation": "Making a model fit a situation: its classifiers are cut to the situation's classes and "
                     "trained a little more on photos from there (the paper's Sec. 5).",
    "AI library": "The network's store of pre-generated sub-models with measured accuracy and size.",
    "fp32": "32-bit floating point, the usual way to store a weight; one flipped exponent bit can make it huge.",
    "integer code": "A weight sent as a small whole number (e.g. 4 bits) times a per-channel scale: a flipped "
                    "bit can move it only within the code's range.",
    "chance": "The accuracy of guessing: 1 in the number of classes (10 % for 10 classes).",
    "latency budget": "How long the application may wait for its answer, download included.",
    "multiply-adds per second": "How fast the device computes: a network's work is counted in multiply-add "
                                "operations, and the sidebar gives the device's speed in billions of them per "
                                "second.",
    "predictive downloading": "Downloading the model for the place a user is predicted to go next, before "
                              "they arrive.",
    "accelerator": "A chip that runs the AI model. With two, a new model loads into the spare one while the "
                   "old one keeps running.",
    "interruption": "Time the application waits because its model has not arrived yet.",
    "confidence interval": "The range in which the true value lies with 95 % confidence, given the random "
                           "trials run.",
    "user-experienced rate": "The data rate a user can count on most of the time (the paper: 1 Gb/s in 6G).",
    "improving together": "Devices that hold the same downloaded sub-model train it a little on their own photos "
                          "and send back only what changed; the server averages what they sent into a better model "
                          "for all of them. The photos never leave the devices (federated learning).",
    "round": "One exchange between the server and the devices: the server sends its model, every device trains it "
             "on its own photos and sends its update back, and the server averages the updates.",
    "local steps": "How many training steps a device takes on its own photos in one round (each step looks at a "
                   "batch of 32 of its photos).",
    "update": "What a device sends up after a round: how much each weight changed, compressed to a few bits per "
              "weight, as the download itself was.",
    "FedAvg": "Federated averaging: the server adds to its model the average of the devices' updates, each "
              "weighted by how many photos the device holds (Flower's strategy of that name).",
    "central training": "The same training on one machine with all the devices' photos pooled together, as many "
                        "steps and photos per round: the usual reference for what the devices could reach (on average they "
                        "do not beat it; one run on a few hundred test photos can by chance).",
}

# The words issue 14 found unexplained on screen: each must have an entry above ("GMAC/s" is now written out as
# "multiply-adds per second" wherever it was shown).
JARGON = ("DSI", "sub-model", "exit", "split", "binding constraint", "BER", "protection", "tier",
          "multiply-adds per second", "payload")


def explain(term: str) -> str:
    """The explanation of one glossary term (ValueError naming the allowed terms if it has none)."""
    check_choice("term", term, tuple(TERMS))
    return TERMS[term]


def tip(*terms: str) -> str:
    """A tooltip text explaining several terms: '**BER**: ...  \\n**protection**: ...'."""
    if not terms:
        raise ValueError("terms=() : name at least one glossary term")
    return "  \n".join(f"**{t}**: {explain(t)}" for t in terms)


def entry_words(key: str) -> str:
    """A library entry's key in words: 'd2-r0.5-b4-s60' -> 'exit 2, keep 50 %, 4-bit, re-trained 60 steps'."""
    import re

    match = re.fullmatch(r"d(\d)-r([0-9.]+)-b(\d+)-s(\d+)", str(key))
    if match is None:
        raise ValueError(f"key={key!r} is not a library entry key like 'd2-r0.5-b4-s60'")
    depth, keep, bits, steps = int(match[1]), float(match[2]), int(match[3]), int(match[4])
    parts = ["whole backbone" if depth == 4 else f"exit {depth}", f"keep {keep:.0%}".replace("%", " %"),
             "fp32" if bits == 32 else f"{bits}-bit"]
    if steps:
        parts.append(f"re-trained {steps} steps")
    return ", ".join(parts)


# core.network.select.ACCURACY_RULE in words.
ACCURACY_RULE_WORDS = ("How the expected accuracy at your bit-error rate is read from the library: without errors, "
                       "the accuracy measured at BER 0; between two measured BERs, in between them on a log scale; "
                       "below the lowest measured BER, the value there (errors only lower accuracy, so this is on "
                       "the safe side); above the highest, not measured, so the accuracy requirement fails.")

# A candidate's binding constraint as the reason it cannot be sent ("3 need more memory than the device has").
BINDING_WORDS = {"memory": "need more memory than the device has",
                 "precision": "use more bits per weight than the device computes with",
                 "latency": "take longer than the latency budget",
                 "accuracy": "are not accurate enough at this bit-error rate",
                 "accuracy not measured": "have no accuracy measured at this bit-error rate (the library measured "
                                          "error-free accuracy only) and cannot be sent"}


def binding_reasons(candidates) -> list[str]:
    """Each candidate's binding constraint, with an accuracy that was never measured at this BER told apart from one
    that is too low (both fail the accuracy requirement)."""
    import math

    return ["accuracy not measured" if b == "accuracy" and (a is None or (isinstance(a, float) and math.isnan(a)))
            else str(b) for b, a in zip(candidates["binding"], candidates["accuracy"])]


# The verb that opens each phrase above, for one model ("1 needs more memory", not "1 need").
SINGULAR_VERBS = {"need": "needs", "use": "uses", "take": "takes", "are": "is", "have": "has", "fail": "fails"}


def binding_counts(bindings) -> str:
    """Counts of binding constraints in words: '5 can be sent; 3 need more memory than the device has; 1 is not
    accurate enough at this bit-error rate'."""
    from collections import Counter

    counts = Counter(str(b) for b in bindings)
    parts = [f"{counts.pop('')} can be sent"] if "" in counts else []
    for b, n in counts.most_common():
        verb, rest = BINDING_WORDS.get(b, f"fail on {b}").split(" ", 1)
        parts.append(f"{n} {SINGULAR_VERBS.get(verb, verb) if n == 1 else verb} {rest}")
    return "; ".join(parts)


def count_words(n: int, noun: str, plural: str | None = None) -> str:
    """'1 sub-model', '3 sub-models' (``plural`` for nouns that do not just take an s: 'entry', 'entries')."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


PHASE_WORDS = {"sub-models": "Making sub-models", "BER grid": "Measuring accuracy under bit errors"}
