"""An entry's weight file: the received weights of one sub-model in safetensors (no pickle), written atomically,
hashed with sha256, and read back with every kind of damage (missing, truncated, not safetensors, hash mismatch,
foreign) reported by file name.

The file holds integer codes + per-channel scales where the payload has them, fp16 or fp32 values otherwise, and
the pruning masks; bit widths, depth and architecture go in one metadata value (a sorted JSON text, so that the
same sub-model always gives the same bytes and the same sha256).

A compact file (``weights_bytes(sub, compact=True)``: the improved versions, which are kept and shipped because they
cannot be made again from the root) holds the same tensors packed: b-bit codes as b bits each, masks as one bit
per weight, and of a pruned tensor only its kept weights. Reading unpacks it (``parse_weights``), so every reader
sees the same tensors as from a plain file. A 4-bit entry kept at 10 % then takes about 1.4 bits per weight
instead of 16 (an int8 code and a bool mask each).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path

import numpy as np
import torch

from core.compress.combine import SubModel, SubModelCard, SubModelSpec
from core.compress.common import fold_batchnorm, transmitted_state
from core.compress.payload import INT_BITS, TensorFormat, encode
from core.model.models import DepthSubModel, build_model, check_depth, device_model

from .catalog import APPLICATION_ID

META_KEY = APPLICATION_ID  # the one metadata value of a weight file
# The weight file's own format version, written into its metadata: it stays 3 when the catalog's schema moves on
# (the bytes, and so the sha256 that shipped catalogs recorded for regenerated weights, must not change).
WEIGHTS_SCHEMA = 3


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def weights_bytes(sub: SubModel, compact: bool = False) -> bytes:
    """The safetensors file of a sub-model as received (a pure function of the sub-model: same bytes every time);
    ``compact`` packs codes and masks to their bits and keeps only the kept weights of pruned tensors."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    state = transmitted_state(sub.module)
    for record in sub.payload.records:
        value = state[record.name].detach().cpu().float().contiguous()
        if record.bits in INT_BITS:
            scales = record.scales.astype(np.float32)
            per = max(1, record.numel // len(scales))
            channel = np.minimum(np.arange(record.numel) // per, len(scales) - 1)
            safe = np.where(scales > 0, scales, 1.0)[channel]
            codes = np.rint(value.numpy().reshape(-1) / safe).astype(np.int8).reshape(record.shape)
            tensors[record.name] = torch.from_numpy(codes)
            tensors[f"{record.name}::scales"] = torch.from_numpy(scales.copy())
        elif record.bits == 16:
            tensors[record.name] = value.half()
        else:
            tensors[record.name] = value
    for name, mask in sub.masks.items():
        tensors[f"{name}::mask"] = mask.detach().cpu().bool().contiguous()
    meta = {"format": APPLICATION_ID, "schema_version": WEIGHTS_SCHEMA, "depth": int(sub.spec.depth),
            "folded_bn": bool(getattr(sub.spec, "folds_bn", False)),
            "bits": {r.name: int(r.bits) for r in sub.payload.records}, "architecture": sub.payload.architecture}
    if compact:
        tensors, meta["compact"] = _pack(tensors, meta["bits"])
    return save(tensors, metadata={META_KEY: json.dumps(meta, sort_keys=True)})


def _pack_words(codes: np.ndarray, bits: int) -> np.ndarray:
    """b-bit two's-complement words of integer codes, b bits each, packed into bytes (most significant bit first)."""
    words = (codes.astype(np.int16) & ((1 << bits) - 1)).astype(np.uint8)
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint8)
    return np.packbits(((words[:, None] >> shifts) & 1).astype(np.uint8).reshape(-1))


def _unpack_words(packed: np.ndarray, bits: int, count: int) -> np.ndarray:
    flat = np.unpackbits(packed, count=count * bits)
    if flat.size != count * bits:
        raise ValueError(f"{packed.size} bytes hold fewer than {count} codes of {bits} bits")
    words = flat.reshape(count, bits).astype(np.int16) @ (1 << np.arange(bits - 1, -1, -1, dtype=np.int16))
    return np.where(words >= 1 << (bits - 1), words - (1 << bits), words).astype(np.int8)


def _pack(tensors: dict[str, torch.Tensor], widths: dict[str, int]) -> tuple[dict[str, torch.Tensor], dict]:
    """The compact form of a weight file's tensors, and each packed tensor's shape (for ``_unpack``)."""
    out, shapes = {}, {}
    for name, width in widths.items():
        value = tensors[name].numpy()
        mask = tensors.get(f"{name}::mask")
        kept = value.reshape(-1) if mask is None else value.reshape(-1)[mask.numpy().reshape(-1)]
        if mask is not None:
            out[f"{name}::mask"] = torch.from_numpy(np.packbits(mask.numpy().reshape(-1)))
        if width in INT_BITS:
            out[name] = torch.from_numpy(_pack_words(kept, width))
            out[f"{name}::scales"] = tensors[f"{name}::scales"]
        else:
            out[name] = torch.from_numpy(np.ascontiguousarray(kept))
        shapes[name] = list(value.shape)
    return out, shapes


def _unpack(tensors: dict[str, torch.Tensor], meta: dict) -> dict[str, torch.Tensor]:
    """The plain tensors of a compact weight file (ValueError when a packed tensor does not fit its shape)."""
    out = {}
    for name, shape in meta["compact"].items():
        numel = int(np.prod(shape)) if shape else 1
        width = int(meta["bits"][name])
        mask = None
        if f"{name}::mask" in tensors:
            mask = np.unpackbits(tensors[f"{name}::mask"].numpy(), count=numel).astype(bool)
            if mask.size != numel:
                raise ValueError(f"the mask of {name!r} has {mask.size} of {numel} bits")
            out[f"{name}::mask"] = torch.from_numpy(mask.reshape(shape))
        count = numel if mask is None else int(mask.sum())
        if width in INT_BITS:
            kept = _unpack_words(tensors[name].numpy(), width, count)
            out[f"{name}::scales"] = tensors[f"{name}::scales"]
        else:
            kept = tensors[name].numpy().reshape(-1)
            if kept.size != count:
                raise ValueError(f"tensor {name!r} holds {kept.size} values, its mask keeps {count}")
        full = kept if mask is None else np.zeros(numel, dtype=kept.dtype)
        if mask is not None:
            full[mask] = kept
        out[name] = torch.from_numpy(np.ascontiguousarray(full.reshape(shape)))
    return out


def write_atomic(data: bytes, path: Path) -> str:
    """Write ``data`` to ``path`` through a temporary file of this process, renamed into place; return its sha256.

    A reader sees the old file or the new one, never a half-written one. A write that fails (disk full, interrupt)
    removes its temporary file; only a crash of the process can leave one, and the next build discards it."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return sha256_bytes(data)


def parse_weights(data: bytes, name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """Tensors and metadata of a weight file's bytes; ValueError naming ``name`` if it is not one of ours."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        if len(data) < 8:
            raise ValueError(f"{len(data)} bytes, too short for a safetensors header")
        header_len = struct.unpack("<Q", data[:8])[0]
        if header_len > len(data) - 8:
            raise ValueError(f"header of {header_len} bytes in a file of {len(data)} bytes (truncated?)")
        header = json.loads(data[8:8 + header_len])
        tensors = load(data)
    except (SafetensorError, ValueError, UnicodeDecodeError, OSError, RuntimeError) as err:
        raise ValueError(f"library weight file {name!r} is damaged (not a complete safetensors file): "
                         f"{str(err)[:200]}") from None
    raw = (header.get("__metadata__") or {}).get(META_KEY)
    try:
        meta = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        meta = {}
    if meta.get("format") != APPLICATION_ID:
        raise ValueError(f"library weight file {name!r} is not an AI library file of this version "
                         f"(no {META_KEY!r} metadata of schema {WEIGHTS_SCHEMA})")
    if "compact" in meta:
        try:
            tensors = _unpack(tensors, meta)
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise ValueError(f"library weight file {name!r} is damaged (its packed tensors do not unpack): "
                             f"{str(err)[:200]}") from None
    return tensors, meta


def read_weights(path: Path, expected_sha256: str | None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read and check a weight file (sha256 against the catalog's when given)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"library weight file {str(path)!r} is missing")
    data = path.read_bytes()
    if expected_sha256 is not None:
        digest = sha256_bytes(data)
        if digest != expected_sha256:
            raise ValueError(f"library weight file {str(path)!r} is damaged: sha256 {digest[:12]}..., "
                             f"catalog says {expected_sha256[:12]}...")
    return parse_weights(data, str(path))


def file_problem(path: Path, expected_sha256: str) -> str:
    """Why a weight file is unusable ("" when it is fine): missing, hash mismatch, truncated or not ours."""
    try:
        read_weights(path, expected_sha256)
    except ValueError as err:
        return str(err)
    return ""


def module_from_tensors(tensors, meta: dict, root_card: dict) -> tuple[
        DepthSubModel, dict[str, int], dict[str, torch.Tensor], dict[str, np.ndarray]]:
    """The device module of a weight file (as received at BER 0), its bit widths, masks and scales."""
    depth = check_depth(int(meta["depth"]))
    widths = {k: int(v) for k, v in meta["bits"].items()}
    arch = root_card["arch"]
    model = build_model(arch, len(root_card["classes"]), int(root_card["input_shape"][0]),
                        float(root_card.get("width", 1.0)))
    module = device_model(model, depth)
    if meta.get("folded_bn"):  # integer-coded sub-models are sent with BatchNorm folded into the convs
        fold_batchnorm(module)
    state = module.state_dict()
    masks, scales = {}, {}
    for name, width in widths.items():
        if name not in state or name not in tensors:
            raise ValueError(f"library weight file does not match a depth-{depth} {arch}: tensor {name!r}")
        t = tensors[name]
        if width in INT_BITS:
            s = tensors[f"{name}::scales"].float().numpy()
            per = max(1, t.numel() // len(s))
            channel = np.minimum(np.arange(t.numel()) // per, len(s) - 1)
            # Same arithmetic as core.compress.payload.words_to_values: bit-identical to the decode.
            value = torch.from_numpy((t.numpy().reshape(-1).astype(np.float32) * s[channel]).reshape(t.shape))
            scales[name] = s
        else:
            value = t.float()
        if tuple(value.shape) != tuple(state[name].shape):
            raise ValueError(f"library weight file: tensor {name!r} has shape {tuple(value.shape)}, "
                             f"expected {tuple(state[name].shape)}")
        state[name].copy_(value.to(state[name].dtype))
        if f"{name}::mask" in tensors:
            masks[name] = tensors[f"{name}::mask"].bool()
    return module.eval(), widths, masks, scales


def submodel_from_tensors(tensors, meta: dict, root_card: dict, spec: SubModelSpec, card: SubModelCard,
                          total_bits: int, name: str) -> SubModel:
    """The entry as a SubModel (module, re-encoded payload, masks, bits, card) for channel trials."""
    module, widths, masks, scales = module_from_tensors(tensors, meta, root_card)
    formats = {n: TensorFormat(bits=b, scales=scales.get(n),
                               mask=None if n not in masks else masks[n].numpy().astype(bool))
               for n, b in widths.items()}
    payload = encode(transmitted_state(module), formats, meta["architecture"])
    if payload.total_bits != int(total_bits):
        raise ValueError(f"library entry {name!r}: re-encoded payload has {payload.total_bits} bits, "
                         f"catalog says {int(total_bits)}")
    return SubModel(spec, module, payload, masks, widths, card)
