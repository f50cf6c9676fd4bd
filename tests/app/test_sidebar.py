"""AppTest of the sidebar: shared links keep their values (bug 3), boxes show what is used (bug 4), links lock or
hide controls (issue 14 item 3), unusable checkpoints are listed with their reason (bug 2)."""
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.model.models import DEFAULT_CHECKPOINT, DEFAULT_MODEL_NAME

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_app(query: dict | None = None) -> AppTest:
    """The Rate requirements page (it loads no model, so the sidebar is tested quickly) opened by a link."""
    at = AppTest.from_file(MAIN, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.switch_page("views/rates.py").run()
    assert not at.exception, at.exception
    return at


def sidebar_texts(at, kind: str) -> list[str]:
    return [e.value for e in getattr(at.sidebar, kind)]


def query(at) -> dict:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def test_a_ber_off_the_slider_grid_is_kept_and_the_link_is_not_rewritten():
    at = open_app({"ber": "0.002"})
    assert at.session_state["settings"].ber == 0.002
    assert at.text_input(key="w_ber_text").value == "0.002"
    assert at.select_slider(key="w_ber_exp").value == -2.5  # the nearest step, said so in a caption
    assert any("exact BER 2 × 10⁻³ is used" in c for c in sidebar_texts(at, "caption"))
    assert query(at) == {"ber": "0.002"} and not at.sidebar.warning


def test_a_ber_above_the_slider_is_kept_too():
    at = open_app({"ber": "0.5"})
    assert at.session_state["settings"].ber == 0.5 and query(at) == {"ber": "0.5"}
    assert any(c.startswith("Bit-error rate on the link: 5 × 10⁻¹ (1 bit in 2)") for c in sidebar_texts(at, "caption"))


def test_typing_an_exact_ber_moves_the_slider_to_the_nearest_step():
    at = open_app()
    at.text_input(key="w_ber_text").input("3e-7").run()
    assert at.session_state["settings"].ber == 3e-7
    assert at.select_slider(key="w_ber_exp").value == -7.0  # log10(3e-7) = -6.52: the step 1e-7 is nearest
    at.select_slider(key="w_ber_exp").set_value(-3.0).run()
    assert at.session_state["settings"].ber == 1e-3 and at.text_input(key="w_ber_text").value == "1e-3"
    at.text_input(key="w_ber_text").input("banana").run()
    assert any("ber='banana' is not a number" in e for e in sidebar_texts(at, "error"))
    assert at.session_state["settings"].ber == 1e-3  # the last good value still holds, and says so


def test_unknown_place_and_a_huge_value_are_reported_and_cut():
    at = open_app({"place": "Nowhere", "hardware": "z" * 10_000})
    warnings = sidebar_texts(at, "warning")
    assert any("place='Nowhere'" in w and "not a place of the area data" in w for w in warnings)
    huge = next(w for w in warnings if w.startswith("URL parameter hardware="))
    assert len(huge) < 700 and "10,000 characters" in huge
    assert at.session_state["settings"].place == "" and at.session_state["settings"].hardware == "smartphone"


def test_boxes_show_the_presets_and_a_tiny_override_is_shown_as_typed():
    at = open_app()
    memory = at.number_input(key="w_memory_mb")
    assert memory.value == 1000.0 and memory.format == "%g"  # the smartphone preset, not "0 = preset"
    assert at.number_input(key="w_latency_ms").value == 1000.0  # image recognition: 1 s
    memory.set_value(0.001).run()
    s = at.session_state["settings"]
    assert s.memory_mb == 0.001 and s.hardware_record().model_memory_bytes == pytest.approx(1000.0)
    assert query(at)["memory_mb"] == "0.001"
    at.button(key="w_use_presets").click().run()
    assert at.number_input(key="w_memory_mb").value == 1000.0 and at.session_state["settings"].memory_mb is None


def test_another_hardware_or_application_fills_the_boxes_with_its_preset():
    at = open_app()
    at.selectbox(key="w_hardware").select("IoT sensor").run()
    assert at.number_input(key="w_memory_mb").value == 0.256
    assert at.selectbox(key="w_accelerators").value == 1
    at.selectbox(key="w_application").select("tactile").run()
    assert at.number_input(key="w_latency_ms").value == 1.0
    s = at.session_state["settings"]
    assert (s.memory_mb, s.compute_gmacs, s.accelerators, s.latency_ms) == (None, None, None, None)
    assert s.latency_s == 1e-3


def test_a_link_locks_and_hides_controls_and_keeps_its_flags():
    at = open_app({"scenario": "pier", "lock": "ber,protection", "hide": "memory"})
    s = at.session_state["settings"]
    assert s.scenario == "pier" and s.place == "Central Ferry Piers"
    assert at.selectbox(key="w_protection").disabled
    assert at.select_slider(key="w_ber_exp").disabled and at.text_input(key="w_ber_text").disabled
    assert not at.selectbox(key="w_hardware").disabled
    assert "Model memory (MB)" not in [n.label for n in at.number_input]
    assert query(at) == {"scenario": "pier", "lock": "ber,protection", "hide": "memory"}
    at.selectbox(key="w_hardware").select("tablet").run()  # an unlocked control still works
    assert not at.exception and at.session_state["settings"].hardware == "tablet"
    assert query(at)["lock"] == "ber,protection" and query(at)["hide"] == "memory"


def test_a_link_can_hide_the_ber_and_its_value_still_holds():
    at = open_app({"ber": "0.003", "hide": "ber,scenario"})
    assert "Bit-error rate (BER), log scale" not in [s.label for s in at.select_slider]
    assert "Device scenario" not in [s.label for s in at.sidebar.selectbox]
    assert at.session_state["settings"].ber == 0.003
    at.selectbox(key="w_protection").select("sanitise").run()
    assert at.session_state["settings"].ber == 0.003 and at.session_state["settings"].protection == "sanitise"


def test_unknown_lock_names_are_reported():
    at = open_app({"lock": "warp-drive"})
    assert any("lock='warp-drive'" in w for w in sidebar_texts(at, "warning"))


def test_damaged_checkpoints_are_listed_with_the_reason_and_not_offered(monkeypatch, tmp_path):
    good = tmp_path / "good.safetensors"
    shutil.copy(DEFAULT_CHECKPOINT, good)
    shutil.copy(DEFAULT_CHECKPOINT.with_suffix(".json"), good.with_suffix(".json"))
    data = DEFAULT_CHECKPOINT.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 3])
    shutil.copy(DEFAULT_CHECKPOINT.with_suffix(".json"), tmp_path / "cut.json")
    (tmp_path / "empty.safetensors").write_bytes(b"")
    (tmp_path / "empty.json").write_text("{}")
    monkeypatch.setenv("INSITU_MODELS", str(tmp_path))
    at = open_app()
    options = at.selectbox(key="w_model").options
    assert options[0] == DEFAULT_MODEL_NAME and "good: resnet18 on digits" in options
    assert not any(o.startswith(("cut", "empty")) for o in options)
    listed = " ".join(sidebar_texts(at, "caption"))
    assert "cut.safetensors" in listed and "file not fully covered" in listed
    assert "empty.safetensors" in listed and "model card empty.json is damaged" in listed
    at.selectbox(key="w_model").select("good: resnet18 on digits").run()
    assert not at.exception and at.session_state["settings"].model == "good: resnet18 on digits"


def test_other_parameters_of_the_link_stay_in_the_url():
    at = open_app({"present": "1", "ber": "0.002"})
    at.selectbox(key="w_protection").select("clamp").run()
    assert query(at) == {"present": "1", "ber": "0.002", "protection": "clamp"}


def test_parameters_that_are_not_settings_are_reported_by_name_and_dropped_from_the_link():
    at = open_app({"rate": "0", "latency": "0", "present": "abc", "ber": "0.002"})
    warnings = sidebar_texts(at, "warning")
    assert any("rate='0'" in w and "not a setting" in w for w in warnings), warnings
    assert any("latency='0'" in w and "did you mean latency_ms" in w for w in warnings), warnings
    assert any("present='abc'" in w and "present=1" in w for w in warnings), warnings
    assert not at.session_state["presenter_on"]
    assert query(at) == {"ber": "0.002"}  # what was reported leaves the address; the setting stays


def test_switching_to_snr_and_back_keeps_both_channel_descriptions():
    at = open_app({"ber": "0.002", "snr_db": "7.5"})
    at.radio(key="w_channel_mode").set_value("SNR").run()
    assert at.slider(key="w_snr_db").value == 7.5
    assert at.session_state["settings"].effective_ber != 0.002
    at.radio(key="w_channel_mode").set_value("BER").run()
    assert at.text_input(key="w_ber_text").value == "0.002" and at.session_state["settings"].ber == 0.002
