"""The only place with st.cache_*: models, data and engine results, loaded once per process and shared.

Everything handed out is read-only by contract: pages never mutate a cached model (the engine copies before it
changes anything), and cache keys are plain values the page passes explicitly.

Longer than 400 lines on purpose: this is the one cached service layer, so every cache, its key and its size
limit can be read in one file (sections: roots and data, location, live estimates, rates, mobility, library,
depth and progressive, guide). A package with one module per section is the next step if it grows further.
"""
from __future__ import annotations

import threading

import streamlit as st

from app.settings import Settings
from core.compress.combine import SubModel, SubModelSpec, generate
from core.compress.depth import split_table
from core.model.data import DataSplits, load_for_card
from core.model.models import DEFAULT_MODEL_NAME, BackboneNet, ModelCard, load_checkpoint
# Names the pages show, re-exported so that views import only app.* (tests/test_views_import_only_app.py).
from core.network.rates import (APPLICATIONS, PAPER, PAPER_APPLICATIONS, PAPER_MODELS,  # noqa: F401
                                REFERENCE_RATES, ROOT_MODELS)
from core.network.select import ACCURACY_RULE, TECHNIQUES  # noqa: F401
from core.network.tiers import HOLDS, TIER_PRESETS  # noqa: F401  (for the AI library page)


_ROOTS_SEEN: dict[str, tuple] = {}  # root name -> the file identity its cached values were made from
_ROOTS_LOCK = threading.Lock()


def forget_replaced_roots() -> list[str]:
    """Called by the router before every run: when a root model's file was replaced since its cached values were
    made (another path, modification time or size under the same name), every cache is cleared, so no page shows
    numbers of the old file. Caches are keyed by the root's name; this keeps that key honest. Returns the names."""
    replaced = []
    with _ROOTS_LOCK:
        for model, seen in list(_ROOTS_SEEN.items()):
            try:
                now = root_identity(model)
            except (OSError, KeyError, ValueError):
                now = None
            if now != seen:
                replaced.append(model)
                del _ROOTS_SEEN[model]
    if replaced:
        st.cache_data.clear()
        st.cache_resource.clear()
    return replaced


@st.cache_resource(show_spinner="Loading the root model…")
def root_model(model: str = DEFAULT_MODEL_NAME) -> tuple[BackboneNet, ModelCard]:
    from app.settings import model_choices

    choices = model_choices()
    if model not in choices:
        raise ValueError(f"model={model!r} is not one of {list(choices)}")
    identity = root_identity(model)
    root, card = load_checkpoint(choices[model])
    with _ROOTS_LOCK:
        _ROOTS_SEEN[model] = identity
    for p in root.parameters():
        p.requires_grad_(False)  # shared and read-only
    return root, card


@st.cache_resource(show_spinner="Loading the data set…")
def dataset(model: str = DEFAULT_MODEL_NAME) -> DataSplits:
    _, card = root_model(model)
    return load_for_card(card)


@st.cache_resource(show_spinner="Generating the sub-model…", max_entries=64)
def submodel(spec: SubModelSpec, seed: int = 0, model: str = DEFAULT_MODEL_NAME) -> SubModel:
    root, _ = root_model(model)
    return generate(root, dataset(model), spec, seed)


def split_rows(feature_bits: int = 8, model: str = DEFAULT_MODEL_NAME):
    """The split table of the root: read from its AI library's depth entries when they are there (8-bit features,
    measured on the whole test split when the library was built: no pass over the images here), else measured.
    Cached by the library's catalog version too: a library rebuilt while the app runs gives its new table."""
    lib, _ = library_or_none(model)
    return _split_rows(feature_bits, model, "" if lib is None else library_key(lib))


@st.cache_data(show_spinner="Measuring split points…")
def _split_rows(feature_bits: int, model: str, lib_key: str):
    import pandas as pd
    from core.network.select import library_split_points

    lib, _ = library_or_none(model)
    if feature_bits == 8 and lib is not None:
        try:
            return library_split_points(lib)
        except ValueError:
            pass  # a user-built library without every exit: measure instead
    root, _ = root_model(model)
    return pd.DataFrame([r.__dict__ for r in split_table(root, dataset(model), feature_bits)])


def settings() -> Settings:
    """The current sidebar settings (set by app/controls.py on every run)."""
    return st.session_state.get("settings", Settings())


# ---------- Device location ----------

def area():
    """The sidebar's area (core.mobility.area.load_area caches it: one object per file version, read-only)."""
    from app.settings import area_of

    return area_of(settings().area)


@st.cache_data(show_spinner=False, max_entries=256)
def place_link(place: str, area_key: str = "", area_stamp: float = 0.0):
    """The link at a place of an area (core.mobility.link.link_at with its default configuration); ``area_key``
    names the area ("" the default), ``area_stamp`` its file's modification time (a replaced file is read again)."""
    from app.settings import area_of
    from core.mobility.link import link_at

    return link_at(area_of(area_key), place)


# ---------- Live accuracy ----------
# One bounded store of paired trials, shared by every session: trial j of an estimate depends only on its key
# (root model file, sub-model, BER, protection, seed, images per trial, packets) and on j, so any session may
# continue what another started. Views never write it: they iterate ``live_estimates`` and draw.

from core.compress.combine import SubModelSpec as _Spec  # noqa: E402
from core.link.packets import PACKET_MODES, PacketConfig, packet_report  # noqa: E402,F401  (for the Live page)
from core.link.protections import PROTECTIONS, protection_label  # noqa: E402,F401
from core.link.ber import BER_GRID  # noqa: E402,F401  (the Live page's curve)
from core.link.reliability import EstimateConfig  # noqa: E402
from core.threads import threads  # noqa: E402

# The sub-models the Live page offers besides the library's choices (label -> spec).
LIVE_SPECS: dict[str, SubModelSpec] = {
    "Root model, fp32": _Spec(),
    "Bit level: fp16": _Spec(bits=16),
    "Bit level: 8-bit codes": _Spec(bits=8),
    "Bit level: 4-bit codes": _Spec(bits=4),
    "Bit level: 2-bit codes + 50 QAT steps": _Spec(bits=2, qat_steps=50),
    "Depth level: exit 2": _Spec(depth=2),
    "Parameter level: keep 10 %, re-trained": _Spec(keep_ratio=0.1, retrain_steps=100),
    "Combined: exit 3, keep 25 %, 4-bit": _Spec(depth=3, keep_ratio=0.25, bits=4, retrain_steps=50),
}
LIVE_IMAGES_PER_TRIAL = 128  # a whole trial in ~0.2 s on the CIFAR root; +-2 points sooner than 64 (bench_channel)
LIVE_FIRST_LOOK_IMAGES = 32   # a fresh estimate's first number: 32 images of the first download (~0.05 s)
FIRST_NUMBERS_THREADS = 1     # torch threads of a session's script thread until its first whole trial
LIVE_STORE_ENTRIES = 256     # estimates kept (each at most a few hundred small trial records)


class _TrialStore:
    """A bounded, thread-safe LRU map from an estimate's key to its paired trials (a tuple, never mutated)."""

    def __init__(self, entries: int):
        import threading
        from collections import OrderedDict

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


def root_identity(model: str = DEFAULT_MODEL_NAME) -> tuple[str, int, int]:
    """The root model's file as (resolved path, modification time in ns, size): a retrained or replaced
    checkpoint is another root, whatever its display name."""
    path = checkpoint_path(model).resolve()
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


def live_config(target_points: float = 1.0, max_trials: int = 200, time_budget_s: float | None = 10.0,
                images_per_trial: int = LIVE_IMAGES_PER_TRIAL, first_look: bool = False) -> EstimateConfig:
    """The Live page's stopping rule: target 95 % half-width in accuracy points, at most ``max_trials`` trials
    (at least 2), at most ``time_budget_s`` seconds per run; ``first_look``: a fresh estimate shows a number after
    the first LIVE_FIRST_LOOK_IMAGES images of its first download (core.link.reliability, "First look")."""
    return EstimateConfig(images_per_trial=images_per_trial, target_half_width=target_points / 100,
                          min_trials=min(3, max_trials), max_trials=max_trials, time_budget_s=time_budget_s,
                          first_look_images=LIVE_FIRST_LOOK_IMAGES if first_look else None)


# How the device computes (core.link.int8): int8 kernels for a sub-model whose weights are all integer codes.
ARITHMETIC_LABELS = {"int8": "8-bit integers (as a phone's AI accelerator computes)",
                     "float": "floating point (as the library and the sub-model cards)"}


@st.cache_data(max_entries=64)
def live_int8_problem(ident: tuple, root: tuple, model: str = DEFAULT_MODEL_NAME) -> str:
    """Why this live sub-model cannot run with int8 kernels ("" when it can)."""
    from core.link.int8 import int8_problem

    sub = live_submodel(ident, model)
    return int8_problem(sub.payload, sub.module)


def live_arithmetics(ident: tuple, model: str = DEFAULT_MODEL_NAME) -> tuple[str, ...]:
    """The arithmetics this sub-model can be evaluated in, the fastest first."""
    return ("float",) if live_int8_problem(ident, root_identity(model), model) else ("int8", "float")


def live_working(ident: tuple, model: str = DEFAULT_MODEL_NAME, arithmetic: str = "float"):
    """This session's private WorkingCopy of a live sub-model in ``arithmetic`` (trials corrupt it in place, so
    sessions never share one); at most three per session."""
    from core.link.reliability import WorkingCopy
    from core.link.int8 import calibration_images

    key = (ident, root_identity(model), arithmetic)
    copies = st.session_state.setdefault("_live_working_copies", {})
    if key not in copies:
        if len(copies) >= 3:
            copies.pop(next(iter(copies)))
        calibration = calibration_images(dataset(model)) if arithmetic == "int8" else None
        copies[key] = WorkingCopy(live_submodel(ident, model), arithmetic, calibration)
    return copies[key]


@st.cache_data(show_spinner="Evaluating the clean sub-model on the whole test split…", max_entries=64)
def live_clean(ident: tuple, root: tuple, model: str = DEFAULT_MODEL_NAME, arithmetic: str = "float"):
    """Per-image correctness of the clean sub-model on the whole test split (the paired estimator's k), computed in
    ``arithmetic`` like the trials it is paired with."""
    from core.link.reliability import clean_correctness

    return clean_correctness(live_working(ident, model, arithmetic).evaluator, dataset(model))


def _live_key(ident, model, ber, protection, seed, images, packets, fallback, arithmetic) -> tuple:
    return ("live", root_identity(model), ident, float(ber), protection, int(seed), int(images), packets, fallback,
            arithmetic)


def live_fallback_ident(sub) -> tuple:
    """The local model the packet view falls back to: the 4-bit sub-model of the same depth."""
    return ("spec", _Spec(depth=sub.spec.depth, bits=4))


def _fallback_values(ident: tuple, fallback: tuple | None, model: str):
    """Decoded values of the local model named by ``fallback`` (an ident), checked against the download."""
    from core.link.packets import fallback_values

    if fallback is None:
        return None
    return fallback_values(live_submodel(ident, model).payload, live_submodel(fallback, model).payload)


def live_estimates(ident: tuple, model: str, ber: float, protection: str, seed: int, config,
                   packets=None, fallback: tuple | None = None, arithmetic: str = "float"):
    """Yield the running paired estimate (core.link.reliability.iter_estimates) of a live sub-model, continuing
    from the trials stored for the same key and storing every new trial at once (a stopped run loses nothing).
    ``fallback`` names the local model whose values replace lost packets (packet mode "fallback");
    ``arithmetic`` is how the device computes ("int8" only for integer-coded sub-models, core.link.int8)."""
    from core.link.reliability import iter_estimates

    sub = live_submodel(ident, model)
    key = _live_key(ident, model, ber, protection, seed, config.images_per_trial, packets, fallback, arithmetic)
    store = live_store()
    clean = live_clean(ident, root_identity(model), model, arithmetic)
    values = _fallback_values(ident, fallback, model)
    results = iter_estimates(sub, dataset(model), ber, protection, config, seed,
                             working=live_working(ident, model, arithmetic), clean=clean, done=store.get(key),
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


def live_stored(ident: tuple, model: str, ber: float, protection: str, seed: int, config, packets=None,
                fallback: tuple | None = None, arithmetic: str = "float"):
    """The stored estimate for these choices (no new trial), or None when nothing is stored yet."""
    from core.link.reliability import summarise_paired

    key = _live_key(ident, model, ber, protection, seed, config.images_per_trial, packets, fallback, arithmetic)
    trials = live_store().get(key)
    return summarise_paired(trials, ber, protection, config.confidence) if trials else None


def live_estimate(ident: tuple, model: str, ber: float, protection: str, seed: int, config, packets=None,
                  fallback: tuple | None = None, arithmetic: str = "float"):
    """The finished estimate (the last of ``live_estimates``)."""
    result = None
    for result in live_estimates(ident, model, ber, protection, seed, config, packets, fallback, arithmetic):
        pass
    return result


def ber_sweep(ident: tuple, model: str, protections: tuple[str, ...], seed: int, config,
              bers: tuple[float, ...] | None = None, arithmetic: str = "float"):
    """Yield (ber, protection, BerResult) over the BER grid (core.link.ber.BER_GRID), from and into the store."""
    from core.link.ber import BER_GRID

    for protection in protections:
        for ber in (BER_GRID if bers is None else bers):
            yield ber, protection, live_estimate(ident, model, ber, protection, seed, config,
                                                 arithmetic=arithmetic)


@st.cache_data(show_spinner="Predicting test images before and after one download…", max_entries=64)
def live_predictions(ident: tuple, root: tuple, model: str, ber: float, protection: str, seed: int, n: int,
                     arithmetic: str = "float"):
    """(clean predictions, predictions after one download, flipped bits) for the first ``n`` test images."""
    from core.link.reliability import predictions_after_download

    x, _ = next(dataset(model).batches("test", n))
    return predictions_after_download(live_working(ident, model, arithmetic), x, ber, protection, seed)


def exponent_flip(bit: int = 30, model: str = DEFAULT_MODEL_NAME) -> dict:
    """One flipped bit of the root model's first weight (core.link.faults.flip_one_bit), as a dict."""
    return _exponent_flip(bit, model, root_identity(model))


@st.cache_data(show_spinner="Flipping one bit of the root model and measuring…", max_entries=16)
def _exponent_flip(bit: int, model: str, root: tuple) -> dict:
    from dataclasses import asdict

    from core.link.faults import flip_one_bit

    root_module, _ = root_model(model)
    return asdict(flip_one_bit(root_module, dataset(model), bit))


# ---------- Rate requirements, predictive downloads and guide (pages 3, 4 and 6) ----------
# Keys are plain values (tuples, numbers, names) so that every session with the same choices shares one entry.

@st.cache_data(show_spinner=False, max_entries=256)
def fig4(models: tuple[str, ...], applications: tuple[str, ...], bits_per_param: int = 32, counts: str = "paper",
         include_head: bool = True, points: int = 100, budgets: tuple[tuple[str, float], ...] = ()):
    """Paper Fig. 4's table (core.network.rates.fig4_table) on a grid of ``points`` sub-model sizes from 1 % to
    100 %, with extra (label, latency budget s) curves in ``budgets``."""
    import numpy as np

    from core.network.rates import fig4_table

    return fig4_table(models, applications, np.linspace(0.01, 1.0, points), bits_per_param, counts, include_head,
                      budgets)


@st.cache_data(show_spinner="Counting parameters of the torchvision architectures…")
def parameter_counts():
    """Each Fig. 4 root model's paper count beside its torchvision counts (core.network.rates.parameter_table)."""
    from core.network.rates import parameter_table

    return parameter_table()


@st.cache_data(show_spinner=False, max_entries=256)
def fit_table(models: tuple[str, ...], budgets: tuple[tuple[str, float], ...], rate_bps: float,
              bits_per_param: int = 32, counts: str = "paper", include_head: bool = True):
    """Largest share of each root model that ``rate_bps`` delivers within each (application, latency budget s)
    (core.network.rates.fit_table)."""
    from core.network.rates import fit_table as table

    return table(models, budgets, rate_bps, bits_per_param, counts, include_head)


@st.cache_data(show_spinner=False, max_entries=64)
def paper_statements(bits_per_param: int = 32, counts: str = "paper", include_head: bool = True):
    """The paper's Fig. 4 statements beside the arithmetic (core.network.rates.statement_table)."""
    from core.network.rates import statement_table

    return statement_table(bits_per_param, counts, include_head)


@st.cache_resource(show_spinner="Simulating the users' day…", max_entries=16)
def simulation(preset: str = "default", n_users: int = 200, duration_s: float = 3600.0, accelerators: int = 2,
               seed: int = 0, area_path: str = "", models: tuple = (), area_stamp: float = 0.0):
    """One mobility run (core.mobility.simulate), shared read-only by every session with the same choices.
    ``area_path`` "" is the default area; ``models`` the sizes from ``mobility_sizes(...).models`` (plain values);
    ``area_stamp`` the area file's modification time, so that a replaced file is simulated again."""
    from dataclasses import replace

    from core.mobility.simulate import scenario, simulate

    base = scenario(preset)
    config = replace(base, n_users=n_users, duration_s=duration_s, area_path=area_path or None,
                     models=models or None, device=replace(base.device, accelerators=accelerators))
    return simulate(config, seed)


@st.cache_data(show_spinner="Drawing the map…", max_entries=32)
def mobility_map(preset: str, n_users: int, duration_s: float, accelerators: int, seed: int, policy: str,
                 sample_users: int = 20, inline_assets: bool = False, area_path: str = "", models: tuple = (),
                 area_stamp: float = 0.0) -> str:
    """The simulation's folium map as HTML; Leaflet from the app's own /app/static (or inlined for a download)."""
    from app.maps import map_html

    result = simulation(preset, n_users, duration_s, accelerators, seed, area_path, models, area_stamp)
    return map_html(result, sample_users=sample_users, policy=policy, inline_assets=inline_assets)


def mobility_presets() -> dict:
    """The mobility scenario presets (core.mobility.simulate.SCENARIOS) and the policies, for the page's controls."""
    from core.mobility.policies import POLICIES
    from core.mobility.simulate import SCENARIOS

    return {"scenarios": dict(SCENARIOS), "policies": POLICIES}


def area_files() -> dict[str, tuple[str, float]]:
    """Area files on offer: display name -> (path, modification time); the default area first."""
    from core.mobility.area import list_areas

    return {name: (str(path), path.stat().st_mtime) for name, path in list_areas().items()}


def library_stamp(model: str = DEFAULT_MODEL_NAME) -> float:
    """Modification time of the root model's library catalog (0 without one): part of cache keys of results
    that depend on the library."""
    catalog = library_path(model) / "catalog.sqlite"
    return catalog.stat().st_mtime if catalog.is_file() else 0.0


def area_at(path: str):
    """The area of a file (core.mobility.area.load_area caches it; read-only). ValueError names a damaged file."""
    from core.mobility.area import load_area

    return load_area(path or None)


@st.cache_data(show_spinner="Choosing each place's model from the AI library…", max_entries=32)
def mobility_sizes(area_path: str = "", area_stamp: float = 0.0, model: str = DEFAULT_MODEL_NAME,
                   lib_stamp: float = 0.0, min_accuracy: float = 0.0):
    """Per device class and context: the AI library's selection (core.mobility.catalog.library_models) for the
    context's application, at the link of the context's places; the fallback table when there is no library
    (the reason in the table's note). ``lib_stamp``: the catalog's modification time (0 without a library)."""
    import numpy as np

    from core.mobility.area import load_area
    from core.mobility.catalog import library_models, preset_models
    from core.mobility.link import LinkConfig, link_ber, serving_links

    area = load_area(area_path or None)
    lib, problem = library_or_none(model)
    if lib is None:
        return preset_models(area.context_applications, why=f"{problem} Sizes come from the fallback table.")
    _, snr, rate = serving_links(area.place_xy, area.bs_xy, LinkConfig())
    ber, _ = link_ber(snr, LinkConfig())
    ctx = np.array([p.context for p in area.places], dtype=object)
    # The link a device has when it asks for a context's model: the median over the context's places.
    downlink = {c: float(np.median(rate[ctx == c])) for c in area.contexts if (ctx == c).any()}
    errors = {c: float(np.median(ber[ctx == c])) for c in downlink}
    for c in area.contexts:            # needed on the road only (navigation): the median link over every place
        if c not in downlink:
            downlink[c], errors[c] = float(np.median(rate)), float(np.median(ber))
    return library_models(lib, area.context_applications, downlink, errors, min_accuracy=min_accuracy)


# ---------- AI library and selection ----------

def library_path(model: str = DEFAULT_MODEL_NAME):
    """Where a root model's AI library lives: library/<checkpoint name> in the project ($INSITU_LIBRARY for the
    default root). A shipped root's catalog is copied there on first use (core.network.library.shipped)."""
    import os
    from pathlib import Path

    from app.settings import model_choices

    project = Path(__file__).resolve().parents[1]
    if model == DEFAULT_MODEL_NAME and os.environ.get("INSITU_LIBRARY"):
        return Path(os.environ["INSITU_LIBRARY"])
    return project / "library" / model_choices()[model].stem


@st.cache_resource(show_spinner="Opening the AI library…")
def library(path: str, stamp: float, model: str = DEFAULT_MODEL_NAME):
    """The opened library (``stamp``: the catalog's modification time, so a rebuilt library is reopened)."""
    from core.network.library import open_library

    root, _ = root_model(model)
    return open_library(path, root=root)


def library_key(lib) -> str:
    """The cache key of an opened library: its folder, size and catalog version (a library rebuilt while the app
    runs, even with as many entries, gets new selections, profiles and entries)."""
    try:
        stamp = lib.path.stat().st_mtime
    except OSError:  # removed since it was opened
        stamp = 0.0
    return f"{lib.folder}:{len(lib)}:{stamp}"


def checkpoint_path(model: str = DEFAULT_MODEL_NAME):
    from app.settings import model_choices

    return model_choices()[model]


def library_or_none(model: str = DEFAULT_MODEL_NAME):
    """(library, problem): the root model's library if it exists and opens, else None and why."""
    from core.network.library.shipped import ensure_library

    path = library_path(model)
    catalog = path / "catalog.sqlite"
    try:
        ensure_library(path, checkpoint_path(model))  # a shipped root's catalog: ready at once, no build step
    except OSError as err:
        return None, f"The shipped AI library could not be copied to {path}: {err}."
    if not catalog.is_file():
        return None, f"No AI library at {path} yet."
    try:
        return library(str(path), catalog.stat().st_mtime, model), ""
    except ValueError as err:
        return None, str(err)


def damaged_entries(model: str = DEFAULT_MODEL_NAME) -> list:
    """Entries of the root model's library whose weight file is missing, truncated, foreign or fails its sha256
    (reads every file: on demand, never cached, since files can be damaged at any time)."""
    lib, problem = library_or_none(model)
    if lib is None:
        raise ValueError(problem)
    return lib.damaged_entries()


@st.cache_data(show_spinner="Selecting sub-models…", max_entries=256)
def selection(_lib, lib_key: str, settings_key: tuple, _settings: Settings, allow_generate: bool):
    """select(dsi, library) for the sidebar's DSI; cached on the library and the settings (as plain values)."""
    from core.network.select import select

    root, _ = root_model(_settings.model)
    return select(_settings.dsi(), _lib, allow_generate=allow_generate, root=root, data=dataset(_settings.model),
                  protection=_settings.protection)


@st.cache_data(show_spinner=False, max_entries=128)
def layer_profile(_lib, lib_key: str, entry_id: int):
    """Per-layer share of weights kept and bit width of a library entry, from its catalog row (recorded from the
    received weights when the entry was built); ``lib_key`` (library_key) names the library for the cache."""
    from core.compress.profile import catalog_layer_profile

    return catalog_layer_profile(_lib.entry(int(entry_id)))


# ---------- Depth-level early exit and progressive downloading ----------

@st.cache_resource(show_spinner="Running every test image through the exit and the server…", max_entries=16)
def exit_outcomes(depth: int, feature_bits: int = 8, model: str = DEFAULT_MODEL_NAME):
    """Per-image exit confidence and answers at a split point (read-only arrays, shared): any threshold is then
    read off without another pass (ExitOutcomes.at)."""
    from core.compress.depth import early_exit_outcomes

    root, _ = root_model(model)
    return early_exit_outcomes(root, dataset(model), depth, feature_bits)


@st.cache_data(show_spinner="Training nested sub-models all-in-one (about a minute)…", max_entries=8)
def progressive(keep_ratios: tuple[float, ...], steps: int, seed: int = 0,
                model: str = DEFAULT_MODEL_NAME):
    from core.compress.progressive import progressive_family

    root, _ = root_model(model)
    return progressive_family(root, dataset(model), keep_ratios, steps, seed).table()


# ---------- Sub-models for the Live accuracy page ----------

@st.cache_resource(show_spinner="Loading the library entry (the first use of a shipped entry regenerates its "
                                 "weights from the root, checked against the catalog: up to a minute)…",
                    max_entries=16)
def library_submodel(_lib, lib_key: str, entry_id: int, model: str = DEFAULT_MODEL_NAME):
    """A library entry as a SubModel (weights checked against their sha256), shared read-only."""
    from core.network.library.shipped import load_entry

    root, _ = root_model(model)
    return load_entry(_lib, int(entry_id), root, dataset(model))


def live_submodel(ident: tuple, model: str = DEFAULT_MODEL_NAME):
    """("spec", SubModelSpec) -> a generated sub-model; ("library", lib_key, entry_id) -> a library entry."""
    if ident[0] == "spec":
        return submodel(ident[1], 0, model)
    lib, problem = library_or_none(model)
    if lib is None:
        raise ValueError(f"library entry {ident[2]} asked for, but {problem}")
    return library_submodel(lib, ident[1], ident[2], model)


# ---------- Guide (story mode) ----------

@st.cache_data(show_spinner="Sending the sub-model through the noisy link (paired trials)…", max_entries=64)
def story_ber(bits: int, protection: str, bers: tuple[float, ...], seed: int = 0, model: str = DEFAULT_MODEL_NAME):
    """Paired estimates (core.link.reliability.estimate_accuracy) of the accuracy of the ``bits``-bit sub-model
    received over a BSC at each BER with one receiver protection. Columns: bits, protection, ber, mean, ci95_low,
    ci95_high, trials, clean, mean_flips. One cache entry per (bits, protection): steps share them."""
    import pandas as pd

    from core.link.reliability import EstimateConfig, estimate_accuracy
    from core.link.working import WorkingCopy

    # A chart read from the back of a room: 3 to 5 trials of 256 images, stopping at a 3-point half-width.
    config = EstimateConfig(images_per_trial=256, target_half_width=0.03, min_trials=3, max_trials=5)
    sub = submodel(SubModelSpec(bits=bits), 0, model)
    working = WorkingCopy(sub)  # private to this computation; the cached sub-model is never touched
    rows = []
    for ber in bers:
        r = estimate_accuracy(sub, dataset(model), ber, protection, config, seed, working=working)
        rows.append({"bits": bits, "protection": protection, "ber": ber, "mean": r.mean, "ci95_low": r.lo,
                     "ci95_high": r.hi, "trials": r.trials, "clean": r.clean_accuracy, "mean_flips": r.mean_flips})
    return pd.DataFrame(rows)
