"""Mobility simulator: users stay on the area, policy ordering, two accelerators, seeds, link formulas, bad input;
users with routines, next-place predictors, downloads sharing the cell, the coastline."""
from __future__ import annotations

import copy
import dataclasses
import json
import math

import numpy as np
import pandas as pd
import pytest

from core.mobility.area import DEFAULT_AREA_PATH, area_from_dict, load_area
from core.mobility.link import LinkConfig, RateTimeline, ber, shannon_rate_bps, snr_db
from core.mobility.movement import MovementConfig, simulate_movement
from core.mobility.policies import DeviceConfig
from core.mobility.simulate import ScenarioConfig, scenario, simulate


@pytest.fixture(scope="module")
def area():
    return load_area()


@pytest.fixture(scope="module")
def default_run():
    return simulate(scenario("default"), seed=7)


@pytest.fixture(scope="module")
def raw_area():
    with open(DEFAULT_AREA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


# --- area data ---------------------------------------------------------------------------------------------

def test_default_area_is_around_hku_and_central(area):
    lat, lon = area.node_latlon[:, 0], area.node_latlon[:, 1]
    assert 22.27 < lat.min() and lat.max() < 22.30 and 114.12 < lon.min() and lon.max() < 114.17
    assert 40 <= len(area.node_ids) <= 100 and 4 <= len(area.base_stations) <= 8
    # Every place's context is a situation with a real model (issue 22); the road is the driving one.
    assert set(area.contexts) == {"road", "harbour and airfield", "park", "home", "post office"}
    assert area.road_context == "road" and {p.context for p in area.places} == set(area.contexts) - {"road"} | {"road"}
    assert np.isfinite(area.place_dist).all()


def test_street_paths_are_shortest_and_follow_streets(area):
    # Every consecutive pair on a path is a street segment, and the path's length is the Dijkstra distance.
    segments = {(a, b) for a, b, _ in area.edges} | {(b, a) for a, b, _ in area.edges}
    i, j = area.place_index("hku_main"), area.place_index("central_piers")
    path = area.paths[i, j, :area.path_len[i, j]]
    assert path[0] == area.places[i].node and path[-1] == area.places[j].node
    assert all((int(a), int(b)) in segments for a, b in zip(path[:-1], path[1:]))
    length = np.hypot(*np.diff(area.node_xy[path], axis=0).T).sum()
    assert length == pytest.approx(area.place_place_dist[i, j], rel=1e-9)
    assert area.place_place_dist[i, j] >= np.hypot(*(area.place_xy[i] - area.place_xy[j]))


def test_default_area_has_the_real_coastline(area):
    # GSHHG: Hong Kong Island is a level-1 polygon; HKU and Central lie on it, Victoria Harbour is sea.
    assert area.coastline and "GSHHG" in area.coastline["source"] and "LGPL" in area.coastline["licence"]
    assert "reclamation" in area.coastline["caveat"]
    assert len(area.land) >= 2 and all(level == 1 for level, _ in area.land)

    def on_land(lat, lon):
        inside = False
        for _, ring in area.land:
            y, x = ring[:, 0], ring[:, 1]
            crosses = (y[:-1] > lat) != (y[1:] > lat)
            xs = x[:-1] + (lat - y[:-1]) * (x[1:] - x[:-1]) / np.where(crosses, y[1:] - y[:-1], 1)
            inside ^= bool((crosses & (lon < xs)).sum() % 2)
        return inside

    hku = area.places[area.place_index("hku_main")]
    assert on_land(hku.lat, hku.lon)
    assert not on_land(22.292, 114.165)        # Victoria Harbour between Central and Tsim Sha Tsui
    assert on_land(22.300, 114.172)            # Tsim Sha Tsui, Kowloon


def test_projection_round_trips(area):
    back = area.to_latlon(area.to_xy(area.node_latlon))
    assert np.abs(back - area.node_latlon).max() < 1e-9
    # 0.001 degree of latitude is about 111 m anywhere.
    d = area.to_xy(np.array([22.285, 114.15])) - area.to_xy(np.array([22.284, 114.15]))
    assert d[1] == pytest.approx(111.2, abs=0.5)


# --- movement ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", ["routine", "streets", "random_waypoint"])
def test_users_stay_on_the_area(area, model):
    mv = simulate_movement(area, MovementConfig(model=model), 150, 1800, 1.0, np.random.default_rng(3))
    assert mv.xy.shape == (150, 1800, 2)
    assert area.contains_xy(mv.xy).all()


def test_street_users_move_along_streets_at_their_speed(area):
    cfg = MovementConfig(driver_share=0.0, speed_spread=0.0)
    mv = simulate_movement(area, cfg, 50, 1200, 1.0, np.random.default_rng(5))
    step = np.hypot(*np.diff(mv.xy, axis=1).transpose(2, 0, 1))
    # Walkers: nominal 1.4 m/s with a 10 % per-user spread; never faster than a brisk run.
    assert step.max() < 3.0 and step[step > 0.05].mean() == pytest.approx(1.4, rel=0.15)
    # Standing still at a place most of the time, in transit otherwise.
    assert 0.3 < (mv.place >= 0).mean() < 0.98


# --- policies on the default scenario -----------------------------------------------------------------------

def test_oracle_never_worse_than_predictive_never_worse_than_reactive(default_run):
    o = default_run.overall["interruption_s"]
    assert o["oracle"] <= o["predictive"] <= o["reactive"]
    assert o["predictive"] < 0.3 * o["reactive"]          # prediction helps on the routine scenario
    # Every policy handles the same switches of the same users.
    e = default_run.events
    per = {p: e[e["policy"] == p].reset_index(drop=True) for p in ("reactive", "predictive", "oracle")}
    assert per["reactive"][["user", "t_need_s"]].equals(per["oracle"][["user", "t_need_s"]])


def test_without_cell_sharing_the_ordering_holds_switch_by_switch():
    run = simulate(scenario("default", n_users=60, sharing="none"), seed=7)
    e = run.events
    per = {p: e[e["policy"] == p].reset_index(drop=True) for p in ("reactive", "predictive", "oracle")}
    tol = 1e-6
    assert (per["oracle"]["interruption_s"] <= per["predictive"]["interruption_s"] + tol).all()
    assert (per["predictive"]["interruption_s"] <= per["reactive"]["interruption_s"] + tol).all()
    assert run.overall.loc["oracle", "on_time_share"] == 1.0
    assert (e["sharing_delay_s"] < 1e-6).all()


def test_two_accelerators_never_interrupt_when_on_time(default_run):
    e = default_run.events
    assert e["on_time"].any()
    assert (e.loc[e["on_time"], "interruption_s"] == 0).all()
    assert (e.loc[~e["on_time"], "interruption_s"] > 0).all()


def test_one_accelerator_interrupts_every_switch_for_the_load():
    cfg = scenario("default", n_users=60, device=DeviceConfig(accelerators=1, load_overhead_s=0.5))
    e = simulate(cfg, seed=2).events
    on_time = e[e["on_time"] & (e["run_end_s"] - e["t_need_s"] > 1)]
    assert len(on_time) and (on_time["interruption_s"] >= 0.5 - 1e-9).all()


def test_metrics_tables(default_run):
    users, overall = default_run.users, default_run.overall
    assert len(users) == 3 * default_run.config.n_users
    assert set(overall.index) == {"reactive", "predictive", "oracle"}
    assert overall.loc["reactive", "on_time_share"] == 0.0 and overall.loc["oracle", "on_time_share"] >= 0.97
    assert overall.loc["reactive", "wasted_Mbit"] == 0 and overall.loc["predictive", "wasted_Mbit"] > 0
    assert users.groupby("policy")["interruption_s"].sum().to_dict() == pytest.approx(
        overall["interruption_s"].to_dict())
    load = default_run.load
    assert set(load["base_station"]) == set(default_run.base_stations)
    assert (load["load_bps"] >= 0).all() and load["load_bps"].max() > 0


def test_predictive_downloads_finish_early_when_it_predicted(default_run):
    e = default_run.events
    pred = e[(e["policy"] == "predictive") & e["predicted"]]
    assert len(pred) > 0.2 * len(e[e["policy"] == "predictive"])
    assert (pred["start_s"] < pred["t_need_s"]).all()


def test_seeded_runs_repeat_and_seeds_differ():
    cfg = scenario("default", n_users=40)
    a, b, c = simulate(cfg, 11), simulate(cfg, 11), simulate(cfg, 12)
    pd.testing.assert_frame_equal(a.events, b.events)
    pd.testing.assert_frame_equal(a.load, b.load)
    pd.testing.assert_frame_equal(a.tracks, b.tracks)
    assert not a.tracks[["lat", "lon"]].equals(c.tracks[["lat", "lon"]])


def test_random_waypoint_scenario_keeps_the_ordering():
    run = simulate(scenario("random_waypoint", n_users=80), seed=4)
    o = run.overall["interruption_s"]
    assert o["oracle"] <= o["predictive"] <= o["reactive"]
    assert list(run.predictors["predictor"]) == ["heading"]     # no history to learn from


def test_library_sizes_plug_in():
    base = scenario("default", n_users=30, policies=("reactive",))
    small = dataclasses.replace(base, models={c: (1e6, 0.005) for c in load_area().contexts})
    big = dataclasses.replace(base, models={"park": (1e9, 0.1)})
    t_small = simulate(small, 1).overall.loc["reactive", "interruption_s"]
    t_base = simulate(base, 1).overall.loc["reactive", "interruption_s"]
    t_big = simulate(big, 1).overall.loc["reactive", "interruption_s"]
    assert t_small < t_base < t_big


# --- link ----------------------------------------------------------------------------------------------

def test_rate_falls_with_distance_and_follows_shannon():
    cfg = LinkConfig(max_spectral_efficiency=100.0)
    d = np.array([20.0, 100.0, 300.0, 1000.0])
    snr = snr_db(d, cfg)
    assert (np.diff(snr) < 0).all()
    rate = shannon_rate_bps(snr, cfg)
    expected = 20e6 * np.log2(1 + 10 ** (snr / 10))
    assert rate == pytest.approx(expected, rel=1e-5)
    capped = shannon_rate_bps(np.array([60.0]), LinkConfig())
    assert capped[0] == pytest.approx(20e6 * 7.4063, rel=1e-6)


def test_ber_formulas():
    # BPSK at Eb/N0 = 9.6 dB gives about 1e-5 (textbook figure).
    assert ber(np.array([9.6]), "BPSK")[0] == pytest.approx(1e-5, rel=0.1)
    # QPSK has the same BER per bit as BPSK at the same Eb/N0 (SNR 3 dB higher).
    assert ber(np.array([9.6 + 10 * math.log10(2)]), "QPSK")[0] == pytest.approx(1e-5, rel=0.1)
    snr = np.array([15.0])
    values = [ber(snr, m)[0] for m in ("BPSK", "QPSK", "16-QAM", "64-QAM")]
    assert values == sorted(values)


def test_rate_timeline_download_time():
    tl = RateTimeline(np.array([[10.0, 10.0, 20.0, 20.0]]), 1.0)
    assert tl.finish_time(np.array([0]), np.array([0.5]), np.array([25.0]))[0] == pytest.approx(2.5)
    assert tl.finish_time(np.array([0]), np.array([3.0]), np.array([40.0]))[0] == pytest.approx(5.0)  # past end


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("walk_speed_mps", 0.0), ("drive_speed_mps", -3.0),
                                          ("rwp_speed_range", (0.0, 1.0))])
def test_zero_or_negative_speeds_are_refused(field, value):
    with pytest.raises(ValueError, match=field.split("_range")[0]):
        MovementConfig(**{field: value})


def test_unknown_place_is_refused():
    cfg = scenario("default", n_users=5, movement=MovementConfig(start_places=("hogwarts",)))
    with pytest.raises(ValueError, match="hogwarts.*known places"):
        simulate(cfg, 0)


def test_users_outside_the_area_are_refused():
    cfg = scenario("default", n_users=5, movement=MovementConfig(start_latlon=((22.3, 114.2),)))
    with pytest.raises(ValueError, match=r"start_latlon\[0\].*outside"):
        simulate(cfg, 0)


def test_start_places_are_used(area):
    cfg = MovementConfig(model="streets", start_places=("gpo", "central_piers"))
    mv = simulate_movement(area, cfg, 3, 5, 1.0, np.random.default_rng(0))
    assert mv.xy[0, 0] == pytest.approx(area.place_xy[area.place_index("gpo")], abs=1e-3)


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(places=[]), "places is empty"),
    (lambda d: d.update(nodes=[]), "at least 2"),
    (lambda d: d.update(base_stations=[]), "base_stations is empty"),
    (lambda d: d["places"][0].update(node="nowhere"), "unknown node 'nowhere'"),
    (lambda d: d["places"][0].update(kind="castle"), "kind='castle'"),
    (lambda d: d["edges"].append(["cr1", "atlantis"]), "unknown node 'atlantis'"),
    (lambda d: d["nodes"].append({"id": "island", "lat": 22.285, "lon": 114.15}), "not connected"),
])
def test_bad_area_data_is_refused(raw_area, change, message):
    data = copy.deepcopy(raw_area)
    change(data)
    with pytest.raises(ValueError, match=message):
        area_from_dict(data)


@pytest.mark.parametrize("kwargs, name", [({"n_users": 0}, "n_users"), ({"duration_s": -1}, "duration_s"),
                                          ({"policies": ("psychic",)}, "policies"),
                                          ({"models": {"ar": (0, 0.01)}}, "bits")])
def test_bad_scenario_is_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ScenarioConfig(**kwargs)


def test_bad_seed_and_link_are_refused():
    with pytest.raises(ValueError, match="seed"):
        simulate(scenario("default", n_users=2), -1)
    with pytest.raises(ValueError, match="link.preset"):
        LinkConfig(preset="7g")
