"""The three tiers of the AI library (paper Sec. 3): edge, local and central cloud, and the download time from each.

Download time = tier access latency + bits / min(backhaul, downlink) + retransmitted bits / downlink.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.link.link_budget import check_range_array
from core.validation import check_choice, check_range

# Paper Sec. 3: real-time models at the edge, non-real-time at the local cloud, generic/foundation at the centre.
HOLDS = {"edge": "real-time", "local": "non-real-time", "central": "generic"}


@dataclass(frozen=True)
class Tier:
    """One tier of the AI library: which model type it holds, its access latency (s) and backhaul rate (bit/s).

    Change a preset with ``dataclasses.replace(TIER_PRESETS["edge"], access_latency_s=...)``; it is re-validated.
    """
    name: str
    holds: str
    access_latency_s: float
    backhaul_bps: float
    source: str = "user-defined"

    def __post_init__(self):
        check_choice("name", self.name, HOLDS)
        check_choice("holds", self.holds, [HOLDS[self.name]])
        check_range("access_latency_s", self.access_latency_s, 0.0)
        check_range("backhaul_bps", self.backhaul_bps, 0.0, lo_open=True)


TIER_PRESETS: dict[str, Tier] = {
    # The paper's Fig. 4 budgets are over the air only; an edge latency of 1 ms or more would rule out every tactile
    # download whatever the model, so the edge preset keeps it well under the 1 ms tactile budget.
    "edge": Tier("edge", "real-time", 0.5e-3, 1.6e12,
                 "assumption: edge server at the base station (paper Fig. 2), one local hop, 0.1-1 ms; "
                 "its links (e.g. 4 x 400 GbE) exceed the 1 Tb/s peak air rate, so the air link is the bottleneck"),
    "local": Tier("local", "non-real-time", 10e-3, 100e9,
                  "assumption: local cloud reached over a multi-hop mid-haul (paper Sec. 3), 10-20 ms, 100 GbE"),
    "central": Tier("central", "generic", 50e-3, 10e9,
                    "assumption: central cloud across the core network, 50-100 ms, 10 Gb/s share of the backhaul"),
}

# Paper Sec. 1: latency-sensitive applications need "several to tens of milliseconds"; generic models are
# downloaded offline, ahead of use (e.g. before a biology class), so a minute or more means no real-time need.
REAL_TIME_MAX_S = 0.05
OFFLINE_MIN_S = 60.0


def download_time(bits, tier: Tier, downlink_bps: float, retransmission_bits=0):
    """Seconds to download ``bits`` from ``tier`` to a device whose downlink runs at ``downlink_bps``.

    Bottleneck rule: the model streams through the backhaul and the air link at once (no store-and-forward), so the
    slower of the two sets the rate. Retransmitted bits (HARQ/ARQ from the base station's buffer) cross only the
    air link and are added after the first pass, an upper bound.
    """
    if not isinstance(tier, Tier):
        raise ValueError(f"tier={tier!r} must be a Tier, e.g. one of TIER_PRESETS {list(TIER_PRESETS)}")
    b = check_range_array("bits", bits, 0.0)
    down = check_range("downlink_bps", downlink_bps, 0.0, lo_open=True)
    retx = check_range_array("retransmission_bits", retransmission_bits, 0.0)
    time = tier.access_latency_s + b / min(tier.backhaul_bps, down) + retx / down
    return float(time) if np.ndim(bits) == 0 and np.ndim(retransmission_bits) == 0 else time


def tier_for_latency(latency_budget_s: float, tiers: dict[str, Tier] | None = None, *,
                     real_time_max_s: float = REAL_TIME_MAX_S, offline_min_s: float = OFFLINE_MIN_S) -> Tier:
    """The tier that stores models for an application with this latency budget (inf = offline).

    Up to ``real_time_max_s``: edge (real-time); from ``offline_min_s`` on: central (generic); between: local.
    """
    tiers = TIER_PRESETS if tiers is None else tiers
    budget = check_range("latency_budget_s", latency_budget_s, 0.0, lo_open=True)
    low = check_range("real_time_max_s", real_time_max_s, 0.0, lo_open=True)
    check_range("offline_min_s", offline_min_s, low, lo_open=True)
    if budget <= low:
        name = "edge"
    elif budget >= offline_min_s or math.isinf(budget):
        name = "central"
    else:
        name = "local"
    if name not in tiers:
        raise ValueError(f"tiers={list(tiers)} has no {name!r} tier; allowed: a dict with keys {list(HOLDS)}")
    return tiers[name]


# Tier rule reference: the paper's 6G user-experienced rate (1 Gb/s).
REFERENCE_DOWNLINK_BPS = 1e9


def tier_for_entry(technique: str, total_bits: int, *, reference_bps: float = REFERENCE_DOWNLINK_BPS,
                   real_time_max_s: float = REAL_TIME_MAX_S, tiers: dict[str, Tier] | None = None) -> str:
    """Which tier stores an AI library entry (paper Sec. 3: real-time at the edge, non-real-time local, generic
    central).

    Rule: the uncompressed root model is the generic model (central cloud). A sub-model that downloads from the
    edge within the real-time limit (50 ms, core.network.tiers.REAL_TIME_MAX_S) at the 6G user-experienced rate of
    1 Gb/s is a real-time model (edge cloud); every other sub-model is non-real-time (local cloud).
    """
    tiers = TIER_PRESETS if tiers is None else tiers
    if technique == "root":
        return "central"
    if download_time(total_bits, tiers["edge"], reference_bps) <= real_time_max_s:
        return "edge"
    return "local"


def edge_limit_bits(*, reference_bps: float = REFERENCE_DOWNLINK_BPS, real_time_max_s: float = REAL_TIME_MAX_S,
                    tiers: dict[str, Tier] | None = None) -> float:
    """The largest download (bits) that ``tier_for_entry`` puts at the edge: it arrives from the edge within the
    real-time limit at the reference rate. Larger sub-models go to the local cloud, the root to the central."""
    edge = (TIER_PRESETS if tiers is None else tiers)["edge"]
    return max(0.0, real_time_max_s - edge.access_latency_s) * min(edge.backhaul_bps, reference_bps)
