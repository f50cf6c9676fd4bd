"""Root models and their data sets, loaded once per process and shared read-only; the session's settings; and the
guard that clears every cache when a root model's file is replaced under the same name."""
from __future__ import annotations

import threading

import streamlit as st

from app.services import keys
from app.settings import Settings
from core.model.data import DataSplits, load_for_card
from core.model.models import DEFAULT_MODEL_NAME, BackboneNet, ModelCard, load_checkpoint

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
                now = keys.root_identity(model)
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
    identity = keys.root_identity(model)
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


def settings() -> Settings:
    """The current sidebar settings (set by app/controls.py on every run)."""
    return st.session_state.get("settings", Settings())
