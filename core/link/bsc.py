"""The binary symmetric channel over a payload's words: flipped bits drawn in bulk, the corrupted words, and
the receiver's decoding of what was hit (with its protection from ``core.link.protections``).

Everything works on whole arrays: the number of flipped bits is drawn from the binomial distribution, their
positions without replacement, and they are XORed into copies of the words. The clean payload is never changed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.compress.payload import Payload, decode_tensor, segment_map, words_to_values
from core.link.ber import check_ber
from core.link.protections import check_protection, protect_values, reliable_bits_per_word
from core.validation import check_int


def _check_words(words, width: int) -> np.ndarray:
    words = np.asarray(words)
    if words.dtype.kind != "u":
        raise ValueError(f"words of dtype {words.dtype} are not allowed: use unsigned integer words")
    if words.dtype.itemsize * 8 < width:
        raise ValueError(f"width={width} does not fit words of dtype {words.dtype}")
    return words


def draw_flips(n_words: int, width: int, ber: float, rng: np.random.Generator,
               protected_bits: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Flipped bits of ``n_words`` words over a BSC: (word index, bit number from the LSB), one row per flip,
    sorted by word. Every unprotected (low) bit flips independently with probability ``ber``."""
    ber = check_ber(ber)
    width = check_int("width", width, 1, 32)
    protected_bits = check_int("protected_bits", protected_bits, 0, width)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng={rng!r} must be a numpy.random.Generator (e.g. np.random.default_rng(seed))")
    exposed = width - protected_bits
    pos = bernoulli_positions(int(n_words) * exposed, ber, rng)
    return np.divmod(pos, exposed)


def bernoulli_positions(n: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions in [0, n) where independent Bernoulli(p) trials succeed.

    Gaps between successes are geometric, so the positions come sorted and distinct in O(successes), whatever
    n is (357 Mbit for the fp32 root); their count is Binomial(n, p), as for a bit-by-bit draw.
    """
    if p <= 0.0 or n <= 0:
        return np.zeros(0, dtype=np.int64)
    mean = n * p
    chunk = int(mean + 6.0 * math.sqrt(mean) + 16)
    parts, last = [], -1
    while True:
        pos = last + np.cumsum(rng.geometric(p, size=chunk))
        if pos[-1] >= n:
            parts.append(pos[:np.searchsorted(pos, n)])
            break
        parts.append(pos)
        last = int(pos[-1])
    return np.concatenate(parts)


def flip_bits(words: np.ndarray, width: int, ber: float, rng: np.random.Generator,
              protected_bits: int = 0) -> tuple[np.ndarray, int]:
    """Send ``width``-bit words over a BSC: (corrupted copy, number of flipped bits).

    Each of the low ``width - protected_bits`` bits of every word flips independently with probability ``ber``;
    the top ``protected_bits`` bits arrive intact (they travelled over the reliable channel).
    """
    words = _check_words(words, check_int("width", width, 1, 32))
    word, bit = draw_flips(words.size, width, ber, rng, protected_bits)
    out = words.copy()
    if word.size:
        np.bitwise_xor.at(out.reshape(-1), word, np.ones(1, dtype=out.dtype) << bit.astype(out.dtype))
    return out, int(word.size)


def check_payload(payload: Payload) -> None:
    """Raise ValueError if the lossy segments do not match the topology records (widths, sizes, word values)."""
    if not isinstance(payload, Payload):
        raise ValueError(f"payload={type(payload).__name__} is not a core.compress.payload.Payload")
    records = {r.name: r for r in payload.records}
    segments = segment_map(payload)
    if len(segments) != len(payload.segments):
        raise ValueError("payload has two segments for the same (tensor, kind)")
    for (name, kind), seg in segments.items():
        if name not in records:
            raise ValueError(f"payload segment ({name!r}, {kind!r}) has no topology record")
        if kind not in ("values", "index"):
            raise ValueError(f"payload segment ({name!r}, kind={kind!r}): kind must be 'values' or 'index'")
    for r in payload.records:
        values = segments.get((r.name, "values"))
        if values is None:
            raise ValueError(f"tensor {r.name!r}: topology record has no 'values' segment in the payload")
        expected = r.numel if r.encoding == "dense" else r.entries
        _check_segment(values, r.bits, expected)
        index = segments.get((r.name, "index"))
        if r.encoding == "dense":
            if index is not None:
                raise ValueError(f"tensor {r.name!r}: dense record has an unexpected 'index' segment")
            continue
        if index is None:
            raise ValueError(f"tensor {r.name!r}: {r.encoding} record has no 'index' segment in the payload")
        if r.encoding == "bitmap":
            _check_segment(index, 1, r.numel)
        else:
            _check_segment(index, r.index_bits, r.entries)


def _check_segment(seg, width: int, size: int) -> None:
    where = f"segment ({seg.tensor!r}, {seg.kind!r})"
    if seg.width != width:
        raise ValueError(f"{where}: width={seg.width}, but the topology says {width} bits")
    if seg.words.size != size:
        raise ValueError(f"{where}: {seg.words.size} words, but the topology says {size}")
    if seg.words.dtype.kind != "u" or seg.words.dtype.itemsize * 8 < width:
        raise ValueError(f"{where}: words of dtype {seg.words.dtype} cannot hold {width}-bit words")
    if width < seg.words.dtype.itemsize * 8 and seg.words.size and int(seg.words.max()) >> width:
        raise ValueError(f"{where}: a word exceeds {width} bits")


@dataclass(frozen=True)
class SegmentHit:
    """The flipped words of one segment: ``index`` (sorted word numbers) and their corrupted ``words``; with
    ``index=None``, ``words`` is the whole corrupted segment (used when flips are dense)."""

    tensor: str
    kind: str
    flips: int
    index: np.ndarray | None
    words: np.ndarray

    def full(self, clean: np.ndarray) -> np.ndarray:
        if self.index is None:
            return self.words
        out = clean.copy()
        out[self.index] = self.words
        return out


@dataclass(frozen=True)
class Corruption:
    """One pass of the payload over the BSC: the hit segments only (the clean payload is not copied)."""

    ber: float
    protection: str
    hits: tuple[SegmentHit, ...] = field(compare=False)
    flips: int                           # bits flipped in this pass
    lossy_bits: int                      # payload bits exposed to errors
    reliable_bits: int                   # extra bits sent over the reliable channel (UEP, reliable tensors)

    @property
    def tensors(self) -> tuple[str, ...]:
        return tuple(sorted({h.tensor for h in self.hits}))

    @property
    def flip_rate(self) -> float:
        return self.flips / self.lossy_bits if self.lossy_bits else 0.0

    def segments(self, payload: Payload) -> dict[tuple[str, str], np.ndarray]:
        """Whole corrupted words of the hit segments, for ``core.compress.payload.decode(payload, segments=...)``."""
        clean = segment_map(payload)
        return {(h.tensor, h.kind): h.full(clean[(h.tensor, h.kind)].words) for h in self.hits}


def small_tensor_names(payload: Payload) -> tuple[str, ...]:
    """Tensors of at most one dimension (batch-norm parameters and statistics, biases): the per-channel
    floats that a sub-model keeps in fp32/fp16 even when its weights are integer codes."""
    return tuple(r.name for r in payload.records if len(r.shape) <= 1)


def corrupt(payload: Payload, ber: float, rng: np.random.Generator, protection: str = "none",
            uep_bits: int | None = None, reliable=(), check: bool = True, index_reliable: bool = True) -> Corruption:
    """Send the payload's segments over a BSC with bit-error rate ``ber`` (index segments included).

    A protection's ``protected_bits`` top bits of each word travel reliably (``core.link.protections``): with
    ``"uep"`` the top bits of every value word (``UEP_DEFAULT_BITS`` or ``uep_bits``); the other protections act
    at the receiver (``receive``) only. Sparse index bits (the positions of a pruned tensor's kept weights) are
    part of the topology and travel reliably with every protection; ``index_reliable=False`` sends them over the
    lossy link (one flipped bitmap bit shifts every later value of the tensor, so unprotected indices undo any
    value protection). Tensors named in
    ``reliable`` travel whole over the reliable channel (e.g. ``small_tensor_names(payload)``); their bits
    count as reliable bits.
    """
    ber = check_ber(ber)
    protection = check_protection(protection)
    if uep_bits is not None:
        check_int("uep_bits", uep_bits, 0, 32)
    reliable = frozenset(reliable)
    if reliable:
        unknown = sorted(reliable - {r.name for r in payload.records})
        if unknown:
            raise ValueError(f"reliable names tensors not in the payload: {unknown[:3]}")
    if check:
        check_payload(payload)
    hits, flips, lossy, extra = [], 0, 0, 0
    for seg in payload.segments:
        if seg.tensor in reliable:
            extra += seg.bits
            continue
        protected = reliable_bits_per_word(protection, seg.kind, seg.width, uep_bits, index_reliable)
        extra += int(seg.words.size) * protected
        lossy += int(seg.words.size) * (seg.width - protected)
        word, bit = draw_flips(seg.words.size, seg.width, ber, rng, protected)
        if not word.size:
            continue
        masks = np.ones(1, dtype=seg.words.dtype) << bit.astype(seg.words.dtype)
        # Flips come sorted by position: group those of one word (distinct bits, so OR == XOR).
        starts = np.flatnonzero(np.r_[True, word[1:] != word[:-1]])
        index = word[starts]
        flat = seg.words.reshape(-1)
        changed = flat[index] ^ np.bitwise_or.reduceat(masks, starts)
        if index.size * 16 >= flat.size:     # dense flips: a whole corrupted copy is cheaper to use
            out = flat.copy()
            out[index] = changed
            hits.append(SegmentHit(seg.tensor, seg.kind, int(word.size), None, out))
        else:
            hits.append(SegmentHit(seg.tensor, seg.kind, int(word.size), index, changed))
        flips += int(word.size)
    return Corruption(ber, protection, tuple(hits), flips, lossy, extra)


@dataclass(frozen=True)
class Received:
    """What the receiver rebuilt, after its protection: per hit tensor either a whole float32 array (tensor
    shape) or ``(flat positions, float32 values)`` when only a few values of a dense tensor changed."""

    tensors: dict = field(compare=False)
    nonfinite: int                         # non-finite received values before protection
    replaced: int                          # values the protection zeroed or clamped


def receive(payload: Payload, corruption: Corruption, protection: str | None = None) -> Received:
    """Decode only what ``corruption`` hit and apply the receiver ``protection`` (default: the corruption's)."""
    protection = check_protection(corruption.protection if protection is None else protection)
    clean = segment_map(payload)
    by_tensor: dict[str, dict[str, SegmentHit]] = {}
    for h in corruption.hits:
        by_tensor.setdefault(h.tensor, {})[h.kind] = h
    tensors, nonfinite, replaced = {}, 0, 0
    for name, hits in sorted(by_tensor.items()):
        record = payload.record(name)
        values_hit = hits.get("values")
        if record.encoding == "dense" and values_hit is not None and values_hit.index is not None:
            values = words_to_values(record, values_hit.words, values_hit.index)
            values, nf, rep = protect_values(record, values, protection)
            tensors[name] = (values_hit.index, values)
        else:
            get = lambda kind: (hits[kind].full(clean[(name, kind)].words) if kind in hits  # noqa: E731
                                else clean[(name, kind)].words if (name, kind) in clean else None)
            values = decode_tensor(record, get("values"), get("index"))
            values, nf, rep = protect_values(record, values, protection)
            tensors[name] = values
        nonfinite += nf
        replaced += rep
    return Received(tensors, nonfinite, replaced)


__all__ = ["check_ber", "check_payload", "flip_bits", "draw_flips", "bernoulli_positions", "corrupt", "Corruption",
           "SegmentHit", "small_tensor_names", "receive", "Received"]
