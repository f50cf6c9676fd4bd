"""AppTest of the Sub-models page: with no library it offers to build one; with one it selects per technique."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def _run(monkeypatch, library_dir):
    monkeypatch.setenv("INSITU_LIBRARY", str(library_dir))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_default_root_ships_its_library_so_the_page_selects_at_once(monkeypatch, tmp_path):
    """No build step for the shipped root (a root without a library is offered a build: test_root_models)."""
    from core.model.models import load_default

    at = _run(monkeypatch, tmp_path / "fresh")
    assert not any("No AI library" in w.value for w in at.warning)
    assert (tmp_path / "fresh" / "catalog.sqlite").is_file()
    _, card = load_default()
    shown = {m.label: m.value for m in at.metric}["Parameters (without the extra exits)"]
    assert shown == f"{card.root_parameters / 1e6:.2f} M"
    assert "Expected accuracy" in [m.label for m in at.metric]


def test_smartphone_gets_a_sub_model_per_technique(monkeypatch, tiny_library):
    at = _run(monkeypatch, tiny_library)
    labels = [m.label for m in at.metric]
    assert labels.count("Expected accuracy") >= 2  # depth and bit level at least
    table = at.dataframe[0].value
    assert set(table["technique"]) >= {"depth", "bit"}
    assert (table["binding constraint"] == "").any()


def test_rfid_tag_gets_nothing_and_memory_is_the_reason(monkeypatch, tiny_library):
    at = _run(monkeypatch, tiny_library)
    at.selectbox(key="w_hardware").select("passive RFID/NFC tag").run()
    assert not at.exception, at.exception
    assert len(at.error) == 4 and sum("need more memory than the device has" in e.value for e in at.error) >= 2
    assert set(at.dataframe[0].value["binding constraint"]) == {"memory"}


def test_iot_scenario_preset_sets_every_control(monkeypatch, tiny_library):
    at = _run(monkeypatch, tiny_library)
    at.selectbox(key="w_scenario").select("iot").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="w_hardware").value == "IoT sensor"
    assert at.selectbox(key="w_protection").value == "sanitise"
    assert at.query_params.get("scenario") in ("iot", ["iot"])


def test_early_exit_is_measured_on_request_then_every_threshold_reads_off_the_same_images(monkeypatch, tiny_library):
    """The first page runs no pass over the test images for early exit (it waits for the button); once measured,
    moving the threshold is answered from the per-image outcomes and matches the engine's direct computation."""
    from core.compress.depth import early_exit
    from core.model.data import load_for_card
    from core.model.models import load_default

    at = _run(monkeypatch, tiny_library)
    share = lambda: next(m.value for m in at.metric if m.label == "Finished on the device")  # noqa: E731
    assert not [m for m in at.metric if m.label == "Finished on the device"]
    at.button(key="ee_run").click().run()
    at.slider(key="ee_threshold").set_value(0.0).run()
    assert share() == "100 %"
    at.slider(key="ee_threshold").set_value(0.999).run()
    assert not at.exception, at.exception
    root, card = load_default()
    direct = early_exit(root, load_for_card(card), 1, 0.999)
    assert share() == f"{100 * direct.device_share:.0f} %" and direct.device_share < 1
    accuracy = next(m.value for m in at.metric if m.label == "Accuracy")
    assert accuracy == f"{100 * direct.accuracy:.1f} %"


def test_progressive_path_costs_at_least_the_direct_download(monkeypatch, tiny_library):
    at = _run(monkeypatch, tiny_library)
    at.multiselect(key="prog_levels").set_value([0.25, 1.0])
    at.select_slider(key="prog_steps").set_value(20)
    at.button(key="prog_run").click().run()
    assert not at.exception, at.exception
    path = at.dataframe[-1].value
    assert list(path["level"]) == ["keep 25%", "keep 100%"]
    assert (path["path so far (Mbit)"] >= path["direct (Mbit)"] - 1e-9).all()


def test_location_sets_the_link_from_the_serving_base_station(monkeypatch, tiny_library):
    at = _run(monkeypatch, tiny_library)
    at.selectbox(key="w_place").select("Central Ferry Piers").run()
    info = next(m.value for m in at.markdown if "Served by" in m.value)
    assert "ships (and aircraft) seen from a pier" in info
    at.button(key="loc_use_link").click().run()
    assert not at.exception, at.exception
    from core.mobility.area import load_area
    from core.mobility.link import link_at

    link = link_at(load_area(), "Central Ferry Piers")
    assert link.station in info and f"SNR {link.snr_db:.1f} dB" in info
    assert at.number_input(key="w_downlink_mbps").value == round(link.rate_bps / 1e6, 3)
    assert at.session_state["settings"].ber == link.ber  # exactly the place's BER, not a slider step
    assert at.session_state["settings"].dsi().location.place == "Central Ferry Piers"
