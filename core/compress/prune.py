"""Parameter level: magnitude pruning to a keep ratio (global or per layer) with masks as data, re-training with
the masks fixed, and nested sub-models for progressive downloading ("all-in-one" training, paper ref. [8])."""
from __future__ import annotations

import torch
from torch import nn

from core.compress.common import weight_names
from core.model.splits import DataSplits
from core.model.train import TrainConfig, fit
from core.validation import check_bool, check_choice, check_int, check_range

SCOPES = ("global", "layer")


def check_keep_ratio(keep_ratio, name: str = "keep_ratio") -> float:
    return check_range(name, keep_ratio, 0.0, 1.0, lo_open=True)


def _top_k_mask(scores: torch.Tensor, k: int) -> torch.Tensor:
    mask = torch.zeros(scores.numel(), dtype=torch.bool)
    if k > 0:
        mask[torch.topk(scores.reshape(-1), k, sorted=False).indices] = True
    return mask.view_as(scores)


@torch.no_grad()
def magnitude_masks(module: nn.Module, keep_ratio: float, scope: str = "global",
                    layer_ratios: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """Keep the largest-magnitude weights: ``keep_ratio`` of all weights together (global) or of each layer.

    Exactly round(keep_ratio x count) weights are kept (ties broken by index), so sparsity is exact; every
    layer keeps at least one weight so that no layer is cut off. ``layer_ratios`` overrides per layer.
    """
    check_keep_ratio(keep_ratio)
    check_choice("scope", scope, SCOPES)
    if layer_ratios is not None and not isinstance(layer_ratios, dict):
        raise ValueError(f"layer_ratios={layer_ratios!r} must be a dict of layer name to keep ratio or None")
    params = dict(module.named_parameters())
    names = weight_names(module)
    layer_ratios = dict(layer_ratios or {})
    for name, r in layer_ratios.items():
        if name not in names:
            raise ValueError(f"layer_ratios names unknown layer {name!r}; allowed: {names[:3]}...")
        check_keep_ratio(r, f"layer_ratios[{name!r}]")
    masks = {}
    if scope == "global" and not layer_ratios:
        scores = torch.cat([params[n].detach().abs().reshape(-1) for n in names])
        keep = _top_k_mask(scores, int(round(keep_ratio * scores.numel())))
        start = 0
        for n in names:
            size = params[n].numel()
            masks[n] = keep[start:start + size].view_as(params[n]).clone()
            start += size
    else:
        for n in names:
            r = layer_ratios.get(n, keep_ratio)
            masks[n] = _top_k_mask(params[n].detach().abs(), int(round(r * params[n].numel())))
    for n, m in masks.items():
        if not m.any():  # never disconnect a layer entirely
            m.view(-1)[params[n].detach().abs().reshape(-1).argmax()] = True
    return masks


@torch.no_grad()
def apply_masks(module: nn.Module, masks: dict[str, torch.Tensor]) -> nn.Module:
    """Zero the pruned weights in place (call on a copy, never on a shared model)."""
    params = dict(module.named_parameters())
    for name, mask in masks.items():
        params[name].mul_(mask.to(params[name].dtype))
    return module


def retrain(module: nn.Module, masks: dict[str, torch.Tensor], data: DataSplits, steps: int, seed: int,
            lr: float = 0.01, progress: bool = False) -> nn.Module:
    """Re-train in place for ``steps`` SGD steps with the masks fixed (pruned weights stay exactly zero)."""
    check_int("steps", steps, 0)
    check_int("seed", seed, 0)
    check_range("lr", lr, 0.0, lo_open=True)
    check_bool("progress", progress)
    apply_masks(module, masks)
    return fit(module, data, TrainConfig(steps=steps, lr=lr), seed, after_step=lambda m: apply_masks(m, masks),
               progress=progress, desc="re-train")


def sparsity(module: nn.Module) -> dict[str, float]:
    """Share of exact zeros in each weight tensor."""
    params = dict(module.named_parameters())
    return {n: float((params[n] == 0).float().mean()) for n in weight_names(module)}


# ---------- progressive downloading: nested sub-models ----------

def nested_masks(module: nn.Module, keep_ratios: tuple[float, ...]) -> list[dict[str, torch.Tensor]]:
    """Masks for increasing keep ratios from one magnitude ranking, so each keep-set contains the smaller ones."""
    ratios = [check_keep_ratio(r, "keep_ratios") for r in keep_ratios]
    if any(b <= a for a, b in zip(ratios, ratios[1:])):
        raise ValueError(f"keep_ratios={tuple(keep_ratios)} must be strictly increasing")
    params = dict(module.named_parameters())
    names = weight_names(module)
    scores = torch.cat([params[n].detach().abs().reshape(-1) for n in names])
    order = torch.argsort(scores, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    levels = []
    for r in ratios:
        keep = rank < int(round(r * len(order)))
        masks, start = {}, 0
        for n in names:
            size = params[n].numel()
            masks[n] = keep[start:start + size].view_as(params[n]).clone()
            start += size
        levels.append(masks)
    return levels


def train_nested(module: nn.Module, levels: list[dict[str, torch.Tensor]], data: DataSplits, steps: int,
                 seed: int, lr: float = 0.01, progress: bool = False) -> nn.Module:
    """All-in-one training in place: each step sums the loss of the smallest level, the largest level and one
    level drawn at random, all sharing the same weights (so every level stays embedded in the larger ones)."""
    from torch.func import functional_call

    check_int("steps", steps, 0)
    check_int("seed", seed, 0)
    check_range("lr", lr, 0.0, lo_open=True)
    check_bool("progress", progress)
    if not levels:
        raise ValueError("levels=[] is empty: give at least one level's masks (nested_masks)")
    generator = torch.Generator().manual_seed(seed + 1)

    def loss_fn(m, x, y):
        picks = {0, len(levels) - 1, int(torch.randint(len(levels), (1,), generator=generator))}
        params = dict(m.named_parameters())
        loss = 0.0
        for i in sorted(picks):
            masked = {**params, **{n: params[n] * mk for n, mk in levels[i].items()}}
            loss = loss + nn.functional.cross_entropy(functional_call(m, masked, (x,)), y)
        return loss

    return fit(module, data, TrainConfig(steps=steps, lr=lr), seed, loss_fn=loss_fn, progress=progress,
               desc="nested")


@torch.no_grad()
def recalibrate_bn(module: nn.Module, data: DataSplits, batches: int = 20, seed: int = 0) -> nn.Module:
    """Re-estimate BatchNorm running statistics in place for the module's current weights."""
    check_int("batches", batches, 1)
    check_int("seed", seed, 0)
    bns = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the calibration batches
    module.train()
    generator = torch.Generator().manual_seed(seed)
    for i, (xb, _) in enumerate(data.batches("train", 128, shuffle=True, generator=generator)):
        if i >= batches:
            break
        module(xb)
    for bn, m in zip(bns, saved):
        bn.momentum = m
    return module.eval()
