"""Helpers shared by the compression techniques: which tensors are weights, MAC counting, masked forwards."""
from __future__ import annotations

import torch
from torch import nn


def weight_names(module: nn.Module) -> list[str]:
    """Names of conv and linear weights: the tensors that are pruned and quantised."""
    return [f"{name}.weight" for name, m in module.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def transmitted_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every tensor a device needs to run the module (BN batch counters are not needed and not sent)."""
    return {k: v for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


@torch.no_grad()
def count_macs(module: nn.Module, input_shape: tuple[int, ...],
               density: dict[str, float] | None = None) -> tuple[int, int, int]:
    """(dense MACs, effective MACs with pruned weights skipped, peak activation elements) for one sample."""
    dense, effective, peak = [0], [0.0], [0]
    hooks = []
    for name, m in module.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            def hook(mod, inputs, out, name=name):
                if isinstance(mod, nn.Conv2d):
                    per_out = mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
                else:
                    per_out = mod.in_features
                macs = out.numel() * per_out
                dense[0] += macs
                effective[0] += macs * (density or {}).get(f"{name}.weight", 1.0)
                peak[0] = max(peak[0], inputs[0].numel() + out.numel())
            hooks.append(m.register_forward_hook(hook))
    was_training = module.training
    module.eval()
    try:
        module(torch.zeros(1, *input_shape))
    finally:
        for h in hooks:
            h.remove()
        module.train(was_training)
    return int(dense[0]), int(round(effective[0])), int(peak[0])
