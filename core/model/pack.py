"""Image packs: a data set's photos kept as their original JPEG bytes in one safetensors file (no pickle).

The shipped CIFAR-10 root is scored on all 10,000 test photos; keeping their JPEG bytes is lossless with respect to
the data the model was trained on, where raw uint8 arrays would take 31 MB. The files of one encoder share their
first few hundred bytes (JFIF header, quantisation and Huffman tables): a pack stores that common prefix once and
each file's remainder, about 300 bytes a photo, and rebuilds every file byte for byte. A pack also holds a
seeded, stratified subset of the training photos, used to re-train pruned and quantised sub-models and to
calibrate, so every page works from a fresh clone with nothing from outside the repository.

    python -m core.model.pack --data-dir /path/to/cifar10 --train-images 5000 --out assets/cifar10_pack
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.model.splits import IMAGE_SUFFIXES, DataSplits
from core.validation import check_int

PACK_FORMAT = "insitu-image-pack-1"
SPLITS = ("train", "test")


@dataclass(frozen=True)
class PackInfo:
    """What a pack holds, from its metadata."""

    name: str
    classes: tuple[str, ...]
    counts: dict
    source: str
    licence: str
    sha256: str


def _folder_files(root: Path) -> tuple[list[Path], list[int], list[str]]:
    if not root.is_dir():
        raise ValueError(f"data_dir: image folder {str(root)!r} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise ValueError(f"data_dir: {str(root)!r} has no class folders (expected <split>/<class>/*.jpg)")
    files, labels = [], []
    for label, cls in enumerate(classes):
        for path in sorted((root / cls).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                files.append(path)
                labels.append(label)
    return files, labels, classes


def _stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices, as equal a share of every class as possible, drawn with a seeded generator."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per = n // len(classes)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per] for c in classes]
    return np.sort(np.concatenate(chosen))


def write_pack(data_dir: str | Path, out: str | Path, *, train_images: int = 5000, seed: int = 0,
               name: str = "cifar10", source: str = "", licence: str = "") -> Path:
    """Pack ``data_dir/test`` whole and a stratified ``train_images`` subset of ``data_dir/train``."""
    check_int("train_images", train_images, 0)
    root = Path(data_dir)
    tensors, counts, classes, chosen, digests = {}, {}, None, {}, {}
    for split in SPLITS:
        files, labels, split_classes = _folder_files(root / split)
        if classes is not None and split_classes != classes:
            raise ValueError(f"data_dir: {split} classes {split_classes} differ from {classes}")
        classes = split_classes
        labels = np.asarray(labels)
        idx = _stratified_subset(labels, train_images, seed) if split == "train" else np.arange(len(files))
        chosen[split] = ([files[i].read_bytes() for i in idx], labels[idx])
        digests[split] = hashlib.sha256(b"".join(chosen[split][0])).hexdigest()
    header = os.path.commonprefix([b for blobs, _ in chosen.values() for b in blobs])
    tensors["header"] = torch.from_numpy(np.frombuffer(header, dtype=np.uint8).copy())
    for split, (blobs, labels) in chosen.items():
        tails = [b[len(header):] for b in blobs]
        offsets = np.concatenate([[0], np.cumsum([len(b) for b in tails])]).astype(np.int64)
        tensors[f"{split}_jpeg"] = torch.from_numpy(np.frombuffer(b"".join(tails), dtype=np.uint8).copy())
        tensors[f"{split}_offsets"] = torch.from_numpy(offsets)
        tensors[f"{split}_labels"] = torch.from_numpy(labels.astype(np.int64))
        counts[split] = int(len(blobs))
    from safetensors.torch import save_file

    out = Path(out).with_suffix(".safetensors")
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": PACK_FORMAT, "name": name, "classes": json.dumps(classes), "counts": json.dumps(counts),
            "source": source, "licence": licence, "train_subset_seed": str(seed),
            "sha256": json.dumps(digests)}
    tmp = out.with_suffix(".safetensors.tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(out)
    out.chmod(0o644)
    return out


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    if not path.is_file():
        raise ValueError(f"pack={str(path)!r} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as err:
        raise ValueError(f"pack={str(path)!r} is damaged: {err}") from None
    if meta.get("format") != PACK_FORMAT:
        raise ValueError(f"pack={str(path)!r} is not an image pack (format={meta.get('format')!r})")
    missing = ["header"] * ("header" not in tensors) + [f"{s}_{k}" for s in SPLITS for k in ("jpeg", "offsets", "labels") if f"{s}_{k}" not in tensors]
    if missing:
        raise ValueError(f"pack={str(path)!r} is damaged: missing {missing}")
    return tensors, meta


def pack_info(path: str | Path) -> PackInfo:
    path = Path(path)
    _, meta = _read(path)
    return PackInfo(name=meta.get("name", ""), classes=tuple(json.loads(meta["classes"])),
                    counts=json.loads(meta["counts"]), source=meta.get("source", ""),
                    licence=meta.get("licence", ""), sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def jpeg_files(tensors: dict[str, torch.Tensor], split: str) -> list[bytes]:
    """The original JPEG files of a split, byte for byte (common header + each file's remainder)."""
    header = tensors["header"].numpy().tobytes()
    raw = tensors[f"{split}_jpeg"].numpy().tobytes()
    ends = tensors[f"{split}_offsets"].numpy()
    return [header + raw[start:end] for start, end in zip(ends[:-1], ends[1:])]


def _decode(files: list[bytes]) -> torch.Tensor:
    """JPEG files to an N x 3 x H x W uint8 tensor (libjpeg-turbo through torchvision: the same pixels as PIL,
    about twice as fast)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    if not files:
        return torch.zeros(0, 3, 1, 1, dtype=torch.uint8)
    try:
        images = decode_jpeg([torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in files],
                             mode=ImageReadMode.RGB)
    except RuntimeError as err:
        raise ValueError(f"pack: a JPEG file could not be decoded ({err})") from None
    return torch.stack(images).contiguous()


def load_pack(path: str | Path, mean: tuple[float, ...], std: tuple[float, ...], *, split_seed: int = 0,
              calibration_images: int = 1000) -> DataSplits:
    """A pack as DataSplits, normalised with the root's training-set ``mean``/``std`` (from its card).

    train: the pack's training subset (re-training of sub-models); val: ``calibration_images`` of those, seeded;
    test: every test photo in the pack.
    """
    path = Path(path)
    tensors, meta = _read(path)
    classes = tuple(json.loads(meta["classes"]))
    x_train = _decode(jpeg_files(tensors, "train"))
    y_train = tensors["train_labels"].long()
    x_test = _decode(jpeg_files(tensors, "test"))
    y_test = tensors["test_labels"].long()
    rng = np.random.default_rng(split_seed)
    val_idx = torch.from_numpy(np.sort(rng.permutation(len(y_train))[:min(calibration_images, len(y_train))]))
    return DataSplits(name=meta.get("name", "pack"), classes=classes, x_train=x_train, y_train=y_train,
                      x_val=x_train[val_idx], y_val=y_train[val_idx], x_test=x_test, y_test=y_test,
                      mean=tuple(mean), std=tuple(std), split_seed=split_seed, scale=255.0,
                      source=f"{meta.get('source', '')} (image pack {path.name})",
                      extra={"pack": str(path), "val_from_train": True, "train_subset": True})


def attach_pack(checkpoint: str | Path, pack: str | Path, tolerance: float = 1e-4) -> dict:
    """Make ``checkpoint`` score on ``pack`` (a file in the same folder): every exit's accuracy on the pack's test
    photos must equal the card's (measured at training time on the original files) within ``tolerance``; then
    the card names the pack, so the root needs nothing outside the repository. Returns the accuracies."""
    from core.model.evaluate import exit_accuracies
    from core.model.models import ModelCard, load_checkpoint

    checkpoint, pack = Path(checkpoint).with_suffix(".safetensors"), Path(pack).with_suffix(".safetensors")
    if pack.parent.resolve() != checkpoint.parent.resolve():
        raise ValueError(f"pack={str(pack)!r} must lie in the checkpoint's folder {str(checkpoint.parent)!r}")
    model, card = load_checkpoint(checkpoint)
    data = load_pack(pack, card.mean, card.std, split_seed=card.split_seed)
    if data.classes != card.classes:
        raise ValueError(f"pack={str(pack)!r} classes {data.classes} differ from the card's {card.classes}")
    exits = exit_accuracies(model, data, "test")
    worst = max(abs(a - b) for a, b in zip(exits, card.exit_test_accuracy))
    if worst > tolerance:
        raise ValueError(f"pack={str(pack)!r}: exit accuracies {exits} differ from the card's "
                         f"{list(card.exit_test_accuracy)} by {worst:.4f} (> {tolerance})")
    extra = dict(card.extra, pack=pack.name, test_samples=len(data.y_test),
                 pack_note=(f"test photos: all {len(data.y_test)} of the data set's test split; training subset for "
                            f"re-training and calibration: {len(data.y_train)} photos"))
    card_dict = json.loads(card.to_json())
    card_dict["extra"] = extra
    new_card = ModelCard.from_dict(card_dict)
    tmp = checkpoint.with_suffix(".json.tmp")
    tmp.write_text(new_card.to_json())
    tmp.replace(checkpoint.with_suffix(".json"))
    return {"exits": exits, "max_difference": worst}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.model.pack", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", help="image folder with train/<class>/ and test/<class>/")
    parser.add_argument("--out", help="pack path without suffix")
    parser.add_argument("--attach", metavar="CHECKPOINT",
                        help="instead: check CHECKPOINT's exit accuracies on the pack --out and name it in the card")
    parser.add_argument("--train-images", type=int, default=5000, help="stratified training subset to keep")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="cifar10")
    parser.add_argument("--source", default="")
    parser.add_argument("--licence", default="")
    args = parser.parse_args(argv)
    if args.attach:
        if not args.out:
            parser.error("--attach needs --out PACK")
        try:
            result = attach_pack(args.attach, args.out)
        except ValueError as err:
            parser.error(str(err))
        print(f"{args.attach}: exits on the pack {[round(a, 4) for a in result['exits']]}, "
              f"max difference from the card {result['max_difference']:.5f}; card now names the pack")
        return 0
    if not args.data_dir or not args.out:
        parser.error("--data-dir and --out are required to write a pack")
    try:
        out = write_pack(args.data_dir, args.out, train_images=args.train_images, seed=args.seed, name=args.name,
                         source=args.source, licence=args.licence)
    except ValueError as err:
        parser.error(str(err))
    info = pack_info(out)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB): {info.counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
