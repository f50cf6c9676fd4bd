"""Data sets for root models: the embedded digits default, CIFAR-10/100 and any image folder, held in memory.

Every data set is split with a fixed seed into train, validation and test parts, kept as uint8/float tensors,
and normalised batch by batch with the training split's per-channel mean and standard deviation.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from core.model.splits import IMAGE_SUFFIXES, DataSplits
from core.validation import check_choice, check_int, check_range

DATASETS = ("digits", "cifar10", "cifar100", "folder")


def _stratified_split(labels: np.ndarray, fraction: float, rng: np.random.Generator):
    """Indices (rest, chosen) with ``fraction`` of every class chosen."""
    chosen = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        chosen.append(idx[:int(round(fraction * len(idx)))])
    chosen = np.sort(np.concatenate(chosen))
    rest = np.setdiff1d(np.arange(len(labels)), chosen)
    return rest, chosen


CALIBRATION_IMAGES = 1000  # validation images drawn from the training split when none is held out


def _finish(name, classes, x_trainval, y_trainval, x_test, y_test, split_seed, val_fraction, scale, source,
            max_train_images=None, **extra) -> DataSplits:
    """Split train/val (stratified, seeded); ``val_fraction=0`` keeps every training image for training and
    draws the validation (calibration) images from the training split, which the card then says."""
    check_range("val_fraction", val_fraction, 0, 1, hi_open=True)
    rng = np.random.default_rng(split_seed)
    if val_fraction == 0:
        train_idx = np.arange(len(y_trainval))
        val_idx = np.sort(rng.permutation(len(y_trainval))[:min(CALIBRATION_IMAGES, len(y_trainval))])
        extra["val_from_train"] = True
    else:
        train_idx, val_idx = _stratified_split(y_trainval.numpy(), val_fraction, rng)
    if max_train_images is not None:
        check_int("max_train_images", max_train_images, 1)
        if max_train_images < len(train_idx):
            train_idx = np.sort(rng.permutation(train_idx)[:max_train_images])
    x_train, y_train = x_trainval[train_idx], y_trainval[train_idx]
    xf = x_train.float() / scale
    mean = tuple(float(v) for v in xf.mean(dim=(0, 2, 3)))
    std = tuple(float(v) for v in xf.std(dim=(0, 2, 3)))
    return DataSplits(name=name, classes=tuple(classes), x_train=x_train, y_train=y_train,
                      x_val=x_trainval[val_idx], y_val=y_trainval[val_idx], x_test=x_test, y_test=y_test,
                      mean=mean, std=std, split_seed=split_seed, scale=scale, source=source, extra=extra)


def load_digits(split_seed: int = 0, test_fraction: float = 0.2, val_fraction: float = 0.1,
                max_train_images: int | None = None) -> DataSplits:
    """scikit-learn's bundled 1,797 handwritten digits (8x8, values 0..16): stratified, seeded split."""
    from sklearn.datasets import load_digits as sk_digits

    check_range("test_fraction", test_fraction, 0, 1, lo_open=True, hi_open=True)
    bunch = sk_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(bunch.target, dtype=torch.long)
    rng = np.random.default_rng(split_seed)
    trainval_idx, test_idx = _stratified_split(bunch.target, test_fraction, rng)
    return _finish("digits", [str(i) for i in range(10)], x[trainval_idx], y[trainval_idx], x[test_idx],
                   y[test_idx], split_seed, val_fraction, 16.0,
                   "scikit-learn load_digits (UCI optical recognition of handwritten digits)", max_train_images,
                   flip=False)


def _load_image_dir(root: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    from PIL import Image

    if not root.is_dir():
        raise ValueError(f"data_dir: image folder {str(root)!r} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"data_dir: {str(root)!r} has no class folders (expected <split>/<class>/*.jpg)")
    images, labels, size = [], [], None
    for label, cls in enumerate(classes):
        for path in sorted((root / cls).iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            with Image.open(path) as img:
                img = img.convert("RGB")
                size = size or img.size
                if img.size != size:
                    img = img.resize(size)
                images.append(np.asarray(img, dtype=np.uint8))
            labels.append(label)
    if not images:
        raise ValueError(f"data_dir: no images under {str(root)!r}")
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.long), classes


def load_image_folder(data_dir: str | os.PathLike, split_seed: int = 0, val_fraction: float = 0.1,
                      name: str = "folder", max_train_images: int | None = None) -> DataSplits:
    """Any data set laid out as ``train/<class>/*`` and ``test/<class>/*`` (a user's own task data)."""
    root = Path(data_dir)
    x_tr, y_tr, classes = _load_image_dir(root / "train")
    x_te, y_te, test_classes = _load_image_dir(root / "test")
    if test_classes != classes:
        raise ValueError(f"data_dir: test classes {test_classes} differ from train classes {classes}")
    if x_te.shape[1:] != x_tr.shape[1:]:
        raise ValueError(f"data_dir: test images are {tuple(x_te.shape[2:])}, train images {tuple(x_tr.shape[2:])}")
    return _finish(name, classes, x_tr, y_tr, x_te, y_te, split_seed, val_fraction, 255.0,
                   f"image folder {root}", max_train_images)


def load_cifar(name: str, data_dir: str | os.PathLike, split_seed: int = 0, val_fraction: float = 0.1,
               download: bool = False, max_train_images: int | None = None) -> DataSplits:
    """CIFAR-10/100 through torchvision (``download`` where the network allows, else a local copy)."""
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
    try:
        train = cls(str(data_dir), train=True, download=download)
        test = cls(str(data_dir), train=False, download=download)
    except RuntimeError as err:
        raise ValueError(f"data_dir={str(data_dir)!r} holds no {name} copy ({err}); pass --download where "
                         "the network allows, or an image folder with --dataset folder") from None
    to_x = lambda d: torch.from_numpy(np.asarray(d.data)).permute(0, 3, 1, 2).contiguous()  # noqa: E731
    return _finish(name, train.classes, to_x(train), torch.tensor(train.targets), to_x(test),
                   torch.tensor(test.targets), split_seed, val_fraction, 255.0, f"torchvision {name}",
                   max_train_images)


def load_dataset(name: str = "digits", data_dir: str | os.PathLike | None = None, split_seed: int = 0,
                 download: bool = False, val_fraction: float = 0.1,
                 max_train_images: int | None = None) -> DataSplits:
    """One entry point: ``digits`` needs nothing; the others need ``data_dir``."""
    check_choice("dataset", name, DATASETS)
    check_int("split_seed", split_seed, 0)
    if name == "digits":
        return load_digits(split_seed, val_fraction=val_fraction, max_train_images=max_train_images)
    if data_dir is None:
        raise ValueError(f"data_dir=None: dataset {name!r} needs a data directory")
    if name == "folder":
        return load_image_folder(data_dir, split_seed, val_fraction, max_train_images=max_train_images)
    root = Path(data_dir)
    # A CIFAR copy in image-folder layout (e.g. the JPEG copy of CIFAR-10) is read as a folder.
    if (root / "train").is_dir() and (root / "test").is_dir():
        return load_image_folder(root, split_seed, val_fraction, name=name, max_train_images=max_train_images)
    return load_cifar(name, root, split_seed, val_fraction, download=download, max_train_images=max_train_images)


def load_for_card(card, checkpoint: str | os.PathLike | None = None) -> DataSplits:
    """The data a root model is scored on, split as in its card: digits need nothing; a card that names an image
    pack (``extra["pack"]``, a file beside the checkpoint, see core.model.pack) uses it; others their data_dir."""
    pack = (card.extra or {}).get("pack")
    if pack:
        from core.model.models import ASSETS
        from core.model.pack import load_pack

        folder = Path(checkpoint).parent if checkpoint is not None else ASSETS
        return load_pack(folder / pack, card.mean, card.std, split_seed=card.split_seed)
    data_dir = (card.extra or {}).get("data_dir")
    if card.dataset != "digits" and not data_dir:
        raise ValueError(f"model card of dataset {card.dataset!r} names no data_dir: retrain with --data-dir")
    return load_dataset(card.dataset, data_dir, card.split_seed)
