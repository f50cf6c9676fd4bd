"""Which checkpoints can serve as root models: the model folders scanned, the reason a checkpoint cannot serve
(damaged card or weights, foreign tensors), and what a command line's ``--root`` names."""
from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import torch

from core.model.models import (DEFAULT_CHECKPOINT, DEFAULT_MODEL_NAME, PROJECT, SHIPPED_ROOTS, ModelCard,
                               build_model)


def checkpoint_problem(path: str | Path) -> str:
    """Why a checkpoint cannot serve as a root model ("" when it can): a missing or damaged card, a truncated or
    foreign weights file, tensor names or shapes that do not match the card's architecture. Reads only the card
    and the safetensors header (no weights); cached on the files' size and modification time."""
    path = Path(path).with_suffix(".safetensors")
    card_path = path.with_suffix(".json")
    try:
        stamp = tuple((f.stat().st_size, f.stat().st_mtime_ns) for f in (path, card_path))
    except OSError as err:
        return f"cannot be read: {err.strerror or err}"
    return _checkpoint_problem(str(path), stamp)


@lru_cache(maxsize=256)
def _checkpoint_problem(path: str, stamp: tuple) -> str:
    from safetensors import SafetensorError, safe_open

    card_path = Path(path).with_suffix(".json")
    try:
        card = ModelCard.from_dict(json.loads(card_path.read_text()))
        with torch.device("meta"):
            expected = {k: tuple(v.shape) for k, v in
                        build_model(card.arch, len(card.classes), card.input_shape[0], card.width).state_dict().items()}
    except (json.JSONDecodeError, OSError, TypeError, KeyError, ValueError, AttributeError) as err:
        return f"model card {card_path.name} is damaged: {str(err)[:120]}"
    try:
        with safe_open(path, "pt") as f:
            shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except (SafetensorError, OSError) as err:
        return f"weights file is damaged: {str(err)[:120]}"
    if set(shapes) != set(expected):
        return f"weights do not match {card.arch}: {len(set(shapes) ^ set(expected))} tensor names differ"
    wrong = next((k for k in shapes if shapes[k] != expected[k]), None)
    if wrong:
        return f"tensor {wrong} has shape {shapes[wrong]}, expected {expected[wrong]}"
    return ""


def scan_checkpoints(folders=None) -> tuple[dict[str, Path], dict[str, str]]:
    """(usable, unusable): root models a user can pick, by display name (the shipped default first, then every
    checkpoint, safetensors + JSON card, in ``folders``: default assets/ and runs/ of the project plus
    $INSITU_MODELS if set), and the checkpoints that cannot be used, file name -> reason."""
    if folders is None:
        folders = [PROJECT / "assets", PROJECT / "runs"] + (
            [Path(os.environ["INSITU_MODELS"])] if os.environ.get("INSITU_MODELS") else [])
    found = {DEFAULT_MODEL_NAME: SHIPPED_ROOTS[DEFAULT_MODEL_NAME], **SHIPPED_ROOTS}  # the default first
    rejected = {}
    shipped = {p.resolve() for p in SHIPPED_ROOTS.values()}
    for folder in folders:
        for path in sorted(Path(folder).glob("*.safetensors")) if Path(folder).is_dir() else []:
            if path.resolve() in shipped or not path.with_suffix(".json").is_file():
                continue  # no card: not a checkpoint (e.g. a packed data set)
            problem = checkpoint_problem(path)
            if problem:
                rejected[str(path)] = problem
                continue
            card = json.loads(path.with_suffix(".json").read_text())
            found[f"{path.stem}: {card.get('arch', '?')} on {card.get('dataset', '?')}"] = path
    return found, rejected


def find_checkpoints(folders=None) -> dict[str, Path]:
    """Root models a user can pick (display name -> checkpoint path); unusable checkpoints are left out
    (``scan_checkpoints`` says why)."""
    return scan_checkpoints(folders)[0]


def resolve_checkpoint(root: str | Path | None) -> Path:
    """The checkpoint a command line's ``--root NAME|PATH`` means: None the default, a file path, a checkpoint
    name (file stem, e.g. ``resnet18_digits``) in assets/, runs/ or $INSITU_MODELS, or a display name."""
    if root is None:
        return DEFAULT_CHECKPOINT
    path = Path(root)
    if path.with_suffix(".safetensors").is_file():
        return path.with_suffix(".safetensors")
    found, rejected = scan_checkpoints()
    if str(root) in found:
        return found[str(root)]
    by_stem = {p.stem: p for p in found.values()}
    if str(root) in by_stem:
        return by_stem[str(root)]
    bad = [f"{Path(p).stem} ({why})" for p, why in rejected.items() if Path(p).stem == str(root)]
    raise ValueError(f"root={str(root)!r} is not a checkpoint file nor a usable root model name; allowed: "
                     f"{sorted(by_stem)} or a path to a .safetensors checkpoint"
                     + (f"; {bad[0]}" if bad else ""))
