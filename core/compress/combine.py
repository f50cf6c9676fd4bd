"""One generator for any sub-model (paper Fig. 1): depth k, keep ratio r and bits b, alone or combined.

``generate(root, data, spec, seed)`` copies the root (never mutating it), cuts it at the split point, prunes and
re-trains, quantises (uniform or mixed per layer, optional QAT), encodes the real payload, and rebuilds the
device model from that payload so that what is evaluated is exactly what a device receives at BER 0.
"""
from __future__ import annotations

import copy
import time
import weakref
from dataclasses import dataclass, field

import torch

from core.compress.common import count_macs, fold_batchnorm, transmitted_state, weight_names
from core.compress.payload import INT_BITS, Payload, TensorFormat, check_bits, decode, encode
from core.compress.prune import SCOPES, apply_masks, check_keep_ratio, magnitude_masks, retrain
from core.compress.quantize import (allocate_bits, check_bits_map, layer_sensitivity, qat_finetune,
                                    quantise_state, scales_for, uniform_bits)
from core.model.evaluate import accuracy
from core.model.models import NUM_STAGES, BackboneNet, DepthSubModel, check_depth, device_model
from core.model.splits import DataSplits
from core.validation import check_bool, check_choice, check_int

TECHNIQUES = ("root", "depth", "parameter", "bit", "combined")
SMALL_BITS = (8, 16, 32)


def _check_bits_pairs(bits_map) -> tuple[tuple[str, int], ...]:
    """``SubModelSpec.bits_map``: a tuple of (layer weight name, bit width) pairs, each name once. (A tuple, not a
    dict, so that the spec stays hashable; ``tuple(d.items())`` turns a dict into one.) The names are checked
    against the model's layers by ``generate``."""
    if not isinstance(bits_map, tuple):
        raise ValueError(f"bits_map={bits_map!r} must be a tuple of (layer name, bits) pairs or None, not "
                         f"{type(bits_map).__name__} (tuple(d.items()) turns a dict into one)")
    if not bits_map:
        raise ValueError("bits_map=() names no layer: give (layer name, bits) pairs, or None for uniform bits")
    seen = set()
    for i, pair in enumerate(bits_map):
        if not isinstance(pair, tuple) or len(pair) != 2 or not isinstance(pair[0], str):
            raise ValueError(f"bits_map[{i}]={pair!r} must be a (layer name, bits) pair such as "
                             "('stem.0.weight', 4)")
        if pair[0] in seen:
            raise ValueError(f"bits_map[{i}]: layer {pair[0]!r} is named twice")
        seen.add(pair[0])
        check_bits(pair[1], f"bits_map[{pair[0]!r}]")
    return bits_map


@dataclass(frozen=True)
class SubModelSpec:
    """What to generate. ``bits`` is uniform; ``mixed_budget_bits`` asks for a mixed-precision allocation of the
    weight codes under that many bits instead; ``bits_map`` gives per-layer widths directly."""

    depth: int = NUM_STAGES
    keep_ratio: float = 1.0
    bits: int = 32
    prune_scope: str = "global"
    retrain_steps: int = 200
    qat_steps: int = 0
    mixed_budget_bits: int | None = None
    bits_map: tuple[tuple[str, int], ...] | None = None
    small_bits: int | None = None   # biases (and BN tensors if not folded): 8 (codes), 16 or 32; None: 8 for
                                    # integer-coded sub-models, else the weights' float width
    fold_bn: bool = True            # fold BatchNorm into the convolutions before sending (inference only needs
                                    # the affine result; BN variances have no safe "zero" for a receiver)

    def __post_init__(self):
        # Every field by type and range, so that a bad spec fails here with its name, never later in a technique.
        check_depth(self.depth)
        check_keep_ratio(self.keep_ratio)
        check_bits(self.bits)
        check_choice("prune_scope", self.prune_scope, SCOPES)
        check_int("retrain_steps", self.retrain_steps, 0)
        check_int("qat_steps", self.qat_steps, 0)
        if self.mixed_budget_bits is not None:
            check_int("mixed_budget_bits", self.mixed_budget_bits, 1)
        if self.bits_map is not None:
            _check_bits_pairs(self.bits_map)
            if self.mixed_budget_bits is not None:
                raise ValueError(f"bits_map and mixed_budget_bits={self.mixed_budget_bits!r} were both given: "
                                 "give per-layer widths or a budget to allocate them, not both")
        if self.small_bits is not None:
            check_choice("small_bits", check_int("small_bits", self.small_bits), SMALL_BITS)
        check_bool("fold_bn", self.fold_bn)

    @property
    def integer_coded(self) -> bool:
        return self.bits in INT_BITS or self.mixed_budget_bits is not None or (
            self.bits_map is not None and any(b in INT_BITS for _, b in self.bits_map))

    @property
    def small_width(self) -> int:
        if self.small_bits is not None:
            return self.small_bits
        return 8 if self.integer_coded else (16 if self.bits == 16 else 32)

    @property
    def folds_bn(self) -> bool:
        return self.fold_bn

    @property
    def technique(self) -> str:
        used = [self.depth < NUM_STAGES, self.keep_ratio < 1.0,
                self.bits < 32 or self.mixed_budget_bits is not None or self.bits_map is not None]
        if sum(used) > 1:
            return "combined"
        return ("depth", "parameter", "bit")[used.index(True)] if any(used) else "root"

    @property
    def label(self) -> str:
        parts = [f"exit {self.depth}"]
        if self.keep_ratio < 1:
            parts.append(f"keep {self.keep_ratio:.0%}")
        if self.mixed_budget_bits is not None or self.bits_map is not None:
            parts.append("mixed bits")
        else:
            parts.append({32: "fp32", 16: "fp16"}.get(self.bits, f"{self.bits}-bit"))
        return ", ".join(parts)


@dataclass(frozen=True)
class SubModelCard:
    """Measured facts of one sub-model: sizes by part, parameters, MACs, device memory and accuracy."""

    technique: str
    label: str
    depth: int
    keep_ratio: float
    bits: int
    parameters: int
    nonzero_parameters: int
    bits_by_part: dict
    total_bits: int
    root_bits: int
    size_pct_of_root: float
    device_macs: int
    effective_macs: int
    device_memory_bytes: int
    uplink_bits_per_sample: int
    accuracy: float
    accuracy_before_retrain: float | None
    accuracy_before_qat: float | None
    generation_seconds: float
    layer_bits: dict = field(default_factory=dict)
    layer_density: dict = field(default_factory=dict)

    def row(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("bits_by_part", "layer_bits", "layer_density")}
        out.update({f"bits_{k}": v for k, v in self.bits_by_part.items()})
        return out


@dataclass(frozen=True)
class SubModel:
    """A generated sub-model: its spec, the device module as received, the payload and its card."""

    spec: SubModelSpec
    module: DepthSubModel
    payload: Payload
    masks: dict = field(default_factory=dict, compare=False)
    bits_map: dict = field(default_factory=dict, compare=False)
    card: SubModelCard | None = None


# Keyed by the model object itself (weakly): an id() could be reused by another model once this one is freed.
_ROOT_BITS: "weakref.WeakKeyDictionary[BackboneNet, int]" = weakref.WeakKeyDictionary()


def architecture(root: BackboneNet, depth: int) -> dict:
    """The architecture part of the topology record."""
    return {"arch": "resnet18", "depth": depth, "classes": root.num_classes, "in_channels": root.in_channels}


def root_bits(root: BackboneNet) -> int:
    """Bits of the dense fp32 root model download (full depth, no intermediate exits): the 100 % reference."""
    if root not in _ROOT_BITS:
        full = fold_batchnorm(device_model(root, NUM_STAGES))
        _ROOT_BITS[root] = encode(transmitted_state(full), {}, architecture(root, NUM_STAGES)).total_bits
    return _ROOT_BITS[root]


def build_formats(module: DepthSubModel, bits_map: dict[str, int], masks: dict[str, torch.Tensor],
                  small_bits: int) -> dict[str, TensorFormat]:
    state = transmitted_state(module)
    formats = {}
    for name, tensor in state.items():
        b = bits_map.get(name, small_bits if name not in masks and tensor.dim() <= 1 else 32)
        mask = masks.get(name)
        formats[name] = TensorFormat(bits=b, scales=scales_for(tensor, b),
                                     mask=None if mask is None else mask.cpu().numpy().astype(bool))
    return formats


def load_received(module: DepthSubModel, payload: Payload) -> DepthSubModel:
    """Put the decoded payload into ``module`` (in place): the device model as received."""
    decoded = decode(payload)
    with torch.no_grad():
        state = module.state_dict()
        for name, tensor in decoded.items():
            state[name].copy_(tensor.to(state[name].dtype))
    return module.eval()


def generate(root: BackboneNet, data: DataSplits, spec: SubModelSpec, seed: int = 0,
             evaluate: bool = True) -> SubModel:
    """Generate the sub-model ``spec`` from ``root`` (which is copied, never changed) and measure its card."""
    started = time.perf_counter()
    if not isinstance(spec, SubModelSpec):
        raise ValueError(f"spec={spec!r} must be a SubModelSpec, not {type(spec).__name__}")
    check_int("seed", seed, 0)
    check_bool("evaluate", evaluate)
    module = device_model(root, spec.depth)
    names = weight_names(module)
    masks: dict[str, torch.Tensor] = {}
    acc_before_retrain = acc_before_qat = None
    if spec.keep_ratio < 1.0:
        masks = magnitude_masks(module, spec.keep_ratio, spec.prune_scope)
        if spec.retrain_steps:
            if evaluate:
                acc_before_retrain = accuracy(apply_masks(copy.deepcopy(module), masks), data, "test")
            retrain(module, masks, data, spec.retrain_steps, seed)
        else:
            apply_masks(module, masks)
    if spec.bits_map is not None:
        bits_map = check_bits_map(module, dict(spec.bits_map))
    elif spec.mixed_budget_bits is not None:
        sens = layer_sensitivity(module, data)
        bits_map = allocate_bits(sens, spec.mixed_budget_bits)
    else:
        bits_map = uniform_bits(module, spec.bits)
    bits_map = dict(bits_map)
    if spec.qat_steps and any(b in INT_BITS for b in bits_map.values()):
        if evaluate:
            probe = copy.deepcopy(module)
            probe.load_state_dict(quantise_state(probe.state_dict(), bits_map))
            acc_before_qat = accuracy(probe, data, "test")
        qat_finetune(module, data, bits_map, spec.qat_steps, seed, masks)
    if spec.folds_bn:
        fold_batchnorm(module)
    formats = build_formats(module, bits_map, masks, spec.small_width)
    payload = encode(transmitted_state(module), formats, architecture(root, spec.depth))
    load_received(module, payload)
    params = dict(module.named_parameters())
    density = {n: float((params[n] != 0).float().mean()) for n in names}
    dense_macs, eff_macs, peak = count_macs(module, data.input_shape, density)
    parts = payload.bits_by_part()
    stored_bytes = (parts["payload"] + parts["scales"]) // 8
    feature_numel = int(torch.Size(module.features(torch.zeros(1, *data.input_shape)).shape[1:]).numel()) \
        if spec.depth < NUM_STAGES else 0
    rbits = root_bits(root)
    card = SubModelCard(
        technique=spec.technique, label=spec.label, depth=spec.depth, keep_ratio=spec.keep_ratio,
        bits=spec.bits, parameters=sum(p.numel() for p in module.parameters()),
        nonzero_parameters=int(sum(int((p != 0).sum()) for p in module.parameters())),
        bits_by_part=parts, total_bits=parts["total"], root_bits=rbits,
        size_pct_of_root=100.0 * parts["total"] / rbits, device_macs=dense_macs, effective_macs=eff_macs,
        device_memory_bytes=int(stored_bytes + 4 * peak), uplink_bits_per_sample=8 * feature_numel,
        accuracy=accuracy(module, data, "test") if evaluate else float("nan"),
        accuracy_before_retrain=acc_before_retrain, accuracy_before_qat=acc_before_qat,
        generation_seconds=round(time.perf_counter() - started, 3), layer_bits=bits_map, layer_density=density)
    return SubModel(spec, module, payload, masks, bits_map, card)


def cards_table(submodels):
    import pandas as pd

    return pd.DataFrame([s.card.row() for s in submodels])


def family_specs(depths=(1, 2, 3, 4), keep_ratios=(0.05, 0.1, 0.25, 0.5), bits=(2, 3, 4, 6, 8, 16),
                 retrain_steps: int = 100) -> list[SubModelSpec]:
    """The three single-technique families of the root model (the Fig. 3 sweep)."""
    specs = [SubModelSpec(depth=k) for k in depths]
    specs += [SubModelSpec(keep_ratio=r, retrain_steps=retrain_steps) for r in keep_ratios]
    specs += [SubModelSpec(bits=b) for b in bits]
    return specs
