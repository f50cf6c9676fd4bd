"""Customisation on the Sub-models page: a situation model's card beside the generic root restricted to its classes
(the fair comparison, cached), and on-device customisation of a downloaded sub-model on the device's own photos
(core.situation.ondevice), its expensive half cached per sub-model and camera. Which situations a root has and their
shipped models come from app.services.situation_library, the one home of the situation models in the app.

Every cached value is keyed by plain values: the situation's name, the root's display name, the file stamps that
change when a situation model or a root is rebuilt, and the on-device settings."""
from __future__ import annotations

import re

import streamlit as st

from app.services import roots, situation_library
from core.compress.combine import SubModelSpec
from core.situation.customise import FINE_TUNED  # noqa: F401  (what a situation model's card says was trained)
# Names the page shows, re-exported so that views import only app.* (tests/test_views_import_only_app.py).
from core.situation.ondevice import (ON_DEVICE_PARTS, TRAINING_BITS, TRAINING_MAC_FACTOR,  # noqa: F401
                                     OnDeviceConfig)

SESSION_KEY = "situation"       # the situation another page asks for (the Predictive downloads map sets it)
ON_DEVICE_TEST_PHOTOS = 1000    # the on-device curve is measured on at most this many of the situation's test
                                # photos (a fixed draw): the first run's pass over them takes 5-30 s on 2 cores
# The device's camera: as the data set's photos, or a noisier one (photos unlike the root's own training photos,
# where customisation has something to learn). Noise: Gaussian, this share of the full pixel range.
CAMERAS: dict[float, str] = {0.0: "the data set's own camera",
                             0.1: "a noisier camera (noise of 10 % of the pixel range)"}
CAMERA_SEED = 0
# What the device may have downloaded (label -> spec), all made from the generic root without re-training, so
# that each is ready in seconds. Keep 10 % without re-training answers near chance as downloaded, yet its features
# survive and the head's training wins most of it back; 2-bit codes and keep 2 % are where it cannot help.
DEVICE_SPECS: dict[str, SubModelSpec] = {
    "whole root (exit 4), 32-bit floats": SubModelSpec(),
    "exit 2, 32-bit floats": SubModelSpec(depth=2),
    "8-bit codes": SubModelSpec(bits=8),
    "4-bit codes": SubModelSpec(bits=4),
    "2-bit codes, no quantisation-aware training": SubModelSpec(bits=2),
    "keep 10 % of the weights, not re-trained": SubModelSpec(keep_ratio=0.1, retrain_steps=0),
    "keep 2 % of the weights, not re-trained": SubModelSpec(keep_ratio=0.02, retrain_steps=0),
}


def situation_names(model: str) -> tuple[str, ...]:
    """The registered situations of the root ``model`` (none for a root that has none: a user's own root)."""
    try:
        return tuple(situation_library.situations_of(model))
    except (ValueError, KeyError):
        return ()


def requested(model: str) -> tuple[str, str]:
    """(situation, note): the situation another page asked for in the session, if it is one of this root's;
    otherwise "" and, for a known situation of another root, a sentence saying which root it needs."""
    from core.situation.situations import SITUATIONS

    name = st.session_state.get(SESSION_KEY)
    if not isinstance(name, str) or not name:
        return "", ""
    if name in situation_names(model):
        return name, ""
    if name in SITUATIONS:
        try:
            other = situation_library.root_name(name)
        except ValueError:
            other = SITUATIONS[name].root
        return "", (f"The place picked on the Predictive downloads page asks for the {name} situation, which "
                    f"belongs to another root model ({other}): pick that root in the sidebar to see it here.")
    return "", ""


def situation_model(name: str, model: str):
    """(situation model, problem): the shipped situation model of ``name`` on the root ``model`` (shared,
    read-only), or None and why in words (missing or damaged file, another root)."""
    if name not in situation_names(model):
        return None, f"The {name} situation is not one of this root's."
    try:
        return situation_library.situation_model(name, situation_library.situation_stamp(name)), ""
    except (ValueError, OSError) as err:  # the command that makes a missing model, as code to type
        return None, re.sub(r"(python \S+.*)$", r"`\1`", str(err))


def generic_restricted(name: str, model: str) -> tuple[float, ...]:
    """The generic root's accuracy per exit on the situation's test photos, its answer restricted to the situation's
    classes: read from the situation model's card when it holds it, else measured once (one pass, cached)."""
    sm, problem = situation_model(name, model)
    if sm is None:
        raise ValueError(problem)
    if sm.card.generic_exit_accuracy:
        return tuple(sm.card.generic_exit_accuracy)
    return _generic_restricted(name, model, situation_library.situation_stamp(name))


@st.cache_data(show_spinner="Measuring the generic root on the situation's test photos…", max_entries=16)
def _generic_restricted(name: str, model: str, stamp: float) -> tuple[float, ...]:
    from core.model.evaluate import exit_accuracies
    from core.situation.customise import cut
    from core.situation.situations import class_labels, situation_data

    root, _ = roots.root_model(model)
    data = roots.dataset(model)
    return tuple(exit_accuracies(cut(root, class_labels(name, data)), situation_data(name, data), "test"))


@st.cache_data(show_spinner="Comparing the situation model with the generic root, exit by exit (sizes and "
                             "intervals: about a minute on 2 cores)…", max_entries=16)
def _comparison(name: str, model: str, stamp: float):
    from core.situation.compare import compare_with_generic

    sm, problem = situation_model(name, model)
    if sm is None:
        raise ValueError(problem)
    root, _ = roots.root_model(model)
    return compare_with_generic(root, sm, roots.dataset(model), name)


def comparison(name: str, model: str):
    """core.situation.compare.compare_with_generic for the shipped situation model (cached per model file)."""
    return _comparison(name, model, situation_library.situation_stamp(name))


def weights_bytes(name: str) -> int:
    """Bytes of the situation model's weight file (what the network sends besides the root's own tensors)."""
    from core.situation.library import model_path

    path = model_path(name)
    return path.stat().st_size if path.is_file() else 0


# ----- on-device customisation ----------------------------------------------------------------------------------

def limit(label: str) -> str:
    """Where customising on the device cannot help the sub-model ``label`` (a plain sentence), or ""."""
    from core.situation.ondevice import limit as engine_limit

    return engine_limit(DEVICE_SPECS[label])


@st.cache_resource(show_spinner="Preparing the downloaded sub-model…", max_entries=16)
def device_submodel(label: str, model: str, identity: tuple):
    """The generic sub-model ``label`` (DEVICE_SPECS), as received, not evaluated (shared, read-only)."""
    from core.compress.combine import generate

    root, _ = roots.root_model(model)
    return generate(root, roots.dataset(model), DEVICE_SPECS[label], 0, evaluate=False)


@st.cache_resource(show_spinner=False, max_entries=16)
def _device_start(name: str, label: str, model: str, identity: tuple):
    from core.situation.ondevice import cut_head
    from core.situation.situations import class_labels

    sub = device_submodel(label, model, identity)
    module = cut_head(sub.module, class_labels(name, roots.dataset(model)))
    for p in module.parameters():
        p.requires_grad_(False)  # shared: the engine copies the part it trains
    return module


def device_start(name: str, label: str, model: str):
    """The sub-model ``label`` with its exit cut to the situation's classes: what the device starts from."""
    from app.services import keys

    return _device_start(name, label, model, keys.root_identity(model))


@st.cache_resource(show_spinner=False, max_entries=4)
def camera_data(model: str, sigma: float):
    """The situation-independent data as the device's camera takes it (the root's data when ``sigma`` is 0)."""
    from core.situation.situations import noisy_camera

    data = roots.dataset(model)
    return data if sigma == 0 else noisy_camera(data, sigma, CAMERA_SEED)


@st.cache_resource(show_spinner=False, max_entries=16)
def situation_task(name: str, model: str, sigma: float):
    """The situation's own photos (labels as positions in its classes) through the device's camera."""
    from core.situation.situations import situation_data

    return situation_data(name, camera_data(model, sigma))


def measured_photos(name: str, model: str) -> tuple[int, int]:
    """(photos measured on, the situation's test photos in all)."""
    total = len(situation_task(name, model, 0.0).y_test)
    return min(total, ON_DEVICE_TEST_PHOTOS), total


@st.cache_resource(show_spinner="Running the situation's test photos through the downloaded sub-model once (every "
                                 "later run reuses it)…", max_entries=16)
def _head_inputs(name: str, label: str, model: str, sigma: float, fine_tune: str, identity: tuple):
    from core.situation.ondevice import head_inputs

    return head_inputs(_device_start(name, label, model, identity), situation_task(name, model, sigma), fine_tune,
                       ON_DEVICE_TEST_PHOTOS)


@st.cache_resource(show_spinner="Training on the device's photos…", max_entries=64)
def _on_device(name: str, label: str, model: str, sigma: float, config: OnDeviceConfig, seed: int, hardware,
               identity: tuple):
    from core.situation.ondevice import customise_on_device

    features = _head_inputs(name, label, model, sigma, config.fine_tune, identity)
    return customise_on_device(_device_start(name, label, model, identity), situation_task(name, model, sigma),
                               config, seed, hardware, features)


def on_device(name: str, label: str, model: str, sigma: float, config: OnDeviceConfig, seed: int, hardware):
    """core.situation.ondevice.customise_on_device for the situation ``name``, the downloaded sub-model ``label``
    cut to its classes, the camera ``sigma`` and the device's ``hardware`` (a shared, read-only result)."""
    from app.services import keys

    if label not in DEVICE_SPECS:
        raise ValueError(f"label={label!r} is not one of {list(DEVICE_SPECS)}")
    if sigma not in CAMERAS:
        raise ValueError(f"sigma={sigma!r} is not one of {list(CAMERAS)}")
    return _on_device(name, label, model, float(sigma), config, int(seed), hardware, keys.root_identity(model))


__all__ = ["CAMERAS", "DEVICE_SPECS", "FINE_TUNED", "ON_DEVICE_PARTS", "ON_DEVICE_TEST_PHOTOS", "OnDeviceConfig",
           "SESSION_KEY",
           "TRAINING_BITS", "TRAINING_MAC_FACTOR", "camera_data", "comparison", "device_start", "device_submodel",
           "generic_restricted", "limit", "measured_photos", "on_device", "requested",
           "situation_model", "situation_names", "situation_task", "weights_bytes"]
