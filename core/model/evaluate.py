"""Accuracy of root models, sub-models and server-assisted splits on a data split."""
from __future__ import annotations

import torch
from torch import nn

from core.model.splits import DataSplits

# Images per forward pass. With channels-last images, 32-64 per pass keep the activations in cache: on the CIFAR
# root 1.3 ms per image at 64 against 2.4 ms at 512 (same predictions), and 1.07-1.11x the FLOP bound in
# bench/bench_channel.py against 1.25x at 256.
EVAL_BATCH = 64


def fast_layout(images: torch.Tensor) -> torch.Tensor:
    """Images in channels-last memory order: the CPU convolutions then run 1.3-1.5x faster (measured on the CIFAR
    root, bench/bench_channel.py) with the same predictions; the module itself is not touched (it may be shared)."""
    return images.contiguous(memory_format=torch.channels_last) if images.dim() == 4 else images


@torch.no_grad()
def predictions(module: nn.Module, data: DataSplits, split: str = "test", batch_size: int = EVAL_BATCH,
                limit: int | None = None) -> torch.Tensor:
    """Predicted class of every sample of a split (module in eval mode; no gradient)."""
    was_training = module.training
    module.eval()
    out = [module(fast_layout(xb)).argmax(1) for xb, _ in data.batches(split, batch_size, limit=limit)]
    module.train(was_training)
    return torch.cat(out)


def accuracy(module: nn.Module, data: DataSplits, split: str = "test", batch_size: int = EVAL_BATCH,
             limit: int | None = None) -> float:
    """Share of correctly classified samples of a split."""
    pred = predictions(module, data, split, batch_size, limit)
    labels = data.split(split)[1][:len(pred)]
    return float((pred == labels).float().mean())


@torch.no_grad()
def exit_accuracies(model, data: DataSplits, split: str = "test", batch_size: int = 512) -> list[float]:
    """Accuracy of every exit of a backbone network, from one pass per batch."""
    model.eval()
    correct, total = None, 0
    for xb, yb in data.batches(split, batch_size):
        hits = torch.stack([(o.argmax(1) == yb).sum() for o in model.forward_exits(xb)])
        correct = hits if correct is None else correct + hits
        total += len(yb)
    return [float(c) / total for c in correct]
