"""AI library tiers: presets, download-time arithmetic, which tier serves which latency budget, argument errors."""
import dataclasses
import math
import re

import numpy as np
import pytest

from core.network.rates import APPLICATIONS
from core.network.tiers import TIER_PRESETS, Tier, download_time, tier_for_latency

EDGE = Tier("edge", "real-time", 1e-3, 10e9)


def test_presets_follow_the_paper_and_get_slower_with_distance():
    assert [(t.name, t.holds) for t in TIER_PRESETS.values()] == [
        ("edge", "real-time"), ("local", "non-real-time"), ("central", "generic")]
    latency = [t.access_latency_s for t in TIER_PRESETS.values()]
    backhaul = [t.backhaul_bps for t in TIER_PRESETS.values()]
    assert latency == sorted(latency) and backhaul == sorted(backhaul, reverse=True)
    assert all(t.source for t in TIER_PRESETS.values())
    # The edge must leave room in the 1 ms tactile budget, and not throttle the 1 Tb/s peak air rate.
    assert TIER_PRESETS["edge"].access_latency_s < 1e-3 and TIER_PRESETS["edge"].backhaul_bps >= 1e12


def test_download_time_is_latency_plus_bits_over_the_air_rate():
    assert download_time(1e9, EDGE, 1e9) == pytest.approx(1e-3 + 1.0)


def test_a_slower_backhaul_is_the_bottleneck():
    assert download_time(1e9, EDGE, 100e9) == pytest.approx(1e-3 + 0.1)


def test_retransmissions_cross_only_the_air_link():
    assert download_time(1e9, EDGE, 1e9, retransmission_bits=1e8) == pytest.approx(1e-3 + 1.0 + 0.1)
    assert download_time(1e9, EDGE, 100e9, retransmission_bits=1e9) == pytest.approx(1e-3 + 0.1 + 0.01)


def test_download_time_is_vectorised():
    np.testing.assert_allclose(download_time(np.array([0.0, 1e9]), EDGE, 1e9), [1e-3, 1.001])


def test_full_resnet50_from_the_edge_misses_the_tactile_budget_even_at_peak_rate():
    # 736 Mbit at 1 Tb/s is 0.736 ms in the air alone; the edge's 0.5 ms access latency pushes it past 1 ms.
    assert download_time(23e6 * 32, TIER_PRESETS["edge"], 1e12) == pytest.approx(0.5e-3 + 0.736e-3)


@pytest.mark.parametrize("application, tier", [
    ("tactile", "edge"), ("video call", "local"), ("image recognition", "local")])
def test_tier_for_the_paper_applications(application, tier):
    assert tier_for_latency(APPLICATIONS[application].latency_s).name == tier


def test_offline_downloads_come_from_the_central_cloud():
    assert tier_for_latency(math.inf).name == "central"
    assert tier_for_latency(3600.0).name == "central"
    assert tier_for_latency(0.02, real_time_max_s=0.01).name == "local"


def test_presets_are_configurable_and_revalidated():
    slower = dataclasses.replace(TIER_PRESETS["local"], access_latency_s=20e-3)
    assert slower.access_latency_s == 20e-3 and TIER_PRESETS["local"].access_latency_s == 10e-3
    with pytest.raises(ValueError, match=re.escape("access_latency_s=-0.001")):
        dataclasses.replace(TIER_PRESETS["edge"], access_latency_s=-1e-3)


@pytest.mark.parametrize("call, names", [
    (lambda: Tier("fog", "real-time", 1e-3, 1e9), "name='fog'"),
    (lambda: Tier("edge", "generic", 1e-3, 1e9), "holds='generic'"),
    (lambda: Tier("edge", "real-time", 1e-3, 0), "backhaul_bps=0"),
    (lambda: download_time(-1, EDGE, 1e9), "bits=-1"),
    (lambda: download_time(1e6, EDGE, 0), "downlink_bps=0"),
    (lambda: download_time(1e6, EDGE, 1e9, retransmission_bits=-5), "retransmission_bits=-5"),
    (lambda: download_time(1e6, "edge", 1e9), "tier='edge'"),
    (lambda: tier_for_latency(0), "latency_budget_s=0"),
    (lambda: tier_for_latency(1.0, {"edge": EDGE}), "has no 'local' tier"),
])
def test_bad_input_names_the_argument(call, names):
    with pytest.raises(ValueError, match=re.escape(names)):
        call()
