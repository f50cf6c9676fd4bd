"""The story's measured values shipped beside each root, so that no Guide step waits on a computation.

Steps 3, 4, 6, 7 and 8 of the story generate sub-models and send them over noisy links (paired trials): minutes on
2 cores. ``python scripts/build_story_values.py`` runs exactly those computations once per shipped root and writes
them to ``assets/story/<root>.json``, with the sha256 of the root file they were computed from. The Guide reads a
value from there when the file matches the root, and computes it live otherwise (another root, another file).
``tests/app/test_story_values.py`` recomputes shipped values with the engine and checks that they agree, so the
file cannot drift from the code.

Pure Python over the engine (no streamlit): the service layer caches what it returns.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core.compress.combine import SubModelSpec

STORY_VALUES = Path(__file__).resolve().parents[1] / "assets" / "story"
FORMAT = "insitu-story-values"
VERSION = 2  # 2: BER rows carry the spread of single downloads and the ruined ones
# How the story's BER curves are measured: a chart read from the back of a room, 3 to 5 trials of 256 images,
# stopping at a 3-point half-width.
# The library's trial rule (core.network.library.config.TrialPlan): more trials while the interval is wider than
# +-3 points, at least 10 where some downloads were ruined and some not, at most 20.
BER_TRIALS = dict(images_per_trial=256, target_half_width=0.03, min_trials=3, max_trials=20, mixed_min_trials=10)


@dataclass(frozen=True)
class CardValues:
    """What the story shows of a generated sub-model: accuracy on the whole test split, size and download bits."""

    accuracy: float
    size_pct_of_root: float
    total_bits: int


def spec_key(spec: SubModelSpec, seed: int) -> str:
    return f"d{spec.depth}-r{spec.keep_ratio:g}-b{spec.bits}-s{spec.retrain_steps}-q{spec.qat_steps}-seed{seed}"


def ber_key(bits: int, protection: str, seed: int) -> str:
    return f"{bits}-bit|{protection}|seed{seed}"


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def compute_card(root, data, spec: SubModelSpec, seed: int) -> CardValues:
    from core.compress.combine import generate

    card = generate(root, data, spec, seed).card
    return CardValues(float(card.accuracy), float(card.size_pct_of_root), int(card.total_bits))


def compute_ber_rows(sub, data, bits: int, protection: str, bers, seed: int) -> list[dict]:
    """The paired estimate of ``sub`` received over a BSC at each BER with one receiver protection."""
    from core.link.reliability import EstimateConfig, clean_correctness, estimate_accuracy
    from core.link.working import WorkingCopy

    config = EstimateConfig(**BER_TRIALS)
    working = WorkingCopy(sub)  # private to this computation; a shared sub-model is never touched
    clean = clean_correctness(working.evaluator, data)  # the whole split once, not once per BER
    rows = []
    for ber in bers:
        r = estimate_accuracy(sub, data, ber, protection, config, seed, working=working, clean=clean)
        ruin = r.ruin
        rows.append({"bits": bits, "protection": protection, "ber": float(ber), "mean": float(r.mean),
                     "ci95_low": float(r.lo), "ci95_high": float(r.hi), "trials": int(r.trials),
                     "clean": float(r.clean_accuracy), "mean_flips": float(r.mean_flips), "p10": float(r.p10),
                     "p90": float(r.p90), "ruined": int(r.ruined), "ruin_low": float(ruin.lo),
                     "ruin_high": float(ruin.hi)})
    return rows


def load(checkpoint) -> dict | None:
    """The shipped values of a root checkpoint, or None when there are none or they were computed from another
    file (its sha256 differs) or are unreadable: the story then computes live. Never raises on a damaged file."""
    path = STORY_VALUES / f"{Path(checkpoint).stem}.json"
    if not path.is_file():
        return None
    try:
        values = json.loads(path.read_text())
        if values.get("format") != FORMAT or values.get("version") != VERSION:
            return None
        if values.get("root_sha256") != file_sha256(checkpoint):
            return None
        return values
    except (OSError, ValueError, AttributeError):
        return None


def shipped_card(values: dict | None, spec: SubModelSpec, seed: int) -> CardValues | None:
    found = (values or {}).get("cards", {}).get(spec_key(spec, seed))
    return CardValues(**found) if found else None


def shipped_ber_rows(values: dict | None, bits: int, protection: str, bers, seed: int) -> list[dict] | None:
    rows = (values or {}).get("ber", {}).get(ber_key(bits, protection, seed))
    if not rows:
        return None
    by_ber = {float(r["ber"]): r for r in rows}
    if not all(float(b) in by_ber for b in bers):
        return None
    return [by_ber[float(b)] for b in bers]


def build(checkpoint, specs, ber_series, bers, seed: int, progress=print) -> dict:
    """Compute every value the story needs for one root: cards of ``specs`` and BER rows of ``ber_series``
    ((bits, protection) pairs)."""
    from core.model.data import load_for_card
    from core.model.models import load_checkpoint

    root, card = load_checkpoint(checkpoint)
    data = load_for_card(card, checkpoint)
    out = {"format": FORMAT, "version": VERSION, "root": Path(checkpoint).name,
           "root_sha256": file_sha256(checkpoint), "seed": seed,
           "made_by": "python scripts/build_story_values.py", "cards": {}, "ber": {}}
    for spec in specs:
        out["cards"][spec_key(spec, seed)] = asdict(compute_card(root, data, spec, seed))
        progress(f"card {spec_key(spec, seed)}")
    from core.compress.combine import generate

    for bits, protection in ber_series:
        sub = generate(root, data, SubModelSpec(bits=bits), seed)
        out["ber"][ber_key(bits, protection, seed)] = compute_ber_rows(sub, data, bits, protection, bers, seed)
        progress(f"BER curve {ber_key(bits, protection, seed)}")
    return out


def write(values: dict, path) -> None:
    """Write through a temporary file, so that a reader never sees half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".story-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(values, f, indent=1, sort_keys=True)
            f.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
