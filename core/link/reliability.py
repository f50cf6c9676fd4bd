"""Accuracy of a sub-model downloaded over an unreliable link: Monte Carlo over seeded trials of the channel.

A ``WorkingCopy`` holds one private copy of the device module; each trial writes only the tensors the channel
hit, evaluates, and restores them from the clean values, so a trial costs about one evaluation. Trial ``i`` draws
from ``np.random.default_rng([seed, i])``: results do not depend on how many trials are asked or in what order.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.link.channel import (PacketConfig, check_ber, check_payload, check_protection, corrupt, lose_packets,
                          receive, uep_cost_bits)
from core.model.data import DataSplits
from core.model.evaluate import accuracy
from core.compress.payload import Payload, decode
from core.validation import check_int

# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom (normal 1.96 beyond).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t_quantile_975(dof: int) -> float:
    return _T975[dof - 1] if dof <= len(_T975) else 1.96


class WorkingCopy:
    """A private copy of a sub-model's module plus its clean tensors; trials corrupt and restore it in place.

    The sub-model's own module (possibly a cached, shared one) is never touched.
    """

    def __init__(self, submodel):
        payload = getattr(submodel, "payload", None)
        check_payload(payload)
        self.payload: Payload = payload
        self.module = copy.deepcopy(submodel.module).eval()
        self._state = self.module.state_dict()
        for r in payload.records:
            if r.name not in self._state:
                raise ValueError(f"payload tensor {r.name!r} is not in the module: payload does not match it")
            if tuple(self._state[r.name].shape) != tuple(r.shape):
                raise ValueError(f"payload tensor {r.name!r} has shape {r.shape}, the module has "
                                 f"{tuple(self._state[r.name].shape)}")
        # Flat numpy views share memory with the module's tensors: writes are cheap and need no autograd.
        self._flat = {}
        for r in payload.records:
            tensor = self._state[r.name]
            if tensor.dtype != torch.float32 or not tensor.is_contiguous() or tensor.device.type != "cpu":
                raise ValueError(f"module tensor {r.name!r} must be contiguous float32 on the CPU, "
                                 f"not {tensor.dtype} on {tensor.device}")
            self._flat[r.name] = tensor.detach().numpy().reshape(-1)
        # The clean values are what a device receives at BER 0, decoded from the payload itself.
        self._clean = {n: t.numpy().reshape(-1).copy() for n, t in decode(payload).items()}
        self._dirty: dict = {}   # name -> None (whole tensor) or list of flat position tensors
        self.restore(everything=True)
        self._clean_accuracy: dict[tuple, float] = {}

    def write(self, tensors: dict) -> None:
        """Put received values into the working module: name -> whole array, or (flat positions, values)."""
        for name, update in tensors.items():
            target = self._flat[name]
            if isinstance(update, tuple):
                index, values = update
                target[index] = values
                if self._dirty.get(name, ()) is not None:
                    self._dirty.setdefault(name, []).append(index)
            else:
                update = update.detach().cpu().numpy() if isinstance(update, torch.Tensor) else update
                target[:] = np.asarray(update, dtype=target.dtype).reshape(-1)
                self._dirty[name] = None

    def restore(self, everything: bool = False) -> None:
        """Put the clean values back where they were written since the last restore."""
        dirty = dict.fromkeys(self._clean) if everything else self._dirty
        for name, parts in dirty.items():
            target, clean = self._flat[name], self._clean[name]
            if parts is None:
                target[:] = clean
            else:
                for index in parts:
                    target[index] = clean[index]
        self._dirty = {}

    @property
    def is_clean(self) -> bool:
        return not self._dirty

    def evaluate(self, data: DataSplits, split: str = "test", limit: int | None = None) -> float:
        """Accuracy of the working module as it is now (cached while it is clean)."""
        key = (id(data), split, limit)
        if self.is_clean and key in self._clean_accuracy:
            return self._clean_accuracy[key]
        acc = accuracy(self.module, data, split, limit=limit)
        if self.is_clean:
            self._clean_accuracy[key] = acc
        return acc


@dataclass(frozen=True)
class TrialResult:
    """One download over the link and the accuracy of what arrived."""

    index: int
    accuracy: float
    flips: int                 # bits flipped (BSC view)
    lossy_bits: int            # payload bits exposed to errors
    reliable_bits: int         # bits moved to the reliable channel (UEP, reliable tensors)
    nonfinite: int             # non-finite received values before protection
    replaced: int              # values the protection (or packet loss) zeroed, clamped or replaced
    lost_packets: int
    retransmitted_bits: int
    corrupt_seconds: float     # channel + decode + write + restore
    eval_seconds: float


@dataclass(frozen=True)
class BerResult:
    """Monte Carlo estimate of accuracy under BER: per-trial values, mean, spread and a 95 % interval."""

    ber: float
    protection: str
    trials: tuple[float, ...]
    mean: float
    std: float                 # sample standard deviation (0 for one trial)
    ci95: tuple[float, float]  # Student-t interval of the mean (a point for one trial)
    mean_flips: float
    lossy_bits: int
    reliable_bits: int
    mean_nonfinite: float
    mean_replaced: float
    mean_corrupt_seconds: float
    mean_eval_seconds: float
    seed: int
    packets: PacketConfig | None = None

    def row(self) -> dict:
        return {"ber": self.ber, "protection": self.protection, "trials": len(self.trials), "mean": self.mean,
                "std": self.std, "ci95_low": self.ci95[0], "ci95_high": self.ci95[1], "mean_flips": self.mean_flips,
                "lossy_bits": self.lossy_bits, "reliable_bits": self.reliable_bits,
                "mean_nonfinite": self.mean_nonfinite, "mean_replaced": self.mean_replaced}


def summarise(results, ber: float, protection: str, seed: int = 0,
              packets: PacketConfig | None = None) -> BerResult:
    """BerResult of the trials so far (the dashboard's growing estimate)."""
    results = list(results)
    if not results:
        raise ValueError("results=[] : at least one trial is needed for an estimate")
    acc = np.array([r.accuracy for r in results], dtype=float)
    n = len(acc)
    mean = float(acc.mean())
    std = float(acc.std(ddof=1)) if n > 1 else 0.0
    half = t_quantile_975(n - 1) * std / math.sqrt(n) if n > 1 else 0.0
    return BerResult(
        ber=float(ber), protection=protection, trials=tuple(float(a) for a in acc), mean=mean, std=std,
        ci95=(mean - half, mean + half), mean_flips=float(np.mean([r.flips for r in results])),
        lossy_bits=results[0].lossy_bits, reliable_bits=results[0].reliable_bits,
        mean_nonfinite=float(np.mean([r.nonfinite for r in results])),
        mean_replaced=float(np.mean([r.replaced for r in results])),
        mean_corrupt_seconds=float(np.mean([r.corrupt_seconds for r in results])),
        mean_eval_seconds=float(np.mean([r.eval_seconds for r in results])), seed=seed, packets=packets)


def trial_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of trial ``index``: independent of the number of trials asked."""
    return np.random.default_rng([seed, index])


def run_trial(working: WorkingCopy, data: DataSplits, ber: float, protection: str, rng: np.random.Generator,
              index: int = 0, split: str = "test", limit: int | None = None, uep_bits: int | None = None,
              packets: PacketConfig | None = None, fallback: dict | None = None, reliable=(),
              uep_index: bool = True) -> TrialResult:
    """Send the working copy's payload once, evaluate what arrived, restore the copy."""
    started = time.perf_counter()
    lost = retrans = 0
    if packets is None:
        hit = corrupt(working.payload, ber, rng, protection, uep_bits, reliable, check=False, uep_index=uep_index)
        got = receive(working.payload, hit)
        flips, lossy, reliable_bits, nonfinite, replaced = hit.flips, hit.lossy_bits, hit.reliable_bits, \
            got.nonfinite, got.replaced
        tensors = got.tensors
    else:
        loss = lose_packets(working.payload, ber, rng, packets, fallback)
        flips, lossy, reliable_bits, nonfinite, replaced = 0, working.payload.payload_bits, 0, 0, loss.replaced
        lost, retrans, tensors = loss.lost_packets, loss.retransmitted_bits, loss.tensors
    working.write(tensors)
    corrupt_s = time.perf_counter() - started
    started = time.perf_counter()
    try:
        acc = working.evaluate(data, split, limit)
    finally:
        eval_s = time.perf_counter() - started
        started = time.perf_counter()
        working.restore()
        corrupt_s += time.perf_counter() - started
    return TrialResult(index, acc, flips, lossy, reliable_bits, nonfinite, replaced, lost, retrans, corrupt_s, eval_s)


def iter_trials(submodel, data: DataSplits, ber: float, protection: str = "none", trials: int = 10,
                seed: int = 0, split: str = "test", limit: int | None = None, uep_bits: int | None = None,
                packets: PacketConfig | None = None, fallback: dict | None = None, start: int = 0,
                working: WorkingCopy | None = None, reliable=(), uep_index: bool = True) -> Iterator[TrialResult]:
    """Yield trials ``start .. start + trials - 1`` as they finish (for a progress bar and a growing estimate).

    ``working`` reuses a WorkingCopy of the same sub-model across calls (e.g. a sweep over BER). ``reliable``
    names tensors sent whole over the reliable channel (e.g. ``core.link.channel.small_tensor_names(payload)``).
    """
    ber = check_ber(ber)
    protection = check_protection(protection)
    trials = check_int("trials", trials, 1)
    seed = check_int("seed", seed, 0)
    start = check_int("start", start, 0)
    if limit is not None:
        check_int("limit", limit, 1)
    if uep_bits is not None:
        check_int("uep_bits", uep_bits, 0, 32)
    if packets is not None and not isinstance(packets, PacketConfig):
        raise ValueError(f"packets={packets!r} must be a PacketConfig or None")
    reliable = tuple(reliable)
    if reliable:
        unknown = sorted(set(reliable) - {r.name for r in submodel.payload.records})
        if unknown:
            raise ValueError(f"reliable names tensors not in the payload: {unknown[:3]}")
    if working is None:
        working = WorkingCopy(submodel)
    elif working.payload is not submodel.payload:
        raise ValueError("working: the WorkingCopy was made for another sub-model's payload")
    for i in range(start, start + trials):
        yield run_trial(working, data, ber, protection, trial_rng(seed, i), i, split, limit, uep_bits,
                        packets, fallback, reliable, uep_index)


def accuracy_under_ber(submodel, data: DataSplits, ber: float, protection: str = "none", trials: int = 10,
                       seed: int = 0, split: str = "test", limit: int | None = None,
                       uep_bits: int | None = None, packets: PacketConfig | None = None,
                       fallback: dict | None = None, working: WorkingCopy | None = None,
                       reliable=(), uep_index: bool = True) -> BerResult:
    """Monte Carlo accuracy of ``submodel`` received over a BSC with bit-error rate ``ber``."""
    results = list(iter_trials(submodel, data, ber, protection, trials, seed, split, limit, uep_bits, packets,
                               fallback, working=working, reliable=reliable,
                               uep_index=uep_index))
    return summarise(results, ber, protection, seed, packets)


__all__ = ["WorkingCopy", "TrialResult", "BerResult", "iter_trials", "accuracy_under_ber", "run_trial",
           "summarise", "trial_rng", "uep_cost_bits"]
