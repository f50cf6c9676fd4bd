"""Bit level: per-output-channel symmetric uniform quantisation (2-8 bits), fp16/fp32 references, measured
per-layer sensitivity, a size-budgeted mixed-precision bit allocation and short quantisation-aware fine-tuning."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.compress.common import weight_names
from core.compress.payload import FLOAT_BITS, INT_BITS, channel_scales, check_bits, quantise_codes
from core.model.splits import DataSplits
from core.validation import check_int, check_range


def fake_quantise(w: torch.Tensor, bits: int) -> torch.Tensor:
    """The values a receiver reconstructs from b-bit codes (or fp16/fp32), as a float tensor."""
    check_bits(bits)
    if bits == 32:
        return w
    if bits == 16:
        return w.half().float()
    qmax = (1 << (bits - 1)) - 1
    flat = w.detach().reshape(w.shape[0], -1).abs().amax(dim=1) if w.dim() > 1 else w.detach().abs().amax().view(1)
    scale = (flat / qmax).clamp_min(torch.finfo(torch.float32).tiny).view(-1, *([1] * (w.dim() - 1)))
    return torch.clamp(torch.round(w / scale), -qmax, qmax) * scale


def ste_quantise(w: torch.Tensor, bits: int) -> torch.Tensor:
    """Straight-through estimator: quantised forward, identity gradient."""
    return w + (fake_quantise(w, bits) - w).detach()


def quantise_state(state: dict[str, torch.Tensor], bits_map: dict[str, int]) -> dict[str, torch.Tensor]:
    """A new state dict whose listed weights are replaced by their quantised reconstruction."""
    return {k: (fake_quantise(v, bits_map[k]) if k in bits_map else v) for k, v in state.items()}


def scales_for(w: torch.Tensor, bits: int) -> np.ndarray | None:
    """Per-output-channel scales of ``w`` at ``bits`` integer codes (None for fp16/fp32)."""
    bits = check_bits(bits)
    return channel_scales(w.detach().cpu().numpy(), bits) if bits in INT_BITS else None


def codes_for(w: torch.Tensor, bits: int) -> np.ndarray:
    """The integer codes of a weight tensor (used by tests and the topology view)."""
    if check_bits(bits) not in INT_BITS:
        raise ValueError(f"bits={bits!r}: {bits}-bit floats have no integer codes; use 2..8")
    values = w.detach().cpu().numpy()
    return quantise_codes(values, channel_scales(values, bits), bits)


@dataclass(frozen=True)
class Sensitivity:
    """Validation loss when only one layer is quantised to each bit width (``base`` = unquantised)."""

    layers: tuple[str, ...]
    sizes: tuple[int, ...]          # weights per layer
    bits: tuple[int, ...]
    loss: np.ndarray                # layers x bits
    base: float

    def table(self):
        import pandas as pd

        df = pd.DataFrame(self.loss - self.base, index=list(self.layers), columns=[f"{b}-bit" for b in self.bits])
        df.insert(0, "weights", list(self.sizes))
        return df


@torch.no_grad()
def _val_loss(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(nn.functional.cross_entropy(module(x), y))


@torch.no_grad()
def layer_sensitivity(module: nn.Module, data: DataSplits, bits: tuple[int, ...] = INT_BITS,
                      limit: int = 512) -> Sensitivity:
    """Measure each weight tensor's sensitivity: validation loss with only that tensor quantised."""
    for b in bits:
        check_bits(b, "bits")
    check_int("limit", limit, 1)
    module.eval()
    x, y = next(data.batches("val", limit, limit=limit))
    names = weight_names(module)
    params = dict(module.named_parameters())
    base = _val_loss(module, x, y)
    loss = np.zeros((len(names), len(bits)))
    for i, name in enumerate(names):
        original = params[name].detach().clone()
        for j, b in enumerate(bits):
            params[name].copy_(fake_quantise(original, b))
            loss[i, j] = _val_loss(module, x, y)
        params[name].copy_(original)
    return Sensitivity(tuple(names), tuple(params[n].numel() for n in names), tuple(bits), loss, base)


def allocate_bits(sensitivity: Sensitivity, budget_bits: int) -> dict[str, int]:
    """Greedy mixed precision: start every layer at the widest width and keep lowering the layer whose
    next step down costs the least loss per bit saved, until the codes fit ``budget_bits``."""
    check_int("budget_bits", budget_bits, 1)
    bits = sorted(sensitivity.bits)
    sizes = np.array(sensitivity.sizes)
    col = {b: sensitivity.bits.index(b) for b in bits}
    level = np.full(len(sizes), len(bits) - 1)
    minimum = int(sizes.sum() * bits[0])
    if budget_bits < minimum:
        raise ValueError(f"budget_bits={budget_bits} is below the smallest allocation ({minimum} bits, all layers "
                         f"at {bits[0]} bits)")
    total = int((sizes * bits[-1]).sum())
    while total > budget_bits:
        best, best_cost = None, np.inf
        for i in np.flatnonzero(level > 0):
            hi, lo = bits[level[i]], bits[level[i] - 1]
            delta = sensitivity.loss[i, col[lo]] - sensitivity.loss[i, col[hi]]
            cost = max(delta, 0.0) / (sizes[i] * (hi - lo)) + 1e-12 * (hi - lo)
            if cost < best_cost:
                best, best_cost = i, cost
        hi, lo = bits[level[best]], bits[level[best] - 1]
        level[best] -= 1
        total -= int(sizes[best] * (hi - lo))
    return {name: bits[level[i]] for i, name in enumerate(sensitivity.layers)}


def uniform_bits(module: nn.Module, bits: int) -> dict[str, int]:
    check_bits(bits)
    return {name: bits for name in weight_names(module)}


def check_bits_map(module: nn.Module, bits_map: dict[str, int]) -> dict[str, int]:
    """``bits_map`` (layer weight name -> bits) if every name is a conv/linear weight of ``module`` and every width
    is allowed (core.compress.payload.check_bits)."""
    if not isinstance(bits_map, dict):
        raise ValueError(f"bits_map={bits_map!r} must be a dict of layer name to bits, not {type(bits_map).__name__}")
    names = set(weight_names(module))
    unknown = sorted(set(bits_map) - names)
    if unknown:
        raise ValueError(f"bits_map names unknown layers {unknown[:3]}; allowed: the conv/linear weights "
                         f"{sorted(names)[:3]}...")
    for name, b in bits_map.items():
        check_bits(b, f"bits_map[{name!r}]")
    return dict(bits_map)


def qat_finetune(module: nn.Module, data: DataSplits, bits_map: dict[str, int], steps: int, seed: int,
                 masks: dict[str, torch.Tensor] | None = None, lr: float = 0.005) -> nn.Module:
    """Quantisation-aware fine-tuning in place: quantised forward with straight-through gradients."""
    from torch.func import functional_call

    from core.model.train import TrainConfig, fit

    check_int("steps", steps, 0)
    check_int("seed", seed, 0)
    check_range("lr", lr, 0.0, lo_open=True)
    masks = masks or {}

    def loss_fn(m, x, y):
        params = dict(m.named_parameters())
        for name, b in bits_map.items():
            if b not in FLOAT_BITS or b == 16:
                params[name] = ste_quantise(params[name], b)
        return nn.functional.cross_entropy(functional_call(m, params, (x,)), y)

    def reapply(m):
        with torch.no_grad():
            params = dict(m.named_parameters())
            for name, mask in masks.items():
                params[name].mul_(mask)

    return fit(module, data, TrainConfig(steps=steps, lr=lr, augment=True), seed, loss_fn=loss_fn,
               after_step=reapply, desc="qat")
