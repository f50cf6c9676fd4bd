"""The one registry of receiver protections: what each sends reliably, what the receiver does, how it is shown.

Every other module (settings, library, selection, experiments, pages) reads names and labels from
``PROTECTIONS``; adding a protection means adding one ``Protection`` here (and its tests), nothing else.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.compress.payload import INT_BITS, Payload, TensorRecord
from core.validation import check_choice, check_int

# Unequal error protection, default top bits per value word sent reliably: fp32 sign + 8 exponent bits,
# fp16 sign + 5 exponent bits, integer codes the sign (MSB) and the next bit.
UEP_DEFAULT_BITS = {32: 9, 16: 6, **{b: 2 for b in INT_BITS}}


def uep_protected_bits(width: int, uep_bits: int | None = None) -> int:
    """Top bits of a ``width``-bit value word that UEP sends reliably: ``uep_bits`` (at most the whole word) or
    the default of its format (``UEP_DEFAULT_BITS``)."""
    if uep_bits is None:
        return UEP_DEFAULT_BITS[width]
    return min(check_int("uep_bits", uep_bits, 0, 32), width)


def _nothing_reliable(kind: str, width: int, uep_bits: int | None, index_reliable: bool) -> int:
    return 0


def _uep_reliable(kind: str, width: int, uep_bits: int | None, index_reliable: bool) -> int:
    if kind == "values":
        return uep_protected_bits(width, uep_bits)
    return width if index_reliable else 0  # reliable_bits_per_word sends the index reliably for every protection


def _keep(record: TensorRecord, values: np.ndarray) -> tuple[np.ndarray, int]:
    return values, 0


def _outside(record: TensorRecord, values: np.ndarray) -> np.ndarray:
    """Non-finite values and values outside the topology's range [vmin, vmax]; exact zeros always pass (pruned
    weights are zero whatever the range of the kept ones)."""
    with np.errstate(invalid="ignore"):
        outside = ~np.isfinite(values) | (values < record.vmin) | (values > record.vmax)
    return outside & (values != 0)


def _repairing(repair: Callable[[TensorRecord, np.ndarray, np.ndarray], None]):
    """A receiver function that keeps the values inside the topology's range and lets ``repair(record, out,
    outside)`` fix the others in a copy; it returns (values, how many were outside)."""
    def receive(record: TensorRecord, values: np.ndarray) -> tuple[np.ndarray, int]:
        outside = _outside(record, values)
        changed = int(np.count_nonzero(outside))
        if not changed:
            return values, 0
        out = values.copy()
        repair(record, out, outside)
        return out, changed
    return receive


def _to_zero(record: TensorRecord, out: np.ndarray, outside: np.ndarray) -> None:
    out[outside] = 0.0


def _to_range(record: TensorRecord, out: np.ndarray, outside: np.ndarray) -> None:
    nan = np.isnan(out)
    out[nan] = 0.0
    clip = outside & ~nan
    out[clip] = np.clip(out[clip], record.vmin, record.vmax)


_sanitise, _clamp = _repairing(_to_zero), _repairing(_to_range)


@dataclass(frozen=True)
class Protection:
    """One receiver protection.

    ``reliable_parts`` says in words what travels over the reliable channel besides the topology;
    ``protected_bits(kind, width, uep_bits, index_reliable)`` is how many top bits of each word of a payload segment
    (``kind`` "values" or "index") travel reliably; ``receive_fn(record, values)`` turns one decoded tensor into
    what the device uses and returns (values, number of values it replaced or clamped).
    """

    name: str
    label: str
    description: str
    reliable_parts: str
    receive_fn: Callable[[TensorRecord, np.ndarray], tuple[np.ndarray, int]]
    protected_bits: Callable[[str, int, int | None, bool], int] = _nothing_reliable

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name={self.name!r} must be a short identifier (letters, digits, underscores)")
        if not callable(self.receive_fn) or not callable(self.protected_bits):
            raise ValueError(f"protection {self.name!r}: receive_fn and protected_bits must be functions")


# In display order: the first is the default (no protection).
PROTECTIONS: dict[str, Protection] = {p.name: p for p in (
    Protection("none", "none", "The device uses whatever bits arrive.", "nothing beyond the topology", _keep),
    Protection("sanitise", "sanitise",
               "Values that are not finite or lie outside the tensor's range (sent with the topology) are set "
               "to zero.", "nothing beyond the topology (the value ranges are part of it)", _sanitise),
    Protection("clamp", "clamp",
               "Values outside the tensor's range are clipped to it; values that are not a number become zero.",
               "nothing beyond the topology (the value ranges are part of it)", _clamp),
    Protection("uep", "unequal error protection",
               "The most important bits of every weight (fp32 sign and exponent, the top two bits of an integer "
               "code) travel over the reliable channel.",
               "the top bits of every weight word", _keep, _uep_reliable),
)}
PROTECTION_NAMES: tuple[str, ...] = tuple(PROTECTIONS)


def register_protection(protection: Protection) -> None:
    """Add a protection to the registry (a new name; shown after the others). For modules that list
    protections, register before importing them: they read the registry when imported."""
    global PROTECTION_NAMES
    if not isinstance(protection, Protection):
        raise ValueError(f"protection={protection!r} must be a Protection")
    if protection.name in PROTECTIONS:
        raise ValueError(f"protection name {protection.name!r} is taken; allowed: a name not in {PROTECTION_NAMES}")
    PROTECTIONS[protection.name] = protection
    PROTECTION_NAMES = tuple(PROTECTIONS)


def check_protection(protection) -> str:
    """A registered protection's name (ValueError listing the registered names otherwise)."""
    return check_choice("protection", protection, tuple(PROTECTIONS))


def protection_label(protection: str) -> str:
    """The label shown to users for a protection name."""
    return PROTECTIONS[check_protection(protection)].label


def protect_values(record: TensorRecord, values: np.ndarray, protection: str) -> tuple[np.ndarray, int, int]:
    """Receiver protection of one decoded tensor: (values, non-finite count, values replaced or clamped).

    ``sanitise`` sets non-finite values and values outside the topology's range [vmin, vmax] to zero; ``clamp``
    sets NaN to zero and clips every other value (infinities included) to the range.
    Exact zeros always pass: pruned weights are zero whatever the range of the kept ones.
    """
    fn = PROTECTIONS[check_protection(protection)].receive_fn
    nonfinite = int(values.size - np.count_nonzero(np.isfinite(values)))
    out, changed = fn(record, values)
    return out, nonfinite, int(changed)


def reliable_bits_per_word(protection: str, kind: str, width: int, uep_bits: int | None = None,
                           index_reliable: bool = True) -> int:
    """Top bits of each ``width``-bit word of a ``kind`` segment that ``protection`` sends reliably.

    The positions of a pruned tensor's kept weights (``kind`` "index") say which connections the sub-model has:
    they are part of its architecture, the paper's "topology information, which defines the model architecture",
    and travel with the topology over the reliable channel whatever the protection (``index_reliable=True``, the
    default). ``index_reliable=False`` sends them over the lossy link, the what-if that shows why: one flipped
    bitmap or relative-index bit shifts every later weight of the tensor, which ruins the download whatever
    protects the values."""
    check_protection(protection)
    if kind == "index" and index_reliable:
        return check_int("width", width, 1, 32)
    bits = PROTECTIONS[protection].protected_bits(kind, width, uep_bits, index_reliable)
    return check_int("protected bits", bits, 0, width)


def uep_cost_bits(payload: Payload, uep_bits: int | None = None, index_reliable: bool = True) -> int:
    """Bits that unequal error protection sends over the reliable channel: the top bits of every value word, and
    the sparse index bits (sent reliably with every protection unless ``index_reliable=False``)."""
    return sum(int(s.words.size) * _uep_reliable(s.kind, s.width, uep_bits, index_reliable) for s in payload.segments)


__all__ = ["Protection", "PROTECTIONS", "PROTECTION_NAMES", "UEP_DEFAULT_BITS", "register_protection",
           "check_protection", "protection_label", "protect_values", "reliable_bits_per_word",
           "uep_protected_bits", "uep_cost_bits"]
