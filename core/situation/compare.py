"""A fair comparison of a situation model with the generic root, exit by exit, on the situation's test photos.

Fairness: the generic root knows all its classes, the situation model only the situation's; so beside the root's
plain accuracy stands its accuracy with the answer restricted to the situation's classes (the largest logit among
those classes only), which is also where customisation starts. Sizes are the depth sub-models' real payloads
(core.compress.combine.generate, fp32, BatchNorm folded) and the device's multiply-adds per photo.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core.compress.combine import SubModelSpec, generate
from core.compress.common import transmitted_state
from core.compress.payload import encode
from core.model.evaluate import fast_layout
from core.model.models import NUM_STAGES, BackboneNet
from core.model.splits import DataSplits
from core.situation.customise import SituationModel, as_situation, check_root, state_sha256
from core.situation.situations import Situation, situation_data

Z95 = 1.959963984540054  # two-sided 95 % normal quantile
EVAL_BATCH = 256


@dataclass(frozen=True)
class PairedDifference:
    """Mean of a per-photo difference of correctness (a - b) on the same photos, with a 95 % normal interval. The
    interval covers which photos were drawn, not fine-tuning's own randomness (another seed, another model)."""

    mean: float
    low: float
    high: float

    @property
    def verdict(self) -> str:
        """"wins" when the whole interval is above 0, "loses" when below, else "tie" (no measurable difference)."""
        return "wins" if self.low > 0 else "loses" if self.high < 0 else "tie"


def paired_difference(a: np.ndarray, b: np.ndarray) -> PairedDifference:
    """Paired difference of two 0/1 correctness vectors over the same photos."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(f"a and b must be equally long, non-empty vectors (shapes {a.shape} and {b.shape})")
    d = a - b
    mean = float(d.mean())
    half = Z95 * float(d.std(ddof=1)) / math.sqrt(d.size) if d.size > 1 else 0.0
    return PairedDifference(mean, mean - half, mean + half)


@dataclass(frozen=True)
class ExitComparison:
    """One exit (depth-k sub-model): accuracies on the situation's test photos, download sizes and device MACs."""

    exit: int
    photos: int
    specialised_accuracy: float
    generic_restricted_accuracy: float   # the root, its answer restricted to the situation's classes
    generic_accuracy: float              # the root, plain (its answer among all its classes)
    over_restricted: PairedDifference    # specialised - generic restricted, per photo
    over_generic: PairedDifference       # specialised - generic plain, per photo
    specialised_bits: int                # the situation model's depth-k sub-model download (fp32 payload)
    generic_bits: int                    # the root's depth-k sub-model download (fp32 payload)
    update_bits: int                     # what a device holding the generic depth-k sub-model downloads more
    specialised_macs: int
    generic_macs: int

    @property
    def verdict(self) -> str:
        return self.over_restricted.verdict


@dataclass(frozen=True)
class Comparison:
    """A situation model against the generic root, per exit."""

    situation: str
    classes: tuple[str, ...]
    root_classes: int
    fine_tuned: str
    exits: tuple[ExitComparison, ...]

    def exit(self, k: int) -> ExitComparison:
        return self.exits[k - 1]

    def wins(self) -> tuple[int, ...]:
        """Exits where the situation model beats the generic root restricted to the situation's classes."""
        return tuple(e.exit for e in self.exits if e.verdict == "wins")

    def summary(self) -> str:
        """Where specialisation wins, in one sentence: the verdict per exit against the restricted root, then the
        gain over the plain generic root."""
        parts = []
        for verdict, words in (("wins", "wins"), ("tie", "is level"), ("loses", "falls behind")):
            chosen = [e for e in self.exits if e.verdict == verdict]
            if chosen:
                at = ", ".join(f"{e.exit} ({100 * e.over_restricted.mean:+.1f})" for e in chosen)
                parts.append(f"{words} at exit{'s' * (len(chosen) > 1)} {at}")
        plain = ", ".join(f"{100 * e.over_generic.mean:+.1f}" for e in self.exits)
        return (f"{self.situation}, in percentage points: against the generic root restricted to its classes the "
                f"situation model {'; '.join(parts)}; against the plain generic root {plain} at exits "
                f"1-{len(self.exits)}.")


def _correctness(model: BackboneNet, x: torch.Tensor, y: torch.Tensor, data: DataSplits,
                 columns: torch.Tensor | None, root_y: torch.Tensor | None = None):
    """Per exit, per photo: correct over ``columns`` (labels y) and, with ``root_y``, correct over all classes."""
    restricted, plain = [[] for _ in range(NUM_STAGES)], [[] for _ in range(NUM_STAGES)]
    model.eval()  # both models are evaluated as a device runs them (idempotent on a shared, eval-mode root)
    with torch.no_grad():
        for start in range(0, len(y), EVAL_BATCH):
            xb = fast_layout(data.normalise(x[start:start + EVAL_BATCH]))
            for k, logits in enumerate(model.forward_exits(xb)):
                own = logits if columns is None else logits[:, columns]
                restricted[k].append((own.argmax(1) == y[start:start + EVAL_BATCH]).numpy())
                if root_y is not None:
                    plain[k].append((logits.argmax(1) == root_y[start:start + EVAL_BATCH]).numpy())
    restricted = [np.concatenate(r) for r in restricted]
    return restricted, ([np.concatenate(p) for p in plain] if root_y is not None else None)


def _update_bits(special, generic, depth: int) -> int:
    """Bits (fp32 payload, as sent) of the tensors of the situation's depth sub-model that differ from the generic
    one's: new shapes (the cut linear layer) or new values (fine-tuned tensors)."""
    ours, theirs = transmitted_state(special.module), transmitted_state(generic.module)
    changed = {n: t for n, t in ours.items()
               if n not in theirs or t.shape != theirs[n].shape or not torch.equal(t, theirs[n])}
    if not changed:
        return 0
    return encode(changed, {}, dict(special.payload.architecture, depth=depth, update=True)).total_bits


def compare_with_generic(root: BackboneNet, situation_model: SituationModel, data: DataSplits,
                         situation: Situation | str) -> Comparison:
    """Compare ``situation_model`` with ``root`` on ``situation``'s test photos in ``data``, exit by exit."""
    check_root(root, data)
    if not isinstance(situation_model, SituationModel):
        raise ValueError(f"situation_model={type(situation_model).__name__} must be a SituationModel (customise)")
    sit = as_situation(situation)
    card = situation_model.card
    if (sit.name, tuple(sit.classes)) != (card.situation, tuple(card.classes)):
        raise ValueError(f"situation={sit.name!r} (classes {list(sit.classes)}) is not the situation model's "
                         f"({card.situation!r}, classes {list(card.classes)})")
    if state_sha256(root) != card.root_state_sha256:
        raise ValueError("root is not the root the situation model was customised from (its tensors' sha256 "
                         f"differs from the card's {card.root_state_sha256[:12]}...)")
    sdata = situation_data(sit, data)
    labels = torch.tensor(sdata.extra["root_labels"])
    x, y = sdata.x_test, sdata.y_test
    special, _ = _correctness(situation_model.model, x, y, sdata, None)
    restricted, plain = _correctness(root, x, y, sdata, labels, root_y=labels[y])
    rows = []
    for k in range(1, NUM_STAGES + 1):
        ours = generate(situation_model.model, sdata, SubModelSpec(depth=k), evaluate=False)
        theirs = generate(root, data, SubModelSpec(depth=k), evaluate=False)
        s, r, p = special[k - 1], restricted[k - 1], plain[k - 1]
        rows.append(ExitComparison(
            exit=k, photos=int(len(y)), specialised_accuracy=float(s.mean()),
            generic_restricted_accuracy=float(r.mean()), generic_accuracy=float(p.mean()),
            over_restricted=paired_difference(s, r), over_generic=paired_difference(s, p),
            specialised_bits=ours.card.total_bits, generic_bits=theirs.card.total_bits,
            update_bits=_update_bits(ours, theirs, k), specialised_macs=ours.card.device_macs,
            generic_macs=theirs.card.device_macs))
    return Comparison(situation=sit.name, classes=tuple(sit.classes), root_classes=root.num_classes,
                      fine_tuned=card.config.fine_tune, exits=tuple(rows))


__all__ = ["Comparison", "ExitComparison", "PairedDifference", "compare_with_generic", "paired_difference"]
