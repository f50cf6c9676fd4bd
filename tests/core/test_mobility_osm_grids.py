"""Every area the OpenStreetMap import makes can be simulated: street grids of several sizes and spacings with 1 to 8
places of various kinds (some sharing their nearest street node), each imported and simulated with a few users,
checking what must hold of any run. A place the base stations cannot reach (a street to the other side of the
world) is named in plain words, at the import and in the simulation."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from core.mobility.area import area_from_dict, load_area
from core.mobility.link import LinkConfig
from core.mobility.osm import main as osm_main
from core.mobility.osm import osm_to_area
from core.mobility.simulate import _simulate, scenario, simulate

ORIGIN = (22.2800, 114.1500)
METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180
# Tags the import gives a kind (core.mobility.osm.KIND_RULES), one or more per kind.
TAGS = (("amenity", "university"), ("leisure", "park"), ("amenity", "ferry_terminal"), ("amenity", "post_office"),
        ("building", "apartments"), ("leisure", "garden"), ("amenity", "parking"), ("man_made", "pier"),
        ("amenity", "school"), ("landuse", "residential"), ("aeroway", "terminal"), ("amenity", "college"))
PRESETS = ("default", "habits", "random_waypoint", "mostly_drivers", "single_accelerator", "no_cell_sharing",
           "fr2_400mhz", "routine")


def write_grid_osm(path: Path, rows: int, cols: int, spacing_m: float, places, *, masts=(), far_place=None) -> Path:
    """An OSM XML extract: a rows x cols grid of ``highway=residential`` streets ``spacing_m`` apart, and named
    places given as (name, (key, value), (row, col)) in grid units (fractions lie between the streets). ``masts``
    (row, col) are tagged mobile-phone masts (without any, the import puts base stations on a grid).
    ``far_place`` (name, (key, value), (lat, lon)): a place at the end of a street from the grid's corner to there."""
    lat0, lon0 = ORIGIN
    dlat = spacing_m / METRES_PER_DEGREE
    dlon = dlat / math.cos(math.radians(lat0))

    def at(r, c):
        return f'lat="{lat0 + r * dlat:.7f}" lon="{lon0 + c * dlon:.7f}"'

    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    node = {(r, c): 1000 + r * cols + c for r in range(rows) for c in range(cols)}
    lines += [f'<node id="{nid}" {at(r, c)}/>' for (r, c), nid in node.items()]
    for k, (name, (key, value), (r, c)) in enumerate(places):
        lines.append(f'<node id="{k + 1}" {at(r, c)}><tag k="name" v="{name}"/><tag k="{key}" v="{value}"/></node>')
    for k, (r, c) in enumerate(masts):
        lines.append(f'<node id="{500 + k}" {at(r, c)}><tag k="name" v="Mast {k}"/>'
                     '<tag k="tower:type" v="communication"/></node>')
    way = 100_000
    for r in range(rows):
        refs = "".join(f'<nd ref="{node[r, c]}"/>' for c in range(cols))
        lines.append(f'<way id="{way}">{refs}<tag k="highway" v="residential"/><tag k="name" v="Row {r}"/></way>')
        way += 1
    for c in range(cols):
        refs = "".join(f'<nd ref="{node[r, c]}"/>' for r in range(rows))
        lines.append(f'<way id="{way}">{refs}<tag k="highway" v="residential"/><tag k="name" v="Col {c}"/></way>')
        way += 1
    if far_place:
        name, (key, value), (lat, lon) = far_place
        lines.append(f'<node id="900" lat="{lat}" lon="{lon}"><tag k="name" v="{name}"/><tag k="{key}" v="{value}"/>'
                     '</node>')
        lines.append(f'<node id="901" lat="{lat}" lon="{lon}"/>')
        lines.append(f'<way id="{way}"><nd ref="{node[rows - 1, cols - 1]}"/><nd ref="901"/>'
                     '<tag k="highway" v="primary"/><tag k="name" v="Long Road"/></way>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def grid_case(seed: int) -> dict:
    """A street grid drawn from ``seed``: 2-7 x 2-7 streets 60-350 m apart, 1 + seed % 8 places with tags drawn
    from TAGS, about a third of them next to an earlier place (the two share their nearest street node)."""
    rng = np.random.default_rng(seed)
    rows, cols = (int(v) for v in rng.integers(2, 8, size=2))
    spacing = float(rng.choice([60.0, 120.0, 200.0, 350.0]))
    places = []
    for k in range(1 + seed % 8):
        if places and rng.random() < 0.35:
            r, c = places[int(rng.integers(len(places)))][2]
            where = (r + 0.05, c - 0.05)
        else:
            where = (float(rng.uniform(0, rows - 1)), float(rng.uniform(0, cols - 1)))
        places.append((f"Place {k}", TAGS[int(rng.integers(len(TAGS)))], where))
    return {"rows": rows, "cols": cols, "spacing_m": spacing, "places": places}


# The extract of issue 21: a 6 x 6 grid 200 m apart, five places in one corner, nine grid base stations (the
# north-east one serves nobody: its row in the load table was missing).
ISSUE_GRID = {"rows": 6, "cols": 6, "spacing_m": 200.0, "places": [
    ("VR classroom", ("amenity", "university"), (0.3, 0.4)), ("City Park", ("leisure", "park"), (1.6, 0.2)),
    ("Harbour Pier", ("man_made", "pier"), (0.5, 1.7)), ("Main Post Office", ("amenity", "post_office"), (2.2, 1.4)),
    ("Elm Flats", ("building", "apartments"), (1.2, 2.3))]}


def _import(tmp_path: Path, case: dict, name: str = "grid") -> tuple[dict, Path]:
    osm = write_grid_osm(tmp_path / f"{name}.osm", case["rows"], case["cols"], case["spacing_m"], case["places"])
    out = tmp_path / "areas" / f"{name}.json"
    osm_main([str(osm), "--out", str(out), "--name", name])
    import json

    return json.loads(out.read_text(encoding="utf-8")), out


def _check_import(data: dict, case: dict) -> None:
    rows, cols = case["rows"], case["cols"]
    assert len(data["nodes"]) == rows * cols
    assert len(data["edges"]) == rows * (cols - 1) + cols * (rows - 1)
    assert len(data["places"]) == len(case["places"]) and data["base_stations"]
    # Each place hangs on the street node nearest to where it was tagged (ties: either node of the tie).
    nodes = {n["id"]: (n["lat"], n["lon"]) for n in data["nodes"]}
    lat0, lon0 = ORIGIN
    dlat = case["spacing_m"] / METRES_PER_DEGREE
    dlon = dlat / math.cos(math.radians(lat0))
    for place, (_, _, (r, c)) in zip(sorted(data["places"], key=lambda p: int(p["id"][1:])), case["places"]):
        want = np.array([lat0 + r * dlat, lon0 + c * dlon])
        dist = {nid: np.hypot(*((np.array(ll) - want) / (dlat, dlon))) for nid, ll in nodes.items()}
        assert dist[place["node"]] <= min(dist.values()) + 1e-6, place


def _check_run(run, area, config) -> None:
    """What holds of any run, whatever the area."""
    policies, n_users = config.policies, config.n_users
    bs_ids = [b.id for b in area.base_stations]
    ev = run.events
    assert set(ev["context"]) <= set(area.contexts) and set(ev["base_station"]) <= set(bs_ids)
    assert (ev["interruption_s"] >= 0).all() and (ev["done_s"] >= ev["start_s"] - 1e-9).all()
    assert (ev["ready_s"] >= ev["done_s"]).all()
    assert ev["t_need_s"].between(0, config.duration_s).all() and ev["user"].between(0, n_users - 1).all()
    per_policy = ev.groupby("policy").size().reindex(list(policies), fill_value=0)
    assert per_policy.nunique() == 1                        # the same users need the same models under every policy
    # One load row per base station (every one, also those that serve nobody) per time bin and policy.
    n_bins = math.ceil(config.duration_s / config.load_bin_s)
    assert len(run.load) == len(policies) * len(bs_ids) * n_bins
    assert (run.load.groupby(["policy", "base_station"]).size() == n_bins).all()
    assert set(run.load["base_station"]) == set(bs_ids) and (run.load["load_bps"] >= 0).all()
    users = run.users
    assert len(users) == n_users * len(policies)
    assert (users.groupby("policy")["switches"].sum().reindex(list(policies)) == per_policy).all()
    assert (run.waste["bits"] > 0).all() and (run.waste["end_s"] >= run.waste["begin_s"]).all()
    overall = run.overall
    assert list(overall.index) == list(policies) and (overall["interruption_s"] >= 0).all()
    assert overall["on_time_share"].dropna().between(0, 1).all() and overall["wasted_share"].between(0, 1).all()
    assert len(run.sizes) == 2 * len(area.contexts) and (run.sizes["bits"] > 0).all()
    # Users are where the area is, and a user at a place is at that place (trips end at places of the area).
    tracks = run.tracks
    assert set(tracks["place"]) <= set(area.place_ids) | {""}
    xy = area.to_xy(tracks[["lat", "lon"]].to_numpy())
    assert area.contains_xy(xy).all()
    at = tracks["place"].to_numpy() != ""
    index = {pid: i for i, pid in enumerate(area.place_ids)}
    place = np.array([index[p] for p in tracks["place"].to_numpy()[at]], dtype=np.int64)
    off = np.hypot(*(xy[at] - area.place_xy[place]).T)
    radius = np.array([p.radius_m for p in area.places])[place]
    limit = radius if config.movement.model == "random_waypoint" else 1.0
    assert (off <= limit + 1e-6).all(), off.max()


@pytest.mark.parametrize("seed", range(8))
def test_every_imported_street_grid_can_be_simulated(tmp_path, seed):
    case = grid_case(seed)
    data, _ = _import(tmp_path, case)
    _check_import(data, case)
    area = area_from_dict(data)
    config = scenario(PRESETS[seed % len(PRESETS)], n_users=12, duration_s=900.0)
    _check_run(_simulate(config, seed, area), area, config)


def test_the_grid_of_issue_21_imports_and_simulates(tmp_path, capsys):
    data, out = _import(tmp_path, ISSUE_GRID, "issue_grid")
    assert "36 street nodes, 60 street segments, 5 places, 9 base stations" in capsys.readouterr().out
    config = scenario("default", n_users=30, duration_s=900.0, area_path=str(out))
    run = simulate(config, seed=0)
    _check_run(run, load_area(out), config)
    # The corner base station far from every place serves nobody, and still has its (zero) row.
    idle = run.load.groupby("base_station")["load_bps"].max()
    assert len(idle) == 9 and (idle == 0).any()


def test_a_run_so_short_that_nobody_switches_still_gives_every_table(tmp_path):
    data, _ = _import(tmp_path, ISSUE_GRID)
    area = area_from_dict(data)
    config = scenario("mostly_drivers", n_users=10, duration_s=5.0)
    run = _simulate(config, 0, area)
    _check_run(run, area, config)


def test_an_area_with_one_place_is_simulated(tmp_path):
    case = {"rows": 3, "cols": 3, "spacing_m": 150.0, "places": [("Only Park", ("leisure", "park"), (1.2, 0.9))]}
    data, _ = _import(tmp_path, case)
    area = area_from_dict(data)
    for preset in ("default", "mostly_drivers", "random_waypoint"):
        config = scenario(preset, n_users=10, duration_s=600.0)
        _check_run(_simulate(config, 1, area), area, config)


# --- a place off the map -------------------------------------------------------------------------------------

FAR_PLACE = ("VR classroom", ("amenity", "university"), (-22.28, -65.85))   # the other side of the world


def test_a_place_the_base_stations_cannot_reach_is_named_at_the_import(tmp_path):
    places = ISSUE_GRID["places"][1:]
    osm = write_grid_osm(tmp_path / "far.osm", 4, 4, 200.0, places, masts=[(1.5, 1.5)], far_place=FAR_PLACE)
    with pytest.raises(ValueError) as err:
        osm_to_area(osm)
    said = str(err.value)
    assert "place 'VR classroom' at (-22.28000, -65.85000)" in said
    assert "km from the nearest base station ('Mast 0')" in said and "downlink rate would be 0 b/s" in said
    assert "'Long Road'" in said and "--base-stations" in said       # the street that leads there, and the cures
    assert "harbour and airfield" not in said and "downlink_bps" not in said  # no internal names
    km = float(said.split(" is ")[1].split(" km")[0].replace(",", ""))
    assert 15_000 < km < 20_100                                       # over the Earth's surface, not the flat map


def test_the_command_line_says_the_same_without_a_traceback(tmp_path, capsys):
    osm = write_grid_osm(tmp_path / "far.osm", 3, 3, 200.0, ISSUE_GRID["places"][:2], masts=[(1, 1)],
                         far_place=FAR_PLACE)
    with pytest.raises(SystemExit) as exit_:
        osm_main([str(osm), "--out", str(tmp_path / "far.json")])
    assert "error: far.osm: place 'VR classroom'" in str(exit_.value.code)
    assert not (tmp_path / "far.json").exists()


def test_grid_sites_over_a_street_to_another_continent_are_refused_in_words(tmp_path):
    osm = write_grid_osm(tmp_path / "far.osm", 3, 3, 200.0, ISSUE_GRID["places"][:2],
                         far_place=("Far Cafe", ("amenity", "cafe"), (-22.28, -65.85)))
    with pytest.raises(ValueError, match=r"the streets span [\d,.]+ km x [\d,.]+ km: a grid_spacing_m=400 grid "
                                         r"would need [\d,]+ base stations \(at most 2,500\)"):
        osm_to_area(osm)


def test_a_link_that_reaches_no_place_is_named_by_the_simulation(tmp_path):
    data, _ = _import(tmp_path, ISSUE_GRID)
    area = area_from_dict(data)
    weak = scenario("default", n_users=5, duration_s=60.0, link=LinkConfig(tx_power_dbm=-100.0))
    with pytest.raises(ValueError, match=r"area 'grid': place 'VR classroom' at .* from the nearest base station "
                                         r".*downlink rate would be 0 b/s on the 20 MHz link at 3.5 GHz"):
        _simulate(weak, 0, area)


def test_a_zero_downlink_given_to_the_library_selection_says_why():
    from core.mobility.catalog import library_models

    with pytest.raises(ValueError, match=r"downlink_bps\['park'\]=0.0: the places that need this model get no "
                                         r"downlink at all \(0 b/s: too far from every base station\)"):
        library_models(None, {"park": "image recognition"}, {"park": 0.0}, {"park": 1e-6})
