"""City area for the mobility simulator: places, a street graph of lat/lon nodes and base stations, loaded from
JSON in ``assets/area/`` and validated, with a local metric projection and all-pairs street paths."""
from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_AREA_PATH = Path(__file__).resolve().parents[2] / "assets" / "area" / "hku_central.json"
EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG); the area is small, so a local flat projection suffices


@dataclass(frozen=True, eq=False)
class Place:
    """A place users visit; ``context`` names the AI model it needs (e.g. museum -> tour_guide)."""
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
    dist: np.ndarray                 # (n_nodes, n_nodes) shortest street distance, metres
    paths: np.ndarray                # (n_nodes, n_nodes, max_len) node sequence, padded with the end node
    path_len: np.ndarray             # (n_nodes, n_nodes) number of nodes on the path

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


def _shortest_paths(n: int, edges, xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All-pairs street distances and paths (Floyd-Warshall, vectorised per pivot; the graphs are small)."""
    dist = np.full((n, n), np.inf)
    np.fill_diagonal(dist, 0.0)
    nxt = np.tile(np.arange(n), (n, 1))  # next hop from i towards j
    for a, b, _ in edges:
        d = float(np.hypot(*(xy[a] - xy[b])))
        dist[a, b] = dist[b, a] = min(dist[a, b], d)
    for k in range(n):
        via = dist[:, k, None] + dist[None, k, :]
        better = via < dist
        dist = np.where(better, via, dist)
        nxt = np.where(better, nxt[:, k, None], nxt)
    if np.isinf(dist).any():
        return dist, nxt, np.empty(0)
    # Walk the next-hop table for all pairs at once; padded entries repeat the end node.
    start, end = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    steps = [start]
    cur = start
    while not np.array_equal(cur, end):
        cur = nxt[cur, end]
        steps.append(cur)
    paths = np.stack(steps, axis=-1).astype(np.int32)
    length = (paths != end[..., None]).sum(axis=-1) + 1
    return dist, nxt, np.concatenate([paths, length[..., None]], axis=-1)


def area_from_dict(data: dict, source: str = "area data") -> Area:
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
    dist, _, packed = _shortest_paths(len(ids), edges, xy)
    if packed.size == 0:
        unreachable = [ids[j] for j in np.nonzero(np.isinf(dist[0]))[0][:5]]
        raise ValueError(f"{source}: the street graph is not connected; e.g. {unreachable} cannot be reached "
                         f"from {ids[0]!r}")
    area = Area(str(data.get("name", source)), str(data.get("notes", "")), center, tuple(ids), latlon, xy,
                tuple(edges), tuple(places), stations, contexts, dict(contexts_raw), road_context, bounds,
                dist, packed[..., :-1], packed[..., -1])
    area.check_inside("base_stations", np.array([[b.lat, b.lon] for b in stations]))
    for arr in (latlon, xy, dist, area.paths, area.path_len):
        arr.setflags(write=False)
    return area


@functools.lru_cache(maxsize=8)
def _load_cached(path: str) -> Area:
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"path={path!r} is not an area file (expected a JSON file like {DEFAULT_AREA_PATH.name})")
    with open(file, encoding="utf-8") as fh:
        return area_from_dict(json.load(fh), source=file.name)


def load_area(path: str | Path | None = None) -> Area:
    """Load and validate an area JSON file (default: HKU to Central, Hong Kong). Cached; the result is read-only."""
    return _load_cached(str(Path(path).resolve()) if path is not None else str(DEFAULT_AREA_PATH))
