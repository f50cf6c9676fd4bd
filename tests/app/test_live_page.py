"""AppTest of the Live accuracy page: trials run, the estimate shows, BER and protection change the picture."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def _metric(at, label):
    return next(m for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def live():
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py")
    at.run()
    assert not at.exception, at.exception
    return at


def test_live_page_estimates_accuracy_of_4_bit_codes_at_default_ber(live):
    estimate = _metric(live, "Accuracy under this link")
    assert "over 10 trial(s)" in estimate.delta
    assert float(estimate.value.rstrip("%")) > 90  # 4-bit codes survive BER 1e-4
    assert _metric(live, "BER / protection").value == "1.0e-04"
    assert len(live.get("imgs")) or any("bits flipped" in c.value for c in live.caption)


def test_fp32_root_collapses_at_high_ber_and_sanitising_restores_it(live):
    live.selectbox(key="live_choice").select("Root model, fp32")
    live.number_input(key="live_trials").set_value(3)
    live.select_slider(key="w_ber_exp").set_value(-3.0)
    live.run()
    assert not live.exception, live.exception
    broken = float(_metric(live, "Accuracy under this link").value.rstrip("%"))
    live.selectbox(key="w_protection").select("sanitise").run()
    assert not live.exception, live.exception
    sanitised = float(_metric(live, "Accuracy under this link").value.rstrip("%"))
    assert broken < 30 and sanitised > 80


def test_sub_models_chosen_for_the_device_can_be_sent_over_the_link(monkeypatch, tiny_library):
    monkeypatch.setenv("INSITU_LIBRARY", str(tiny_library))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py").run()
    chosen = [o for o in at.selectbox(key="live_choice").options if o.startswith("Chosen for this device")]
    assert chosen
    at.selectbox(key="live_choice").select(chosen[0])
    at.number_input(key="live_trials").set_value(2).run()
    assert not at.exception, at.exception
    assert "over 2 trial(s)" in _metric(at, "Accuracy under this link").delta


def test_lost_packets_from_a_local_4_bit_copy_degrade_gracefully(monkeypatch, tmp_path):
    monkeypatch.setenv("INSITU_LIBRARY", str(tmp_path / "none"))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/live.py").run()
    at.selectbox(key="live_choice").select("Root model, fp32")
    at.number_input(key="live_trials").set_value(1)
    at.select_slider(key="w_ber_exp").set_value(-5.0)
    at.selectbox(key="pk_mode").select("zero").run()
    zeros = float(_metric(at, "Accuracy with the lost packets' values replaced").value.rstrip("%"))
    at.selectbox(key="pk_mode").select("fallback").run()
    assert not at.exception, at.exception
    fallback = float(_metric(at, "Accuracy with the lost packets' values replaced").value.rstrip("%"))
    assert fallback > 95 and fallback > zeros
