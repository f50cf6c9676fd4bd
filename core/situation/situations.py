"""Situations a device can be in, each a group of a shipped root's classes (a road sees cars and trucks), and the
test photos of a situation: the real tasks that issue 22's "the situation decides the model" computes from the
shipped data."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from core.model.splits import DataSplits
from core.validation import check_choice, check_int, check_range


@dataclass(frozen=True)
class Situation:
    """A place or activity of a device, named by the classes of a root model that it sees there."""

    name: str
    classes: tuple[str, ...]
    root: str  # the shipped root's checkpoint name (assets/<root>.safetensors), whose classes these are
    description: str = ""

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name={self.name!r} must be a non-empty text")
        if not isinstance(self.root, str) or not self.root.strip():
            raise ValueError(f"root={self.root!r} must be a non-empty text (a root's checkpoint name)")
        if not isinstance(self.classes, tuple) or not self.classes:
            raise ValueError(f"classes={self.classes!r} must be a non-empty tuple of class names")
        if not all(isinstance(c, str) and c for c in self.classes):
            raise ValueError(f"classes={self.classes!r} must hold non-empty class names (texts)")
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes={self.classes!r} names a class twice")


CIFAR10_ROOT = "resnet18_cifar10"
DIGITS_ROOT = "resnet18_digits"

# Class groups of the shipped roots' own classes, so every situation's photos are real test photos of the root.
_ALL = (
    Situation("road", ("automobile", "truck"), CIFAR10_ROOT, "a car's or a roadside camera's view: vehicles"),
    Situation("harbour and airfield", ("airplane", "ship"), CIFAR10_ROOT,
              "a port or an airport: ships and aircraft"),
    Situation("park", ("bird", "cat", "deer", "dog", "frog", "horse"), CIFAR10_ROOT,
              "animals outdoors: birds, pets, deer, frogs and horses"),
    Situation("home", ("cat", "dog"), CIFAR10_ROOT, "pets indoors: cats and dogs"),
    Situation("post office", tuple(str(d) for d in range(10)), DIGITS_ROOT,
              "handwritten postcodes: all ten digits"),
)
SITUATIONS: dict[str, Situation] = {s.name: s for s in _ALL}


def situation(name: str) -> Situation:
    """The registered situation called ``name``."""
    check_choice("situation", name, SITUATIONS)
    return SITUATIONS[name]


def situations_for(root: str) -> tuple[Situation, ...]:
    """The registered situations of one root (by checkpoint name), in registry order."""
    roots = sorted({s.root for s in SITUATIONS.values()})
    check_choice("root", root, roots)
    return tuple(s for s in SITUATIONS.values() if s.root == root)


def _resolve(value) -> Situation:
    if isinstance(value, Situation):
        return value
    if isinstance(value, str):
        return situation(value)
    raise ValueError(f"situation={value!r} must be a Situation or the name of one, not {type(value).__name__}")


def class_labels(situation: Situation | str, data: DataSplits) -> tuple[int, ...]:
    """The labels in ``data`` of the situation's classes; every class must be one of the data set's."""
    sit = _resolve(situation)
    missing = [c for c in sit.classes if c not in data.classes]
    if missing:
        raise ValueError(f"situation={sit.name!r}: classes {missing} are not in data set {data.name!r} "
                         f"(its classes: {list(data.classes)}); the situation belongs to root {sit.root!r}")
    return tuple(data.classes.index(c) for c in sit.classes)


def situation_photos(situation: Situation | str, data: DataSplits) -> np.ndarray:
    """Indices (ascending) of the test photos whose label is one of the situation's classes."""
    labels = np.asarray(class_labels(situation, data))
    return np.flatnonzero(np.isin(data.y_test.numpy(), labels))


def situation_data(situation: Situation | str, data: DataSplits) -> DataSplits:
    """The situation's own task from ``data``: the photos of its classes in every split (train, val, test), in the
    data's order, labelled by position in ``situation.classes`` (the label a head cut to those classes answers);
    the normalisation is the root's. What a situation model is fine-tuned and scored on."""
    sit = _resolve(situation)
    labels = class_labels(sit, data)
    mapping = torch.full((data.num_classes,), -1, dtype=torch.long)
    mapping[list(labels)] = torch.arange(len(labels))
    parts = {}
    for split in ("train", "val", "test"):
        x, y = data.split(split)
        keep = torch.from_numpy(np.flatnonzero(np.isin(y.numpy(), labels)))
        parts[f"x_{split}"], parts[f"y_{split}"] = x[keep], mapping[y[keep]]
    return replace(data, name=f"{data.name}: {sit.name}", classes=sit.classes, **parts,
                   extra={**data.extra, "situation": sit.name, "root_labels": labels})


def sample_photos(situation: Situation | str, data: DataSplits, photos: int, seed: int) -> np.ndarray:
    """``photos`` of the situation's test photos, drawn without replacement in a seeded random order: what a
    device sees there one after another (the test split may be ordered by class; a stream must not be)."""
    check_int("photos", photos, 1)
    check_int("seed", seed, 0)
    pool = situation_photos(situation, data)
    if photos > len(pool):
        raise ValueError(f"photos={photos} is more than the {len(pool)} test photos of situation "
                         f"{_resolve(situation).name!r}")
    return np.random.default_rng(seed).choice(pool, size=photos, replace=False)


def with_sensor_noise(data: DataSplits, sigma: float, seed: int) -> DataSplits:
    """The same data with every test photo taken by a noisier camera (a dark place, a cheap sensor): Gaussian noise
    of standard deviation ``sigma`` times the full pixel range, clipped to the range and kept in the photos' own
    type. Only the test split changes; labels stay, so the root's accuracy there is measurable."""
    sigma = check_range("sigma", sigma, 0, None)
    check_int("seed", seed, 0)
    x = data.x_test
    rng = np.random.default_rng(seed)
    noise = torch.from_numpy(rng.normal(0.0, sigma * data.scale, tuple(x.shape))).float()
    noisy = (x.float() + noise).clamp(0.0, data.scale)
    if not x.dtype.is_floating_point:
        noisy = noisy.round()
    return replace(data, x_test=noisy.to(x.dtype), extra={**data.extra, "sensor_noise": sigma})


def noisy_camera(data: DataSplits, sigma: float, seed: int) -> DataSplits:
    """``data`` as a device with a noisier camera takes it: noise of ``sigma`` times the pixel range on its own
    (training) photos and on the test photos alike, drawn independently (``with_sensor_noise`` per split)."""
    test = with_sensor_noise(data, sigma, seed)
    train = with_sensor_noise(replace(data, x_test=data.x_train, y_test=data.y_train), sigma, seed + 1)
    return replace(test, x_train=train.x_test, extra={**test.extra, "train_sensor_noise": sigma})


__all__ = ["CIFAR10_ROOT", "DIGITS_ROOT", "SITUATIONS", "Situation", "class_labels", "noisy_camera", "sample_photos", "situation",
           "situation_data", "situation_photos", "situations_for", "with_sensor_noise"]
