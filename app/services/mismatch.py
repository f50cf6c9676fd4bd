"""Noticing the mismatch: the shipped situation models' confidence on real photos (computed once per process) and
the comparison of the ways of switching models on a mobility run (core.situation.mismatch), each cached by
everything it depends on; the map with the detector's triggers."""
from __future__ import annotations

import streamlit as st

from app.services import keys

# Test photos per situation in the app's pools: those of the shipped pools file (assets/situations/
# confidence_pools.npz, read in about 1.5 s; measured afresh, 5-60 s on 2 cores, only when a situation model or a
# root changed), the same as bench/bench_mismatch.py, so the page and the README's figures agree.
# (core.situation.mismatch.SHIPPED_POOL_PHOTOS / _SEED; literals here, so that importing the services stays light.)
POOL_PHOTOS = 500
POOL_SEED = 0
PHOTO_INTERVALS_S = (1.0, 2.0, 5.0, 10.0)


def ways() -> dict[str, str]:
    """The ways of switching models compared, in order: way -> label in words."""
    from core.situation.mismatch import WAYS

    return {w: v[0] for w, v in WAYS.items()}


def detectors() -> dict[str, str]:
    """The drift detectors on offer (river's, core.situation.drift): kind -> label; the comparison's default
    first."""
    from core.situation.drift import DETECTORS
    from core.situation.mismatch import MismatchConfig

    default = MismatchConfig().detector.kind
    return {k: DETECTORS[k].label for k in sorted(DETECTORS, key=lambda k: k != default)}


def detector_settings(kind: str) -> dict:
    """The river settings of a detector kind (its project defaults)."""
    from core.situation.drift import DetectorConfig

    return DetectorConfig(kind).parameters()


def model_stamps() -> tuple:
    """Modification times of every situation model's card and of the roots they were made from: part of the keys
    below, so a rebuilt situation model is measured again."""
    from core.model.models import ASSETS
    from core.situation.library import model_path
    from core.situation.situations import SITUATIONS

    stamps = []
    for name, sit in SITUATIONS.items():
        for path in (model_path(name).with_suffix(".json"), ASSETS / f"{sit.root}.safetensors"):
            stamps.append((str(path.name), path.stat().st_mtime if path.is_file() else 0.0))
    return tuple(stamps)


@st.cache_resource(show_spinner="Measuring each situation model's confidence on real test photos…", max_entries=2)
def confidence_pools(photos: int = POOL_PHOTOS, seed: int = POOL_SEED, stamps: tuple = ()):
    """Every shipped situation model's confidence on every situation's test photos (read-only, shared).
    ValueError names a missing situation model and the command that makes it."""
    from core.situation.mismatch import shipped_pools

    return shipped_pools(photos, seed)


def result_key(result) -> tuple:
    """What a mobility run is, as plain values: its scenario, seed and the area file's modification time."""
    return (repr(result.config), int(result.seed), result.area_name,
            keys.area_stamp(result.config.area_path or ""))


def comparison(result, photo_interval_s: float = 2.0, detector: str = "page_hinkley"):
    """The ways of switching models compared on the users and places of ``result`` (a mobility run that includes
    the predictive policy), a photo every ``photo_interval_s`` seconds, the ``detector`` kind's default settings."""
    stamps = model_stamps()
    return _comparison(result, result_key(result), float(photo_interval_s), detector, POOL_PHOTOS, stamps)


@st.cache_data(show_spinner="Classifying every user's photos with the model it holds…", max_entries=16)
def _comparison(_result, key: tuple, photo_interval_s: float, detector: str, photos: int, stamps: tuple):
    from core.situation.drift import DetectorConfig
    from core.situation.mismatch import MismatchConfig, mismatch

    config = MismatchConfig(scenario=_result.config, photo_interval_s=photo_interval_s,
                            detector=DetectorConfig(detector), pool_photos=photos, pool_seed=POOL_SEED)
    return mismatch(config, _result.seed, pools=confidence_pools(photos, POOL_SEED, stamps), simulation=_result)


def trigger_map(result, way: str, photo_interval_s: float = 2.0, detector: str = "page_hinkley",
                sample_users: int = 20, inline_assets: bool = False) -> str:
    """The mobility map (app.maps) with the predictive downloads and where ``way``'s detector fired."""
    stamps = model_stamps()
    return _trigger_map(result, result_key(result), way, float(photo_interval_s), detector, POOL_PHOTOS, stamps,
                        sample_users, inline_assets)


@st.cache_data(show_spinner="Drawing the map…", max_entries=16)
def _trigger_map(_result, key: tuple, way: str, photo_interval_s: float, detector: str, photos: int, stamps: tuple,
                 sample_users: int, inline_assets: bool) -> str:
    from app.maps import map_html

    found = _comparison(_result, key, photo_interval_s, detector, photos, stamps)
    triggers = found.triggers[found.triggers["way"] == way]
    return map_html(_result, sample_users=sample_users, policy="predictive", inline_assets=inline_assets,
                    triggers=triggers)
