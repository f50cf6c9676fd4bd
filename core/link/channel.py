"""The lossy link of a sub-model download: a binary symmetric channel over the payload words, the receiver's
protections (none, sanitise, clamp, unequal error protection) and a packet view (retransmit or lose packets).

Everything works on whole arrays: the number of flipped bits is drawn from the binomial distribution, their
positions without replacement, and they are XORed into copies of the words. The clean payload is never changed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.compress.payload import FLOAT_BITS, INT_BITS, Payload, TensorRecord, decode_tensor, segment_map, words_to_values
from core.validation import check_choice, check_int, check_range

PROTECTIONS = ("none", "sanitise", "clamp", "uep")
PACKET_MODES = ("retransmit", "zero", "fallback")
# Unequal error protection, default top bits per value word sent reliably: fp32 sign + 8 exponent bits,
# fp16 sign + 5 exponent bits, integer codes the sign (MSB) and the next bit.
UEP_DEFAULT_BITS = {32: 9, 16: 6, **{b: 2 for b in INT_BITS}}


def check_ber(ber) -> float:
    """Bit-error rate of a binary symmetric channel: 0 (error-free) to 0.5 (no information)."""
    return check_range("ber", ber, 0.0, 0.5)


def check_protection(protection) -> str:
    return check_choice("protection", protection, PROTECTIONS)


def uep_protected_bits(width: int, uep_bits: int | None = None) -> int:
    """Top bits of a ``width``-bit value word that UEP sends reliably: ``uep_bits`` (at most the whole word) or
    the default of its format (``UEP_DEFAULT_BITS``)."""
    if uep_bits is None:
        return UEP_DEFAULT_BITS[width]
    return min(check_int("uep_bits", uep_bits, 0, 32), width)


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


def uep_cost_bits(payload: Payload, uep_bits: int | None = None, uep_index: bool = True) -> int:
    """Bits that unequal error protection moves to the reliable channel (top bits of every value word, and
    the sparse index bits with ``uep_index``)."""
    return sum(int(s.words.size) * uep_protected_bits(s.width, uep_bits) if s.kind == "values"
               else s.bits if uep_index else 0 for s in payload.segments)


def small_tensor_names(payload: Payload) -> tuple[str, ...]:
    """Tensors of at most one dimension (batch-norm parameters and statistics, biases): the per-channel
    floats that a sub-model keeps in fp32/fp16 even when its weights are integer codes."""
    return tuple(r.name for r in payload.records if len(r.shape) <= 1)


def corrupt(payload: Payload, ber: float, rng: np.random.Generator, protection: str = "none",
            uep_bits: int | None = None, reliable=(), check: bool = True, uep_index: bool = True) -> Corruption:
    """Send the payload's segments over a BSC with bit-error rate ``ber`` (index segments included).

    With ``protection="uep"`` the top bits of every value word are sent reliably (see ``UEP_DEFAULT_BITS``),
    and with ``uep_index`` the sparse index bits too (one flipped bitmap bit shifts every later value of the
    tensor, so unprotected indices undo any value protection); the other protections act at the receiver
    (``receive``) and do not change what is sent. Tensors named in
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
        if protection != "uep":
            protected = 0
        elif seg.kind == "values":
            protected = uep_protected_bits(seg.width, uep_bits)
        else:
            protected = seg.width if uep_index else 0
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


def protect_values(record: TensorRecord, values: np.ndarray, protection: str) -> tuple[np.ndarray, int, int]:
    """Receiver protection of one decoded tensor: (values, non-finite count, values replaced or clamped).

    ``sanitise`` sets non-finite values and values outside the topology's range [vmin, vmax] to zero; ``clamp``
    sets NaN to zero and clips every other value (infinities included) to the range.
    Exact zeros always pass: pruned weights are zero whatever the range of the kept ones.
    """
    protection = check_protection(protection)
    finite = np.isfinite(values)
    nonfinite = int(values.size - np.count_nonzero(finite))
    if protection in ("none", "uep"):
        return values, nonfinite, 0
    with np.errstate(invalid="ignore"):
        outside = ~finite | (values < record.vmin) | (values > record.vmax)
    outside &= values != 0
    changed = int(np.count_nonzero(outside))
    if not changed:
        return values, nonfinite, 0
    out = values.copy()
    if protection == "sanitise":
        out[outside] = 0.0
    else:
        nan = np.isnan(out)
        out[nan] = 0.0
        clip = outside & ~nan
        out[clip] = np.clip(out[clip], record.vmin, record.vmax)
    return out, nonfinite, changed


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


# ---------- packet view ----------

@dataclass(frozen=True)
class PacketConfig:
    """Payload cut into packets of ``packet_bits``; a packet with any bit error is detected and either sent
    again (``retransmit``: extra bits and latency, no errors) or left missing (``zero``, or ``fallback``: the
    values of a smaller model already on the device; paper Section 5, graceful degradation)."""

    packet_bits: int = 12_000
    mode: str = "retransmit"

    def __post_init__(self):
        check_int("packet_bits", self.packet_bits, 64)
        check_choice("mode", self.mode, PACKET_MODES)


def packet_error_rate(ber: float, packet_bits: int) -> float:
    """PER = 1 - (1 - BER)^packet_bits (computed without cancellation for small BER)."""
    ber = check_ber(ber)
    packet_bits = check_int("packet_bits", packet_bits, 1)
    if ber == 0.0:
        return 0.0
    return float(-math.expm1(packet_bits * math.log1p(-ber)))


@dataclass(frozen=True)
class PacketReport:
    """Expected cost of the packet view for a payload."""

    packets: int
    packet_error_rate: float
    expected_transmissions: float      # per packet, retransmit mode (inf when every packet fails)
    expected_extra_bits: float         # retransmitted bits (retransmit mode)
    expected_lost_packets: float       # zero / fallback modes
    expected_extra_seconds: float | None  # extra latency at ``rate_bps`` (retransmit mode)


def packet_report(payload_bits: int, ber: float, config: PacketConfig,
                  rate_bps: float | None = None) -> PacketReport:
    """Packets, PER and the expected retransmitted bits, latency and lost packets of a download."""
    payload_bits = check_int("payload_bits", payload_bits, 0)
    per = packet_error_rate(ber, config.packet_bits)
    packets = -(-payload_bits // config.packet_bits)
    if rate_bps is not None:
        rate_bps = check_range("rate_bps", rate_bps, 0.0, lo_open=True)
    if per >= 1.0:
        tx, extra = math.inf, math.inf if packets else 0.0
    else:
        tx = 1.0 / (1.0 - per)
        extra = packets * config.packet_bits * per / (1.0 - per)
    retransmit = config.mode == "retransmit"
    return PacketReport(packets, per, tx, extra if retransmit else 0.0,
                        0.0 if retransmit else packets * per,
                        None if rate_bps is None else (extra / rate_bps if retransmit else 0.0))


@dataclass(frozen=True)
class PacketLoss:
    """One download in the packet view: the tensors with missing values replaced, and what it cost."""

    tensors: dict = field(compare=False)   # name -> float32 array of the tensors that lost values
    packets: int
    lost_packets: int
    retransmitted_bits: int
    replaced: int                          # values replaced by zeros or fallback values


def lose_packets(payload: Payload, ber: float, rng: np.random.Generator, config: PacketConfig,
                 fallback: dict | None = None) -> PacketLoss:
    """Send the payload as packets over a BSC. Retransmit: every packet arrives intact after a geometric number
    of tries. Zero / fallback: a failed packet is dropped and the values it carried are set to zero or taken
    from ``fallback`` (name -> array of the tensor's shape, e.g. ``decode`` of a smaller model's payload).
    A sparse tensor that loses index bits cannot place its values and is replaced whole."""
    ber = check_ber(ber)
    if not isinstance(config, PacketConfig):
        raise ValueError(f"config={config!r} must be a PacketConfig")
    if config.mode == "fallback" and fallback is None:
        raise ValueError("fallback=None: packet mode 'fallback' needs the values of a local model")
    check_payload(payload)
    per = packet_error_rate(ber, config.packet_bits)
    total = payload.payload_bits
    packets = -(-total // config.packet_bits)
    if config.mode == "retransmit":
        if per >= 1.0 and packets:
            raise ValueError(f"ber={ber!r} with packet_bits={config.packet_bits}: every packet fails "
                             f"(PER = 1), retransmission never ends; use smaller packets")
        extra = int((rng.geometric(1.0 - per, size=packets) - 1).sum()) if per > 0 and packets else 0
        return PacketLoss({}, packets, 0, extra * config.packet_bits, 0)
    lost_count = int(rng.binomial(packets, per)) if packets else 0
    lost = np.zeros(packets, dtype=bool)
    lost[rng.choice(packets, size=lost_count, replace=False)] = True
    hit: dict[tuple[str, str], np.ndarray] = {}
    offset = 0
    for seg in payload.segments:   # the segments travel back to back in payload order
        start = offset + np.arange(seg.words.size, dtype=np.int64) * seg.width
        offset += seg.bits
        if not lost_count or not seg.words.size:
            continue
        gone = lost[start // config.packet_bits] | lost[(start + seg.width - 1) // config.packet_bits]
        if gone.any():
            hit[(seg.tensor, seg.kind)] = gone
    clean = segment_map(payload)
    tensors, replaced = {}, 0
    for name in sorted({n for n, _ in hit}):
        record = payload.record(name)
        index = clean.get((name, "index"))
        values = decode_tensor(record, clean[(name, "values")].words, None if index is None else index.words)
        substitute = _substitute(record, fallback, config.mode)
        flat, sub = values.reshape(-1), substitute.reshape(-1)
        if (name, "index") in hit:
            missing = np.ones(record.numel, dtype=bool)      # positions unknown: the whole tensor is replaced
        elif record.encoding == "dense":
            missing = hit[(name, "values")]
        else:
            if record.encoding == "bitmap":
                positions = np.flatnonzero(index.words & 1)
            else:
                positions = np.cumsum(index.words.astype(np.int64) + 1) - 1
            missing = np.zeros(record.numel, dtype=bool)
            missing[positions[hit[(name, "values")] & (positions < record.numel)]] = True
        flat = flat.copy()
        flat[missing] = sub[missing]
        replaced += int(missing.sum())
        tensors[name] = flat.reshape(record.shape)
    return PacketLoss(tensors, packets, lost_count, 0, replaced)


def _substitute(record: TensorRecord, fallback: dict | None, mode: str) -> np.ndarray:
    if mode == "zero" or fallback is None or record.name not in fallback:
        return np.zeros(record.shape, dtype=np.float32)
    value = fallback[record.name]
    value = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
    if tuple(value.shape) != tuple(record.shape):
        raise ValueError(f"fallback[{record.name!r}] has shape {tuple(value.shape)}, expected {record.shape}")
    return value.astype(np.float32, copy=False)


__all__ = ["PROTECTIONS", "PACKET_MODES", "UEP_DEFAULT_BITS", "check_ber", "check_protection", "check_payload",
           "flip_bits", "draw_flips", "bernoulli_positions", "corrupt", "Corruption", "SegmentHit", "small_tensor_names", "uep_protected_bits", "uep_cost_bits", "protect_values",
           "receive", "Received", "PacketConfig", "packet_error_rate", "packet_report", "PacketReport",
           "lose_packets", "PacketLoss", "FLOAT_BITS"]
