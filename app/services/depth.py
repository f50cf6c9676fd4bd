"""Depth level and progressive downloading: the root's split table, early-exit outcomes at a split point and a
family of nested sub-models trained all-in-one."""
from __future__ import annotations

import streamlit as st

from app.services import ai_library, keys, roots
from core.compress.depth import split_table
from core.model.models import DEFAULT_MODEL_NAME


def split_rows(feature_bits: int = 8, model: str = DEFAULT_MODEL_NAME):
    """The split table of the root: read from its AI library's depth entries when they are there (8-bit features,
    measured on the whole test split when the library was built: no pass over the images here), else measured.
    Cached by the library's catalog version too: a library rebuilt while the app runs gives its new table."""
    lib, _ = ai_library.library_or_none(model)
    return _split_rows(feature_bits, model, "" if lib is None else keys.library_key(lib))


@st.cache_data(show_spinner="Measuring split points…")
def _split_rows(feature_bits: int, model: str, lib_key: str):
    import pandas as pd
    from core.network.select import library_split_points

    lib, _ = ai_library.library_or_none(model)
    if feature_bits == 8 and lib is not None:
        try:
            return library_split_points(lib)
        except ValueError:
            pass  # a user-built library without every exit: measure instead
    root, _ = roots.root_model(model)
    return pd.DataFrame([r.__dict__ for r in split_table(root, roots.dataset(model), feature_bits)])


@st.cache_resource(show_spinner="Running every test image through the exit and the server…", max_entries=16)
def exit_outcomes(depth: int, feature_bits: int = 8, model: str = DEFAULT_MODEL_NAME):
    """Per-image exit confidence and answers at a split point (read-only arrays, shared): any threshold is then
    read off without another pass (ExitOutcomes.at)."""
    from core.compress.depth import early_exit_outcomes

    root, _ = roots.root_model(model)
    return early_exit_outcomes(root, roots.dataset(model), depth, feature_bits)


@st.cache_data(show_spinner="Training nested sub-models all-in-one (about a minute)…", max_entries=8)
def progressive(keep_ratios: tuple[float, ...], steps: int, seed: int = 0,
                model: str = DEFAULT_MODEL_NAME):
    from core.compress.progressive import progressive_family

    root, _ = roots.root_model(model)
    return progressive_family(root, roots.dataset(model), keep_ratios, steps, seed).table()
