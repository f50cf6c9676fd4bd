"""Selection from the AI library for a DSI: every hardware preset, each binding constraint, the latency sum,
accuracy at the DSI's BER, generation on the fly, the depth-level downlink-uplink trade-off, bad input."""
import dataclasses
import math

import pytest

from core.network.dsi import DSI, HARDWARE_PRESETS, Application, ChannelReport, Hardware, dsi_from_presets
from core.network.library import LibraryConfig, build_library, open_library
import pandas as pd

from core.network.select import (CONSTRAINTS, LATENCY_PARTS, TECHNIQUES, SERVER_MACS_PER_S, _choose, accuracy_at_ber,
                                 best_split_by_samples, clean_interval, depth_tradeoff, select)
from core.network.tiers import TIER_PRESETS, download_time

# One entry per family: exit 2 (depth), the root, 4-bit (bit) and keep 50 % (parameter).
SMALL = LibraryConfig(depths=(2, 4), keep_ratios=(1.0, 0.5), bits=(32, 4), combinations=False, retrain_steps=2,
                      ber_grid=(1e-3,), protections=("none",), trials=1)


@pytest.fixture(scope="module")
def lib(root, digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("select") / "lib"
    build_library(root, digits, out, SMALL, seed=0, progress=False)
    return open_library(out)


def dsi_with(hardware="smartphone", application="image recognition", **kw):
    return dsi_from_presets(hardware, application, **kw)


@pytest.mark.parametrize("preset", list(HARDWARE_PRESETS))
def test_selection_on_every_hardware_preset(lib, preset):
    sel = select(dsi_with(preset), lib, allow_generate=False)
    cands = sel.candidates
    assert set(cands.binding) <= set(CONSTRAINTS) | {""}
    assert {f"{c}_ok" for c in CONSTRAINTS} <= set(cands.columns)
    assert list(sel.summary().technique) == list(TECHNIQUES)
    for fam, chosen in sel.chosen.items():
        feasible = cands[(cands.technique == fam) & (cands.binding == "")]
        if chosen is None:
            assert feasible.empty and sel.reasons[fam]
        else:
            # the default rule: the smallest download that meets every requirement, and it says so with its runner-up
            assert chosen["binding"] == "" and chosen["total_bits"] == feasible.total_bits.min()
            assert chosen["why"].startswith(f"smallest of {len(feasible)} ")
            if len(feasible) > 1:
                second = feasible.sort_values(["total_bits", "latency_s"]).iloc[1]
                assert chosen["runner_up"] == second.label and f"next: {second.label}" in chosen["why"]
    if preset == "passive RFID/NFC tag":
        assert sel.best() is None and set(cands.binding) == {"memory"}
        assert all("memory binds" in r for fam, r in sel.reasons.items() if fam != "combined")
    if preset in ("smartphone", "tablet", "vehicle"):
        assert sel.best() is not None


def test_precision_binds_when_the_device_cannot_run_fp32(lib):
    cands = select(dsi_with("wearable"), lib, allow_generate=False).candidates  # wearable: 16 and 8 bits
    assert set(cands[cands.bits == 32].binding) == {"precision"}
    assert set(cands[cands.bits == 4].binding) == {""}


def test_latency_binds_for_a_tactile_budget(lib):
    cands = select(dsi_with("smartphone", "tactile"), lib, allow_generate=False).candidates
    root_row = cands[cands.is_root].iloc[0]
    assert root_row.binding == "latency" and root_row.latency_s > 1e-3


def test_accuracy_binds_below_the_minimum(lib):
    sel = select(dsi_with("smartphone", min_accuracy=0.9999), lib, allow_generate=False)
    assert sel.best() is None and set(sel.candidates.binding) == {"accuracy"}


def test_accuracy_above_the_ber_grid_is_not_measured_and_binds(lib):
    cands = select(dsi_with("smartphone", ber=0.05), lib, allow_generate=False).candidates
    assert set(cands.binding) == {"accuracy"} and cands.accuracy.isna().all()
    assert cands.accuracy_source.str.contains("above the grid").all()


def test_accuracy_at_a_grid_ber_is_the_measured_one(lib):
    cands = select(dsi_with("smartphone", ber=1e-3), lib, allow_generate=False).candidates
    ber = lib.ber_table()
    assert len(cands) > 0  # the loop below has candidates to compare
    for _, c in cands.iterrows():
        measured = ber[(ber.entry_id == c.id) & (ber["mode"] == c["mode"])]["mean"].iloc[0]
        assert c.accuracy == pytest.approx(measured)


def test_candidates_carry_the_ruined_downloads_of_their_cell(lib):
    """At a BER of the grid a candidate's ruined share and counts are its catalog cell's; between grid points the
    share is read like the accuracy (interpolated) and no count is claimed; at BER 0 nothing is ruined."""
    ber = lib.ber_table()
    at_grid = select(dsi_with("smartphone", ber=1e-3), lib, allow_generate=False).candidates
    assert (at_grid.downloads > 0).all()
    for _, c in at_grid.iterrows():
        cell = ber[(ber.entry_id == c.id) & (ber["mode"] == c["mode"])].iloc[0]
        assert (c.ruined, c.downloads) == (cell.ruined, cell.trials)
        assert c.ruin_lo <= c.ruin_share <= c.ruin_hi
    assert (at_grid.ruined > 0).any()  # raw fp32 at 1e-3 is ruined: the check above compares real counts
    between = select(dsi_with("smartphone", ber=5e-4), lib, allow_generate=False).candidates
    assert (between.downloads == 0).all() and (between.ruined == -1).all()
    clean = select(dsi_with("smartphone", ber=0.0), lib, allow_generate=False).candidates
    assert (clean.ruin_share == 0).all() and (clean.ruin_hi == 0).all()


def test_split_latency_is_download_compute_uplink_and_server(lib):
    dsi = dsi_with("IoT sensor", downlink_bps=1e8, uplink_bps=1e6, samples_per_task=10)
    dsi = dataclasses.replace(dsi, hardware=dataclasses.replace(dsi.hardware, model_memory_bytes=1e9))
    cands = select(dsi, lib, allow_generate=False).candidates
    row = cands[(cands.depth == 2) & (cands["mode"] == "split")].iloc[0]
    entry = lib.entries().set_index("id").loc[row.id]
    expected = (download_time(int(entry.total_bits), TIER_PRESETS[entry.tier], 1e8)
                + entry.device_memory_bytes / dsi.hardware.load_rate_bytes_per_s
                + 10 * entry.device_macs / dsi.hardware.macs_per_s(int(entry.bits))
                + 10 * entry.uplink_bits_per_sample / 1e6 + 10 * entry.server_macs / SERVER_MACS_PER_S)
    assert row.latency_s == pytest.approx(expected)
    exit_row = cands[(cands.depth == 2) & (cands["mode"] == "exit")].iloc[0]
    assert exit_row.uplink_s == 0 and exit_row.accuracy == pytest.approx(entry.accuracy)


def test_the_parts_of_the_time_to_answer_add_up_to_the_total(lib):
    cands = select(dsi_with("smartphone", samples_per_task=3), lib, allow_generate=False).candidates
    parts = cands[list(LATENCY_PARTS)]
    assert (parts >= 0).all().all()
    assert cands.latency_s.to_numpy() == pytest.approx(parts.sum(axis=1).to_numpy(), rel=1e-12)
    assert cands.download_s.to_numpy() == pytest.approx(
        (cands.access_s + cands.transfer_s + cands.retransmission_s).to_numpy())
    # fp32 runs on the phone's GPU, 8-bit and 4-bit codes on its 8-bit Neural Engine: one multiply-add costs more
    phone = HARDWARE_PRESETS["smartphone"]
    fp32, four = cands[cands.bits == 32].iloc[0], cands[cands.bits == 4].iloc[0]
    assert fp32.compute_s == pytest.approx(3 * fp32.device_macs / phone.macs_per_s(32))
    assert four.compute_s == pytest.approx(3 * four.device_macs / phone.macs_per_s(8))
    assert phone.macs_per_s(32) < phone.macs_per_s(16) < phone.macs_per_s(8) == phone.compute_macs_per_s


def test_per_precision_rates_follow_the_headline_and_are_checked():
    phone = HARDWARE_PRESETS["smartphone"]
    half = dataclasses.replace(phone, compute_macs_per_s=phone.compute_macs_per_s / 2)
    assert half.macs_per_s(32) == pytest.approx(phone.macs_per_s(32) / 2)
    assert Hardware("x", 1e6, 1e9, (8,)).macs_per_s(8) == 1e9  # none listed: the headline
    with pytest.raises(ValueError, match="rate_factors share at 8 bits"):
        dataclasses.replace(phone, rate_factors=((8, 2.0),))
    with pytest.raises(ValueError, match="bits=0"):
        phone.macs_per_s(0)


def test_accuracy_at_ber_rule():
    grid = {1e-4: 0.9, 1e-2: 0.5}
    assert accuracy_at_ber(0.95, grid, 0.0) == (0.95, "clean (BER 0)")
    assert accuracy_at_ber(0.95, grid, 1e-3)[0] == pytest.approx(0.7)  # halfway in log-BER
    assert accuracy_at_ber(0.95, grid, 1e-6)[0] == 0.9                 # below the grid: its lowest point
    assert math.isnan(accuracy_at_ber(0.95, grid, 0.1)[0])
    assert math.isnan(accuracy_at_ber(0.95, {}, 1e-3)[0])


def test_missing_precision_is_generated_on_the_fly(lib, root, digits):
    # A 16-bit device (the library has 32 and 4 bits) with an offline budget: generation time counts as latency.
    dsi = dataclasses.replace(dsi_with("wearable"), application=Application("offline", 600.0))
    sel = select(dsi, lib, root=root, data=digits)
    gen = sel.candidates[sel.candidates.generated_on_the_fly]
    assert len(sel.generated) >= 1 and (gen.bits == 16).any()
    row = gen[gen.bits == 16].iloc[0]
    assert row.binding == "" and row.generation_s > 0 and "generated" in row.label
    assert not select(dsi_with("wearable"), lib, allow_generate=False).candidates.generated_on_the_fly.any()


def test_without_root_generation_is_explained(lib):
    sel = select(dsi_with("IoT sensor"), lib)
    assert "needs root and data" in sel.reasons["bit"]


@pytest.fixture(scope="module")
def splits(root, digits):
    from core.compress.depth import split_table

    return split_table(root, digits)


def test_depth_tradeoff_moves_deeper_with_more_samples(splits):
    dsi = dsi_with("smartphone", downlink_bps=1e9, uplink_bps=1e6)
    few = depth_tradeoff(splits, dsi, 1)
    many = depth_tradeoff(splits, dsi, 10_000)
    assert few.best.sum() == 1 and int(few[few.best].depth.iloc[0]) < 4
    assert int(many[many.best].depth.iloc[0]) == 4
    parts = few.download_s + few.compute_s + few.uplink_s + few.server_s
    assert (abs(parts - few.total_s) < 1e-12).all()
    assert few.download_s.is_monotonic_increasing and (few.uplink_s.iloc[:3] > 0).all()
    sweep = best_split_by_samples(splits, dsi, [1, 10_000])
    assert list(sweep.best_depth) == [int(few[few.best].depth.iloc[0]), 4]


def test_depth_tradeoff_bad_input(splits):
    with pytest.raises(ValueError, match="samples"):
        depth_tradeoff(splits, dsi_with(), 0)
    with pytest.raises(ValueError, match="split_rows"):
        depth_tradeoff([{"depth": 1}], dsi_with(), 1)


def test_bad_select_input(lib):
    with pytest.raises(ValueError, match="dsi"):
        select("smartphone", lib)
    with pytest.raises(ValueError, match="library"):
        select(dsi_with(), "library/digits")
    with pytest.raises(ValueError, match="protection"):
        select(dsi_with(), lib, protection="magic")
    with pytest.raises(ValueError, match="edge"):
        select(dsi_with(), lib, tiers={"local": TIER_PRESETS["local"], "central": TIER_PRESETS["central"]})
    with pytest.raises(ValueError, match="server_macs_per_s"):
        select(dsi_with(), lib, server_macs_per_s=0)


@pytest.mark.parametrize("make, name", [
    (lambda: dsi_from_presets("toaster"), "hardware"),
    (lambda: dsi_from_presets(downlink_bps=0), "downlink_bps"),
    (lambda: ChannelReport(1e9, -1.0), "uplink_bps"),
    (lambda: ChannelReport(1e9, 1e9, ber=0.7), "ber"),
    (lambda: Application("x", 0.0), "latency_budget_s"),
    (lambda: Hardware("x", -5, 1e9, (8,)), "model_memory_bytes"),
])
def test_bad_dsi_values_are_named(make, name):
    with pytest.raises(ValueError, match=name):
        make()


def test_memory_smaller_than_any_model_is_an_answer_not_an_error(lib):
    tiny = Hardware("tiny", 1.0, 1e9, (8,))
    dsi = DSI(tiny, None, Application("x", 1.0), ChannelReport(1e9, 1e9))
    sel = select(dsi, lib, allow_generate=False)
    assert sel.best() is None and set(sel.candidates.binding) == {"memory"}


def _candidates(*rows):
    """Feasible depth candidates (label, Mbit, accuracy, interval half-width) for the rule alone."""
    return pd.DataFrame([{"technique": "depth", "label": label, "total_bits": int(mbit * 1e6), "latency_s": 0.01,
                          "accuracy": acc, "accuracy_lo": acc - half, "accuracy_hi": acc + half, "binding": ""}
                         for label, mbit, acc, half in rows])


def test_a_larger_model_better_only_within_noise_loses_to_the_smaller_one():
    # exit 4 fp32's estimate is 0.6 points higher, but the intervals (+-2 points) overlap: a tie, so the smaller
    cands = _candidates(("exit 4, fp32", 89.5, 0.868, 0.02), ("exit 4, 4-bit", 11.2, 0.862, 0.02),
                        ("exit 3, 8-bit", 6.2, 0.70, 0.02))
    chosen, _ = _choose(cands, "most_accurate")
    assert chosen["depth"]["label"] == "exit 4, 4-bit"
    assert "count as a tie" in chosen["depth"]["why"] and "next: exit 4, fp32" in chosen["depth"]["why"]
    # a real lead (intervals apart) is kept by the same rule
    apart = _candidates(("exit 4, fp32", 89.5, 0.90, 0.01), ("exit 4, 4-bit", 11.2, 0.85, 0.01))
    assert _choose(apart, "most_accurate")[0]["depth"]["label"] == "exit 4, fp32"
    # the default rule takes the smallest that meets every requirement, and names the next one up
    small = _choose(cands)[0]["depth"]
    assert small["label"] == "exit 3, 8-bit" and small["runner_up"] == "exit 4, 4-bit"
    assert small["why"] == ("smallest of 3 (of 3) that meet all four requirements; next: exit 4, 4-bit, "
                            "11.2 Mbit (5.0 Mbit more to download)")


def test_the_rule_is_checked_and_kept(lib):
    with pytest.raises(ValueError, match="rule='biggest'"):
        select(dsi_with(), lib, allow_generate=False, rule="biggest")
    sel = select(dsi_with(), lib, allow_generate=False, rule="most_accurate")
    assert sel.rule == "most_accurate" and sel.best()["why"].startswith("most accurate of ")


def test_clean_interval_is_wilsons():
    lo, hi = clean_interval(0.862, 10_000)
    assert 0.855 < lo < 0.862 < hi < 0.869 and math.isclose(hi - lo, 2 * 1.96 * math.sqrt(0.862 * 0.138 / 1e4),
                                                             rel_tol=0.01)
    assert clean_interval(0.5, None) == (0.5, 0.5)
