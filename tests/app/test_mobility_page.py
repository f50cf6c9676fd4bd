"""AppTest of the Predictive downloads page: the policy comparison from the simulator, the offline map and the
controls that change the run."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def open_page() -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/mobility.py").run()
    assert not at.exception, at.exception
    return at


def policy_table(at):
    return next(d.value for d in at.dataframe if "policy" in d.value.columns).set_index("policy")


@pytest.fixture(scope="module")
def page():
    return open_page()


def test_policy_table_orders_oracle_predictive_reactive(page):
    table = policy_table(page)
    assert list(table.index) == ["reactive", "predictive", "oracle"]
    wait = table["interruption_s_per_user"]
    assert wait["oracle"] <= wait["predictive"] <= wait["reactive"]
    assert wait["predictive"] < 0.3 * wait["reactive"]  # users with routines are predictable
    assert table.loc["oracle", "on_time_share"] >= 0.97
    assert table.loc["predictive", "wasted_Mbit"] > 0 == table.loc["reactive", "wasted_Mbit"]
    assert table.loc["predictive", "sharing_delay_s_per_switch"] > 0   # downloads share the cell


def test_predictors_are_compared_on_the_same_users(page):
    table = next(d.value for d in page.dataframe if "next_place_accuracy_route" in d.value.columns)
    assert list(table["label"]) == ["order-1 Markov with fallback", "order-2 Markov with fallback"]
    assert (table["next_place_accuracy_route"] >= 0.8).all()
    assert table["trips"].nunique() == 1


def test_sizes_say_where_they_come_from(page):
    sizes = next(d.value for d in page.dataframe if "source" in d.value.columns)
    assert set(sizes["device_class"]) == {"walk", "drive"} and (sizes["Mbit"] > 0).all()
    shown = " ".join(m.value for m in page.info) + " ".join(c.value for c in page.caption)
    assert "fallback table" in shown or "From the AI library" in shown


def test_table_and_metrics_are_the_simulators_numbers(page):
    """The page's numbers are the simulator's for the page's own controls and the library's model sizes."""
    from dataclasses import replace

    from app import services
    from core.mobility.simulate import scenario, simulate
    from core.model.models import DEFAULT_MODEL_NAME

    state = page.session_state
    sizes = services.mobility_sizes("", 0.0, DEFAULT_MODEL_NAME, services.library_stamp(DEFAULT_MODEL_NAME))
    base = scenario(state["mob_preset"])
    config = replace(base, n_users=int(state["mob_users"]), duration_s=float(state["mob_minutes"] * 60),
                     models=sizes.models or None, device=replace(base.device, accelerators=int(state["mob_acc"])))
    overall = simulate(config, int(state["mob_seed"])).overall
    table = policy_table(page)
    for policy in overall.index:
        assert table.loc[policy, "interruption_s_per_user"] == pytest.approx(
            overall.loc[policy, "interruption_s_per_user"])
        assert table.loc[policy, "peak_bs_load_Mbps"] == pytest.approx(overall.loc[policy, "peak_bs_load_Mbps"])
    metrics = {m.label: m.value for m in page.metric}
    assert metrics["reactive: interruption per user"] == f"{overall.loc['reactive', 'interruption_s_per_user']:.2f} s"


def test_map_is_embedded_and_references_only_local_assets(page):
    frames = page.get("iframe")
    assert len(frames) == 1
    html = frames[0].proto.srcdoc
    assert "mobility-legend" in html and "Legend" in html                     # the legend box
    assert "Land and sea (GSHHG coastline)" in html and "L.polygon(" in html   # the coastline layer
    assert "predates recent reclamation" in html
    assert not re.search(r"https?://", html)  # no CDN, no tiles, no fonts from outside
    assert set(re.findall(r'(?:src|href)="([^"]+)"', html)) == {"/app/static/leaflet/leaflet.js",
                                                                 "/app/static/leaflet/leaflet.css"}


def test_load_chart_and_timeline_are_drawn(page):
    ids = [e.proto.id for e in page.get("plotly_chart")]
    assert any(i.endswith("load_chart") for i in ids) and any(i.endswith("timeline_chart") for i in ids)
    assert page.selectbox(key="mob_user").value is not None


def test_one_accelerator_interrupts_even_the_oracle():
    at = open_page()
    at.radio(key="mob_acc").set_value(1).run()
    assert not at.exception
    assert policy_table(at).loc["oracle", "interruption_s_per_user"] > 0
    at.selectbox(key="mob_preset").select("default").run()  # the preset resets the controls
    at.selectbox(key="mob_preset").select("single_accelerator").run()
    assert at.radio(key="mob_acc").value == 1 and at.number_input(key="mob_users").value == 200
    assert [o for o in at.selectbox(key="mob_area").options][0].startswith("HKU")   # Hong Kong is the default
    at.radio(key="mob_policy").set_value("reactive").run()
    assert not at.exception and "late" in at.get("iframe")[0].proto.srcdoc


def test_another_city_from_openstreetmap_is_a_choice(tmp_path, monkeypatch):
    import importlib.util

    from core.mobility.osm import main as osm_main

    # The small OSM extract that the engine's tests write (one home for it).
    spec = importlib.util.spec_from_file_location(
        "mobility_city_tests", Path(__file__).resolve().parents[1] / "core" / "test_mobility_city.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    _write_osm = module._write_osm

    osm = tmp_path / "town.osm"
    _write_osm(osm)
    osm_main([str(osm), "--out", str(tmp_path / "areas" / "town.json"), "--name", "Small town"])
    monkeypatch.setenv("INSITU_AREAS", str(tmp_path / "areas"))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/mobility.py").run()
    at.number_input(key="mob_users").set_value(30).run()
    at.selectbox(key="mob_area").select("Small town").run()
    assert not at.exception, at.exception
    assert any("Small town" in c.value for c in at.caption)
    html = at.get("iframe")[0].proto.srcdoc
    assert "No coastline in this area file" in html and "Hong Kong" not in html
