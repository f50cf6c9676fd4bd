"""The in-memory form of a data set: train, validation and test tensors (``DataSplits``) and their normalised,
optionally augmented batches. A leaf module (it imports no other data module), so that the loaders (data.py) and
the image packs (pack.py) can both build DataSplits without importing each other."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from core.validation import check_choice, check_int

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")


@dataclass(frozen=True)
class DataSplits:
    """Train, validation and test tensors of one data set (images N x C x H x W, labels N)."""

    name: str
    classes: tuple[str, ...]
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple[float, ...]
    std: tuple[float, ...]
    split_seed: int
    scale: float = 1.0  # raw value that maps to 1.0 (16 for digits, 255 for photos)
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        check_choice("split", name, ("train", "val", "test"))
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        """Raw images (uint8 or float in raw units) to normalised float32."""
        mean = torch.tensor(self.mean).view(1, -1, 1, 1)
        std = torch.tensor(self.std).view(1, -1, 1, 1)
        return (x.float() / self.scale - mean) / std

    def batches(self, split: str, batch_size: int = 256, *, shuffle: bool = False,
                generator: torch.Generator | None = None, augment: bool = False, limit: int | None = None):
        """Yield (normalised images, labels) batches of a split; ``augment`` adds random crops and flips."""
        check_int("batch_size", batch_size, 1)
        x, y = self.split(split)
        n = len(y) if limit is None else min(len(y), check_int("limit", limit, 1))
        order = torch.randperm(len(y), generator=generator)[:n] if shuffle else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb = self.normalise(x[idx])
            if augment:
                xb = _augment(xb, generator, flip=self.extra.get("flip", True))
            yield xb, y[idx]


def _augment(x: torch.Tensor, generator: torch.Generator | None, flip: bool) -> torch.Tensor:
    """Random shifts by up to 1/8 of the side (zero padded) and, for photos, horizontal flips."""
    n, _, h, w = x.shape
    pad = max(1, h // 8)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    rows = (dy.view(n, 1) + torch.arange(h).view(1, h))  # n x h
    cols = (dx.view(n, 1) + torch.arange(w).view(1, w))  # n x w
    out = padded[torch.arange(n).view(n, 1, 1, 1), torch.arange(x.shape[1]).view(1, -1, 1, 1),
                 rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]
    if flip:
        mask = torch.rand(n, generator=generator) < 0.5
        out[mask] = out[mask].flip(-1)
    return out
