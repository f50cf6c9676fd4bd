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


def _conv_for_bn(bn_name: str) -> str:
    """Name of the convolution a BatchNorm follows, in the torchvision ResNet / our exit naming."""
    parent, _, leaf = bn_name.rpartition(".")
    if leaf.startswith("bn"):
        return f"{parent}.{leaf.replace('bn', 'conv')}" if parent else leaf.replace("bn", "conv")
    if leaf.isdigit():  # Sequential(conv, bn, ...): stem.1 -> stem.0, downsample.1 -> downsample.0
        return f"{parent}.{int(leaf) - 1}"
    raise ValueError(f"cannot tell which convolution BatchNorm {bn_name!r} follows")


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every eval-mode BatchNorm into the convolution before it (in place; call on a copy).

    w' = w * g / sqrt(v + eps) per output channel and b' = beta - mean * g / sqrt(v + eps): what integer
    deployments do, so that a device receives only conv weights (as codes) and one bias per channel.
    """
    modules = dict(module.named_modules())
    for name, bn in list(modules.items()):
        if not isinstance(bn, nn.BatchNorm2d):
            continue
        conv = modules[_conv_for_bn(name)]
        if not isinstance(conv, nn.Conv2d) or conv.out_channels != bn.num_features:
            raise ValueError(f"BatchNorm {name!r} does not follow a matching convolution")
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv.weight.mul_(scale.view(-1, 1, 1, 1))
        bias = bn.bias - bn.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias * scale
        conv.bias = nn.Parameter(bias.clone())
        parent, _, leaf = name.rpartition(".")
        setattr(modules[parent] if parent else module, leaf, nn.Identity())
    return module
