"""The packet view of a download: the payload cut into packets; a packet with any bit error is detected and
either sent again (extra bits and latency) or left missing (zeros, or the values of a smaller model already on
the device: graceful degradation, paper Section 5).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from core.compress.payload import Payload, TensorRecord, decode, decode_tensor, segment_map
from core.link.ber import check_ber
from core.link.bsc import check_payload
from core.validation import check_choice, check_int, check_range

PACKET_MODES = ("retransmit", "zero", "fallback")


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


def fallback_values(payload: Payload, local: Payload) -> dict[str, np.ndarray]:
    """The values a device already holds, for ``lose_packets(..., fallback=...)``: ``local`` (a smaller model's
    payload, e.g. the 4-bit version of the same sub-model) decoded, checked to have the same tensors and shapes
    as ``payload``; ValueError naming the first mismatch otherwise."""
    if not isinstance(payload, Payload) or not isinstance(local, Payload):
        raise ValueError("payload and local must be core.compress.payload.Payload objects")
    want = {r.name: tuple(r.shape) for r in payload.records}
    have = {r.name: tuple(r.shape) for r in local.records}
    if set(want) != set(have):
        missing = sorted(set(want) - set(have))[:3]
        extra = sorted(set(have) - set(want))[:3]
        raise ValueError(f"local: the local model has other tensors than the download (missing {missing}, "
                         f"extra {extra}); use a local model of the same depth")
    for name, shape in want.items():
        if have[name] != shape:
            raise ValueError(f"local: tensor {name!r} has shape {have[name]}, the download has {shape}")
    return {name: t.numpy() for name, t in decode(local).items()}


__all__ = ["PACKET_MODES", "PacketConfig", "packet_error_rate", "PacketReport", "packet_report", "PacketLoss",
           "lose_packets", "fallback_values"]
