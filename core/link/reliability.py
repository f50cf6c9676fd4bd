"""Accuracy of a sub-model downloaded over an unreliable link: the paired estimator, its interval and its
stopping rule. (A trial with ``images`` at least the split's size evaluates every test image: plain whole-split
Monte Carlo, the reference that the tests check the estimator against.)

**Paired (control-variate) estimator.** ``k_i`` is 1 where the clean sub-model classifies test image ``i``
correctly (whole split, N images, computed once). Trial ``j`` corrupts the payload with the generator
``trial_rng(seed, j)``, draws a fresh subset S_j of n images from the same generator and evaluates the received
model there (``c_i``). Its estimate is

    A_j = mean_N(k) + mean_{S_j}(c - k)

which is unbiased for the whole-split accuracy of that trial's received model; its image-sampling variance is
var(c - k)(1 - n/N)/n, small when few predictions change. Over m trials the estimate is the mean of the A_j;
its interval is Student's t across trials,

    mean(A) +- t_{m-1, 1-alpha/2} * sqrt(max(s^2 / m, floor)),   s^2 the sample variance of the A_j,

which counts both the channel's randomness (each trial is a new download) and the sampling of test images
(each subset is fresh), because the A_j are independent and identically distributed. ``floor`` guards the
case where changes are rare and no sampled image changed (s = 0 although the whole split has changes): it is
the image-sampling variance p(1 - n/N)/(m n) with p = (changes seen + 1)/(images evaluated + 2), the share of
changed predictions with one pseudo-count each way (so never 0); it is skipped when no trial flipped a bit. The interval is clipped to [0, 1]. It covers the expected whole-split accuracy
over downloads (and so, more loosely, the mean whole-split accuracy of the very downloads it used).

**Stopping rule.** Trials run until, after at least ``min_trials`` (>= 2), the half-width is at most the target,
or ``max_trials`` or the time budget is reached. Stopping at the first small half-width is the Chow-Robbins
(1965) fixed-width rule: its coverage tends to the nominal level as the target shrinks; with few trials it can
fall a little below, because runs whose spread happens to look small stop early. The minimum trial count and
the floor limit this; ``tests/core/test_reliability.py`` measures it against whole-split evaluations of the same
downloads on the digits root and requires >= 90 % for the nominal 95 %.

**Ruined downloads.** At high BER a download is either fine or ruined (one flipped exponent bit, or many flipped
codes), so the mean of the trials hides what an operator asks: how often is a download ruined? A download is
*ruined* when its estimate falls below halfway between chance (1 / classes) and the clean sub-model's accuracy
(``ruin_threshold``; ``RUIN_RULE`` says it in words). Each BerResult counts its ruined trials and gives their share
with a 95 % Wilson interval over downloads (``ruin_share``), and the 10th and 90th percentiles of the single
downloads' estimates (each on ``images_per_trial`` images, so they also carry that sampling noise). A run whose
trials are mixed (some ruined, some not) is bimodal: it never stops on its half-width before ``mixed_min_trials``
trials, because a few trials that happen to agree would hide the other mode, and its interval is widened to
cover the mixture: the intact downloads' mean minus the ruined share (over its Wilson interval) times the gap
between the modes (``_mixture_interval``).

**First look.** With ``first_look_images = f`` (EstimateConfig), the first trial of a fresh estimate is evaluated
in two parts: a uniformly random f of its n images first (a random f-subset of a random n-subset of the split is
a random f-subset of the split, so ``mean_N(k) + mean_F(c - k)`` is the same unbiased paired estimate on f
images), yielded at once as a ``first_look`` result without an interval, then the other n - f images. The
finished trial is the same download on the same n images, so the estimate and its interval are those of a run
without the first look (predictions can differ only by float rounding between batch sizes). A first look is
never stored or continued: it only gets a number on screen sooner.

Trial ``j`` depends on (seed, j) only, never on how many trials are asked or in what order.

**Arithmetic.** The estimator evaluates with ``working.evaluator``: the float module, or for a WorkingCopy made
with ``arithmetic="int8"`` its int8 twin (core.link.int8). ``k`` must then come from the same evaluator
(``clean_correctness(working.evaluator, ...)``, as ``iter_estimates`` does), and the estimate and its interval are
those of the int8 network, whose clean accuracy can differ from the float model's by a few tenths of a point.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats

from core.link.ber import check_ber
from core.link.bsc import corrupt, receive
from core.link.packets import PacketConfig
from core.link.protections import check_protection
from core.link.working import Arrival, WorkingCopy, correctness, download
from core.model.splits import DataSplits
from core.validation import check_int, check_range


def trial_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of trial ``index``: independent of the number of trials asked."""
    return np.random.default_rng([seed, index])


def t_quantile(confidence: float, dof: int) -> float:
    """Two-sided Student-t quantile: P(|T_dof| <= q) = confidence."""
    return float(stats.t.ppf(0.5 + confidence / 2, dof))


RUIN_RULE = "below halfway between chance and the accuracy without errors"


def ruin_threshold(clean_accuracy: float, chance: float) -> float:
    """The accuracy below which a download counts as ruined (module docstring, ``RUIN_RULE``)."""
    return chance + (clean_accuracy - chance) / 2


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a share ``successes / n`` (0, 1 without observations)."""
    if n <= 0:
        return 0.0, 1.0
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p, z2 = successes / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lo = 0.0 if successes == 0 else max(0.0, centre - half)  # exact ends: no rounding residue past the share
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


@dataclass(frozen=True)
class RuinShare:
    """How many of ``downloads`` were ruined (below ``threshold``), their share and its Wilson interval."""

    ruined: int
    downloads: int
    threshold: float
    lo: float
    hi: float

    @property
    def share(self) -> float:
        return self.ruined / self.downloads if self.downloads else math.nan


def ruin_share(ruined: int, downloads: int, threshold: float, confidence: float = 0.95) -> RuinShare:
    """The share of ruined downloads with its Wilson interval over downloads."""
    check_int("downloads", downloads, 0)
    check_int("ruined", ruined, 0, max(downloads, 0))
    return RuinShare(int(ruined), int(downloads), float(threshold), *wilson_interval(ruined, downloads, confidence))


def clean_correctness(module: torch.nn.Module, data: DataSplits, split: str = "test") -> np.ndarray:
    """Per-image correctness (bool, whole split) of a clean sub-model's module: the paired estimator's k."""
    return correctness(module, data, split)


# ---------------------------------------------------------------- the paired estimator

@dataclass(frozen=True)
class PairedTrial:
    """One download and its paired estimate of the whole-split accuracy of what arrived."""

    index: int
    estimate: float            # mean_N(k) + mean_S(c - k)
    images: int                # n, the subset evaluated
    n_test: int                # N, the whole split
    clean_accuracy: float      # mean_N(k)
    changed: int               # subset images whose prediction's correctness changed (|c - k| = 1)
    flips: int
    lossy_bits: int
    reliable_bits: int
    nonfinite: int
    replaced: int
    lost_packets: int
    retransmitted_bits: int
    corrupt_seconds: float     # channel + decode + write + restore
    eval_seconds: float
    first_look: bool = False   # only part of this trial's images evaluated so far (module docstring)

    @property
    def seconds(self) -> float:
        return self.corrupt_seconds + self.eval_seconds


def _check_clean(clean, data: DataSplits, split: str) -> np.ndarray:
    clean = np.asarray(clean)
    n = len(data.split(split)[1])
    if clean.dtype != bool or clean.shape != (n,):
        raise ValueError(f"clean: expected a bool array of shape ({n},) (clean_correctness of the {split!r} "
                         f"split), got {clean.dtype} {clean.shape}")
    return clean


def draw_subset(rng: np.random.Generator, n_test: int, images: int) -> np.ndarray:
    """Sorted positions of ``images`` distinct test images (all of them when ``images >= n_test``)."""
    if images >= n_test:
        return np.arange(n_test)
    return np.sort(rng.choice(n_test, size=images, replace=False))


def paired_trial(working: WorkingCopy, data: DataSplits, clean: np.ndarray, ber: float, protection: str,
                 seed: int, index: int, images: int, *, split: str = "test", uep_bits: int | None = None,
                 packets: PacketConfig | None = None, fallback: dict | None = None, reliable=(),
                 index_reliable: bool = True) -> PairedTrial:
    """Trial ``index``: corrupt with ``trial_rng(seed, index)``, evaluate a subset of ``images`` test images drawn
    from the same generator, and return the paired estimate (module docstring). The working copy is restored."""
    trial = None
    for trial in paired_trial_parts(working, data, clean, ber, protection, seed, index, images, split=split,
                                    uep_bits=uep_bits, packets=packets, fallback=fallback, reliable=reliable,
                                    index_reliable=index_reliable):
        pass
    return trial


def paired_trial_parts(working: WorkingCopy, data: DataSplits, clean: np.ndarray, ber: float, protection: str,
                       seed: int, index: int, images: int, first_look: int | None = None, *, split: str = "test",
                       uep_bits: int | None = None, packets: PacketConfig | None = None,
                       fallback: dict | None = None, reliable=(), index_reliable: bool = True) -> Iterator[PairedTrial]:
    """``paired_trial``, yielding first (with ``first_look`` = f < images) the paired estimate on a random f of
    the trial's images (``first_look=True``), then the whole trial. The working copy is restored either way."""
    clean = _check_clean(clean, data, split)
    images = check_int("images", images, 1)
    if first_look is not None:
        first_look = check_int("first_look", first_look, 1, images - 1)
    rng = trial_rng(seed, index)
    started = time.perf_counter()
    arrival = download(working.payload, ber, protection, rng, uep_bits, packets, fallback, reliable, index_reliable)
    corrupt_s = time.perf_counter() - started
    subset = draw_subset(rng, clean.size, images)
    # The first look's positions: drawn after the subset, so the trial's download and images are unchanged.
    parts = [np.arange(subset.size)]
    if first_look is not None and first_look < subset.size:
        order = rng.permutation(subset.size)
        parts = [np.sort(order[:first_look]), np.sort(order[first_look:])]
    base = float(clean.mean())
    c = np.empty(subset.size, dtype=bool)
    block = working.received(arrival)
    eval_s = 0.0

    def trial(positions: np.ndarray, first: bool) -> PairedTrial:  # the paired estimate on subset[positions]
        k = clean[subset[positions]]
        return PairedTrial(index, base + float(c[positions].mean() - k.mean()), int(positions.size),
                           int(clean.size), base, int(np.count_nonzero(c[positions] != k)), arrival.flips,
                           arrival.lossy_bits, arrival.reliable_bits, arrival.nonfinite, arrival.replaced,
                           arrival.lost_packets, arrival.retransmitted_bits, corrupt_s + block.seconds, eval_s,
                           first_look=first)

    with block as module:
        for part_no, part in enumerate(parts):
            started = time.perf_counter()
            c[part] = correctness(module, data, split, subset[part])
            eval_s += time.perf_counter() - started
            if part_no + 1 < len(parts):  # the first look, while the working copy still holds the download
                yield trial(part, True)
    yield trial(np.arange(subset.size), False)


@dataclass(frozen=True)
class BerResult:
    """Accuracy under BER from paired trials: the mean, its interval (clipped to [0, 1]) and what it rests on."""

    ber: float
    protection: str
    mean: float
    lo: float
    hi: float
    half_width: float          # inf below two trials (no interval yet)
    confidence: float
    trials: int
    images: int                # test images evaluated in all trials together
    images_per_trial: int
    n_test: int
    clean_accuracy: float
    estimates: tuple[float, ...]
    std: float                 # sample standard deviation of the per-trial estimates (0 for one trial)
    changed: int               # evaluated images whose correctness changed
    mean_flips: float
    lossy_bits: int
    reliable_bits: int
    mean_nonfinite: float
    mean_replaced: float
    mean_corrupt_seconds: float
    mean_eval_seconds: float
    seconds: float             # corruption + evaluation of all trials
    seed: int = 0
    stopped: str = ""          # why the estimate stopped: "target", "max_trials", "time", "" (not stopped)
    first_look: bool = False   # rests on part of the first trial's images only (module docstring)
    paired: tuple = field(default=(), compare=False, repr=False)  # the PairedTrials (to continue an estimate)
    chance: float = math.nan   # 1 / classes (nan: unknown, no ruin count)
    ruined: int = 0            # trials below ruin_threshold(clean_accuracy, chance)
    p10: float = math.nan      # 10th and 90th percentiles of the single downloads' estimates
    p90: float = math.nan

    @property
    def ruin(self) -> RuinShare | None:
        """The share of ruined downloads (None when the number of classes, and so chance, is unknown)."""
        if math.isnan(self.chance):
            return None
        return ruin_share(self.ruined, self.trials, ruin_threshold(self.clean_accuracy, self.chance),
                          self.confidence)

    @property
    def mixed(self) -> bool:
        """Some downloads ruined and some not: a bimodal cell."""
        return 0 < self.ruined < self.trials

    @property
    def ci(self) -> tuple[float, float]:
        return self.lo, self.hi

    @property
    def corrupt_share(self) -> float:
        """Share of a trial's time spent corrupting, decoding, writing and restoring (the rest evaluates)."""
        return self.mean_corrupt_seconds / (self.mean_corrupt_seconds + self.mean_eval_seconds)

    def row(self) -> dict:
        return {"ber": self.ber, "protection": self.protection, "mean": self.mean, "ci_low": self.lo,
                "ci_high": self.hi, "half_width": self.half_width, "confidence": self.confidence,
                "trials": self.trials, "images": self.images, "images_per_trial": self.images_per_trial,
                "n_test": self.n_test, "clean_accuracy": self.clean_accuracy, "std": self.std,
                "changed": self.changed, "mean_flips": self.mean_flips, "lossy_bits": self.lossy_bits,
                "reliable_bits": self.reliable_bits, "mean_nonfinite": self.mean_nonfinite,
                "mean_replaced": self.mean_replaced, "seconds": self.seconds, "stopped": self.stopped,
                "p10": self.p10, "p90": self.p90, "ruined": self.ruined}


def interval_half_width(estimates: Sequence[float], changed: int, images: int, images_per_trial: int,
                        n_test: int, confidence: float = 0.95, error_free: bool = False) -> float:
    """Half-width of the paired estimator's interval (module docstring); inf below two trials. ``error_free``:
    no trial flipped a bit or lost a packet, so every received model is the clean one and nothing can change."""
    m = len(estimates)
    if m < 2:
        return math.inf
    var_mean = float(np.var(estimates, ddof=1)) / m
    if images_per_trial < n_test and not error_free:
        share = (changed + 1) / (images + 2)  # changed predictions, one pseudo-count each way: never 0
        var_mean = max(var_mean, share * (1 - images_per_trial / n_test) / images)
    return t_quantile(confidence, m - 1) * math.sqrt(var_mean)


def summarise_paired(trials: Sequence[PairedTrial], ber: float, protection: str, confidence: float = 0.95,
                     n_test: int | None = None, seed: int = 0, stopped: str = "",
                     chance: float | None = None) -> BerResult:
    """The BerResult of the paired trials so far (the dashboard's growing estimate); with ``chance`` (1 / classes)
    it counts the ruined downloads (module docstring)."""
    trials = list(trials)
    if not trials:
        raise ValueError("trials=[] : at least one trial is needed for an estimate")
    if any(t.first_look for t in trials) and len(trials) > 1:
        raise ValueError("trials: a first look (part of trial 0) cannot be combined with other trials")
    confidence = check_range("confidence", confidence, 0.0, 1.0, lo_open=True, hi_open=True)
    n_test = trials[0].n_test if n_test is None else check_int("n_test", n_test, 1)
    if any(t.n_test != n_test for t in trials):
        raise ValueError(f"n_test={n_test}: every trial must come from a split of that size")
    est = np.array([t.estimate for t in trials], dtype=float)
    images = sum(t.images for t in trials)
    per_trial = trials[0].images
    changed = sum(t.changed for t in trials)
    mean = float(est.mean())
    error_free = all(t.flips == 0 and t.lost_packets == 0 and t.replaced == 0 for t in trials)
    half = interval_half_width(est, changed, images, per_trial, n_test, confidence, error_free)
    lo, hi = (0.0, 1.0) if math.isinf(half) else (max(0.0, mean - half), min(1.0, mean + half))
    ruined = 0
    if chance is not None:
        ruined = int(np.count_nonzero(est < ruin_threshold(trials[0].clean_accuracy, chance)))
        if 0 < ruined < len(est) and not math.isinf(half):
            lo, hi = _mixture_interval(est, ruined, trials[0].clean_accuracy, chance, confidence, lo, hi)
            half = max(mean - lo, hi - mean)
    avg = lambda attr: float(np.mean([getattr(t, attr) for t in trials]))  # noqa: E731
    return BerResult(
        ber=float(ber), protection=protection, mean=mean, lo=lo, hi=hi, half_width=half, confidence=confidence,
        trials=len(trials), images=images, images_per_trial=per_trial, n_test=n_test,
        clean_accuracy=trials[0].clean_accuracy, estimates=tuple(float(a) for a in est),
        std=float(est.std(ddof=1)) if len(est) > 1 else 0.0, changed=changed, mean_flips=avg("flips"),
        lossy_bits=trials[0].lossy_bits, reliable_bits=trials[0].reliable_bits, mean_nonfinite=avg("nonfinite"),
        mean_replaced=avg("replaced"), mean_corrupt_seconds=avg("corrupt_seconds"),
        mean_eval_seconds=avg("eval_seconds"), seconds=float(sum(t.seconds for t in trials)), seed=seed,
        stopped=stopped, first_look=trials[0].first_look, paired=tuple(trials),
        chance=math.nan if chance is None else check_range("chance", chance, 0.0, 1.0, lo_open=True),
        ruined=ruined,
        p10=float(np.percentile(est, 10)), p90=float(np.percentile(est, 90)))


def _mixture_interval(est: np.ndarray, ruined: int, clean: float, chance: float, confidence: float,
                      lo: float, hi: float) -> tuple[float, float]:
    """A mixed run's interval: the union of Student's t interval (lo, hi) and the mixture's, in which the expected
    accuracy is the intact mean minus the ruined share times the gap between the two modes, the share taken over
    its Wilson interval. With few trials Student's t alone under-covers a two-valued outcome when one kind is
    rare in the run (measured on a bimodal digits cell: 80 % of 40 estimates at 8 trials covered the expected
    accuracy; tests/core/test_reliability.py)."""
    threshold = ruin_threshold(clean, chance)
    intact, bad = est[est >= threshold], est[est < threshold]
    gap = float(intact.mean() - bad.mean())
    share_lo, share_hi = wilson_interval(ruined, est.size, confidence)
    top = float(intact.mean())
    return max(0.0, min(lo, top - share_hi * gap)), min(1.0, max(hi, top - share_lo * gap))


@dataclass(frozen=True)
class EstimateConfig:
    """How long a paired estimate runs: images per trial, the target half-width (accuracy as a share, 0.01 = one
    point), the trial limits and an optional time budget in seconds (None: no budget)."""

    images_per_trial: int = 256
    target_half_width: float = 0.01
    min_trials: int = 3
    max_trials: int = 200
    time_budget_s: float | None = None
    confidence: float = 0.95
    first_look_images: int | None = None  # a fresh estimate shows a first look after this many images
    mixed_min_trials: int = 10  # a run with ruined and intact downloads never stops on its half-width before this

    def __post_init__(self):
        check_int("images_per_trial", self.images_per_trial, 1)
        check_int("mixed_min_trials", self.mixed_min_trials, 2)
        if self.first_look_images is not None:
            check_int("first_look_images", self.first_look_images, 1, self.images_per_trial - 1)
        check_range("target_half_width", self.target_half_width, 0.0, 0.5)
        check_int("min_trials", self.min_trials, 2)
        check_int("max_trials", self.max_trials, self.min_trials)
        if self.time_budget_s is not None:
            check_range("time_budget_s", self.time_budget_s, 0.0, lo_open=True)
        check_range("confidence", self.confidence, 0.0, 1.0, lo_open=True, hi_open=True)


def iter_estimates(submodel, data: DataSplits, ber: float, protection: str = "none",
                   config: EstimateConfig = EstimateConfig(), seed: int = 0, *, working: WorkingCopy | None = None,
                   clean: np.ndarray | None = None, done: Sequence[PairedTrial] = (), split: str = "test",
                   uep_bits: int | None = None, packets: PacketConfig | None = None, fallback: dict | None = None,
                   reliable=(), index_reliable: bool = True) -> Iterator[BerResult]:
    """Yield the running BerResult after each paired trial until the stopping rule (module docstring) stops;
    with ``config.first_look_images`` a fresh estimate yields a first look (``first_look=True``) before trial 0,
    and a continued one (``done``) yields its estimate so far before its next trial.

    ``working`` reuses a WorkingCopy of this sub-model; ``clean`` its clean correctness on ``split`` (computed
    here when None); ``done`` continues an earlier estimate (its trials, indices 0..len-1) with the next
    indices: extending an estimate gives exactly the estimate that a longer run would have given.
    The last result's ``stopped`` says why it stopped.
    """
    ber = check_ber(ber)
    protection = check_protection(protection)
    seed = check_int("seed", seed, 0)
    if not isinstance(config, EstimateConfig):
        raise ValueError(f"config={config!r} must be an EstimateConfig")
    reliable = tuple(reliable)
    working = _working_for(submodel, working, uep_bits, packets, reliable)
    started = time.perf_counter()
    if clean is None:
        clean = clean_correctness(working.evaluator, data, split)
    clean = _check_clean(clean, data, split)
    trials = list(done)
    if [t.index for t in trials] != list(range(len(trials))):
        raise ValueError("done: the earlier trials must be those of indices 0, 1, 2, ... in order")
    if any(t.images != min(config.images_per_trial, clean.size) for t in trials):
        raise ValueError("done: the earlier trials used another number of images per trial")
    chance = 1.0 / data.num_classes
    summary = lambda why="": summarise_paired(trials, ber, protection, config.confidence,  # noqa: E731
                                              clean.size, seed, why, chance)
    if trials and not _stop_reason(trials, summary, config, started):
        yield summary()  # a continued estimate shows what it has at once, before its next trial
    while True:
        why = _stop_reason(trials, summary, config, started)
        if why:
            if trials:
                yield summary(why)
            return
        look = config.first_look_images if not trials else None
        for trial in paired_trial_parts(working, data, clean, ber, protection, seed, len(trials),
                                        config.images_per_trial, look, split=split, uep_bits=uep_bits,
                                        packets=packets, fallback=fallback, reliable=reliable, index_reliable=index_reliable):
            if trial.first_look:
                yield summarise_paired([trial], ber, protection, config.confidence, clean.size, seed,
                                       chance=chance)
        trials.append(trial)
        why = _stop_reason(trials, summary, config, started)
        yield summary(why)
        if why:
            return


def _stop_reason(trials, summary, config: EstimateConfig, started: float) -> str:
    if not trials:
        return ""
    return stop_reason(summary(), config, time.perf_counter() - started)


def stop_reason(result: BerResult, config: EstimateConfig, elapsed_s: float = 0.0) -> str:
    """The stopping rule (module docstring): "target" once at least ``min_trials`` trials give a half-width at
    most the target (and, when some downloads were ruined and some not, at least ``mixed_min_trials``), else
    "max_trials", else "time" when the run's budget is spent, else "" (go on)."""
    enough = config.mixed_min_trials if result.mixed else config.min_trials
    if result.trials >= enough and result.half_width <= config.target_half_width:
        return "target"
    if result.trials >= config.max_trials:
        return "max_trials"
    if config.time_budget_s is not None and elapsed_s >= config.time_budget_s:
        return "time"
    return ""


def estimate_accuracy(submodel, data: DataSplits, ber: float, protection: str = "none",
                      config: EstimateConfig = EstimateConfig(), seed: int = 0, **kwargs) -> BerResult:
    """The paired estimate of ``submodel``'s accuracy over a BSC with bit-error rate ``ber`` (the last result of
    ``iter_estimates``; same keyword arguments)."""
    result = None
    for result in iter_estimates(submodel, data, ber, protection, config, seed, **kwargs):
        pass
    return result


def _working_for(submodel, working, uep_bits, packets, reliable: tuple) -> WorkingCopy:
    """Check the link arguments; the caller's WorkingCopy of this sub-model, or a new one."""
    if uep_bits is not None:
        check_int("uep_bits", uep_bits, 0, 32)
    if packets is not None and not isinstance(packets, PacketConfig):
        raise ValueError(f"packets={packets!r} must be a PacketConfig or None")
    _check_reliable(submodel, reliable)
    if working is None:
        return WorkingCopy(submodel)
    if working.payload is not submodel.payload:
        raise ValueError("working: the WorkingCopy was made for another sub-model's payload")
    return working


def _check_reliable(submodel, reliable: tuple) -> None:
    if reliable:
        unknown = sorted(set(reliable) - {r.name for r in submodel.payload.records})
        if unknown:
            raise ValueError(f"reliable names tensors not in the payload: {unknown[:3]}")


@torch.no_grad()
def predictions_after_download(working: WorkingCopy, x: torch.Tensor, ber: float, protection: str,
                               seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(clean predictions, predictions after one download at ``ber``, flipped bits) for a batch of normalised
    images ``x``: what the device would answer before and after (the download uses ``trial_rng(seed, 10_000)``,
    apart from the estimate's trials)."""
    clean = working.evaluator(x).argmax(1).numpy()
    hit = corrupt(working.payload, check_ber(ber), trial_rng(seed, 10_000), check_protection(protection))
    with working.received(Arrival(receive(working.payload, hit).tensors, hit.flips, 0, 0, 0, 0)) as module:
        bad = module(x).argmax(1).numpy()
    return clean, bad, hit.flips


__all__ = ["WorkingCopy", "clean_correctness", "paired_trial", "paired_trial_parts", "PairedTrial", "summarise_paired", "BerResult",
           "EstimateConfig", "iter_estimates", "stop_reason", "estimate_accuracy", "interval_half_width", "t_quantile",
           "trial_rng", "draw_subset", "predictions_after_download", "RUIN_RULE", "ruin_threshold", "wilson_interval",
           "RuinShare", "ruin_share", "independent_downloads"]


def independent_downloads(submodel, data: DataSplits, ber: float, protection: str, seed: int, downloads: int,
                          images: int, *, split: str = "test") -> np.ndarray:
    """Plain Monte Carlo, the check on the paired estimator: the accuracy of each of ``downloads`` independent
    downloads (``trial_rng(seed, i)``) on its own random ``images`` test images (all of them when the split is
    smaller), no control variate. Each value is unbiased for that download's whole-split accuracy."""
    check_int("downloads", downloads, 1)
    check_int("images", images, 1)
    working = WorkingCopy(submodel)
    n = len(data.split(split)[1])
    out = np.empty(downloads)
    for i in range(downloads):
        rng = trial_rng(seed, i)
        arrival = download(working.payload, check_ber(ber), check_protection(protection), rng)
        subset = draw_subset(rng, n, images)
        with working.received(arrival) as module:
            out[i] = float(correctness(module, data, split, subset).mean())
    return out
