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
    assert set(sizes["device_class"]) == {"walking (phone)", "driving (car)"} and (sizes["Mbit"] > 0).all()
    assert not sizes["context"].str.contains("_").any()          # the model's plain name, not the context id
    shown = " ".join(m.value for m in page.info) + " ".join(c.value for c in page.caption)
    # Every situation model's library ships, so the sizes are the libraries' selection, never the fallback table.
    assert "Each place's situation decides the model" in shown and "fallback table" not in shown


def test_every_task_offered_has_a_real_model_behind_it(page):
    """Issue 22: each place needs its situation's model, and what is downloaded is a sub-model of that situation
    model from its own library, scored on that situation's photos; no task without a model is offered."""
    from core.mobility.area import load_area
    from core.situation.situations import SITUATIONS

    area = load_area()
    sizes = next(d.value for d in page.dataframe if "source" in d.value.columns)
    assert set(area.contexts) <= set(SITUATIONS)
    labels = {area.context_labels[c]: c for c in area.contexts}
    assert set(sizes["context"]) == set(labels)
    from core.network.library.shipped import shipped_catalog
    from core.situation.library import model_path

    for row in sizes.itertuples():
        situation = labels[row.context]
        # Every situation ships its library and every context's link allows one of its sub-models (the piers have
        # waterfront base stations): a fallback size here would be a task without its real model.
        assert shipped_catalog(model_path(situation)) is not None, situation
        assert row.model.startswith(f"{situation} model: "), (row.model, row.source)
        assert 0 < row.accuracy <= 100 and f"accuracy on the {situation} test photos" in row.source


def test_a_place_picked_shows_its_model_and_opens_its_situation():
    from core.mobility.area import load_area

    area = load_area()
    page = open_page()                       # its own page: the button leaves for the Sub-models page
    pier = next(p for p in area.places if p.context == "harbour and airfield")
    page.selectbox(key="mob_place_model").select(pier.name).run()
    said = " ".join(m.value for m in page.markdown)
    assert f"**{pier.name}** needs the **{area.context_labels[pier.context]}** model" in said
    assert "a phone: harbour and airfield model: " in said and "a car: harbour and airfield model: " in said
    page.button(key="mob_open_situation").click().run()
    assert not page.exception, page.exception
    assert page.session_state["situation"] == "harbour and airfield"


def test_tables_have_plain_headers_and_fixed_formats(page):
    """Every table on the page: headers in words (no snake_case), every number column with a fixed format (no
    scientific notation), the unit in the header where there is one."""
    import json

    import pandas as pd

    labels = []
    for frame in page.dataframe:
        config = json.loads(frame.proto.columns or "{}")
        for column in frame.value.columns:
            conf = config.get(column, {})
            if conf.get("hidden"):
                continue
            label = conf.get("label", column)
            labels.append(label)
            assert "_" not in label, f"column {column!r} is shown as {label!r}"
            if pd.api.types.is_float_dtype(frame.value[column]):
                assert conf.get("type_config", {}).get("format"), f"number column {label!r} has no format"
    for unit in ("interruption per user (s)", "peak BS load (Mb/s)", "mean BS load (Mb/s)", "size (Mbit)",
                 "delay from sharing the cell (s per switch)", "next place right at departure", "on time"):
        assert unit in labels, (unit, labels)


def test_table_and_metrics_are_the_simulators_numbers(page):
    """The page's numbers are the simulator's for the page's own controls and the library's model sizes."""
    from dataclasses import replace

    from app import services
    from core.mobility.simulate import scenario, simulate
    from core.model.models import DEFAULT_MODEL_NAME

    state = page.session_state
    sizes = services.mobility_sizes("", 0.0)
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
    assert len(frames) >= 1          # the page's map first; the mismatch section's trigger map after it
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


@pytest.fixture
def small_town(tmp_path, monkeypatch):
    """An area file made by the OSM command from the small extract that the engine's tests write (one home for
    it), offered through $INSITU_AREAS; its key is "town"."""
    import importlib.util

    from core.mobility.osm import main as osm_main

    spec = importlib.util.spec_from_file_location(
        "mobility_city_tests", Path(__file__).resolve().parents[1] / "core" / "test_mobility_city.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    osm = tmp_path / "town.osm"
    module._write_osm(osm)
    osm_main([str(osm), "--out", str(tmp_path / "areas" / "town.json"), "--name", "Small town"])
    monkeypatch.setenv("INSITU_AREAS", str(tmp_path / "areas"))
    return "town"


def _page_text(at) -> str:
    parts = [t.value for t in at.title] + [c.value for c in at.caption] + [m.value for m in at.markdown]
    parts += [str(d.value.to_dict()) for d in at.dataframe] + [str(e.value) for e in [*at.error, *at.info]]
    return "\n".join(parts)


def test_another_city_from_openstreetmap_is_a_choice(small_town):
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/mobility.py").run()
    at.number_input(key="mob_users").set_value(30).run()
    at.selectbox(key="mob_area").select(small_town).run()
    assert not at.exception, at.exception
    assert at.session_state["settings"].area == small_town              # one choice: the sidebar follows
    assert at.selectbox(key="w_area").value == small_town
    text = _page_text(at)
    assert "Small town" in text and "Hong Kong" not in text, text[:2000]
    assert any("Small town" in c.value for c in at.caption)
    html = at.get("iframe")[0].proto.srcdoc
    assert "No coastline in this area file" in html and "Hong Kong" not in html
    sizes = next(d.value for d in at.dataframe if "source" in d.value.columns)
    assert (sizes["Mbit"] > 0).all()


def test_the_sidebar_area_drives_the_page_and_the_location(small_town):
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.run()
    at.selectbox(key="w_area").select(small_town).run()
    assert not at.exception, at.exception
    places = at.selectbox(key="w_place").options
    assert "Ferry Pier" in places and "Central Ferry Piers" not in places
    at.selectbox(key="w_place").select("Ferry Pier").run()
    assert at.session_state["settings"].dsi().location.place == "Ferry Pier"
    assert (at.query_params["area"], at.query_params["place"]) == (small_town, "Ferry Pier")   # a shareable link
    at.switch_page("views/mobility.py").run()
    assert at.selectbox(key="mob_area").value == small_town
    # The pier preset names its area (Hong Kong): applying it moves every page there, place included.
    at.selectbox(key="w_scenario").select("pier").run()
    assert not at.exception, at.exception
    s = at.session_state["settings"]
    assert (s.area, s.place) == ("hku_central", "Central Ferry Piers")
    assert at.selectbox(key="mob_area").value == "hku_central"
    # Back to the town: the Hong Kong place is not there, so the location becomes "not reported".
    at.selectbox(key="mob_area").select(small_town).run()
    assert not at.exception and at.session_state["settings"].place == "" and not at.error


def test_a_place_is_resolved_against_the_area_of_the_same_link(small_town):
    from app.settings import SCENARIOS, Settings, apply_scenario

    for query in ({"place": "Ferry Pier", "area": small_town}, {"area": small_town, "place": "Ferry Pier"}):
        s, problems = Settings.from_query(query)
        assert problems == [] and (s.area, s.place) == (small_town, "Ferry Pier")
        assert Settings.from_query(s.to_query())[0] == s
    _, problems = Settings.from_query({"place": "Ferry Pier"})          # not in the default area: said so
    assert len(problems) == 1 and "not a place of the area data of 'HKU, Sai Ying Pun" in problems[0]
    _, problems = Settings.from_query({"area": small_town, "place": "General Post Office (Central)"})
    assert "not a place of the area data of 'Small town'" in problems[0] and "choose the area" in problems[0]
    _, problems = Settings.from_query({"area": "atlantis"})
    assert "area='atlantis' is not an area file on offer" in problems[0] and small_town in problems[0]
    for key, preset in SCENARIOS.items():            # a preset with a place names its area; each applies as is
        if preset.settings.get("place"):
            assert preset.settings.get("area") == "hku_central", key
        assert apply_scenario(key).scenario == key
    # A pier link with another area: the area that has no such place is reported, the preset's place stays.
    s, problems = Settings.from_query({"scenario": "pier", "area": small_town})
    assert s.area == "hku_central" and len(problems) == 1 and "Central Ferry Piers" in problems[0]


def _grid_tests():
    """The street-grid extracts of tests/core/test_mobility_osm_grids.py (one home for them)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "mobility_osm_grid_tests", Path(__file__).resolve().parents[1] / "core" / "test_mobility_osm_grids.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_an_imported_street_grid_is_simulated_on_the_page(tmp_path, monkeypatch):
    """Issue 21: a 6 x 6 street grid with five places made by the import gave "All arrays must be of the same
    length" here (a base station that serves nobody had no load row)."""
    grids = _grid_tests()
    case = grids.ISSUE_GRID
    osm = grids.write_grid_osm(tmp_path / "grid.osm", case["rows"], case["cols"], case["spacing_m"], case["places"])
    from core.mobility.osm import main as osm_main

    osm_main([str(osm), "--out", str(tmp_path / "areas" / "grid.json"), "--name", "Grid town"])
    monkeypatch.setenv("INSITU_AREAS", str(tmp_path / "areas"))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/mobility.py").run()
    at.number_input(key="mob_users").set_value(30).run()
    at.select_slider(key="mob_minutes").set_value(10).run()
    at.selectbox(key="mob_area").select("grid").run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert any("Grid town" in c.value for c in at.caption)
    table = policy_table(at)
    assert list(table.index) == ["reactive", "predictive", "oracle"] and (table["users"] == 30).all()
    assert (table["interruption_s_per_user"] >= 0).all()


def test_an_area_with_a_place_off_the_map_is_named_on_the_page(tmp_path, monkeypatch):
    """An area file whose place no base station reaches (made before the import checked it) is reported with the
    place and the cause in words, not as an internal name."""
    import json

    grids = _grid_tests()
    osm = grids.write_grid_osm(tmp_path / "far.osm", 4, 4, 200.0, grids.ISSUE_GRID["places"][1:], masts=[(1.5, 1.5)],
                               far_place=grids.FAR_PLACE)
    folder = tmp_path / "areas"
    folder.mkdir()
    # What the import wrote before it checked the places: the same data, unvalidated.
    import core.mobility.osm as osm_module

    monkeypatch.setattr(osm_module, "area_from_dict", lambda *a, **k: None)
    data = osm_module.osm_to_area(osm, "Far town")
    monkeypatch.undo()
    (folder / "far.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv("INSITU_AREAS", str(folder))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/mobility.py").run()
    at.selectbox(key="mob_area").select("far").run()
    assert not at.exception, at.exception
    said = " ".join(e.value for e in at.error)
    assert "place 'VR classroom'" in said and "downlink rate would be 0 b/s" in said, said
    assert "classroom_vr" not in said and "downlink_bps" not in said
