"""The guide (story mode): results its steps need besides the other pages' ones."""
from __future__ import annotations

import streamlit as st

from app.services import roots, submodels
from core.compress.combine import SubModelSpec
from core.model.models import DEFAULT_MODEL_NAME


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
    sub = submodels.submodel(SubModelSpec(bits=bits), 0, model)
    working = WorkingCopy(sub)  # private to this computation; the cached sub-model is never touched
    rows = []
    for ber in bers:
        r = estimate_accuracy(sub, roots.dataset(model), ber, protection, config, seed, working=working)
        rows.append({"bits": bits, "protection": protection, "ber": ber, "mean": r.mean, "ci95_low": r.lo,
                     "ci95_high": r.hi, "trials": r.trials, "clean": r.clean_accuracy, "mean_flips": r.mean_flips})
    return pd.DataFrame(rows)
