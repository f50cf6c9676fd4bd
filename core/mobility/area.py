"""City area for the mobility simulator: places, a street graph of lat/lon nodes, base stations and (optionally) the
real coastline, loaded from JSON in ``assets/area/`` and validated, with a local metric projection and the street
paths between places (Dijkstra, scipy.sparse.csgraph)."""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.mobility.link import EARTH_RADIUS_M, coverage_problem

AREA_DIR = Path(__file__).resolve().parents[2] / "assets" / "area"
DEFAULT_AREA_PATH = AREA_DIR / "hku_central.json"
DEFAULT_AREA_KEY = DEFAULT_AREA_PATH.stem      # how settings and links name the default area
ROUTINE_ROLES = ("home", "work", "lunch", "leisure")
# Which kinds of place serve each step of a working day (ONE simulator's working-day model: home, office, evening
# activities). An area file may give its own "roles"; a role no kind serves falls back to every place.
DEFAULT_ROLES = {
    "home": ("residential", "home", "hotel"),
    "work": ("office", "university", "school", "hospital", "industrial", "post_office", "pier"),
    "lunch": ("restaurant", "food", "shopping", "market", "cafe"),
    "leisure": ("museum", "stadium", "concert_hall", "park", "shopping", "cinema", "theatre", "sports", "pier"),
}
# EARTH_RADIUS_M (mean Earth radius, IUGG) lives with the link's great-circle distance; the area is small, so a
# local flat projection with it suffices.


@dataclass(frozen=True, eq=False)
class Place:
    """A place users visit; ``context`` names the situation whose model it needs (e.g. pier -> harbour and airfield)."""
    id: str
    name: str
    kind: str
    context: str
    node: int
    lat: float
    lon: float
    popularity: float
    dwell_median_s: float
    radius_m: float


@dataclass(frozen=True, eq=False)
class BaseStation:
    """A base station site; ``edge_server`` marks an edge cloud next to it (paper Fig. 2)."""
    id: str
    name: str
    lat: float
    lon: float
    edge_server: bool


@dataclass(frozen=True, eq=False)
class Area:
    """A validated area. Arrays are read-only; x points east and y north, in metres from ``center``."""
    name: str
    notes: str
    center: tuple[float, float]
    node_ids: tuple[str, ...]
    node_latlon: np.ndarray          # (n_nodes, 2)
    node_xy: np.ndarray              # (n_nodes, 2) metres
    edges: tuple[tuple[int, int, str], ...]
    places: tuple[Place, ...]
    base_stations: tuple[BaseStation, ...]
    contexts: tuple[str, ...]        # context names, index = context id
    context_labels: dict
    road_context: str | None         # context needed while driving between places
    bounds_xy: tuple[float, float, float, float]   # xmin, ymin, xmax, ymax (nodes plus a margin)
    place_dist: np.ndarray           # (places, n_nodes) shortest street distance from each place, metres
    paths: np.ndarray                # (places, places, max_len) node sequence between places, padded with the end
    path_len: np.ndarray             # (places, places) number of nodes on the path
    roles: dict                      # routine role -> tuple of place indices that can serve it
    context_applications: dict       # context -> application preset of core.network.rates (for the AI library)
    land: tuple = ()                 # coastline polygons: (level, (k, 2) lat/lon ring); empty without a coastline
    coastline: dict | None = None    # source, licence and caveat of the coastline; None without one
    path: str = ""                   # the file it was loaded from

    @property
    def place_nodes(self) -> np.ndarray:
        return np.array([p.node for p in self.places], dtype=np.int64)

    @property
    def place_place_dist(self) -> np.ndarray:
        """(places, places) street distance between places, metres."""
        return self.place_dist[:, self.place_nodes]

    @property
    def place_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.places)

    @property
    def place_xy(self) -> np.ndarray:
        return self.node_xy[[p.node for p in self.places]]

    @property
    def place_context(self) -> np.ndarray:
        """Context id of each place."""
        return np.array([self.contexts.index(p.context) for p in self.places], dtype=np.int16)

    @property
    def bs_xy(self) -> np.ndarray:
        return self.to_xy(np.array([[b.lat, b.lon] for b in self.base_stations]))

    def place_index(self, place_id: str) -> int:
        """Index of a place by id; unknown ids raise ValueError listing the known ones."""
        ids = self.place_ids
        if place_id not in ids:
            raise ValueError(f"place={place_id!r} is not a place of area {self.name!r}; known places: {list(ids)}")
        return ids.index(place_id)

    def to_xy(self, latlon) -> np.ndarray:
        """Project (..., 2) lat/lon degrees to local east/north metres."""
        return project(self.center, latlon)

    def to_latlon(self, xy) -> np.ndarray:
        """Inverse of :meth:`to_xy`."""
        return unproject(self.center, xy)

    def contains_xy(self, xy) -> np.ndarray:
        """Boolean mask of points inside the area's bounds."""
        p = np.asarray(xy, dtype=float)
        xmin, ymin, xmax, ymax = self.bounds_xy
        return (p[..., 0] >= xmin) & (p[..., 0] <= xmax) & (p[..., 1] >= ymin) & (p[..., 1] <= ymax)

    def check_inside(self, name: str, latlon) -> np.ndarray:
        """Return the points as local metres, or raise ValueError naming the first point outside the area."""
        ll = np.asarray(latlon, dtype=float).reshape(-1, 2)
        xy = self.to_xy(ll)
        outside = ~self.contains_xy(xy)
        if outside.any():
            i = int(np.argmax(outside))
            lo = self.to_latlon(np.array(self.bounds_xy[:2]))
            hi = self.to_latlon(np.array(self.bounds_xy[2:]))
            raise ValueError(f"{name}[{i}]=({ll[i, 0]:.5f}, {ll[i, 1]:.5f}) is outside area {self.name!r}: allowed "
                             f"lat [{lo[0]:.5f}, {hi[0]:.5f}], lon [{lo[1]:.5f}, {hi[1]:.5f}]")
        return xy


def project(center: tuple[float, float], latlon) -> np.ndarray:
    """Equirectangular projection about ``center``: metres east and north (error well under 1 m over a few km)."""
    ll = np.asarray(latlon, dtype=float)
    lat0, lon0 = center
    x = np.radians(ll[..., 1] - lon0) * EARTH_RADIUS_M * math.cos(math.radians(lat0))
    y = np.radians(ll[..., 0] - lat0) * EARTH_RADIUS_M
    return np.stack([x, y], axis=-1)


def unproject(center: tuple[float, float], xy) -> np.ndarray:
    """Inverse of :func:`project`."""
    p = np.asarray(xy, dtype=float)
    lat0, lon0 = center
    lat = lat0 + np.degrees(p[..., 1] / EARTH_RADIUS_M)
    lon = lon0 + np.degrees(p[..., 0] / (EARTH_RADIUS_M * math.cos(math.radians(lat0))))
    return np.stack([lat, lon], axis=-1)


def _require(data: dict, key: str, where: str):
    if key not in data:
        raise ValueError(f"{where} lacks the key {key!r}")
    return data[key]


def _street_graph(n: int, edges, xy: np.ndarray):
    """Sparse symmetric street graph weighted by segment length (m); parallel edges keep the shortest."""
    from scipy.sparse import coo_matrix

    if not edges:
        return coo_matrix((n, n)).tocsr()
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    length = np.maximum(np.hypot(*(xy[a] - xy[b]).T), 1e-3)   # a zero weight would read as "no edge"
    i, j, w = np.r_[a, b], np.r_[b, a], np.r_[length, length]
    order = np.lexsort((w, j, i))                              # parallel edges: keep the shortest
    i, j, w = i[order], j[order], w[order]
    first = np.r_[True, (i[1:] != i[:-1]) | (j[1:] != j[:-1])]
    return coo_matrix((w[first], (i[first], j[first])), shape=(n, n)).tocsr()


def _place_paths(graph, sources: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dijkstra from every place node (scipy.sparse.csgraph): distances (places, nodes) and the node sequences
    between places (places, places, max_len), padded with the end node, with their lengths."""
    from scipy.sparse.csgraph import dijkstra

    dist, pred = dijkstra(graph, directed=False, indices=sources, return_predecessors=True)
    p = len(sources)
    src = np.repeat(sources[:, None], p, axis=1)
    cur = np.repeat(sources[None, :], p, axis=0)                 # walk back from each destination
    rows = np.repeat(np.arange(p)[:, None], p, axis=1)
    back = [cur]
    while not np.array_equal(cur, src):
        cur = np.where(cur == src, cur, pred[rows, cur])
        back.append(cur)
    back = np.stack(back[::-1], axis=-1)                        # source first; padded at the front with it
    if back.shape[-1] < 2:   # every place on one node (or one place): still a first step, the end node itself
        back = np.concatenate([back, back], axis=-1)
    max_len = back.shape[-1]
    length = (back != src[..., None]).sum(axis=-1) + 1
    shift = np.minimum(np.arange(max_len)[None, None, :] + (max_len - length)[..., None], max_len - 1)
    paths = np.take_along_axis(back, shift, axis=-1).astype(np.int32)
    return dist, paths, length.astype(np.int32)


def area_from_dict(data: dict, source: str = "area data", base_dir: Path | None = None, path: str = "") -> Area:
    """Validate area data (the JSON layout of ``assets/area/hku_central.json``) and build an :class:`Area`."""
    if not isinstance(data, dict):
        raise ValueError(f"{source} must be a JSON object, got {type(data).__name__}")
    nodes = _require(data, "nodes", source)
    places_raw = _require(data, "places", source)
    bs_raw = _require(data, "base_stations", source)
    kinds = _require(data, "kinds", source)
    contexts_raw = _require(data, "contexts", source)
    if len(nodes) < 2:
        raise ValueError(f"{source}: nodes has {len(nodes)} entries; an area needs at least 2 street nodes")
    if not places_raw:
        raise ValueError(f"{source}: places is empty; an area needs at least 1 place")
    if not bs_raw:
        raise ValueError(f"{source}: base_stations is empty; an area needs at least 1 base station")
    ids = [str(_require(nd, "id", f"{source} node")) for nd in nodes]
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"{source}: node ids must be unique; repeated: {dup}")
    latlon = np.array([[float(nd["lat"]), float(nd["lon"])] for nd in nodes])
    if (np.abs(latlon[:, 0]) > 90).any() or (np.abs(latlon[:, 1]) > 180).any():
        raise ValueError(f"{source}: node coordinates must be lat in [-90, 90] and lon in [-180, 180]")
    index = {nid: i for i, nid in enumerate(ids)}
    edges = []
    for e in _require(data, "edges", source):
        a, b = str(e[0]), str(e[1])
        for end in (a, b):
            if end not in index:
                raise ValueError(f"{source}: edge {list(e)!r} names the unknown node {end!r}")
        edges.append((index[a], index[b], str(e[2]) if len(e) > 2 else ""))
    contexts = tuple(str(c) for c in contexts_raw)
    road_context = data.get("road_context")
    if road_context is not None and road_context not in contexts:
        raise ValueError(f"{source}: road_context={road_context!r} is not one of the contexts {list(contexts)}")
    for kind, spec in kinds.items():
        if spec.get("context") not in contexts:
            raise ValueError(f"{source}: kind {kind!r} maps to context={spec.get('context')!r}, "
                             f"not one of {list(contexts)}")
    center = tuple(float(v) for v in data.get("center", latlon.mean(axis=0)))
    xy = project(center, latlon)
    places = []
    for p in places_raw:
        pid = str(_require(p, "id", f"{source} place"))
        kind = str(_require(p, "kind", f"{source} place {pid!r}"))
        if kind not in kinds:
            raise ValueError(f"{source}: place {pid!r} has kind={kind!r}, not one of {list(kinds)}")
        node = str(p.get("node", pid))
        if node not in index:
            raise ValueError(f"{source}: place {pid!r} names the unknown node {node!r}")
        nll = latlon[index[node]]
        places.append(Place(pid, str(p.get("name", pid)), kind, kinds[kind]["context"], index[node],
                            float(nll[0]), float(nll[1]), float(p.get("popularity", 1.0)),
                            float(p.get("dwell_median_s", 600.0)), float(p.get("radius_m", 40.0))))
    if len({p.id for p in places}) != len(places):
        raise ValueError(f"{source}: place ids must be unique")
    stations = tuple(BaseStation(str(b["id"]), str(b.get("name", b["id"])), float(b["lat"]), float(b["lon"]),
                                 bool(b.get("edge_server", True))) for b in bs_raw)
    margin = float(data.get("bounds_margin_m", 100.0))
    bounds = (float(xy[:, 0].min()) - margin, float(xy[:, 1].min()) - margin,
              float(xy[:, 0].max()) + margin, float(xy[:, 1].max()) + margin)
    graph = _street_graph(len(ids), edges, xy)
    from scipy.sparse.csgraph import connected_components

    n_parts, part = connected_components(graph, directed=False)
    if n_parts > 1:
        unreachable = [ids[j] for j in np.nonzero(part != part[0])[0][:5]]
        raise ValueError(f"{source}: the street graph is not connected ({n_parts} parts); e.g. {unreachable} cannot "
                         f"be reached from {ids[0]!r}")
    place_nodes = np.array([p.node for p in places], dtype=np.int64)
    place_dist, paths, path_len = _place_paths(graph, place_nodes)
    roles = _roles(data, places, kinds, source)
    applications = _context_applications(data, contexts, source)
    land, coastline = _coastline(data, base_dir, source)
    area = Area(str(data.get("name", source)), str(data.get("notes", "")), center, tuple(ids), latlon, xy,
                tuple(edges), tuple(places), stations, contexts, dict(contexts_raw), road_context, bounds,
                place_dist, paths, path_len, roles, applications, land, coastline, path)
    area.check_inside("base_stations", np.array([[b.lat, b.lon] for b in stations]))
    problem = coverage_problem(area)   # e.g. a place at the far end of a street to the other side of the world
    if problem:
        raise ValueError(f"{source}: {problem}")
    for arr in (latlon, xy, place_dist, paths, path_len):
        arr.setflags(write=False)
    return area


def _roles(data: dict, places, kinds: dict, source: str) -> dict:
    """Routine role -> place indices, from the file's "roles" (role -> kinds) or DEFAULT_ROLES."""
    given = data.get("roles", {})
    for role, role_kinds in given.items():
        if role not in ROUTINE_ROLES:
            raise ValueError(f"{source}: roles has role={role!r}; allowed: {list(ROUTINE_ROLES)}")
        for kind in role_kinds:
            if kind not in kinds:
                raise ValueError(f"{source}: roles[{role!r}] names kind={kind!r}, not one of {list(kinds)}")
    out = {}
    for role in ROUTINE_ROLES:
        wanted = set(given.get(role, DEFAULT_ROLES[role]))
        idx = tuple(i for i, p in enumerate(places) if p.kind in wanted)
        out[role] = idx or tuple(range(len(places)))
    return out


def _context_applications(data: dict, contexts: tuple, source: str) -> dict:
    """Context -> application preset name (latency budget) for AI-library selection; a file's "applications"
    entry wins over core.mobility.catalog.CONTEXT_APPLICATIONS, and an unknown context gets image recognition."""
    from core.mobility.catalog import CONTEXT_APPLICATIONS, DEFAULT_APPLICATION
    from core.network.rates import APPLICATIONS

    given = data.get("applications", {})
    out = {}
    for c in contexts:
        app = given.get(c, CONTEXT_APPLICATIONS.get(c, DEFAULT_APPLICATION))
        if app not in APPLICATIONS:
            raise ValueError(f"{source}: applications[{c!r}]={app!r} is not one of {list(APPLICATIONS)}")
        out[c] = app
    return out


def _coastline(data: dict, base_dir: Path | None, source: str) -> tuple[tuple, dict | None]:
    """Land polygons named by the file's "coastline" (a GeoJSON file beside it, made by scripts/make_coastline.py)."""
    name = data.get("coastline")
    if not name:
        return (), None
    file = (base_dir or AREA_DIR) / str(name)
    try:
        with open(file, encoding="utf-8") as fh:
            doc = json.load(fh)
        rings = tuple((int(f["properties"].get("level", 1)), np.array(f["geometry"]["coordinates"][0],
                                                                        dtype=float)[:, ::-1])
                      for f in doc["features"])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise ValueError(f"{source}: coastline={name!r} cannot be read from {file}: {err}") from None
    for _, ring in rings:
        ring.setflags(write=False)
    meta = {k: str(doc.get(k, "")) for k in ("name", "source", "licence", "caveat", "made_by")}
    meta["file"] = file.name
    return rings, meta


@functools.lru_cache(maxsize=16)
def _load_cached(path: str, stamp: float) -> Area:
    file = Path(path)
    with open(file, encoding="utf-8") as fh:
        try:
            data = json.load(fh)
        except ValueError as err:
            raise ValueError(f"{file.name} is not valid JSON: {err}") from None
    return area_from_dict(data, source=file.name, base_dir=file.parent, path=str(file))


def load_area(path: str | Path | None = None) -> Area:
    """Load and validate an area JSON file (default: HKU to Central, Hong Kong). Cached on the path and the file's
    modification time (a replaced file is read again); the result is read-only."""
    file = Path(path).resolve() if path is not None else DEFAULT_AREA_PATH
    if not file.is_file():
        raise ValueError(f"area path={str(path)!r} is not an area file (expected a JSON file like "
                         f"{DEFAULT_AREA_PATH.name}; made by python -m core.mobility.osm)")
    return _load_cached(str(file), file.stat().st_mtime)


def area_folders() -> list[Path]:
    """Where area files are looked for: ``assets/area`` and the folder named by $INSITU_AREAS (if set)."""
    import os

    return [AREA_DIR] + ([Path(os.environ["INSITU_AREAS"])] if os.environ.get("INSITU_AREAS") else [])


def area_file(key: str = "") -> Path:
    """The file of the area called ``key`` in settings and links: its file name without ``.json`` (e.g.
    "hku_central"), looked for in :func:`area_folders`; "" is the default area. ValueError names the areas on
    offer. Only the file's existence is checked here; :func:`load_area` validates it."""
    key = str(key)
    if key in ("", DEFAULT_AREA_KEY):
        return DEFAULT_AREA_PATH
    if key and not any(c in key for c in "/\\\0") and not key.startswith("."):   # a name, never a path
        for folder in area_folders():
            file = folder / f"{key}.json"
            if file.is_file():
                return file
    on_offer = [f.stem for f in list_areas().values()]
    raise ValueError(f"area={key!r} is not an area file on offer; allowed: {on_offer} (files in "
                     f"{', '.join(str(f) for f in area_folders())}; make one with python -m core.mobility.osm)")


def area_key(path: str | Path) -> str:
    """The key of an area file (its name without ``.json``): the inverse of :func:`area_file`."""
    return Path(path).stem


def list_areas(folder: str | Path | None = None) -> dict[str, Path]:
    """Area files on offer (display name -> path): every ``*.json`` in ``assets/area`` and in the folder named by
    $INSITU_AREAS (or only in ``folder``) that looks like an area (has nodes and places); the default first.
    Files are only peeked at, not validated; one that cannot be read is listed as damaged."""
    folders = [Path(folder)] if folder is not None else area_folders()
    files = [f for d in folders if d.is_dir() for f in sorted(d.glob("*.json"))]
    found = {}
    for file in sorted(files, key=lambda f: f != DEFAULT_AREA_PATH):
        try:
            with open(file, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and "nodes" in data and "places" in data:
            name = str(data.get("name", file.stem))
            found[name if name not in found else f"{name} ({file.name})"] = file
        else:
            found[f"{file.name} (damaged: not an area file)"] = file
    return found
