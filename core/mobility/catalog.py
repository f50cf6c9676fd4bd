"""Preset model sizes and AI-library tier latencies per context, used until the AI library (``core/network/library.py``)
is plugged in through ``ScenarioConfig.models``."""
from __future__ import annotations

from dataclasses import dataclass

# Access latency of each AI-library tier (paper Sec. 3, Fig. 2: edge cloud next to the base station, local
# cloud over the mid-haul, central cloud over the core). The project's tier presets (core/network/tiers.py) win so that
# every page uses the same numbers; without them, these illustrative presets (not measurements) apply:
# edge ~5 ms, local ~20 ms, central ~100 ms.
FALLBACK_TIER_LATENCY_S = {"edge": 0.005, "local": 0.020, "central": 0.100}
try:
    from core.network.tiers import TIER_PRESETS as _TIERS
    TIER_LATENCY_S = {name: float(_TIERS[name].access_latency_s) for name in FALLBACK_TIER_LATENCY_S}
    TIER_SOURCE = "core.network.tiers.TIER_PRESETS"
except (ImportError, KeyError, AttributeError):
    TIER_LATENCY_S = dict(FALLBACK_TIER_LATENCY_S)
    TIER_SOURCE = "core.mobility.catalog.FALLBACK_TIER_LATENCY_S"

# ResNet-18 has 11,689,512 parameters (torchvision, counted); the sub-model sizes below are that count times
# the bits per parameter of a sub-model made by the depth, parameter or bit level (paper Fig. 1), rounded.
RESNET18_PARAMS = 11_689_512


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
# central cloud (paper Sec. 3).
MODEL_PRESETS: dict[str, ModelPreset] = {p.context: p for p in (
    ModelPreset("navigation", "auto-navigation", 4 * RESNET18_PARAMS, "edge",
                "ResNet-18, 4-bit codes (bit level): 11.69 M x 4 bit = 46.8 Mbit"),
    ModelPreset("ar", "AR scene understanding", 8 * RESNET18_PARAMS, "edge",
                "ResNet-18, 8-bit codes (bit level): 93.5 Mbit"),
    ModelPreset("tour_guide", "tour-guide image recognition", 0.5 * 8 * RESNET18_PARAMS, "local",
                "ResNet-18 pruned to keep 50 % (parameter level), 8-bit codes: 46.8 Mbit before indices"),
    ModelPreset("product_recognition", "product recognition", 0.3 * 8 * RESNET18_PARAMS, "local",
                "ResNet-18 first stages plus exit (depth level, ~30 % of parameters), 8-bit: 28.1 Mbit"),
    ModelPreset("speech", "speech recognition", 6 * RESNET18_PARAMS, "local",
                "ResNet-18-sized model, mixed 6-bit codes: 70.1 Mbit"),
    ModelPreset("classroom_vr", "VR teaching model", 16 * RESNET18_PARAMS, "central",
                "generic ResNet-18, fp16: 187 Mbit (generic models live in the central cloud)"),
)}


def model_table(contexts, override=None) -> tuple[dict[str, float], dict[str, float]]:
    """Bits and tier latency (s) per context: ``override`` (context -> (bits, latency_s)) wins over the presets.

    Raises ValueError naming a context that has neither."""
    override = dict(override or {})
    bits, latency = {}, {}
    for c in contexts:
        if c in override:
            b, lat = override[c]
            bits[c], latency[c] = float(b), float(lat)
        elif c in MODEL_PRESETS:
            bits[c], latency[c] = MODEL_PRESETS[c].bits, MODEL_PRESETS[c].tier_latency_s
        else:
            raise ValueError(f"context={c!r} has no model size: give models={{{c!r}: (bits, latency_s)}} or use "
                             f"one of {sorted(MODEL_PRESETS)}")
    return bits, latency
