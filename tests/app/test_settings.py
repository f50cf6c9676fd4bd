"""Settings in the URL (issue 12, bug 3): a shared link reproduces the sender's view exactly; every value that
cannot be used is reported, cut to a readable length, never silently changed."""
import pytest

from app.settings import MESSAGE_CHARS, SCENARIOS, Settings, ViewFlags, apply_scenario, cut, link_problems


@pytest.mark.parametrize("settings", [
    Settings(),
    Settings(ber=0.002, memory_mb=0.001, latency_ms=0.001, downlink_mbps=1234.5678, accelerators=1),
    Settings(hardware="IoT sensor", channel_mode="SNR", snr_db=7.3, modulation="16-QAM", protection="uep"),
    Settings(ber=10 ** -4.5, min_accuracy=0.955, samples=37, place="General Post Office (Central)"),
    Settings(ber=0.0, application="tactile", compute_gmacs=3.3),
    apply_scenario("pier"),
])
def test_query_round_trip_is_exact(settings):
    again, problems = Settings.from_query(settings.to_query())
    assert problems == [] and again == settings


def test_a_scenario_link_is_short_and_takes_every_value_of_the_preset():
    assert apply_scenario("iot").to_query() == {"scenario": "iot"}
    museum, problems = Settings.from_query({"scenario": "pier"})
    assert problems == [] and museum == apply_scenario("pier")
    titled, _ = Settings.from_query({"scenario": "Ferry pier"})  # the title shown in the sidebar works too
    assert titled == museum
    old, problems = Settings.from_query({"scenario": "museum"})  # a link made before the museum became the pier
    assert problems == [] and old == museum


def test_values_over_a_scenario_are_kept_and_the_record_says_it_was_changed():
    s, problems = Settings.from_query({"scenario": "pier", "ber": "0.002"})
    assert problems == [] and s.ber == 0.002 and s.scenario == "custom"
    assert s.place == SCENARIOS["pier"].settings["place"] and s.samples == 20


@pytest.mark.parametrize("ber", ["0.5", "0.002", "3.3e-7", "0"])
def test_a_ber_off_the_slider_grid_is_kept_exactly(ber):
    s, problems = Settings.from_query({"ber": ber})
    assert problems == [] and s.ber == float(ber)
    assert Settings.from_query(s.to_query())[0].ber == float(ber)


@pytest.mark.parametrize("key, raw, says", [
    ("ber", "0.7", "ber=0.7 is outside the allowed range [0.0, 0.5]"),
    ("ber", "lots", "ber='lots'"),
    ("place", "Nowhere", "place='Nowhere' is not a place of the area data"),
    ("hardware", "toaster", "hardware='toaster' is not one of"),
    ("accelerators", "3", "accelerators=3 is outside the allowed range [1, 2]"),
    ("accelerators", "1.5", "'1.5' is not a whole number"),
    ("memory_mb", "0", "memory_mb=0.0 is outside the allowed range (0.0, inf]"),
    ("latency_ms", "-1", "latency_ms=-1.0"),
    ("samples", "0", "samples=0"),
    ("min_accuracy", "1.2", "min_accuracy=1.2"),
    ("protection", "prayer", "protection='prayer'"),
    ("model", "GPT", "model='GPT'"),
    ("scenario", "moon landing", "scenario='moon landing' ignored"),
    ("selection_rule", "biggest", "selection_rule='biggest' is not one of"),
])
def test_each_bad_value_is_reported_by_name_and_left_out(key, raw, says):
    s, problems = Settings.from_query({key: raw, "samples": "5"} if key != "samples" else {key: raw})
    assert len(problems) == 1 and says in problems[0] and problems[0].startswith(f"URL parameter {key}=")
    assert getattr(s, key) == getattr(Settings(), key)
    if key != "samples":
        assert s.samples == 5  # the good values of the same link are still used


def test_a_huge_bad_value_is_cut_in_the_message():
    raw = "x" * 10_000
    for key in ("hardware", "place", "scenario", "ber"):
        _, problems = Settings.from_query({key: raw})
        assert len(problems) == 1 and len(problems[0]) < 700, (key, len(problems[0]))
        assert "x" * (MESSAGE_CHARS + 1) not in problems[0] and "10,000 characters" in problems[0]


def test_cut_keeps_short_text_and_says_how_long_long_text_was():
    assert cut("short") == "short"
    assert cut("y" * 100, 20) == "y" * 19 + "… (100 characters)"


def test_other_parameters_are_not_settings():
    s, problems = Settings.from_query({"lock": "ber", "hide": "memory", "embed": "true"})
    assert s == Settings() and problems == []


def test_lock_and_hide_flags_from_the_url():
    flags, problems = ViewFlags.from_query({"lock": "ber,protection", "hide": "memory_mb,warp"})
    assert flags == ViewFlags(("ber", "protection"), ("memory",))
    assert len(problems) == 1 and "hide='warp'" in problems[0]
    assert ViewFlags.from_query(flags.to_query())[0] == flags
    with pytest.raises(ValueError, match="lock='speed'"):
        ViewFlags(lock=("speed",))


def test_the_selection_rule_is_a_setting_kept_in_the_link():
    s, problems = Settings.from_query({"selection_rule": "most_accurate"})
    assert problems == [] and s.selection_rule == "most_accurate"
    assert s.to_query() == {"selection_rule": "most_accurate"} and Settings().selection_rule == "smallest"


def test_link_parameters_that_are_not_settings_are_named_with_the_nearest_setting():
    problems = link_problems({"rate": "0", "latency": "0", "downlnk_mbps": "3", "present": "abc", "ber": "1e-3",
                              "lock": "ber", "present_": "1", "step": "2", "embed": "true"})
    assert len(problems) == 5, problems
    said = " | ".join(problems)
    assert "rate='0' ignored and removed from the address" in said and "did you mean downlink_mbps?" in said
    assert "latency='0'" in said and "did you mean latency_ms?" in said
    assert "downlnk_mbps='3'" in said and "present='abc' ignored" in said and "present_='1'" in said
    assert link_problems({"present": "1", "ber": "0.1", "hide": "memory", "step": "3"}) == []
