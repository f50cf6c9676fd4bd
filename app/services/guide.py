"""The guide (story mode): results its steps need besides the other pages' ones, read from the values shipped
beside the root (app.story_values, so that no step waits) when they match its file, else computed live."""
from __future__ import annotations

import streamlit as st

from app import story_values
from app.services import keys, roots, submodels
from core.compress.combine import SubModelSpec
from core.model.models import DEFAULT_MODEL_NAME


@st.cache_resource(show_spinner=False, max_entries=8)
def _shipped(model: str, identity: tuple):
    """The story values shipped for this root file (``identity``: path, modification time, size), or None."""
    return story_values.load(keys.checkpoint_path(model))


def shipped_story_values(model: str = DEFAULT_MODEL_NAME):
    return _shipped(model, keys.root_identity(model))


def story_card(spec: SubModelSpec, seed: int = 0, model: str = DEFAULT_MODEL_NAME) -> story_values.CardValues:
    """Accuracy, size and download bits of a generated sub-model: shipped, or from the generated sub-model."""
    found = story_values.shipped_card(shipped_story_values(model), spec, seed)
    if found is not None:
        return found
    card = submodels.submodel(spec, seed, model).card
    return story_values.CardValues(float(card.accuracy), float(card.size_pct_of_root), int(card.total_bits))


@st.cache_data(show_spinner="Sending the sub-model through the noisy link (paired trials)…", max_entries=64)
def _story_ber(bits: int, protection: str, bers: tuple[float, ...], seed: int, model: str, identity: tuple):
    import pandas as pd

    rows = story_values.shipped_ber_rows(shipped_story_values(model), bits, protection, bers, seed)
    if rows is None:
        sub = submodels.submodel(SubModelSpec(bits=bits), 0, model)
        rows = story_values.compute_ber_rows(sub, roots.dataset(model), bits, protection, bers, seed)
    return pd.DataFrame(rows)


def story_ber(bits: int, protection: str, bers: tuple[float, ...], seed: int = 0, model: str = DEFAULT_MODEL_NAME):
    """Paired estimates (core.link.reliability.estimate_accuracy) of the accuracy of the ``bits``-bit sub-model
    received over a BSC at each BER with one receiver protection (story_values.BER_TRIALS). Columns: bits,
    protection, ber, mean, ci95_low, ci95_high, trials, clean, mean_flips, p10, p90, ruined, ruin_low, ruin_high. Shipped values when they match the root
    file; one cache entry per (bits, protection, root file): steps share them."""
    return _story_ber(bits, protection, tuple(bers), seed, model, keys.root_identity(model))
