"""Bring your own city: turn an OpenStreetMap XML extract (``.osm``, e.g. exported from openstreetmap.org or cut
with osmium) into an area file for the mobility simulator: streets as a graph, named places with the context their
model serves, and base-station sites (given, tagged in the extract, or on a grid).

    python -m core.mobility.osm my_town.osm --out assets/area/my_town.json --name "My town"
    python -m core.mobility.osm my_town.osm --out assets/area/my_town.json --base-stations sites.csv

``sites.csv`` has lines ``name,lat,lon``. OpenStreetMap data is (c) OpenStreetMap contributors, ODbL 1.0; the area
file records that. No network access: the extract is read from disk.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from core.mobility.area import area_from_dict, project
from core.validation import check_int, check_range

STREET_TYPES = {"motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
                "living_street", "pedestrian", "motorway_link", "trunk_link", "primary_link", "secondary_link",
                "tertiary_link", "service", "road"}
WALKWAY_TYPES = {"footway", "path", "steps", "cycleway"}

# (tag key, values or "*") -> place kind; the first match wins. Only kinds whose situation has a real model in this
# project (core/situation/situations.py) are read: places of other kinds (museums, shops, offices) would need a task
# no model here performs, so they are left out.
KIND_RULES = (
    ("amenity", {"university", "college", "school"}, "university"),
    ("leisure", {"park", "garden"}, "park"),
    ("amenity", {"parking"}, "car_park"),
    ("amenity", {"ferry_terminal"}, "pier"),
    ("man_made", {"pier"}, "pier"),
    ("aeroway", {"terminal", "aerodrome"}, "pier"),
    ("amenity", {"post_office"}, "post_office"),
    ("building", {"residential", "apartments", "house"}, "residential"),
    ("landuse", {"residential"}, "residential"),
)
# Kind -> context: the situation whose model a device needs there; labels shown on the page.
KIND_CONTEXTS = {
    "university": "park", "park": "park", "car_park": "road", "pier": "harbour and airfield",
    "post_office": "post office", "residential": "home",
}
CONTEXT_LABELS = {
    "road": "road: the cars and trucks a car's camera sees",
    "harbour and airfield": "harbour or airfield: ships and aircraft",
    "park": "park or campus lawn: birds, cats, deer, dogs, frogs and horses",
    "home": "home: cats and dogs", "post office": "post office: handwritten postcodes (digits)",
}
DWELL_S = {"university": 900, "park": 600, "car_park": 120, "pier": 600, "post_office": 480, "residential": 1200}
MAX_GRID_SITES = 2_500    # a 20 km x 20 km town at the default 400 m spacing
LICENCE = "OpenStreetMap data (c) OpenStreetMap contributors, Open Database License (ODbL) 1.0"


def _kind(tags: dict) -> str | None:
    for key, values, kind in KIND_RULES:
        if key in tags and (values == "*" or tags[key] in values):
            return kind
    return None


def read_osm(path: Path) -> tuple[dict, list, list]:
    """Nodes {id: (lat, lon, tags)}, ways [(id, [node ids], tags)] and relations are skipped."""
    nodes, ways = {}, []
    try:
        for _, el in ET.iterparse(path, events=("end",)):
            if el.tag == "node":
                tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
                nodes[el.get("id")] = (float(el.get("lat")), float(el.get("lon")), tags)
                el.clear()
            elif el.tag == "way":
                refs = [nd.get("ref") for nd in el.findall("nd")]
                tags = {t.get("k"): t.get("v") for t in el.findall("tag")}
                ways.append((el.get("id"), refs, tags))
                el.clear()
    except ET.ParseError as err:
        raise ValueError(f"{path.name} is not OpenStreetMap XML: {err}") from None
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path.name} has a node without valid lat/lon: {err}") from None
    return nodes, ways, []


def _largest_component(n: int, edges: list) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    return label == np.bincount(label).argmax()


def _grid_sites(latlon: np.ndarray, center, spacing_m: float) -> list[dict]:
    """Base stations on a square grid over the streets' extent (cells centred on the grid)."""
    xy = project(center, latlon)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    nx = max(int(math.ceil((hi[0] - lo[0]) / spacing_m)), 1)
    ny = max(int(math.ceil((hi[1] - lo[1]) / spacing_m)), 1)
    if nx * ny > MAX_GRID_SITES:   # e.g. one street to another continent: say so instead of building millions
        w, h = (hi - lo) / 1000
        raise ValueError(f"the streets span {w:,.1f} km x {h:,.1f} km: a grid_spacing_m={spacing_m:g} grid would need "
                         f"{nx * ny:,} base stations (at most {MAX_GRID_SITES:,}). Cut the extract to the town (e.g. "
                         f"osmium extract --bbox), give a larger --grid-spacing, or give --base-stations sites.csv")
    xs = lo[0] + (np.arange(nx) + 0.5) * (hi[0] - lo[0]) / nx
    ys = lo[1] + (np.arange(ny) + 0.5) * (hi[1] - lo[1]) / ny
    lat0, lon0 = center
    sites = []
    for j, y in enumerate(ys):
        for i, x in enumerate(xs):
            lat = lat0 + math.degrees(y / 6_371_008.8)
            lon = lon0 + math.degrees(x / (6_371_008.8 * math.cos(math.radians(lat0))))
            sites.append({"id": f"bs_{j}_{i}", "name": f"grid site row {j + 1}, column {i + 1}",
                          "lat": round(lat, 6), "lon": round(lon, 6), "edge_server": True})
    return sites


def _read_sites(path: Path) -> list[dict]:
    sites = []
    for k, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#") or line.lower().startswith("name,"):
            continue
        parts = [p.strip() for p in line.split(",")]
        try:
            name, lat, lon = parts[0], float(parts[1]), float(parts[2])
        except (IndexError, ValueError):
            raise ValueError(f"{path.name} line {k}: {line!r}; allowed: name,lat,lon") from None
        sites.append({"id": f"bs_{len(sites)}", "name": name, "lat": lat, "lon": lon, "edge_server": True})
    if not sites:
        raise ValueError(f"{path.name} lists no base station (lines name,lat,lon)")
    return sites


def osm_to_area(path: str | Path, name: str | None = None, *, sites: list[dict] | None = None,
                grid_spacing_m: float = 400.0, max_places: int = 40, walkways: bool = False) -> dict:
    """The area data (the JSON layout of ``assets/area/hku_central.json``) for an OSM XML extract; validated."""
    path = Path(path)
    check_range("grid_spacing_m", grid_spacing_m, 50.0, 10_000.0)
    check_int("max_places", max_places, 1, 500)
    if not path.is_file():
        raise ValueError(f"path={str(path)!r} is not a file; give an OpenStreetMap XML extract (.osm)")
    nodes, ways, _ = read_osm(path)
    kinds_ok = STREET_TYPES | (WALKWAY_TYPES if walkways else set())
    index, ids, edges = {}, [], []
    for wid, refs, tags in ways:
        if tags.get("highway") not in kinds_ok:
            continue
        street = tags.get("name", tags.get("ref", tags["highway"]))
        refs = [r for r in refs if r in nodes]
        for r in refs:
            if r not in index:
                index[r] = len(ids)
                ids.append(r)
        edges += [(index[a], index[b], street) for a, b in zip(refs[:-1], refs[1:]) if a != b]
    if len(ids) < 2 or not edges:
        raise ValueError(f"{path.name} has no streets (ways tagged highway={sorted(kinds_ok)[:4]}...)")
    keep = _largest_component(len(ids), edges)
    new_index = -np.ones(len(ids), dtype=np.int64)
    new_index[keep] = np.arange(int(keep.sum()))
    ids = [i for i, k in zip(ids, keep) if k]
    edges = [(int(new_index[a]), int(new_index[b]), s) for a, b, s in edges if keep[a] and keep[b]]
    latlon = np.array([nodes[i][:2] for i in ids])
    center = tuple(np.round(latlon.mean(axis=0), 6))
    street_xy = project(center, latlon)

    # Places: named nodes and ways (at their centroid) whose tags give a kind, attached to the nearest street node.
    found = []
    for nid, (lat, lon, tags) in nodes.items():
        kind = _kind(tags)
        if kind and tags.get("name"):
            found.append((f"n{nid}", tags["name"], kind, lat, lon))
    for wid, refs, tags in ways:
        kind = _kind(tags)
        pts = [nodes[r][:2] for r in refs if r in nodes]
        if kind and tags.get("name") and pts and "highway" not in tags:
            lat, lon = np.mean(pts, axis=0)
            found.append((f"w{wid}", tags["name"], kind, float(lat), float(lon)))
    if not found:
        raise ValueError(f"{path.name} has no named places of a known kind (e.g. leisure=park, amenity=parking, "
                         "amenity=post_office, amenity=ferry_terminal with a name)")
    # Balance kinds: take places round-robin over kinds, in file order, up to max_places.
    by_kind = {}
    for f in found:
        by_kind.setdefault(f[2], []).append(f)
    chosen = []
    while len(chosen) < max_places and any(by_kind.values()):
        for kind in list(by_kind):
            if by_kind[kind] and len(chosen) < max_places:
                chosen.append(by_kind[kind].pop(0))
    places, used_kinds = [], set()
    for pid, pname, kind, lat, lon in chosen:
        xy = project(center, np.array([lat, lon]))
        nearest = int(np.argmin(((street_xy - xy) ** 2).sum(axis=1)))
        places.append({"id": pid, "name": pname, "kind": kind, "node": ids[nearest], "popularity": 1.0,
                       "dwell_median_s": DWELL_S[kind], "radius_m": 40})
        used_kinds.add(kind)
    tagged = [{"id": f"bs_osm_{nid}", "name": tags.get("name", f"mast {nid}"), "lat": lat, "lon": lon,
               "edge_server": True}
              for nid, (lat, lon, tags) in nodes.items()
              if tags.get("communication:mobile_phone") == "yes" or tags.get("tower:type") == "communication"]
    if sites:
        source = "given by the user"
    elif tagged:
        sites, source = tagged, "mobile-phone masts tagged in the extract"
    else:
        sites, source = _grid_sites(latlon, center, grid_spacing_m), f"a {grid_spacing_m:g} m grid (not real sites)"
    contexts = sorted({KIND_CONTEXTS[k] for k in used_kinds} | {"road"})
    data = {
        "name": name or path.stem.replace("_", " "),
        "notes": f"Made by python -m core.mobility.osm from {path.name}. {LICENCE}. Base stations: {source}.",
        "source": f"OpenStreetMap extract {path.name}", "licence": LICENCE,
        "center": list(center), "bounds_margin_m": 150,
        "kinds": {k: {"context": KIND_CONTEXTS[k]} for k in sorted(used_kinds)},
        "road_context": "road",
        "contexts": {c: CONTEXT_LABELS[c] for c in contexts},
        "nodes": [{"id": i, "lat": round(float(la), 7), "lon": round(float(lo), 7)} for i, (la, lo) in
                  zip(ids, latlon)],
        "edges": [[ids[a], ids[b], s] for a, b, s in edges],
        "places": places,
        "base_stations": sites,
    }
    area_from_dict(data, source=path.name)           # raises ValueError naming what is wrong
    return data


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="OpenStreetMap XML extract (.osm)")
    parser.add_argument("--out", type=Path, required=True, help="area file to write, e.g. assets/area/town.json")
    parser.add_argument("--name", default=None, help="name shown in the app (default: the file name)")
    parser.add_argument("--base-stations", type=Path, default=None, help="CSV of name,lat,lon sites")
    parser.add_argument("--grid-spacing", type=float, default=400.0,
                        help="metres between grid sites when no sites are given or tagged (default 400)")
    parser.add_argument("--max-places", type=int, default=40)
    parser.add_argument("--walkways", action="store_true", help="also use footways, paths and steps")
    args = parser.parse_args(argv)
    try:
        sites = _read_sites(args.base_stations) if args.base_stations else None
        data = osm_to_area(args.input, args.name, sites=sites, grid_spacing_m=args.grid_spacing,
                           max_places=args.max_places, walkways=args.walkways)
    except (ValueError, OSError) as err:
        sys.exit(f"error: {err}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(data['nodes'])} street nodes, {len(data['edges'])} street segments, "
          f"{len(data['places'])} places, {len(data['base_stations'])} base stations")


if __name__ == "__main__":
    main()
