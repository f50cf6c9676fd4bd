"""Mismatch detection: a drift detector from ``river`` watches the stream of the device model's confidence (its
largest softmax probability per photo) and flags when it changes, the paper's "degrading confidence level" that
should trigger the download of a sub-model fit for the new situation.

The detection itself is river's (ADWIN, Page-Hinkley); this module names the detectors and their settings in one
registry, runs a model on a stream of photos, and scores alarms against a known change point.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from types import MappingProxyType

import numpy as np
import torch
from torch import nn

from core.model.evaluate import EVAL_BATCH, fast_layout
from core.model.splits import DataSplits
from core.validation import check_choice, check_int, check_range


def _adwin(**kwargs):
    from river.drift import ADWIN  # imported when used: importing river.drift takes about 1.5 s

    return ADWIN(**kwargs)


def _page_hinkley(**kwargs):
    from river.drift import PageHinkley

    return PageHinkley(**kwargs)


@dataclass(frozen=True)
class DetectorKind:
    """One drift detector of river: how to make it, which DetectorConfig fields it takes, the project's defaults."""

    name: str
    label: str
    factory: Callable
    defaults: MappingProxyType  # river keyword -> value, for every field this kind takes
    note: str


DETECTORS: dict[str, DetectorKind] = {
    "adwin": DetectorKind(
        "adwin", "ADWIN (adaptive windowing)", _adwin,
        # clock=1 tests every photo (river's default 32 tests every 32nd: up to 31 photos later). delta=0.05, not
        # river's 0.002: ADWIN's bound holds for any values in [0, 1] and is loose on confidences. Measured with
        # bench/bench_drift.py --alternatives: at 0.002 it missed 19 of 30 changes from road to park (CIFAR-10
        # root, 300 photos each) and 22 of 30 on noisy digits, at 0.05 1 and 0; neither raised a false alarm in
        # 8,000 photos of unchanged places.
        MappingProxyType({"delta": 0.05, "clock": 1, "grace_period": 10, "min_window_length": 5}),
        "flags a change of the mean either way; delta is the significance (smaller: fewer false alarms, later)"),
    "page_hinkley": DetectorKind(
        "page_hinkley", "Page-Hinkley (CUSUM)", _page_hinkley,
        # river's threshold 50 suits values of order 10-100; confidences lie in [0, 1]. Measured with
        # bench/bench_drift.py --alternatives on 8,000 photos of unchanged places (CIFAR-10 root): threshold 5
        # raised 3 false alarms (at home and in the park, where the root is least sure), threshold 3 raised 7;
        # threshold 5 flags a change from road to home a median 36 photos after it (threshold 3: 18).
        MappingProxyType({"threshold": 5.0, "delta": 0.01, "min_instances": 30, "alpha": 0.9999,
                          "mode": "down"}),
        "cumulative sum of deviations below the running mean; mode 'down' watches only a fall in confidence"),
}
PH_MODES = ("down", "up", "both")


@dataclass(frozen=True)
class DetectorConfig:
    """A drift detector and its settings, named as river names them. A setting left None takes the kind's
    default (``DETECTORS[kind].defaults``); a setting the kind does not take must stay None.

    ``delta``: ADWIN's significance in (0, 1), or Page-Hinkley's tolerated change of the mean (>= 0).
    """

    kind: str = "adwin"
    delta: float | None = None
    clock: int | None = None  # ADWIN: test every clock-th sample
    grace_period: int | None = None  # ADWIN: samples before the first test
    min_window_length: int | None = None  # ADWIN: shortest sub-window compared
    threshold: float | None = None  # Page-Hinkley: lambda, the alarm level of the cumulative sum
    min_instances: int | None = None  # Page-Hinkley: samples before the first test
    alpha: float | None = None  # Page-Hinkley: forgetting factor of the cumulative sums, in (0, 1]
    mode: str | None = None  # Page-Hinkley: watch a fall ("down"), a rise ("up") or both

    def __post_init__(self):
        check_choice("kind", self.kind, DETECTORS)
        takes = DETECTORS[self.kind].defaults
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "kind" and value is not None and f.name not in takes:
                users = [k for k, d in DETECTORS.items() if f.name in d.defaults]
                raise ValueError(f"{f.name}={value!r} is a setting of {users}, not of kind={self.kind!r}; "
                                 f"kind {self.kind!r} takes {sorted(takes)}")
        p = self.parameters()
        if self.kind == "adwin":
            check_range("delta", p["delta"], 0, 1, lo_open=True, hi_open=True)
            check_int("clock", p["clock"], 1)
            check_int("grace_period", p["grace_period"], 1)
            check_int("min_window_length", p["min_window_length"], 1)
        else:
            check_range("delta", p["delta"], 0, None)
            check_range("threshold", p["threshold"], 0, None, lo_open=True)
            check_int("min_instances", p["min_instances"], 1)
            check_range("alpha", p["alpha"], 0, 1, lo_open=True)
            check_choice("mode", p["mode"], PH_MODES)

    def parameters(self) -> dict:
        """The river keyword arguments: this config's settings over the kind's defaults."""
        given = {k: getattr(self, k) for k in DETECTORS[self.kind].defaults if getattr(self, k) is not None}
        return {**DETECTORS[self.kind].defaults, **given}


def make_detector(config: DetectorConfig):
    """A fresh river detector for ``config`` (``update(x)``, then ``drift_detected``)."""
    if not isinstance(config, DetectorConfig):
        raise ValueError(f"config={config!r} must be a DetectorConfig, not {type(config).__name__}")
    return DETECTORS[config.kind].factory(**config.parameters())


@dataclass(frozen=True)
class DetectionResult:
    """Where a detector flagged a drift in a stream, scored against the change point when one is known.

    ``delay``: samples of the new situation seen before the one that raised the first alarm after the change
    (0: the very first one). ``false_alarms``: alarms before the change point. Both are None without a change
    point; ``first_after`` is then None too. ``trigger``: the first alarm of all, where a device would ask for a
    download.
    """

    config: DetectorConfig
    samples: int
    alarms: tuple[int, ...]
    change_point: int | None
    first_after: int | None
    delay: int | None
    false_alarms: int | None

    @property
    def trigger(self) -> int | None:
        return self.alarms[0] if self.alarms else None

    @property
    def detected(self) -> bool:
        """An alarm at or after the change point (any alarm when no change point was given)."""
        return (self.first_after if self.change_point is not None else self.trigger) is not None


def _check_confidences(confidences) -> np.ndarray:
    if isinstance(confidences, torch.Tensor):
        confidences = confidences.detach().cpu().numpy()
    if isinstance(confidences, (str, bytes)) or np.ndim(confidences) != 1:
        raise ValueError(f"confidences must be a 1-D sequence of numbers, got {type(confidences).__name__} of "
                         f"{np.ndim(confidences)} dimensions")
    raw = np.asarray(confidences)
    if raw.dtype.kind not in "iuf":  # texts such as "0.7" are not read as numbers, nor are booleans
        raise ValueError(f"confidences must hold numbers only, not {raw.dtype} values")
    x = raw.astype(np.float64)
    if x.size == 0:
        raise ValueError("confidences is empty: a stream needs at least one sample")
    bad = np.flatnonzero(~np.isfinite(x) | (x < 0) | (x > 1))
    if bad.size:
        raise ValueError(f"confidences[{bad[0]}]={float(x[bad[0]])!r} is outside [0, 1] ({bad.size} such "
                         "samples): a confidence is a softmax probability")
    return x


def detect(confidences, config: DetectorConfig = DetectorConfig(), change_point: int | None = None
           ) -> DetectionResult:
    """Feed a stream of confidences (each in [0, 1], in order) to a fresh detector and record every sample at
    which it flagged a drift; with ``change_point`` (the index of the first sample of the new situation), score
    the alarms against it."""
    x = _check_confidences(confidences)
    if change_point is not None:
        change_point = check_int("change_point", change_point, 0, len(x) - 1)
    detector = make_detector(config)
    alarms = []
    for i, value in enumerate(x.tolist()):
        detector.update(value)
        if detector.drift_detected:
            alarms.append(i)
    first_after = delay = false_alarms = None
    if change_point is not None:
        after = [a for a in alarms if a >= change_point]
        first_after = after[0] if after else None
        delay = None if first_after is None else first_after - change_point
        false_alarms = sum(a < change_point for a in alarms)
    return DetectionResult(config, len(x), tuple(alarms), change_point, first_after, delay, false_alarms)


@dataclass(frozen=True)
class BetaStream:
    """A synthetic confidence stream with a known change point: Beta(a, b) confidences, ``before`` up to
    ``change_point`` and ``after`` from it on (Beta(18, 2) has mean 0.9, Beta(7, 3) mean 0.7)."""

    samples: int = 600
    change_point: int = 300
    before: tuple[float, float] = (18.0, 2.0)
    after: tuple[float, float] = (7.0, 3.0)

    def __post_init__(self):
        check_int("samples", self.samples, 2)
        check_int("change_point", self.change_point, 1, self.samples - 1)
        for name in ("before", "after"):
            shape = getattr(self, name)
            if not isinstance(shape, tuple) or len(shape) != 2:
                raise ValueError(f"{name}={shape!r} must be a pair (a, b) of Beta shape parameters")
            for v in shape:
                check_range(name, v, 0, None, lo_open=True)


def beta_stream(config: BetaStream, seed: int) -> np.ndarray:
    """The confidences of ``config`` drawn with a generator seeded by ``seed``."""
    check_int("seed", seed, 0)
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.beta(*config.before, size=config.change_point),
                           rng.beta(*config.after, size=config.samples - config.change_point)])


@dataclass(frozen=True, eq=False)
class ConfidenceStream:
    """A model's answers on a sequence of test photos, in the order seen: per photo its index in the test split,
    the largest softmax probability, the predicted class and whether it was right."""

    indices: np.ndarray
    confidence: np.ndarray
    predicted: np.ndarray
    correct: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def accuracy(self) -> float:
        return float(self.correct.mean()) if len(self) else float("nan")

    @property
    def mean_confidence(self) -> float:
        return float(self.confidence.mean()) if len(self) else float("nan")


def _check_indices(indices, n: int) -> np.ndarray:
    if isinstance(indices, torch.Tensor):
        indices = indices.cpu().numpy()
    idx = np.asarray(indices)
    if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
        raise ValueError(f"indices must be a non-empty 1-D sequence of integers, got {idx.ndim} dimensions of "
                         f"{idx.dtype} ({idx.size} values)")
    bad = np.flatnonzero((idx < 0) | (idx >= n))
    if bad.size:
        raise ValueError(f"indices[{bad[0]}]={int(idx[bad[0]])} is outside the test split's [0, {n - 1}]")
    return idx.astype(np.int64)


@torch.no_grad()
def confidence_stream(module: nn.Module, data: DataSplits, indices, batch: int = EVAL_BATCH) -> ConfidenceStream:
    """Run ``module`` (eval mode, no gradient; its mode is put back) on the test photos ``indices`` in that order;
    return each photo's largest softmax probability, predicted class and correctness."""
    if not isinstance(module, nn.Module):
        raise ValueError(f"module={type(module).__name__} must be a torch module")
    check_int("batch", batch, 1)
    idx = _check_indices(indices, len(data.y_test))
    was_training = module.training
    module.eval()
    try:
        conf, pred = [], []
        for start in range(0, len(idx), batch):
            part = torch.from_numpy(idx[start:start + batch])
            logits = module(fast_layout(data.normalise(data.x_test[part])))
            c, p = torch.softmax(logits.float(), dim=1).max(dim=1)
            conf.append(c)
            pred.append(p)
    finally:
        module.train(was_training)
    confidence = torch.cat(conf).double().numpy()
    predicted = torch.cat(pred).numpy()
    correct = predicted == data.y_test[torch.from_numpy(idx)].numpy()
    return ConfidenceStream(idx, confidence, predicted, correct)


def concatenate(*streams: ConfidenceStream) -> tuple[ConfidenceStream, tuple[int, ...]]:
    """One stream of several in order (a device moving from place to place), and the index where each stream after
    the first begins: the change points."""
    if not streams or not all(isinstance(s, ConfidenceStream) for s in streams):
        raise ValueError("streams must be one or more ConfidenceStreams")
    starts = tuple(int(v) for v in np.cumsum([len(s) for s in streams])[:-1])
    joined = ConfidenceStream(*(np.concatenate([getattr(s, f.name) for s in streams])
                                for f in fields(ConfidenceStream)))
    return joined, starts


__all__ = ["DETECTORS", "PH_MODES", "BetaStream", "ConfidenceStream", "DetectionResult", "DetectorConfig",
           "DetectorKind", "beta_stream", "concatenate", "confidence_stream", "detect", "make_detector"]
