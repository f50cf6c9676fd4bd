"""Live accuracy: one bounded store of paired trials, shared by every session, and the running estimates over it.

Trial j of an estimate depends only on its key (keys.live_key: root model file, sub-model, BER, protection, seed,
images per trial, packets, fallback, arithmetic) and on j, so any session may continue what another started.
Views never write the store: they iterate ``live_estimates`` and draw.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import streamlit as st

from app.services import keys, roots, submodels
from app.services.keys import SubModelRef
from core.link.ber import BER_GRID  # noqa: F401  (the Live page's curve)
from core.link.packets import PACKET_MODES, PacketConfig, packet_report  # noqa: F401  (for the Live page)
from core.link.protections import PROTECTIONS, protection_label  # noqa: F401
from core.link.reliability import EstimateConfig
from core.model.models import DEFAULT_MODEL_NAME
from core.threads import threads

LIVE_IMAGES_PER_TRIAL = 128  # a whole trial in ~0.2 s on the CIFAR root; +-2 points sooner than 64 (bench_channel)
LIVE_FIRST_LOOK_IMAGES = 32   # a fresh estimate's first number: 32 images of the first download (~0.05 s)
FIRST_NUMBERS_THREADS = 1     # torch threads of a session's script thread until its first whole trial
LIVE_STORE_ENTRIES = 256     # estimates kept (each at most a few hundred small trial records)

# How the device computes (core.link.int8): int8 kernels for a sub-model whose weights are all integer codes.
ARITHMETIC_LABELS = {"int8": "8-bit integers (as a phone's AI accelerator computes)",
                     "float": "floating point (as the library and the sub-model cards)"}


class _TrialStore:
    """A bounded, thread-safe LRU map from an estimate's key to its paired trials (a tuple, never mutated)."""

    def __init__(self, entries: int):
        self._entries, self._items, self._lock = entries, OrderedDict(), threading.Lock()

    def get(self, key) -> tuple:
        with self._lock:
            if key not in self._items:
                return ()
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, trials: tuple) -> None:
        with self._lock:
            if len(trials) >= len(self._items.get(key, ())):  # trials are identical anywhere: keep the longest
                self._items[key] = tuple(trials)
            self._items.move_to_end(key)
            while len(self._items) > self._entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@st.cache_resource
def live_store() -> _TrialStore:
    return _TrialStore(LIVE_STORE_ENTRIES)


def live_config(target_points: float = 1.0, max_trials: int = 200, time_budget_s: float | None = 10.0,
                images_per_trial: int = LIVE_IMAGES_PER_TRIAL, first_look: bool = False) -> EstimateConfig:
    """The Live page's stopping rule: target 95 % half-width in accuracy points, at most ``max_trials`` trials
    (at least 2), at most ``time_budget_s`` seconds per run; ``first_look``: a fresh estimate shows a number after
    the first LIVE_FIRST_LOOK_IMAGES images of its first download (core.link.reliability, "First look")."""
    return EstimateConfig(images_per_trial=images_per_trial, target_half_width=target_points / 100,
                          min_trials=min(3, max_trials), max_trials=max_trials, time_budget_s=time_budget_s,
                          first_look_images=LIVE_FIRST_LOOK_IMAGES if first_look else None)


@st.cache_data(max_entries=64)
def live_int8_problem(ref: SubModelRef, root: tuple, model: str = DEFAULT_MODEL_NAME) -> str:
    """Why this live sub-model cannot run with int8 kernels ("" when it can)."""
    from core.link.int8 import int8_problem

    sub = submodels.live_submodel(ref, model)
    return int8_problem(sub.payload, sub.module)


def live_arithmetics(ref: SubModelRef, model: str = DEFAULT_MODEL_NAME) -> tuple[str, ...]:
    """The arithmetics this sub-model can be evaluated in, the fastest first."""
    return ("float",) if live_int8_problem(ref, keys.root_identity(model), model) else ("int8", "float")


def live_working(ref: SubModelRef, model: str = DEFAULT_MODEL_NAME, arithmetic: str = "float"):
    """This session's private WorkingCopy of a live sub-model in ``arithmetic`` (trials corrupt it in place, so
    sessions never share one); at most three per session."""
    from core.link.reliability import WorkingCopy
    from core.link.int8 import calibration_images

    key = (ref, keys.root_identity(model), arithmetic)
    copies = st.session_state.setdefault("_live_working_copies", {})
    if key not in copies:
        if len(copies) >= 3:
            copies.pop(next(iter(copies)))
        calibration = calibration_images(roots.dataset(model)) if arithmetic == "int8" else None
        copies[key] = WorkingCopy(submodels.live_submodel(ref, model), arithmetic, calibration)
    return copies[key]


@st.cache_data(show_spinner="Evaluating the clean sub-model on the whole test split…", max_entries=64)
def live_clean(ref: SubModelRef, root: tuple, model: str = DEFAULT_MODEL_NAME, arithmetic: str = "float"):
    """Per-image correctness of the clean sub-model on the whole test split (the paired estimator's k), computed in
    ``arithmetic`` like the trials it is paired with."""
    from core.link.reliability import clean_correctness

    return clean_correctness(live_working(ref, model, arithmetic).evaluator, roots.dataset(model))


def _fallback_values(ref: SubModelRef, fallback: SubModelRef | None, model: str):
    """Decoded values of the local model ``fallback``, checked against the download of ``ref``."""
    from core.link.packets import fallback_values

    if fallback is None:
        return None
    return fallback_values(submodels.live_submodel(ref, model).payload,
                           submodels.live_submodel(fallback, model).payload)


def live_estimates(ref: SubModelRef, model: str, ber: float, protection: str, seed: int, config,
                   packets=None, fallback: SubModelRef | None = None, arithmetic: str = "float"):
    """Yield the running paired estimate (core.link.reliability.iter_estimates) of a live sub-model, continuing
    from the trials stored for the same key and storing every new trial at once (a stopped run loses nothing).
    ``fallback`` names the local model whose values replace lost packets (packet mode "fallback");
    ``arithmetic`` is how the device computes ("int8" only for integer-coded sub-models, core.link.int8)."""
    from core.link.reliability import iter_estimates

    sub = submodels.live_submodel(ref, model)
    key = keys.live_key(ref, model, ber, protection, seed, config.images_per_trial, packets, fallback, arithmetic)
    store = live_store()
    clean = live_clean(ref, keys.root_identity(model), model, arithmetic)
    values = _fallback_values(ref, fallback, model)
    results = iter_estimates(sub, roots.dataset(model), ber, protection, config, seed,
                             working=live_working(ref, model, arithmetic), clean=clean, done=store.get(key),
                             packets=packets, fallback=values)

    def stored(result):
        if not result.first_look:  # a first look is part of trial 0: shown, never stored
            store.put(key, result.paired)
        return result
    if config.first_look_images is not None:
        # Up to the first whole trial the browser is still drawing the page on the same CPU cores: with one torch
        # thread the first numbers do not wait for a core the browser holds (bench/bench_pages.py).
        with threads(FIRST_NUMBERS_THREADS):
            for result in results:
                yield stored(result)
                if not result.first_look:
                    break
    for result in results:
        yield stored(result)


def live_stored(ref: SubModelRef, model: str, ber: float, protection: str, seed: int, config, packets=None,
                fallback: SubModelRef | None = None, arithmetic: str = "float"):
    """The stored estimate for these choices (no new trial), or None when nothing is stored yet."""
    from core.link.reliability import summarise_paired

    key = keys.live_key(ref, model, ber, protection, seed, config.images_per_trial, packets, fallback, arithmetic)
    trials = live_store().get(key)
    if not trials:
        return None
    return summarise_paired(trials, ber, protection, config.confidence,
                            chance=1.0 / roots.dataset(model).num_classes)


def live_estimate(ref: SubModelRef, model: str, ber: float, protection: str, seed: int, config, packets=None,
                  fallback: SubModelRef | None = None, arithmetic: str = "float"):
    """The finished estimate (the last of ``live_estimates``)."""
    result = None
    for result in live_estimates(ref, model, ber, protection, seed, config, packets, fallback, arithmetic):
        pass
    return result


def ber_sweep(ref: SubModelRef, model: str, protections: tuple[str, ...], seed: int, config,
              bers: tuple[float, ...] | None = None, arithmetic: str = "float"):
    """Yield (ber, protection, BerResult) over the BER grid (core.link.ber.BER_GRID), from and into the store."""
    for protection in protections:
        for ber in (BER_GRID if bers is None else bers):
            yield ber, protection, live_estimate(ref, model, ber, protection, seed, config, arithmetic=arithmetic)


@st.cache_data(show_spinner="Predicting test images before and after one download…", max_entries=64)
def live_predictions(ref: SubModelRef, root: tuple, model: str, ber: float, protection: str, seed: int, n: int,
                     arithmetic: str = "float"):
    """(clean predictions, predictions after one download, flipped bits) for the first ``n`` test images."""
    from core.link.reliability import predictions_after_download

    x, _ = next(roots.dataset(model).batches("test", n))
    return predictions_after_download(live_working(ref, model, arithmetic), x, ber, protection, seed)


def exponent_flip(bit: int = 30, model: str = DEFAULT_MODEL_NAME) -> dict:
    """One flipped bit of the root model's first weight (core.link.faults.flip_one_bit), as a dict."""
    return _exponent_flip(bit, model, keys.root_identity(model))


@st.cache_data(show_spinner="Flipping one bit of the root model and measuring…", max_entries=16)
def _exponent_flip(bit: int, model: str, root: tuple) -> dict:
    from dataclasses import asdict

    from core.link.faults import flip_one_bit

    root_module, _ = roots.root_model(model)
    return asdict(flip_one_bit(root_module, roots.dataset(model), bit))


def library_curve(ref: SubModelRef, model: str, protections: tuple[str, ...]):
    """The accuracy-against-BER points the AI library measured for the sub-model ``ref`` names (a library entry, or
    a generated spec that equals one), for the Live page to draw at once before it measures its own: a DataFrame
    (ber, protection, mean, ci95_low, ci95_high, trials, images), or None when the library holds no such entry.
    Read once per catalog version (the curve section reruns on every interaction)."""
    from app.services import ai_library

    lib, _ = ai_library.library_or_none(model)
    if lib is None:
        return None
    return _library_curve(lib, keys.library_key(lib), ref, tuple(protections))


@st.cache_data(show_spinner=False, max_entries=64)
def _library_curve(_lib, lib_key: str, ref: SubModelRef, protections: tuple[str, ...]):
    entries = _lib.entries()
    if ref.kind == "library":
        if ref.lib_key != lib_key:
            return None
        match = entries[entries["id"] == ref.entry_id]
    else:
        spec = ref.spec
        if spec.bits_map is not None or spec.mixed_budget_bits is not None or spec.qat_steps:
            return None
        match = entries[(entries["depth"] == spec.depth) & (entries["keep_ratio"] == spec.keep_ratio)
                        & (entries["bits"] == spec.bits) & (entries["version"] == 1)  # as built: as generated
                        & ((entries["retrain_steps"] == spec.retrain_steps) | (spec.keep_ratio >= 1.0))]
    if match.empty:
        return None
    table = _lib.ber_table()
    rows = table[(table["entry_id"] == int(match["id"].iloc[0])) & (table["mode"] == "exit")
                 & table["protection"].isin(protections)]
    if rows.empty:
        return None
    return rows.rename(columns={"lo": "ci95_low", "hi": "ci95_high"})[
        ["ber", "protection", "mean", "ci95_low", "ci95_high", "trials", "images"]].reset_index(drop=True)
