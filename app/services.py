"""The only place with st.cache_*: models, data and engine results, loaded once per process and shared.

Everything handed out is read-only by contract: pages never mutate a cached model (the engine copies before it
changes anything), and cache keys are plain values the page passes explicitly.
"""
from __future__ import annotations

import streamlit as st

from app.settings import Settings
from core.compress.combine import SubModel, SubModelSpec, generate
from core.compress.depth import split_table
from core.data import DataSplits, load_digits
from core.models import BackboneNet, ModelCard, load_default


@st.cache_resource(show_spinner="Loading the root model…")
def root_model(model: str = "ResNet-18 on digits (default)") -> tuple[BackboneNet, ModelCard]:
    root, card = load_default()
    for p in root.parameters():
        p.requires_grad_(False)  # shared and read-only
    return root, card


@st.cache_resource(show_spinner="Loading the data set…")
def dataset(model: str = "ResNet-18 on digits (default)") -> DataSplits:
    _, card = root_model(model)
    return load_digits(card.split_seed)


@st.cache_resource(show_spinner="Generating the sub-model…", max_entries=64)
def submodel(spec: SubModelSpec, seed: int = 0, model: str = "ResNet-18 on digits (default)") -> SubModel:
    root, _ = root_model(model)
    return generate(root, dataset(model), spec, seed)


@st.cache_data(show_spinner="Measuring split points…")
def split_rows(feature_bits: int = 8, model: str = "ResNet-18 on digits (default)"):
    import pandas as pd

    root, _ = root_model(model)
    return pd.DataFrame([r.__dict__ for r in split_table(root, dataset(model), feature_bits)])


def settings() -> Settings:
    """The current sidebar settings (set by app/controls.py on every run)."""
    return st.session_state.get("settings", Settings())
