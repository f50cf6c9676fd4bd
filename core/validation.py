"""Argument checks shared by the engine: every error names the argument, its value and what is allowed.

Types are checked, not coerced: ``'0.5'`` is not a number, ``True`` is not an integer and ``2.0`` is not an
integer either (a caller that means a number passes one; a text from a form or a URL is parsed where it is read).
"""
from __future__ import annotations

import math
import operator
from collections.abc import Iterable


def _kind(value) -> str:
    return type(value).__name__


def _is_bool(value) -> bool:
    """Python and numpy booleans (and 0-d boolean arrays): never numbers here, although int(True) == 1."""
    return isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", None) == "b"


def is_real_number(value) -> bool:
    """An int, a float, a numpy scalar or 0-d array of one, or another real number; not a text, not a bool."""
    if _is_bool(value) or isinstance(value, (str, bytes, bytearray, complex)):
        return False
    if getattr(value, "ndim", 0) != 0:  # arrays and tensors of one or more elements are not a number
        return False
    return hasattr(value, "__float__")


def check_number(name: str, value) -> float:
    """Return ``value`` as a float if it is a real number (not a text, not a bool), else raise ValueError naming
    it."""
    if not is_real_number(value):
        raise ValueError(f"{name}={value!r} must be a number (int or float), not {_kind(value)}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}={value!r} is not a number") from None


def check_range(name: str, value, lo: float | None = None, hi: float | None = None, *,
                lo_open: bool = False, hi_open: bool = False) -> float:
    """Return ``value`` as a float if it is a number in the interval, else raise ValueError naming it."""
    number = check_number(name, value)
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
    """Return ``value`` as an int if it is an integer (int or numpy integer, not a bool, a float or a text) within
    [lo, hi], else raise ValueError naming it."""
    if _is_bool(value) or isinstance(value, (float, str, bytes)):
        raise ValueError(f"{name}={value!r} must be an integer, not {_kind(value)}")
    try:
        number = operator.index(value)
    except TypeError:
        raise ValueError(f"{name}={value!r} must be an integer, not {_kind(value)}") from None
    if (lo is not None and number < lo) or (hi is not None and number > hi):
        raise ValueError(f"{name}={value!r} is outside the allowed range "
                         f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]")
    return number


def check_bool(name: str, value) -> bool:
    """Return ``value`` if it is True or False (a Python or numpy bool), else raise ValueError naming it."""
    if not _is_bool(value) or getattr(value, "ndim", 0) != 0:
        raise ValueError(f"{name}={value!r} must be True or False, not {_kind(value)}")
    return bool(value)


def check_choice(name: str, value, allowed: Iterable):
    """Return ``value`` if it is one of ``allowed`` (a bool never stands for 1 or 0), else raise ValueError listing
    the choices. Numeric choices are checked with ``check_int``/``check_number`` first where 8.0 must not be 8."""
    options = list(allowed)
    try:
        match = any(value == o and _is_bool(value) == _is_bool(o) for o in options)
    except (TypeError, ValueError):  # e.g. an array, compared element-wise
        match = False
    if not match:
        raise ValueError(f"{name}={value!r} is not one of {options}")
    return value
