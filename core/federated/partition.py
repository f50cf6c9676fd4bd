"""Non-IID shares of the training photos, one per device, seeded: Dirichlet class shares or a few classes each."""
from __future__ import annotations

import numpy as np

from core.federated.config import FederatedConfig
from core.validation import check_int

MIN_PHOTOS = 2      # a device with fewer photos than this cannot take a step worth the name
DIRICHLET_DRAWS = 200


def partition(labels, config: FederatedConfig, seed: int) -> tuple[np.ndarray, ...]:
    """Indices into ``labels`` (the training split) of each device's photos, each array sorted; no photo is
    given to two devices. "dirichlet": each class's photos go to the devices in Dirichlet(alpha) shares (drawn
    again, up to DIRICHLET_DRAWS times, until every device holds at least MIN_PHOTOS). "by_class": the classes
    are dealt in a seeded order, ``classes_per_device`` to each device, and a class held by several devices is
    split evenly between them (classes beyond devices x classes_per_device go unused)."""
    if not isinstance(config, FederatedConfig):
        raise ValueError(f"config={config!r} must be a FederatedConfig, not {type(config).__name__}")
    check_int("seed", seed, 0)
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a non-empty array of class numbers, not {labels.dtype} of size {labels.size}")
    if labels.size < MIN_PHOTOS * config.devices:
        raise ValueError(f"devices={config.devices} is too many for {labels.size} training photos: each device "
                         f"needs at least {MIN_PHOTOS}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    by_class = {c: rng.permutation(np.flatnonzero(labels == c)) for c in classes}
    if config.split == "by_class":
        return _by_class(by_class, classes, config, rng)
    for _ in range(DIRICHLET_DRAWS):
        shares = [[] for _ in range(config.devices)]
        for c in classes:
            idx = by_class[c]
            p = rng.dirichlet(np.full(config.devices, config.alpha))
            cuts = (np.cumsum(p)[:-1] * len(idx)).round().astype(int)
            for d, part in enumerate(np.split(idx, cuts)):
                shares[d].append(part)
        out = tuple(np.sort(np.concatenate(s)).astype(np.int64) for s in shares)
        if min(len(s) for s in out) >= MIN_PHOTOS:
            return out
    raise ValueError(f"alpha={config.alpha!r} leaves some of the {config.devices} devices with fewer than "
                     f"{MIN_PHOTOS} photos in {DIRICHLET_DRAWS} draws: use a larger alpha or fewer devices")


def _by_class(by_class: dict, classes: np.ndarray, config: FederatedConfig, rng) -> tuple[np.ndarray, ...]:
    if config.classes_per_device > len(classes):
        raise ValueError(f"classes_per_device={config.classes_per_device} is more than the {len(classes)} classes "
                         "of the training photos")
    order = rng.permutation(classes)
    held = [[order[(d * config.classes_per_device + j) % len(order)] for j in range(config.classes_per_device)]
            for d in range(config.devices)]
    holders: dict = {}
    for d, cs in enumerate(held):
        for c in cs:
            holders.setdefault(c, []).append(d)
    shares = [[] for _ in range(config.devices)]
    for c, ds in holders.items():
        for d, part in zip(ds, np.array_split(by_class[c], len(ds))):
            shares[d].append(part)
    out = tuple(np.sort(np.concatenate(s)).astype(np.int64) for s in shares)
    if min(len(s) for s in out) < MIN_PHOTOS:
        raise ValueError(f"devices={config.devices} with classes_per_device={config.classes_per_device} leaves a "
                         f"device with fewer than {MIN_PHOTOS} photos: use fewer devices or more classes each")
    return out


def class_counts(labels, shares: tuple[np.ndarray, ...], num_classes: int) -> np.ndarray:
    """Photos of each class held by each device (devices x classes): how non-IID the split is."""
    labels = np.asarray(labels).reshape(-1)
    return np.stack([np.bincount(labels[s], minlength=num_classes) for s in shares])
