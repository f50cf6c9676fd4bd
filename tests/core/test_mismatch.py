"""Noticing the mismatch (issue 22): a device's confidence on real photos falls when its place's situation changes,
and a river drift detector triggers the download; compared with location prediction and the oracle on the same
users and photos."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.mobility.simulate import scenario, simulate
from core.situation.drift import DetectorConfig, detect
from core.situation.situations import SITUATIONS
from core.situation.mismatch import (FIXED_AT_CHANGE, WAYS, MismatchConfig, Timelines, as_seen_by,
                                     compare_ways, mismatch, shipped_pools, timelines_from_simulation)

POOL = 60  # real test photos per situation: 300 photos through the CIFAR-10 root's backbone, a few seconds
CONFIG = MismatchConfig()


@pytest.fixture(scope="module")
def pools():
    return shipped_pools(POOL, seed=0)


def _road_then_harbour(users: int, seconds: float = 400.0) -> Timelines:
    """Every user on the road, then at the harbour and airfield; no prediction got the change right."""
    return Timelines.from_stays([[("road", seconds), ("harbour and airfield", seconds)]] * users)


def test_the_held_model_is_surer_of_its_own_situation(pools):
    table = pools.table().set_index(["held", "photos_from"])
    for name in ("road", "harbour and airfield", "post office"):
        own = table.loc[(name, name), "mean_confidence"]
        others = table.xs(name, level="held").drop(index=name)["mean_confidence"]
        assert (own > others).all(), (name, own, others.to_dict())
    # photos of the other root are converted, and every answer to them is wrong
    assert table.loc[("road", "post office"), "accuracy"] == 0 == table.loc[("post office", "road"), "accuracy"]


@pytest.mark.parametrize("kind", ["page_hinkley", "adwin"])
def test_the_detector_fires_after_a_real_change_of_place_and_not_before(pools, kind):
    """The road model on 150 road photos, then on 150 harbour photos, over 10 seeds: the alarm comes after the
    change, in most seeds without any before it."""
    road, harbour = pools.confidence["road", "road"], pools.confidence["road", "harbour and airfield"]
    good = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        stream = np.r_[rng.choice(road, 150), rng.choice(harbour, 150)]
        result = detect(stream, DetectorConfig(kind), change_point=150)
        good += result.false_alarms == 0 and result.detected and result.delay < 100
    assert good >= 8, good


def test_in_the_comparison_the_trigger_comes_after_the_change(pools):
    result = compare_ways(_road_then_harbour(10), pools, replace(CONFIG, ways=("detector",)), seed=0)
    trig = result.triggers
    first = trig.groupby("user")["time_s"].min()
    assert (first >= 400).sum() >= 8                      # most users: nothing before the change
    true = trig[trig["true"]]
    assert len(true) >= 8 and (true["time_s"] >= 400).all()
    assert set(true["held"]) == {"road"} and set(true["place"]) == {"harbour and airfield"}
    row = result.summary.loc["detector"]
    assert row["fixed_by_detector"] >= 8 and 0 < row["detector_delay_s_median"] < 200


def test_same_seed_same_numbers_another_seed_other_photos(pools):
    timelines = _road_then_harbour(6)
    a = compare_ways(timelines, pools, CONFIG, seed=3)
    b = compare_ways(timelines, pools, CONFIG, seed=3)
    c = compare_ways(timelines, pools, CONFIG, seed=4)
    assert a.summary.equals(b.summary) and a.triggers.equals(b.triggers) and a.changes.equals(b.changes)
    assert not a.triggers.equals(c.triggers) or not a.summary.equals(c.summary)


def test_the_oracle_switches_at_the_change(pools):
    timelines = Timelines.from_stays([[("road", 300), ("home", 300), ("road", 300)],
                                      [("park", 200), ("post office", 400), ("harbour and airfield", 300)]])
    result = compare_ways(timelines, pools, CONFIG, seed=0)
    oracle = result.summary.loc["oracle"]
    assert oracle["changes"] == 4 == oracle["fixed_at_change"] == oracle["downloads"]
    assert oracle["wrong_model_photos"] == 0 and oracle["delay_s_upper"] == 0 == oracle["delay_photos_upper"]
    assert oracle["photos"] == result.photos > 0
    assert (result.changes[result.changes["way"] == "oracle"]["fixed"] == FIXED_AT_CHANGE).all()


def test_without_detector_a_wrong_prediction_keeps_the_wrong_model(pools):
    """No prediction was right: prediction alone answers every photo after the change with the road model; the
    detector as fallback catches most changes and cuts the wrong-model photos."""
    result = compare_ways(_road_then_harbour(10), pools, CONFIG, seed=0)
    s = result.summary
    assert s.loc["prediction", "not_fixed"] == 10
    assert abs(s.loc["prediction", "wrong_model_photos"] - s.loc["prediction", "photos"] / 2) <= 10  # 2nd half
    assert s.loc["prediction", "downloads"] == 0
    assert s.loc["prediction_and_detector", "wrong_model_photos"] < 0.5 * s.loc["prediction", "wrong_model_photos"]
    assert s.loc["prediction_and_detector", "fixed_by_detector"] >= 8


def test_a_right_prediction_switches_at_the_change(pools):
    timelines = Timelines.from_stays([[("road", 300), ("home", 300)]],
                                     predicted=[(0, 300.0, "home")])
    s = compare_ways(timelines, pools, replace(CONFIG, ways=("prediction",)), seed=0).summary.loc["prediction"]
    assert s["fixed_at_change"] == 1 and s["wrong_model_photos"] == 0 and s["downloads"] == 1


def test_on_the_simulated_users(pools):
    """The mobility simulation's users (each place's context is a situation) through all four ways."""
    config = replace(CONFIG, scenario=scenario("routine", n_users=20, duration_s=1200.0))
    sim = simulate(config.scenario, 1)
    timelines = timelines_from_simulation(sim)
    seg = timelines.segments
    assert set(seg["context"]) - {""} <= set(pools.situations)
    predictive = sim.events[sim.events["policy"] == "predictive"]
    result = mismatch(config, 1, pools=pools, simulation=sim)
    s = result.summary
    assert list(s.index) == list(WAYS)
    assert (s["changes"] == len(predictive)).all()
    assert s.loc["prediction", "fixed_at_change"] == int(predictive["predicted"].sum())
    assert s.loc["oracle", "wrong_model_photos"] == 0
    assert s.loc["prediction_and_detector", "wrong_model_photos"] <= s.loc["prediction", "wrong_model_photos"]
    located = result.triggers[result.triggers["user"] < sim.config.track_users]
    assert located[["lat", "lon"]].notna().all().all()


def test_the_context_timeline_covers_the_window(pools):
    sim = simulate(scenario("routine", n_users=8, duration_s=600.0), 0)
    seg = sim.context_timeline
    for _, part in seg.groupby("user"):
        assert part["start_s"].iloc[0] == 0 and part["end_s"].iloc[-1] == 600.0
        assert (part["start_s"].to_numpy()[1:] == part["end_s"].to_numpy()[:-1]).all()


def test_a_digit_at_a_photo_model_is_dark_ink_on_a_bright_page():
    from core.model.splits import DataSplits

    def data(x, scale):
        y = torch.zeros(len(x), dtype=torch.long)
        return DataSplits("d", ("a", "b"), x, y, x, y, x, y, (0.5,) * x.shape[1], (0.25,) * x.shape[1], 0, scale)

    digit = torch.zeros(1, 1, 8, 8)
    digit[0, 0, 2:6, 3:5] = 16.0                                   # a stroke of full ink on blank paper
    photo = torch.full((1, 3, 32, 32), 255, dtype=torch.uint8)     # a white photo
    digits, photos = data(digit, 16.0), data(photo, 255.0)
    seen = as_seen_by(digit, digits, photos)
    assert seen.shape == (1, 3, 32, 32) and seen[0, :, 0, 0].tolist() == [255.0] * 3
    assert seen[0, 0, 16, 16] < 10 and torch.equal(seen[:, 0], seen[:, 2])
    back = as_seen_by(photo, photos, digits)
    assert back.shape == (1, 1, 8, 8) and back.abs().max() < 1e-4     # white: no ink


@pytest.mark.parametrize("kwargs, message", [
    ({"photo_interval_s": 0}, "photo_interval_s=0 is outside"),
    ({"pool_photos": 5}, "pool_photos=5 is outside"),
    ({"percentile": 100}, "percentile=100 is outside"),
    ({"ways": ("psychic",)}, "ways='psychic'.*'oracle'"),
    ({"ways": ()}, "ways=\\(\\) is empty"),
    ({"detector": "adwin"}, "detector='adwin' must be a DetectorConfig"),
    ({"scenario": scenario(policies=("reactive", "oracle"))}, "scenario.policies=.*must include 'predictive'"),
])
def test_a_bad_config_is_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MismatchConfig(**kwargs)


def test_bad_timelines_are_refused_by_name(pools):
    with pytest.raises(ValueError, match="contexts \\['beach'\\].*not situations"):
        compare_ways(Timelines.from_stays([[("road", 10), ("beach", 10)]]), pools, CONFIG, seed=0)
    with pytest.raises(ValueError, match="predicted names changes"):
        compare_ways(Timelines.from_stays([[("road", 10), ("home", 10)]], predicted=[(0, 5.0, "home")]), pools,
                     CONFIG, seed=0)
    with pytest.raises(ValueError, match="seed=-1"):
        compare_ways(_road_then_harbour(1), pools, CONFIG, seed=-1)
    with pytest.raises(ValueError, match="stays\\[0\\] seconds=0"):
        Timelines.from_stays([[("road", 0)]])


# ---------- the shipped pools file ----------

def test_the_shipped_pools_file_is_for_the_shipped_models_and_holds_what_a_fresh_measurement_gives():
    """assets/situations/confidence_pools.npz spares the Predictive page a minute of measuring: it must be made for
    the shipped situation models and roots (their sha256), and equal a fresh measurement (two situations of it)."""
    from core.situation.mismatch import (EXIT, SHIPPED_POOL_PHOTOS, SHIPPED_POOL_SEED, load_pools, pools_file,
                                         pools_identity)

    shipped, why = load_pools(pools_identity(tuple(SITUATIONS), SHIPPED_POOL_PHOTOS, SHIPPED_POOL_SEED, EXIT),
                              pools_file())
    assert shipped is not None, f"{why}: rewrite it with python -m core.situation.mismatch"
    pair = ("road", "home")
    fresh = shipped_pools(SHIPPED_POOL_PHOTOS, SHIPPED_POOL_SEED, situations=pair, use_file=False)
    for h in pair:
        for s in pair:
            assert np.array_equal(fresh.photos[s], shipped.photos[s])
            assert np.array_equal(fresh.confidence[h, s], shipped.confidence[h, s])
            assert np.array_equal(fresh.correct[h, s], shipped.correct[h, s])


def test_a_pools_file_for_other_settings_or_damaged_is_said_by_name_and_not_used(tmp_path):
    from core.situation.mismatch import EXIT, load_pools, pools_file, pools_identity

    identity = pools_identity(tuple(SITUATIONS), 500, 0, EXIT)
    other, why = load_pools(pools_identity(tuple(SITUATIONS), 400, 0, EXIT), pools_file())
    assert other is None and "other models or settings" in why
    bad = tmp_path / "confidence_pools.npz"
    bad.write_bytes(pools_file().read_bytes()[:5000])
    pools, why = load_pools(identity, bad)
    assert pools is None and "confidence_pools.npz is damaged" in why
    pools, why = load_pools(identity, tmp_path / "none.npz")
    assert pools is None and "no pools file none.npz" in why
