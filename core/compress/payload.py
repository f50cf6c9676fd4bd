"""What a sub-model download really is: a topology record (reliable channel) and a parameter payload (lossy link).
The payload's sparse index words (which weights a pruned tensor keeps) are part of the architecture: the link sends
them reliably with the topology (core.link.protections.reliable_bits_per_word), though they are counted here.

``encode`` turns a state dict plus per-tensor formats into integer words exactly as transmitted: IEEE fp32/fp16
bit patterns, b-bit two's-complement codes with per-channel scales, and for pruned tensors the smaller of a
bitmap or relative indices. Sizes are counted from these words, never from a formula alone. ``decode`` inverts
it, also for corrupted words (positions past the tensor's end are dropped).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import torch

FLOAT_BITS = (16, 32)
INT_BITS = tuple(range(2, 9))
ALLOWED_BITS = INT_BITS + FLOAT_BITS
SCALE_BITS = 32          # per-channel scales travel as fp32 with the topology
RANGE_BITS = 2 * 32      # per-tensor value range (min, max) travels with the topology
MAX_INDEX_BITS = 16
_UINT = {8: np.uint8, 16: np.uint16, 32: np.uint32}


def check_bits(bits, name: str = "bits") -> int:
    """Weight bit width: integer codes 2..8, or 16 (fp16) and 32 (fp32)."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or int(bits) not in ALLOWED_BITS:
        raise ValueError(f"{name}={bits!r} is not allowed: use integer codes 2..8, 16 (fp16) or 32 (fp32)")
    return int(bits)


def word_dtype(width: int):
    return _UINT[8 if width <= 8 else 16 if width <= 16 else 32]


@dataclass(frozen=True)
class TensorFormat:
    """How one tensor is sent: bit width, per-output-channel scales (integer codes) and an optional mask."""

    bits: int = 32
    scales: np.ndarray | None = None   # float32, one per output channel, for integer codes
    mask: np.ndarray | None = None     # bool, tensor shape; False entries are pruned (zero, not sent)

    def __post_init__(self):
        check_bits(self.bits)
        if self.bits in INT_BITS and self.scales is None:
            raise ValueError(f"scales=None: {self.bits}-bit integer codes need per-channel scales")


@dataclass(frozen=True)
class TensorRecord:
    """Topology entry of one tensor (sent reliably): shape, format, scales, value range, sparse layout."""

    name: str
    shape: tuple[int, ...]
    bits: int
    encoding: str            # "dense", "bitmap" or "relative"
    index_bits: int          # bits per relative index (0 otherwise)
    entries: int             # values sent (non-zeros, plus padding entries of relative indices)
    nnz: int                 # non-zero positions (kept weights)
    vmin: float
    vmax: float
    scales: np.ndarray | None = field(default=None, compare=False)

    @property
    def numel(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def is_float(self) -> bool:
        return self.bits in FLOAT_BITS


@dataclass(frozen=True)
class Segment:
    """A run of ``width``-bit words of one tensor that travels over the lossy link."""

    tensor: str
    kind: str        # "values" or "index"
    width: int
    words: np.ndarray

    @property
    def bits(self) -> int:
        return int(self.words.size) * self.width


@dataclass(frozen=True)
class Payload:
    """Topology records and the lossy-link segments of one sub-model download."""

    records: tuple[TensorRecord, ...]
    segments: tuple[Segment, ...]
    architecture: dict = field(default_factory=dict, compare=False)

    def record(self, name: str) -> TensorRecord:
        for r in self.records:
            if r.name == name:
                return r
        raise KeyError(name)

    def topology_json(self) -> str:
        """The reliable-channel record, without the scales (counted separately at SCALE_BITS each)."""
        return json.dumps({"architecture": self.architecture, "tensors": [
            [r.name, list(r.shape), r.bits, r.encoding, r.index_bits, r.entries] for r in self.records]},
            separators=(",", ":"))

    def bits_by_part(self) -> dict[str, int]:
        """Exact bits: payload values, payload indices, scales, value ranges and topology JSON."""
        values = sum(s.bits for s in self.segments if s.kind == "values")
        index = sum(s.bits for s in self.segments if s.kind == "index")
        scales = sum(0 if r.scales is None else r.scales.size * SCALE_BITS for r in self.records)
        ranges = RANGE_BITS * len(self.records)
        topology = 8 * len(self.topology_json().encode())
        return {"values": values, "index": index, "scales": scales, "ranges": ranges, "topology": topology,
                "payload": values + index, "reliable": scales + ranges + topology,
                "total": values + index + scales + ranges + topology}

    @property
    def payload_bits(self) -> int:
        return sum(s.bits for s in self.segments)

    @property
    def total_bits(self) -> int:
        return self.bits_by_part()["total"]


# ---------- values ----------

def float_words(values: np.ndarray, bits: int) -> np.ndarray:
    """IEEE bit patterns of float values (fp32 or fp16) as unsigned words."""
    dtype = np.float32 if bits == 32 else np.float16
    return np.ascontiguousarray(values, dtype=dtype).view(_UINT[bits]).copy()


def words_to_float(words: np.ndarray, bits: int) -> np.ndarray:
    dtype = np.float32 if bits == 32 else np.float16
    return words.astype(_UINT[bits], copy=False).view(dtype).astype(np.float32)


def code_words(codes: np.ndarray, bits: int) -> np.ndarray:
    """b-bit two's-complement words of signed integer codes."""
    return (codes.astype(np.int16) & ((1 << bits) - 1)).astype(word_dtype(bits))


def words_to_codes(words: np.ndarray, bits: int) -> np.ndarray:
    w = words.astype(np.int16)
    return np.where(w >= (1 << (bits - 1)), w - (1 << bits), w)


def quantise_codes(values: np.ndarray, scales: np.ndarray, bits: int) -> np.ndarray:
    """Symmetric uniform codes in [-(2^(b-1)-1), 2^(b-1)-1] for values of shape (channels, ...)."""
    qmax = (1 << (bits - 1)) - 1
    s = scales.reshape(-1, *([1] * (values.ndim - 1)))
    safe = np.where(s > 0, s, 1.0)
    return np.clip(np.rint(values / safe), -qmax, qmax).astype(np.int16)


def channel_scales(values: np.ndarray, bits: int) -> np.ndarray:
    """Per-output-channel scale max|w| / (2^(b-1)-1) (axis 0 is the output channel)."""
    qmax = (1 << (bits - 1)) - 1
    flat = np.abs(values.reshape(values.shape[0], -1)) if values.ndim > 1 else np.abs(values).reshape(1, -1)
    return (flat.max(axis=1) / qmax).astype(np.float32)


# ---------- sparse indices ----------

def relative_index_words(positions: np.ndarray, index_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative indices with padding: (index words, owner of each entry: position number or -1 for padding).

    Each word w advances the position by w + 1; a gap larger than 2^i is bridged by padding entries that
    advance by 2^i and carry a zero value.
    """
    step = 1 << index_bits
    gaps = np.diff(np.concatenate([[-1], positions])).astype(np.int64)  # >= 1
    pads = (gaps - 1) // step
    counts = pads + 1
    total = int(counts.sum())
    words = np.full(total, step - 1, dtype=np.int64)
    last = np.cumsum(counts) - 1                  # entry that lands on the real position
    words[last] = gaps - 1 - pads * step
    owner = np.full(total, -1, dtype=np.int64)
    owner[last] = np.arange(len(positions))
    return words.astype(word_dtype(index_bits)), owner


def best_sparse_layout(positions: np.ndarray, numel: int, value_bits: int) -> tuple[str, int, int]:
    """Cheapest of dense, bitmap and relative indices (i = 1..16): (encoding, index bits, total bits)."""
    nnz = len(positions)
    options = [("dense", 0, numel * value_bits), ("bitmap", 0, numel + nnz * value_bits)]
    if nnz:
        gaps = np.diff(np.concatenate([[-1], positions])).astype(np.int64)
        for i in range(1, MAX_INDEX_BITS + 1):
            entries = int(((gaps - 1) >> i).sum()) + nnz
            options.append(("relative", i, entries * (value_bits + i)))
    else:
        options.append(("relative", 1, 0))
    return min(options, key=lambda o: (o[2], o[0] != "dense"))


# ---------- encode / decode ----------

def encode(state: dict[str, torch.Tensor], formats: dict[str, TensorFormat],
           architecture: dict | None = None) -> Payload:
    """Encode every tensor of ``state`` (float tensors; formats default to fp32 dense)."""
    records, segments = [], []
    for name, tensor in state.items():
        fmt = formats.get(name, TensorFormat())
        values = tensor.detach().cpu().float().numpy()
        flat = values.reshape(-1)
        if fmt.mask is not None:
            if fmt.mask.shape != values.shape:
                raise ValueError(f"mask of {name}: shape {fmt.mask.shape} does not match {values.shape}")
            positions = np.flatnonzero(fmt.mask.reshape(-1))
        else:
            positions = None
        if fmt.bits in INT_BITS:
            codes = quantise_codes(values, fmt.scales, fmt.bits).reshape(-1)
            to_words = lambda idx: code_words(codes[idx], fmt.bits)  # noqa: E731
        else:
            to_words = lambda idx: float_words(flat[idx], fmt.bits)  # noqa: E731
        if positions is None:
            encoding, index_bits, entries = "dense", 0, flat.size
            segments.append(Segment(name, "values", fmt.bits, to_words(slice(None))))
        else:
            encoding, index_bits, _ = best_sparse_layout(positions, flat.size, fmt.bits)
            if encoding == "dense":
                dense = np.zeros(flat.size, dtype=bool)
                dense[positions] = True
                words = to_words(slice(None))
                words[~dense] = 0  # pruned entries are exact zeros in every format
                entries = flat.size
                segments.append(Segment(name, "values", fmt.bits, words))
            elif encoding == "bitmap":
                bitmap = np.zeros(flat.size, dtype=np.uint8)
                bitmap[positions] = 1
                entries = len(positions)
                segments.append(Segment(name, "values", fmt.bits, to_words(positions)))
                segments.append(Segment(name, "index", 1, bitmap))
            else:
                index_words, owner = relative_index_words(positions, index_bits)
                value_words = np.zeros(len(owner), dtype=word_dtype(fmt.bits))
                real = owner >= 0
                value_words[real] = to_words(positions[owner[real]])
                entries = len(owner)
                segments.append(Segment(name, "values", fmt.bits, value_words))
                segments.append(Segment(name, "index", index_bits, index_words))
        # The range is of the values as sent (rounded to fp16 or to codes): a clean value never falls outside it.
        if fmt.bits in INT_BITS:
            scales = fmt.scales.astype(np.float32)
            per = max(1, flat.size // len(scales))
            sent = codes.astype(np.float32) * scales[np.minimum(np.arange(flat.size) // per, len(scales) - 1)]
        else:
            sent = words_to_float(float_words(flat, fmt.bits), fmt.bits)
        kept = sent if positions is None else sent[positions]
        records.append(TensorRecord(name=name, shape=tuple(values.shape), bits=fmt.bits, encoding=encoding,
                                    index_bits=index_bits, entries=int(entries),
                                    nnz=int(flat.size if positions is None else len(positions)),
                                    vmin=float(kept.min()) if kept.size else 0.0,
                                    vmax=float(kept.max()) if kept.size else 0.0,
                                    scales=None if fmt.bits not in INT_BITS else fmt.scales.astype(np.float32)))
    return Payload(tuple(records), tuple(segments), dict(architecture or {}))


def segment_map(payload: Payload) -> dict[tuple[str, str], Segment]:
    return {(s.tensor, s.kind): s for s in payload.segments}


def words_to_values(record: TensorRecord, words: np.ndarray, positions: np.ndarray | None) -> np.ndarray:
    """Float values of ``words``; integer codes are scaled by their output channel's scale."""
    if record.is_float:
        return words_to_float(words, record.bits)
    codes = words_to_codes(words, record.bits).astype(np.float32)
    scales = record.scales
    per = max(1, record.numel // len(scales))
    channel = (np.arange(record.numel) // per) if positions is None else positions // per
    return codes * scales[np.minimum(channel, len(scales) - 1)]


def decode_tensor(record: TensorRecord, values: np.ndarray, index: np.ndarray | None = None) -> np.ndarray:
    """Rebuild one float32 tensor from its (possibly corrupted) words."""
    n = record.numel
    if record.encoding == "dense":
        return words_to_values(record, values, None).reshape(record.shape)
    if record.encoding == "bitmap":
        positions = np.flatnonzero(index & 1)
    else:
        positions = np.cumsum(index.astype(np.int64) + 1) - 1
    count = min(len(positions), len(values))
    positions, values = positions[:count], values[:count]
    inside = positions < n                       # corrupted indices may run past the end: dropped
    positions, values = positions[inside], values[inside]
    out = np.zeros(n, dtype=np.float32)
    out[positions] = words_to_values(record, values, positions)
    return out.reshape(record.shape)


def decode(payload: Payload, segments: dict[tuple[str, str], np.ndarray] | None = None,
           names: list[str] | None = None) -> dict[str, torch.Tensor]:
    """Float tensors of the payload; ``segments`` overrides some words (e.g. corrupted copies)."""
    clean = segment_map(payload)
    out = {}
    for record in payload.records:
        if names is not None and record.name not in names:
            continue
        get = lambda kind: (segments or {}).get((record.name, kind),  # noqa: E731
                                                clean[(record.name, kind)].words if (record.name, kind) in clean
                                                else None)
        out[record.name] = torch.from_numpy(decode_tensor(record, get("values"), get("index")))
    return out
