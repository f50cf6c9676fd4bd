"""Progressive downloading (paper Section 2.2): nested sub-models sharing one set of weights, each embedded in
every larger one, and the differential parameter sets that upgrade a device from one level to the next."""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch

from core.compress.common import transmitted_state
from core.compress.payload import TensorFormat, decode, encode
from core.compress.prune import apply_masks, nested_masks, recalibrate_bn, train_nested
from core.model.evaluate import accuracy
from core.model.models import NUM_STAGES, BackboneNet, device_model
from core.model.splits import DataSplits
from core.validation import check_int


@dataclass(frozen=True)
class ProgressiveStep:
    """One level of a progressive path: its accuracy, its direct size and the size of the upgrade to it."""

    level: int
    keep_ratio: float
    accuracy: float
    direct_bits: int        # downloading this level on its own
    delta_bits: int         # downloading only the difference from the previous level (level 0: direct)
    cumulative_bits: int    # all deltas up to this level
    new_weights: int        # weights added by this level

    @property
    def overhead_bits(self) -> int:
        """What the progressive path costs beyond a direct download of this level."""
        return self.cumulative_bits - self.direct_bits


@dataclass(frozen=True)
class ProgressiveFamily:
    steps: tuple[ProgressiveStep, ...]
    modules: tuple[torch.nn.Module, ...]
    masks: tuple[dict, ...]
    seconds: float

    def table(self):
        import pandas as pd

        return pd.DataFrame([{**s.__dict__, "overhead_bits": s.overhead_bits} for s in self.steps])


def _state_for_level(module, masks):
    level = apply_masks(copy.deepcopy(module), masks)
    return level


def delta_state(previous: dict[str, torch.Tensor], current: dict[str, torch.Tensor],
                weight_masks_prev: dict, weight_masks_cur: dict) -> tuple[dict, dict]:
    """The differential set: weights new in this level (sparse, at their positions) and every small tensor
    (BN statistics are re-estimated per level, so they are re-sent whole)."""
    state, formats = {}, {}
    for name, tensor in current.items():
        if name in weight_masks_cur:
            new = weight_masks_cur[name] & ~weight_masks_prev[name]
            state[name] = tensor * new
            formats[name] = TensorFormat(mask=new.numpy().astype(bool))
        else:
            state[name] = tensor
    return state, formats


def apply_delta(previous: dict[str, torch.Tensor], delta: dict[str, torch.Tensor],
                weight_names_: set[str]) -> dict[str, torch.Tensor]:
    """What the device does with an upgrade: add new weights into place, replace the small tensors."""
    return {n: previous[n] + delta[n] if n in weight_names_ else delta[n] for n in previous}


def progressive_family(root: BackboneNet, data: DataSplits, keep_ratios=(0.1, 0.25, 0.5, 1.0), steps: int = 100,
                       seed: int = 0, depth: int = NUM_STAGES) -> ProgressiveFamily:
    """Train nested levels jointly from the root (copied), re-estimate BN per level and measure every upgrade."""
    check_int("steps", steps, 0)
    check_int("seed", seed, 0)
    started = time.perf_counter()
    shared = device_model(root, depth)
    levels = nested_masks(shared, tuple(keep_ratios))
    train_nested(shared, levels, data, steps, seed)
    modules, result = [], []
    previous_state, previous_masks, cumulative = None, None, 0
    for i, (ratio, masks) in enumerate(zip(keep_ratios, levels)):
        module = recalibrate_bn(_state_for_level(shared, masks), data, seed=seed)
        state = transmitted_state(module)
        arch = {"arch": "resnet18", "depth": depth, "level": i}
        direct = encode(state, {n: TensorFormat(mask=m.numpy().astype(bool)) for n, m in masks.items()}, arch)
        if previous_state is None:
            delta_bits = direct.total_bits
        else:
            d_state, d_formats = delta_state(previous_state, state, previous_masks, masks)
            delta_bits = encode(d_state, d_formats, arch).total_bits
        cumulative += delta_bits
        new_weights = int(sum(int(m.sum()) for m in masks.values())) - (
            0 if previous_masks is None else int(sum(int(m.sum()) for m in previous_masks.values())))
        result.append(ProgressiveStep(i, float(ratio), accuracy(module, data, "test"), direct.total_bits,
                                      delta_bits, cumulative, new_weights))
        modules.append(module)
        previous_state, previous_masks = state, masks
    return ProgressiveFamily(tuple(result), tuple(modules), tuple(levels), time.perf_counter() - started)


def received_upgrade(previous: dict[str, torch.Tensor], current: dict[str, torch.Tensor], prev_masks: dict,
                     cur_masks: dict) -> dict[str, torch.Tensor]:
    """Encode the upgrade, decode it as a device would and apply it (used to check the delta is exact)."""
    d_state, d_formats = delta_state(previous, current, prev_masks, cur_masks)
    decoded = decode(encode(d_state, d_formats))
    return apply_delta(previous, decoded, set(cur_masks))
