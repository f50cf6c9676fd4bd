"""Downloads share the cell: every transfer runs on the downlink of the base station serving its user, and with
processor sharing the N transfers in flight in a cell each get 1/N of the airtime (each at its own Shannon
rate, so rate / N). Without fast fading, proportional fair scheduling gives the same equal airtime shares.
``sharing="none"`` lets every transfer use its own full rate (the old, load-blind model) for comparison.

Time advances in the simulation's steps; within a step the cell's N counts every transfer active at any time in
that step (slightly pessimistic for one that starts or ends mid-step), and a transfer's completion is placed
exactly within the step. Transfers still running at the horizon finish at the rate and share of the last step.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.validation import check_choice, check_int

SHARING = ("processor_sharing", "none")
SHARING_LABELS = {"processor_sharing": "shared cell (processor sharing: equal airtime per download)",
                  "none": "no sharing (every download at its own full rate)"}


@dataclass(frozen=True, eq=False)
class Transfers:
    """Per transfer: when it ended (finished or cancelled), whether it finished, and the bits delivered; per base
    station and step: the bits delivered and the number of transfers in flight."""
    end: np.ndarray
    finished: np.ndarray
    sent: np.ndarray
    load_bits: np.ndarray        # (base stations, steps)
    in_flight: np.ndarray        # (base stations, steps)


def run_transfers(user, begin, bits, cancel, serving: np.ndarray, rate: np.ndarray, step_s: float,
                  sharing: str = "processor_sharing", n_bs: int | None = None) -> Transfers:
    """Run every transfer (``begin`` s, ``bits``, cancelled at ``cancel`` s or never: inf) of users on the grid of
    ``serving`` base station and own downlink ``rate`` (users, steps). ``n_bs``: the area's number of base
    stations, the rows of the load (default: up to the highest one serving anybody, which leaves out stations
    that serve nobody in this run)."""
    check_choice("sharing", sharing, SHARING)
    served = int(serving.max()) + 1 if serving.size else 1
    n_bs = served if n_bs is None else check_int("n_bs", n_bs, served)
    user = np.asarray(user, dtype=np.int64)
    begin = np.asarray(begin, dtype=np.float64)
    bits = np.asarray(bits, dtype=np.float64)
    cancel = np.asarray(cancel, dtype=np.float64)
    n = len(user)
    n_users, steps = rate.shape
    load = np.zeros((n_bs, steps))
    in_flight = np.zeros((n_bs, steps), dtype=np.int32)
    end = np.full(n, np.nan)
    finished = np.zeros(n, bool)
    remaining = bits.copy()
    if n == 0:
        return Transfers(end, finished, np.zeros(0), load, in_flight)
    order = np.argsort(begin, kind="stable")
    sorted_begin = begin[order]
    shared = sharing == "processor_sharing"
    active = np.zeros(0, dtype=np.int64)
    ptr = 0
    k = max(int(np.floor(sorted_begin[0] / step_s)), 0)
    while k < steps:
        t0, t1 = k * step_s, (k + 1) * step_s
        j = int(np.searchsorted(sorted_begin, t1, side="left"))
        if j > ptr:
            active = np.concatenate([active, order[ptr:j]])
            ptr = j
        if active.size == 0:
            if ptr >= n:
                break
            k = max(int(np.floor(sorted_begin[ptr] / step_s)), k + 1)   # jump over idle time
            continue
        u = user[active]
        cell = serving[u, k].astype(np.int64)
        count = np.bincount(cell, minlength=n_bs)
        in_flight[:, k] = count
        eff = rate[u, k].astype(np.float64) / (count[cell] if shared else 1.0)
        s = np.maximum(begin[active], t0)
        e = np.minimum(cancel[active], t1)
        can = eff * np.maximum(e - s, 0.0)
        rem = remaining[active]
        fin = rem <= can
        end[active[fin]] = s[fin] + rem[fin] / np.maximum(eff[fin], 1e-300)
        finished[active[fin]] = True
        delivered = np.where(fin, rem, can)
        remaining[active] = rem - delivered
        load[:, k] = np.bincount(cell, weights=delivered, minlength=n_bs)
        stopped = ~fin & (cancel[active] <= t1)
        end[active[stopped]] = cancel[active[stopped]]
        active = active[~fin & ~stopped]
        k += 1
    # Past the horizon: the rest continue at the last step's rate and share.
    rest = np.concatenate([active, order[ptr:]])
    if rest.size:
        u = user[rest]
        cell = serving[u, steps - 1].astype(np.int64)
        count = np.bincount(cell, minlength=n_bs)[cell] if shared else 1.0
        eff = np.maximum(rate[u, steps - 1].astype(np.float64) / count, 1e-300)
        t_from = np.maximum(begin[rest], steps * step_s)
        done_at = t_from + remaining[rest] / eff
        stop = cancel[rest] < done_at
        end[rest] = np.where(stop, cancel[rest], done_at)
        finished[rest] = ~stop
        remaining[rest] = np.where(stop, remaining[rest] - eff * np.maximum(cancel[rest] - t_from, 0.0), 0.0)
    return Transfers(end, finished, bits - remaining, load, in_flight)

