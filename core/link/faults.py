"""Single-bit faults: flip one chosen bit of one fp32 weight and measure what it does to accuracy.

The teaching example of why raw floats are fragile: bit 30 (the top exponent bit) of a weight of magnitude
below 2 multiplies it by 2^128. The flip is made on a private copy; the given module is never changed.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from core.link.working import correctness
from core.model.splits import DataSplits
from core.validation import check_int


@dataclass(frozen=True)
class BitFlip:
    """One flipped bit and its effect on the module's accuracy on a data split."""

    tensor: str
    position: int
    bit: int
    weight_before: float
    weight_after: float
    clean_accuracy: float
    flipped_accuracy: float


def flip_one_bit(module: torch.nn.Module, data: DataSplits, bit: int = 30, tensor: str | None = None,
                 position: int = 0, split: str = "test") -> BitFlip:
    """Flip bit ``bit`` (0 = least significant, 31 = sign) of value ``position`` of fp32 tensor ``tensor``
    (default: the module's first weight, e.g. the first convolution) and evaluate before and after."""
    bit = check_int("bit", bit, 0, 31)
    params = dict(module.named_parameters())
    if tensor is None:
        tensor = next((n for n, p in params.items() if n.endswith("weight") and p.dim() > 1), None)
        if tensor is None:
            raise ValueError("module has no weight tensor of two or more dimensions to flip a bit in")
    if tensor not in params:
        raise ValueError(f"tensor={tensor!r} is not a parameter of the module; allowed: e.g. {list(params)[:3]}")
    if params[tensor].dtype != torch.float32:
        raise ValueError(f"tensor={tensor!r} is {params[tensor].dtype}; allowed: float32 tensors")
    if not params[tensor].is_contiguous():
        raise ValueError(f"tensor={tensor!r} is not contiguous in memory; allowed: contiguous tensors")
    position = check_int("position", position, 0, params[tensor].numel() - 1)
    clean = float(correctness(module, data, split).mean())
    broken = copy.deepcopy(module)
    weight = dict(broken.named_parameters())[tensor]
    with torch.no_grad():
        flat = weight.detach().reshape(-1)
        before = float(flat[position])
        words = flat.numpy().view(np.uint32)  # shares memory with the copy's weight
        words[position] ^= np.uint32(1 << bit)
        after = float(flat[position])
    return BitFlip(tensor, position, bit, before, after, clean, float(correctness(broken, data, split).mean()))


__all__ = ["BitFlip", "flip_one_bit"]
