"""Bit-error rates: the one check, the slider's grid and the sweep grid that pages and the library use.

A BER is the flip probability of one bit of a binary symmetric channel, from 0 (error-free) to 0.5 (no
information). The slider offers ``BER_EXPONENTS`` (log10 values); sweeps measure ``BER_GRID``.
"""
from __future__ import annotations

import math

from core.validation import check_range

# The BER slider's values as log10(BER): whole decades, half decades where accuracy changes fastest.
BER_EXPONENTS = (-9.0, -8.0, -7.0, -6.0, -5.0, -4.5, -4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -1.0)
# The BERs of an accuracy-against-BER sweep (Live page curve): from harmless to collapse for every sub-model.
BER_GRID = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2)


def check_ber(ber) -> float:
    """Bit-error rate of a binary symmetric channel: 0 (error-free) to 0.5 (no information)."""
    return check_range("ber", ber, 0.0, 0.5)


def snap_ber(ber, exponents=BER_EXPONENTS) -> float:
    """The log10 exponent in ``exponents`` nearest to log10(``ber``) (the slider position that shows ``ber``).

    A BER of 0 has no exponent: callers show it with a separate "error-free" switch, so 0 is refused here.
    Use ``on_grid`` to tell whether the slider shows the value exactly (a shared link must not change silently).
    """
    ber = check_ber(ber)
    if ber == 0.0:
        raise ValueError("ber=0.0 has no log10 exponent: show an error-free link with its own switch")
    if not exponents:
        raise ValueError("exponents=() : at least one slider value is needed")
    log = math.log10(ber)
    return float(min(exponents, key=lambda e: abs(e - log)))


def on_grid(ber, exponents=BER_EXPONENTS, rel_tol: float = 1e-9) -> bool:
    """Whether ``ber`` is 0 or 10 ** e for one of ``exponents`` (within ``rel_tol``): the slider shows it exactly."""
    ber = check_ber(ber)
    if ber == 0.0:
        return True
    return math.isclose(10 ** snap_ber(ber, exponents), ber, rel_tol=rel_tol)


__all__ = ["BER_EXPONENTS", "BER_GRID", "check_ber", "snap_ber", "on_grid"]
