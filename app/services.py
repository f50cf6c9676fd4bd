"""The only place with st.cache_*: models, data and engine results, loaded once per process and shared.

Everything handed out is read-only by contract: pages never mutate a cached model (the engine copies before it
changes anything), and cache keys are plain values the page passes explicitly.
"""
from __future__ import annotations

import streamlit as st

from app.settings import Settings
from core.compress.combine import SubModel, SubModelSpec, generate
from core.compress.depth import split_table
from core.model.data import DataSplits, load_for_card
from core.model.models import DEFAULT_MODEL_NAME, BackboneNet, ModelCard, load_checkpoint


@st.cache_resource(show_spinner="Loading the root model…")
def root_model(model: str = DEFAULT_MODEL_NAME) -> tuple[BackboneNet, ModelCard]:
    from app.settings import model_choices

    choices = model_choices()
    if model not in choices:
        raise ValueError(f"model={model!r} is not one of {list(choices)}")
    root, card = load_checkpoint(choices[model])
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


@st.cache_data(show_spinner="Measuring split points…")
def split_rows(feature_bits: int = 8, model: str = DEFAULT_MODEL_NAME):
    import pandas as pd

    root, _ = root_model(model)
    return pd.DataFrame([r.__dict__ for r in split_table(root, dataset(model), feature_bits)])


def settings() -> Settings:
    """The current sidebar settings (set by app/controls.py on every run)."""
    return st.session_state.get("settings", Settings())


# ---------- Live accuracy ----------

@st.cache_resource
def ber_results() -> dict:
    """Finished Monte Carlo results, keyed by (spec, BER, protection, trials, seed): shared across sessions."""
    return {}


BER_GRID = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 3e-3, 1e-2, 3e-2)


@st.cache_data(show_spinner="Sweeping the BER…", max_entries=64)
def ber_curve(ident: tuple, protections: tuple[str, ...], trials: int, seed: int,
              model: str = DEFAULT_MODEL_NAME):
    import pandas as pd

    from core.link.reliability import WorkingCopy, accuracy_under_ber

    sub = live_submodel(ident, model)
    working = WorkingCopy(sub)  # private to this computation
    rows = []
    for protection in protections:
        for ber in BER_GRID:
            r = accuracy_under_ber(sub, dataset(model), ber, protection, trials, seed, working=working)
            rows.append(r.row())
    return pd.DataFrame(rows)


# ---------- Rate requirements, predictive downloads and guide (pages 3, 4 and 6) ----------
# Keys are plain values (tuples, numbers, names) so that every session with the same choices shares one entry.

@st.cache_data(show_spinner=False, max_entries=256)
def fig4(models: tuple[str, ...], applications: tuple[str, ...], bits_per_param: int = 32, counts: str = "paper",
         include_head: bool = True, points: int = 100):
    """Paper Fig. 4's table (core.network.rates.fig4_table) on a grid of ``points`` sub-model sizes from 1 % to 100 %."""
    import numpy as np

    from core.network.rates import fig4_table

    return fig4_table(models, applications, np.linspace(0.01, 1.0, points), bits_per_param, counts, include_head)


@st.cache_data(show_spinner="Counting parameters of the torchvision architectures…")
def parameter_counts():
    """Each Fig. 4 root model's paper count beside its torchvision counts (core.network.rates.parameter_table)."""
    from core.network.rates import parameter_table

    return parameter_table()


@st.cache_data(show_spinner=False, max_entries=256)
def fit_table(models: tuple[str, ...], budgets: tuple[tuple[str, float], ...], rate_bps: float,
              bits_per_param: int = 32, counts: str = "paper", include_head: bool = True):
    """Largest share of each root model that ``rate_bps`` delivers within each (application, latency budget s)."""
    import pandas as pd

    from core.network.rates import max_fraction_that_fits, root_params

    rows = []
    for model in models:
        bits = root_params(model, counts, include_head) * bits_per_param
        for application, latency_s in budgets:
            share = max_fraction_that_fits(model, latency_s, rate_bps, bits_per_param, counts, include_head)
            rows.append({"model": model, "application": application, "latency_s": latency_s,
                         "root_Mbit": bits / 1e6, "max_fraction": share, "max_Mbit": share * bits / 1e6,
                         "whole_model_fits": share >= 1.0})
    return pd.DataFrame(rows)


@st.cache_resource(show_spinner="Simulating the users' day…", max_entries=16)
def simulation(preset: str = "default", n_users: int = 200, duration_s: float = 3600.0, accelerators: int = 2,
               seed: int = 0):
    """One mobility run (core.mobility.simulate), shared read-only by every session with the same choices."""
    from dataclasses import replace

    from core.mobility.simulate import scenario, simulate

    base = scenario(preset)
    config = replace(base, n_users=n_users, duration_s=duration_s,
                     device=replace(base.device, accelerators=accelerators))
    return simulate(config, seed)


@st.cache_data(show_spinner="Drawing the map…", max_entries=32)
def mobility_map(preset: str, n_users: int, duration_s: float, accelerators: int, seed: int, policy: str,
                 sample_users: int = 20, inline_assets: bool = False) -> str:
    """The simulation's folium map as HTML; Leaflet from the app's own /app/static (or inlined for a download)."""
    from app.maps import map_html

    result = simulation(preset, n_users, duration_s, accelerators, seed)
    return map_html(result, sample_users=sample_users, policy=policy, inline_assets=inline_assets)


@st.cache_data(show_spinner="Flipping one bit of the root model and measuring…")
def exponent_flip(bit: int = 30, model: str = DEFAULT_MODEL_NAME) -> dict:
    """Accuracy of the root model before and after flipping one bit of one fp32 weight (first conv, first value);
    the flip is made on a private copy, never on the shared root model."""
    import copy

    import numpy as np
    import torch

    from core.model.evaluate import accuracy

    root, _ = root_model(model)
    data = dataset(model)
    clean = accuracy(root, data)
    broken = copy.deepcopy(root)
    weight = broken.stem[0].weight
    with torch.no_grad():
        words = weight.detach().numpy().reshape(-1).view(np.uint32)
        before = float(weight.reshape(-1)[0])
        words[0] ^= np.uint32(1 << bit)
        after = float(weight.reshape(-1)[0])
    return {"bit": bit, "clean_accuracy": clean, "flipped_accuracy": accuracy(broken, data),
            "weight_before": before, "weight_after": after}


# ---------- AI library and selection ----------

def library_path(model: str = DEFAULT_MODEL_NAME):
    """Where a root model's AI library lives: for the default $INSITU_LIBRARY or library/digits, for another
    root model library/<checkpoint name>."""
    import os
    from pathlib import Path

    from app.settings import model_choices

    project = Path(__file__).resolve().parents[1]
    if model == DEFAULT_MODEL_NAME:
        return Path(os.environ.get("INSITU_LIBRARY", project / "library" / "digits"))
    return project / "library" / model_choices()[model].stem


@st.cache_resource(show_spinner="Opening the AI library…")
def library(path: str, stamp: float, model: str = DEFAULT_MODEL_NAME):
    """The opened library (``stamp``: the catalog's modification time, so a rebuilt library is reopened)."""
    from core.network.library import open_library

    root, _ = root_model(model)
    return open_library(path, root=root)


def checkpoint_path(model: str = DEFAULT_MODEL_NAME):
    from app.settings import model_choices

    return model_choices()[model]


def library_or_none(model: str = DEFAULT_MODEL_NAME):
    """(library, problem): the root model's library if it exists and opens, else None and why."""
    path = library_path(model)
    catalog = path / "catalog.sqlite"
    if not catalog.is_file():
        return None, f"No AI library at {path} yet."
    try:
        return library(str(path), catalog.stat().st_mtime, model), ""
    except ValueError as err:
        return None, str(err)


@st.cache_data(show_spinner="Selecting sub-models…", max_entries=256)
def selection(_lib, lib_key: str, settings_key: tuple, _settings: Settings, allow_generate: bool):
    """select(dsi, library) for the sidebar's DSI; cached on the library and the settings (as plain values)."""
    from core.network.select import select

    root, _ = root_model(_settings.model)
    return select(_settings.dsi(), _lib, allow_generate=allow_generate, root=root, data=dataset(_settings.model),
                  protection=_settings.protection)


@st.cache_data(show_spinner=False, max_entries=128)
def layer_profile(_lib, lib_key: str, entry_id: int):
    """Per-layer share of weights kept and bit width of a library entry, from its stored weights."""
    import pandas as pd

    from core.compress.common import weight_names

    sub = _lib.load_submodel(int(entry_id))
    params = dict(sub.module.named_parameters())
    rows = []
    for name in weight_names(sub.module):
        record = sub.payload.record(name)
        rows.append({"layer": name.removesuffix(".weight"), "kept": float((params[name] != 0).float().mean()),
                     "bits": record.bits, "weights": params[name].numel()})
    return pd.DataFrame(rows)


# ---------- Depth-level early exit and progressive downloading ----------

@st.cache_data(show_spinner="Running early exit on the test split…", max_entries=256)
def early_exit(depth: int, threshold: float, feature_bits: int = 8, model: str = DEFAULT_MODEL_NAME):
    from core.compress.depth import early_exit as run

    root, _ = root_model(model)
    return run(root, dataset(model), depth, threshold, feature_bits).__dict__


@st.cache_data(show_spinner="Training nested sub-models all-in-one (about a minute)…", max_entries=8)
def progressive(keep_ratios: tuple[float, ...], steps: int, seed: int = 0,
                model: str = DEFAULT_MODEL_NAME):
    from core.compress.progressive import progressive_family

    root, _ = root_model(model)
    return progressive_family(root, dataset(model), keep_ratios, steps, seed).table()


# ---------- Sub-models for the Live accuracy page ----------

@st.cache_resource(show_spinner="Loading the library entry…", max_entries=16)
def library_submodel(_lib, lib_key: str, entry_id: int):
    """A library entry as a SubModel (weights checked against their sha256), shared read-only."""
    return _lib.load_submodel(int(entry_id))


def live_submodel(ident: tuple, model: str = DEFAULT_MODEL_NAME):
    """("spec", SubModelSpec) -> a generated sub-model; ("library", lib_key, entry_id) -> a library entry."""
    if ident[0] == "spec":
        return submodel(ident[1], 0, model)
    lib, problem = library_or_none(model)
    if lib is None:
        raise ValueError(f"library entry {ident[2]} asked for, but {problem}")
    return library_submodel(lib, ident[1], ident[2])
