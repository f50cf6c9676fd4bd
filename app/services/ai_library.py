"""The AI library of each root model: opened once per catalog version and shared read-only; the selection for
the sidebar's device and each entry's per-layer profile, cached on the library's key and the settings."""
from __future__ import annotations

import streamlit as st

from app import units
from app.services import keys, roots
from app.settings import Settings
from core.model.models import DEFAULT_MODEL_NAME
# Names the pages show, re-exported so that views import only app.* (tests/test_views_import_only_app.py).
from core.network.select import ACCURACY_RULE, TECHNIQUES  # noqa: F401
from core.network.tiers import (HOLDS, REAL_TIME_MAX_S, REFERENCE_DOWNLINK_BPS, TIER_PRESETS,  # noqa: F401
                                edge_limit_bits)  # (for the AI library page)


@st.cache_resource(show_spinner="Opening the AI library…")
def library(path: str, stamp: float, model: str = DEFAULT_MODEL_NAME):
    """The opened library (``stamp``: the catalog's modification time, so a rebuilt library is reopened)."""
    from core.network.library import open_library

    root, _ = roots.root_model(model)
    return open_library(path, root=root)


def library_or_none(model: str = DEFAULT_MODEL_NAME):
    """(library, problem): the root model's library if it exists and opens, else None and why."""
    from core.network.library.shipped import ensure_library

    path = keys.library_path(model)
    catalog = path / "catalog.sqlite"
    try:
        ensure_library(path, keys.checkpoint_path(model))  # a shipped root's catalog: ready at once, no build step
    except OSError as err:
        return None, f"The shipped AI library could not be copied to {units.path(path)}: {err.strerror or err}."
    if not catalog.is_file():
        return None, f"No AI library at {units.path(path)} yet."
    try:
        return library(str(path), catalog.stat().st_mtime, model), ""
    except ValueError as err:  # the engine names files by their full path; pages show them from the project
        return None, str(err).replace(str(catalog), units.path(catalog)).replace(str(path), units.path(path))


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

    root, _ = roots.root_model(_settings.model)
    return select(_settings.dsi(), _lib, allow_generate=allow_generate, root=root,
                  data=roots.dataset(_settings.model), protection=_settings.protection,
                  rule=_settings.selection_rule)


@st.cache_data(show_spinner=False, max_entries=128)
def layer_profile(_lib, lib_key: str, entry_id: int):
    """Per-layer share of weights kept and bit width of a library entry, from its catalog row (recorded from the
    received weights when the entry was built); ``lib_key`` (library_key) names the library for the cache."""
    from core.compress.profile import catalog_layer_profile

    return catalog_layer_profile(_lib.entry(int(entry_id)))


@st.cache_data(show_spinner=False, max_entries=32)
def library_versions(_lib, lib_key: str):
    """Every improved version beside the entry it was improved from, with sizes, accuracy clean and at the library's
    BERs (no protection, the device's exit), fingerprints and how it was made in words (an empty table without
    versions); ``lib_key`` (library_key) names the library and its catalog's version for the cache."""
    from core.network.library.versions import compare_table

    return compare_table(_lib)


def improve_command(lib, model: str = DEFAULT_MODEL_NAME) -> str:
    """The command that improves an entry of this library by federated rounds and stores it as a version: on the
    smallest entry with integer codes (the kind devices keep), or the smallest entry."""
    entries = lib.entries()
    built = entries[entries["version"] == 1]
    coded = built[built["bits"] <= 8]
    pick = (coded if len(coded) else built).sort_values("total_bits")
    key = pick["key"].iloc[0] if len(pick) else "<entry key>"
    folder = "" if keys.library_path(model) == keys.PROJECT / "library" / keys.checkpoint_path(model).stem \
        else f" --library {units.path(keys.library_path(model))}"
    return (f"python -m core.network.library improve --root {keys.checkpoint_path(model).stem}{folder} --entry {key} "
            "--devices 4 --rounds 2")
