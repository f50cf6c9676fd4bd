"""Link-level helpers in pure numpy: bit-error rate from SNR for BPSK, QPSK and M-QAM over AWGN, and Shannon capacity.

Convention: ``snr_db`` is the SNR per symbol (Es/N0), and Eb/N0 = SNR / log2 M. All functions are vectorised over arrays.
"""
from __future__ import annotations

import math

import numpy as np

from scipy.special import erfc as _erfc  # vectorised and exact to double precision (a scikit-learn dependency)

from core.validation import check_choice, check_range

# Bits per symbol of each supported modulation (Gray-coded).
MODULATIONS: dict[str, int] = {"BPSK": 1, "QPSK": 2, "16-QAM": 4, "64-QAM": 6, "256-QAM": 8}



def check_range_array(name: str, values, lo: float | None = None, hi: float | None = None, *,
                      lo_open: bool = False, hi_open: bool = False) -> np.ndarray:
    """Array version of ``check_range``: return ``values`` as a float array, or raise naming the first bad element."""
    if np.ndim(values) == 0:
        return np.asarray(check_range(name, values, lo, hi, lo_open=lo_open, hi_open=hi_open))
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={values!r} is not an array of numbers") from None
    bad = np.isnan(arr)
    if lo is not None:
        bad |= arr <= lo if lo_open else arr < lo
    if hi is not None:
        bad |= arr >= hi if hi_open else arr > hi
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = index[0] if len(index) == 1 else index
        check_range(f"{name}[{where}]", arr[index], lo, hi, lo_open=lo_open, hi_open=hi_open)
    return arr


def _scalar_or_array(result: np.ndarray, *inputs):
    """Return a Python float when every input was a scalar, else the array."""
    return float(result) if all(np.ndim(x) == 0 for x in inputs) else result


def q_function(x):
    """Gaussian tail probability Q(x) = P(N(0,1) > x) = erfc(x / sqrt 2) / 2."""
    return _scalar_or_array(0.5 * _erfc(np.asarray(x, dtype=float) / math.sqrt(2.0)), x)


def db_to_linear(db):
    """Power ratio from decibels."""
    return 10.0 ** (np.asarray(db, dtype=float) / 10.0)


def ebn0_db_from_snr(snr_db, modulation: str):
    """Eb/N0 in dB for a per-symbol SNR in dB: Eb/N0 = SNR / log2 M."""
    check_choice("modulation", modulation, MODULATIONS)
    snr = check_range_array("snr_db", snr_db, -200.0, 200.0)
    return _scalar_or_array(snr - 10.0 * math.log10(MODULATIONS[modulation]), snr_db)


def ber_from_snr(snr_db, modulation: str = "QPSK"):
    """Bit-error rate over AWGN for a per-symbol SNR in dB; clipped to [0, 0.5].

    BPSK and QPSK: Q(sqrt(2 Eb/N0)). Square M-QAM (Gray-coded, nearest-neighbour approximation):
    (4 / log2 M)(1 - 1/sqrt M) Q(sqrt(3 log2 M Eb/N0 / (M - 1))).
    """
    check_choice("modulation", modulation, MODULATIONS)
    snr = db_to_linear(check_range_array("snr_db", snr_db, -200.0, 200.0))
    k = MODULATIONS[modulation]
    ebn0 = snr / k
    if k <= 2:
        ber = 0.5 * _erfc(np.sqrt(2.0 * ebn0) / math.sqrt(2.0))
    else:
        m = 2 ** k
        ber = (4.0 / k) * (1.0 - 1.0 / math.sqrt(m)) * 0.5 * _erfc(
            np.sqrt(3.0 * k * ebn0 / (m - 1)) / math.sqrt(2.0))
    # The approximation exceeds 0.5 at very low SNR; a BER above 0.5 is meaningless for a binary channel.
    return _scalar_or_array(np.clip(ber, 0.0, 0.5), snr_db)


def snr_for_ber(target_ber: float, modulation: str = "QPSK") -> float:
    """Smallest per-symbol SNR in dB at which ``ber_from_snr`` reaches ``target_ber`` (bisection, 0.001 dB)."""
    target = check_range("target_ber", target_ber, 0.0, 0.5, lo_open=True, hi_open=True)
    check_choice("modulation", modulation, MODULATIONS)
    lo, hi = -30.0, 60.0  # BER is monotone decreasing in SNR over this span for every modulation
    if ber_from_snr(hi, modulation) > target:
        raise ValueError(f"target_ber={target_ber!r} needs more than {hi} dB SNR with {modulation}; "
                         f"allowed: a BER reachable below {hi} dB")
    while hi - lo > 1e-3:
        mid = 0.5 * (lo + hi)
        if ber_from_snr(mid, modulation) > target:
            lo = mid
        else:
            hi = mid
    return hi


def shannon_capacity(bandwidth_hz, snr_db):
    """Shannon capacity C = B log2(1 + SNR) in bit/s."""
    bandwidth = check_range_array("bandwidth_hz", bandwidth_hz, 0.0, lo_open=True)
    snr = db_to_linear(check_range_array("snr_db", snr_db, -200.0, 200.0))
    return _scalar_or_array(bandwidth * np.log2(1.0 + snr), bandwidth_hz, snr_db)
