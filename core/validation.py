"""Argument checks shared by the engine: every error names the argument, its value and what is allowed."""
from __future__ import annotations

import math
from collections.abc import Iterable


def check_range(name: str, value, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``value`` as a number if it lies in the interval, else raise ValueError naming it."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number") from None
    left = "(" if lo_open else "["
    right = ")" if hi_open else "]"
    allowed = f"{left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"
    bad = math.isnan(number)
    if lo is not None:
        bad |= number <= lo if lo_open else number < lo
    if hi is not None:
        bad |= number >= hi if hi_open else number > hi
    if bad:
        raise ValueError(f"{name}={value!r} is outside the allowed range {allowed}")
    return number


def check_int(name: str, value, lo: int | None = None, hi: int | None = None) -> int:
    """Return ``value`` as an int if it is an integer within [lo, hi], else raise ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not (
            hasattr(value, "__index__") and not isinstance(value, float)):
        raise ValueError(f"{name}={value!r} must be an integer")
    number = int(value)
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise ValueError(f"{name}={value!r} is outside the allowed range "
                         f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]")
    return number


def check_choice(name: str, value, allowed: Iterable):
    """Return ``value`` if it is one of ``allowed``, else raise ValueError listing the choices."""
    options = list(allowed)
    if value not in options:
        raise ValueError(f"{name}={value!r} is not one of {options}")
    return value
