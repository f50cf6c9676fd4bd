"""Model size and AI-library tier for each context a user needs: from the AI library's selection for the context's
application and the user's device (``library_models``), or from a named fallback table (``preset_models``)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.network.tiers import TIER_PRESETS
from core.validation import check_choice, check_range

# Access latency of each AI-library tier (paper Sec. 3, Fig. 2), one home: core/network/tiers.py.
TIER_LATENCY_S = {name: float(tier.access_latency_s) for name, tier in TIER_PRESETS.items()}
TIER_SOURCE = "core.network.tiers.TIER_PRESETS"

# Which application preset (core.network.rates.APPLICATIONS, i.e. which latency budget) each context's model
# serves. A context names a situation (core.situation.situations): the task a device has at a place. A car's
# camera needs its answer within the auto-navigation budget (200 ms, an assumption stated in core/network/rates.py);
# the other situations are photo recognition with the paper's 1 s image-recognition budget. An area file may
# override these ("applications").
CONTEXT_APPLICATIONS = {
    "road": "auto-navigation", "harbour and airfield": "image recognition", "park": "image recognition",
    "home": "image recognition", "post office": "image recognition",
}
DEFAULT_APPLICATION = "image recognition"

# The device each kind of user carries (core.network.dsi.HARDWARE_PRESETS): walkers a smartphone, drivers the car.
DEVICE_CLASSES = ("walk", "drive")
DEFAULT_DEVICES = {"walk": "smartphone", "drive": "vehicle"}

# ResNet-18 has 11,689,512 parameters (torchvision, counted); the fallback sizes below are that count times
# the bits per parameter of a sub-model made by the depth, parameter or bit level (paper Fig. 1), rounded.
RESNET18_PARAMS = 11_689_512
FALLBACK_SOURCE = "fallback table of model presets (ResNet-18 sizes, not the AI library)"


@dataclass(frozen=True)
class ModelPreset:
    """One downloadable sub-model: its size in bits, AI-library tier and how the size was obtained."""
    context: str
    model: str
    bits: float
    tier: str
    how: str

    @property
    def tier_latency_s(self) -> float:
        return TIER_LATENCY_S[self.tier]


# Real-time models sit in the edge cloud, non-real-time ones in the local cloud and generic ones in the
# central cloud (paper Sec. 3). Used only where no AI library answers (a simulation run without sizes, a root with
# no library): sizes a full-width ResNet-18 sub-model of that kind would have, not a model the project holds.
MODEL_PRESETS: dict[str, ModelPreset] = {p.context: p for p in (
    ModelPreset("road", "road model", 4 * RESNET18_PARAMS, "edge",
                "ResNet-18, 4-bit codes (bit level): 11.69 M x 4 bit = 46.8 Mbit"),
    ModelPreset("harbour and airfield", "harbour model", 8 * RESNET18_PARAMS, "edge",
                "ResNet-18, 8-bit codes (bit level): 93.5 Mbit"),
    ModelPreset("park", "park model", 0.5 * 8 * RESNET18_PARAMS, "local",
                "ResNet-18 pruned to keep 50 % (parameter level), 8-bit codes: 46.8 Mbit before indices"),
    ModelPreset("home", "home model", 0.3 * 8 * RESNET18_PARAMS, "local",
                "ResNet-18 first stages plus exit (depth level, ~30 % of parameters), 8-bit: 28.1 Mbit"),
    ModelPreset("post office", "post-office digit model", 16 * RESNET18_PARAMS, "central",
                "generic ResNet-18, fp16: 187 Mbit (generic models live in the central cloud)"),
)}

TABLE_COLUMNS = ["device_class", "hardware", "context", "application", "model", "bits", "tier", "latency_s",
                 "accuracy", "source"]


@dataclass(frozen=True, eq=False)
class ModelTable:
    """Per (device class, context): the sub-model downloaded, its bits and tier latency, and where it came from.
    ``rows`` is read-only by contract; ``models`` is the plain-value form that ScenarioConfig.models takes."""
    rows: pd.DataFrame
    from_library: bool
    note: str

    @property
    def models(self) -> tuple:
        return tuple(sorted((f"{r.device_class}/{r.context}", (float(r.bits), float(r.latency_s)))
                            for r in self.rows.itertuples()))


def _fallback_row(device_class: str, hardware: str, context: str, application: str, why: str) -> dict:
    if context not in MODEL_PRESETS:
        raise ValueError(f"context={context!r} has no model size in the fallback table; give it in "
                         f"ScenarioConfig.models or use one of {sorted(MODEL_PRESETS)}")
    p = MODEL_PRESETS[context]
    return {"device_class": device_class, "hardware": hardware, "context": context, "application": application,
            "model": p.model, "bits": float(p.bits), "tier": p.tier, "latency_s": p.tier_latency_s,
            "accuracy": float("nan"), "source": f"{FALLBACK_SOURCE}: {p.how}" + (f" ({why})" if why else "")}


def preset_models(context_applications: dict, devices: dict | None = None, why: str = "") -> ModelTable:
    """The fallback table for every (device class, context); ``why`` says why the library was not used."""
    devices = dict(devices or DEFAULT_DEVICES)
    rows = [_fallback_row(d, hw, c, app, "") for d, hw in devices.items() for c, app in context_applications.items()]
    return ModelTable(pd.DataFrame(rows, columns=TABLE_COLUMNS), False, why or FALLBACK_SOURCE)


def _is_zero(value) -> bool:
    try:
        return float(value) == 0.0
    except (TypeError, ValueError):
        return False


def library_models(library, context_applications: dict, downlink_bps: dict, ber: dict,
                   devices: dict | None = None, *, min_accuracy: float = 0.0, protection: str = "none",
                   select_fn=None) -> ModelTable:
    """Each context's sub-model from ``select(dsi, library)``, the same selection the Sub-models page makes: the
    device's hardware preset, the context's application (latency budget), ``min_accuracy`` and the link at the
    context's places (``downlink_bps``/``ber``: context -> value). The sub-model the selection rule picks among the
    feasible ones is downloaded; a context with none falls back to the table, with the reason in ``source``.

    ``library``: one library for every context, or a mapping context -> library (each situation's own library of
    its situation model, core.situation.library): then a context's model is its situation's, scored on that
    situation's photos, and a context missing from the mapping falls back to the table."""
    from core.network.dsi import HARDWARE_PRESETS, DSI, Application, ChannelReport
    from core.network.rates import APPLICATIONS
    from core.network.select import select

    select_fn = select_fn or select
    devices = dict(devices or DEFAULT_DEVICES)
    check_range("min_accuracy", min_accuracy, 0.0, 1.0)
    for d, hw in devices.items():
        check_choice("devices", d, DEVICE_CLASSES)
        check_choice(f"devices[{d!r}]", hw, HARDWARE_PRESETS)
    rows = []
    for d, hw in devices.items():
        for c, app in context_applications.items():
            check_choice(f"application of context {c!r}", app, APPLICATIONS)
            if _is_zero(downlink_bps[c]):
                raise ValueError(f"downlink_bps[{c!r}]={downlink_bps[c]!r}: the places that need this model get no "
                                 "downlink at all (0 b/s: too far from every base station); allowed: a rate above 0")
            rate = check_range(f"downlink_bps[{c!r}]", downlink_bps[c], 0.0, lo_open=True)
            channel = ChannelReport(rate, rate / 2, check_range(f"ber[{c!r}]", ber[c], 0.0, 0.5))
            lib = library.get(c) if isinstance(library, Mapping) else library
            if isinstance(library, Mapping) and lib is None:
                rows.append(_fallback_row(d, hw, c, app, f"no AI library for {c!r}"))
                continue
            dsi = DSI(HARDWARE_PRESETS[hw], None,
                      Application(app, APPLICATIONS[app].latency_s, min_accuracy, 1), channel)
            best = select_fn(dsi, lib, allow_generate=False, protection=protection).best()
            if best is None:
                rows.append(_fallback_row(d, hw, c, app, f"no library sub-model fits a {hw} for {app} at "
                                                         f"{rate / 1e6:.0f} Mb/s"))
                continue
            own = isinstance(library, Mapping)
            rows.append({"device_class": d, "hardware": hw, "context": c, "application": app,
                         "model": f"{c} model: {best['label']}" if own else str(best["label"]), "bits": float(best["total_bits"]), "tier": str(best["tier"]),
                         "latency_s": TIER_LATENCY_S[str(best["tier"])], "accuracy": float(best["accuracy"]),
                         "source": f"AI library: the smallest that meets every requirement for a {hw}, {app} "
                                   f"({APPLICATIONS[app].latency_s * 1e3:g} ms), {rate / 1e6:.0f} Mb/s, "
                                   f"BER {ber[c]:.1e}"
                                   + (f"; accuracy on the {c} test photos ({_test_photos(lib)})" if own else "")})
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    used = int((~table["source"].str.startswith(FALLBACK_SOURCE)).sum())
    return ModelTable(table, used > 0, f"{used} of {len(table)} sizes from the AI library")


def _test_photos(lib) -> str:
    n = (getattr(lib, "data_identity", None) or {}).get("test_samples")
    return f"{int(n):,} photos" if n else "its test photos"


def model_arrays(contexts, models=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bits, tier latency (s) and model names as (device classes, contexts) arrays. ``models`` (key -> (bits,
    latency_s)) wins over the fallback table; a key is ``"context"`` (every device) or ``"walk/context"``.

    Raises ValueError naming a context that has neither."""
    override = dict(models or {})
    shape = (len(DEVICE_CLASSES), len(contexts))
    bits, latency, names = np.zeros(shape), np.zeros(shape), np.empty(shape, dtype=object)
    for key in override:
        device, _, ctx = key.rpartition("/")
        if device and device not in DEVICE_CLASSES:
            raise ValueError(f"models key {key!r} names device class {device!r}; allowed: {list(DEVICE_CLASSES)}")
    for i, d in enumerate(DEVICE_CLASSES):
        for j, c in enumerate(contexts):
            value = override.get(f"{d}/{c}", override.get(c))
            if value is not None:
                bits[i, j], latency[i, j] = float(value[0]), float(value[1])
                names[i, j] = MODEL_PRESETS[c].model if c in MODEL_PRESETS else c
            elif c in MODEL_PRESETS:
                bits[i, j], latency[i, j] = MODEL_PRESETS[c].bits, MODEL_PRESETS[c].tier_latency_s
                names[i, j] = MODEL_PRESETS[c].model
            else:
                raise ValueError(f"context={c!r} has no model size: give models={{{c!r}: (bits, latency_s)}} or "
                                 f"use one of {sorted(MODEL_PRESETS)}")
    return bits, latency, names
