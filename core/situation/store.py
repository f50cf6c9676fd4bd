"""Situation models on disk: a safetensors file with only the tensors customisation made (the cut heads, and the
last stage where it was fine-tuned) and a JSON card, read back without pickle onto the root they came from.

The rest of a situation model is its root's, so the file holds no copy of it: the card names the root by the
sha256 of its tensors, and loading refuses another root. The card also holds the weight file's sha256, checked
before the file is parsed; every kind of damage (missing, altered, truncated, not ours) is reported by file name.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import struct
from pathlib import Path

import torch

from core.model.models import BackboneNet
from core.situation.customise import (FINE_TUNED, SituationCard, SituationModel, cut, state_sha256)
from core.situation.situations import Situation

FORMAT = "insitu-situation-model/1"
META_KEY = "insitu-situation-model"
_DTYPES = {"float16": torch.float16, "float32": torch.float32}


def file_stem(root: str, situation: str) -> str:
    """File name (without suffix) of a root's situation model: ``resnet18_cifar10-harbour_and_airfield``."""
    slug = re.sub(r"[^a-z0-9]+", "_", situation.lower()).strip("_")
    if not slug:
        raise ValueError(f"situation={situation!r} gives an empty file name: use letters or digits")
    return f"{root}-{slug}"


def stored_names(situation_model: SituationModel) -> list[str]:
    """The tensors a situation model's file holds: every tensor of its fine-tuned part (which includes the cut
    linear layers), in name order."""
    prefixes = FINE_TUNED[situation_model.card.config.fine_tune].prefixes
    return sorted(n for n in situation_model.model.state_dict() if n.startswith(prefixes))


def weights_bytes(situation_model: SituationModel) -> bytes:
    """The weight file's bytes: a pure function of the model (same model, same bytes, same sha256)."""
    from safetensors.torch import save

    card = situation_model.card
    dtype = _DTYPES[card.config.dtype]
    state = situation_model.model.state_dict()
    tensors = {}
    for name in stored_names(situation_model):
        t = state[name].detach().cpu().contiguous()
        tensors[name] = t.to(dtype) if t.is_floating_point() else t
    meta = {"format": FORMAT, "situation": card.situation, "root": card.root,
            "root_state_sha256": card.root_state_sha256}
    # One metadata value, a sorted JSON text: safetensors writes several keys in no fixed order.
    return save(tensors, metadata={META_KEY: json.dumps(meta, sort_keys=True)})


def _write_atomic(data: bytes, path: Path) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)  # a reader sees the old file or the new one, never half of one
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    path.chmod(0o644)


def save_situation_model(situation_model: SituationModel, folder: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``<folder>/<root>-<situation>.safetensors`` and its ``.json`` card (with the weight file's sha256);
    return both paths."""
    if not isinstance(situation_model, SituationModel):
        raise ValueError(f"situation_model={type(situation_model).__name__} must be a SituationModel")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    card = situation_model.card
    stem = file_stem(card.root, card.situation)
    weights, card_path = folder / f"{stem}.safetensors", folder / f"{stem}.json"
    data = weights_bytes(situation_model)
    _write_atomic(data, weights)
    record = {"format": FORMAT, "weights_file": weights.name, "weights_sha256": hashlib.sha256(data).hexdigest(),
              "weights_bytes": len(data), "card": card.to_dict()}
    _write_atomic(json.dumps(record, indent=2).encode(), card_path)
    return weights, card_path


def refresh_card(situation_model: SituationModel, folder: str | os.PathLike) -> Path:
    """Rewrite the card of a situation model already in ``folder`` (its weight file must be the model's own bytes:
    the card's figures change, never the weights). Returns the card's path."""
    card = situation_model.card
    stem = file_stem(card.root, card.situation)
    weights, card_path = Path(folder) / f"{stem}.safetensors", Path(folder) / f"{stem}.json"
    data = weights_bytes(situation_model)
    if not weights.is_file() or weights.read_bytes() != data:
        raise ValueError(f"situation model file {str(weights)!r} does not hold this model's weights: save the "
                         "model instead of refreshing its card")
    record = {"format": FORMAT, "weights_file": weights.name, "weights_sha256": hashlib.sha256(data).hexdigest(),
              "weights_bytes": len(data), "card": card.to_dict()}
    _write_atomic(json.dumps(record, indent=2).encode(), card_path)
    return card_path


def _read_card(card_path: Path) -> tuple[dict, SituationCard]:
    if not card_path.is_file():
        raise ValueError(f"situation card {str(card_path)!r} is missing")
    try:
        record = json.loads(card_path.read_text())
        if not isinstance(record, dict) or record.get("format") != FORMAT:
            raise ValueError(f"not a situation card of format {FORMAT!r}")
        card = SituationCard.from_dict(record["card"])
        str(record["weights_sha256"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"situation card {str(card_path)!r} is damaged: {str(err)[:200]}") from None
    return record, card


def read_card(path: str | os.PathLike) -> SituationCard:
    """A situation model's card alone (``path`` with or without suffix), without reading its weights: what a page
    shows before any model is loaded. ValueError naming the file when it is missing or damaged."""
    base = Path(path)
    if base.suffix in (".safetensors", ".json"):
        base = base.with_suffix("")
    return _read_card(base.with_name(base.name + ".json"))[1]


def _parse(data: bytes, path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        if len(data) < 8 or struct.unpack("<Q", data[:8])[0] > len(data) - 8:
            raise ValueError("truncated safetensors header")
        header = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
        tensors = load(data)  # safetensors: raw tensors, never pickle
    except (SafetensorError, ValueError, UnicodeDecodeError, OSError, RuntimeError) as err:
        raise ValueError(f"situation model file {str(path)!r} is damaged: {str(err)[:200]}") from None
    try:
        meta = json.loads((header.get("__metadata__") or {}).get(META_KEY) or "{}")
    except json.JSONDecodeError:
        meta = {}
    if meta.get("format") != FORMAT:
        raise ValueError(f"situation model file {str(path)!r} is not a situation model of format {FORMAT!r}")
    return tensors


def load_situation_model(path: str | os.PathLike, root: BackboneNet) -> SituationModel:
    """Read a situation model (``path`` with or without suffix) onto ``root``, the root it was customised from.
    ValueError naming the file when a file is missing or damaged, or naming the root when it is another one."""
    if not isinstance(root, BackboneNet):
        raise ValueError(f"root={type(root).__name__} must be a BackboneNet (the situation model's root)")
    base = Path(path)
    if base.suffix in (".safetensors", ".json"):
        base = base.with_suffix("")
    card_path = base.with_name(base.name + ".json")
    record, card = _read_card(card_path)
    weights = card_path.with_name(str(record.get("weights_file", base.name + ".safetensors")))
    if not weights.is_file():
        raise ValueError(f"situation model file {str(weights)!r} is missing")
    data = weights.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != record["weights_sha256"]:
        raise ValueError(f"situation model file {str(weights)!r} is damaged: sha256 {digest[:12]}..., its card "
                         f"{card_path.name} says {str(record['weights_sha256'])[:12]}...")
    tensors = _parse(data, weights)
    if state_sha256(root) != card.root_state_sha256:
        raise ValueError(f"root is not the root of situation model {str(weights)!r}: it was customised from "
                         f"{card.root!r} with tensors of sha256 {card.root_state_sha256[:12]}...")
    model = cut(root, card.root_labels)
    state = model.state_dict()
    prefixes = FINE_TUNED[card.config.fine_tune].prefixes
    expected = {n for n in state if n.startswith(prefixes)}
    if set(tensors) != expected:
        raise ValueError(f"situation model file {str(weights)!r} does not match its card: "
                         f"{len(set(tensors) ^ expected)} tensor names differ from part {card.config.fine_tune!r}")
    for name, tensor in tensors.items():
        if tensor.shape != state[name].shape:
            raise ValueError(f"situation model file {str(weights)!r}: tensor {name} has shape "
                             f"{tuple(tensor.shape)}, expected {tuple(state[name].shape)}")
        state[name] = tensor.to(state[name].dtype)
    model.load_state_dict(state)
    sit = Situation(card.situation, card.classes, card.root, card.description)
    return SituationModel(sit, model.eval(), card)


__all__ = ["FORMAT", "file_stem", "load_situation_model", "read_card", "refresh_card", "save_situation_model", "stored_names",
           "weights_bytes"]
