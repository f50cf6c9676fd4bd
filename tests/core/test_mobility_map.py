"""The mobility map works offline (only local scripts and styles) and holds every layer; the timeline draws."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.maps import LAYER_NAMES, OSM_TILES, STATIC_DIR, build_map, map_html, timeline_figure
from core.mobility.simulate import scenario, simulate


@pytest.fixture(scope="module")
def run():
    return simulate(scenario("default", n_users=30, track_users=10), seed=5)


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("href"):
            self.urls.append(a["href"])


def _asset_urls(html: str) -> list[str]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


def test_map_loads_only_local_assets(run):
    html = map_html(run, sample_users=5)
    urls = _asset_urls(html)
    assert "/app/static/leaflet/leaflet.js" in urls and "/app/static/leaflet/leaflet.css" in urls
    assert not [u for u in urls if u.startswith(("http://", "https://", "//"))]
    assert "http://" not in html and "https://" not in html       # no tile URL unless asked for
    for rel in ("leaflet/leaflet.js", "leaflet/leaflet.css"):
        assert (STATIC_DIR / rel).is_file()


def test_static_base_is_a_parameter(run):
    urls = _asset_urls(map_html(run, sample_users=2, static_base="/static/"))
    assert "/static/leaflet/leaflet.js" in urls


def test_map_holds_every_layer(run):
    html = map_html(run, sample_users=5, tiles=True)
    for key, name in LAYER_NAMES.items():
        assert name in html, key
    # Tiles are only an optional layer: the script sources stay local.
    assert OSM_TILES in html
    assert not [u for u in _asset_urls(html) if u.startswith(("http://", "https://", "//"))]
    assert "mobility-time-slider" in html


def test_map_marks_downloads_of_the_sample(run):
    fmap = build_map(run, sample_users=4)
    groups = {c.layer_name: c for c in fmap._children.values() if hasattr(c, "layer_name")}
    sample = set(range(4))
    e = run.events[(run.events["policy"] == "predictive") & run.events["user"].isin(sample)]
    assert len(groups[LAYER_NAMES["starts"]]._children) == len(e)
    assert len(groups[LAYER_NAMES["completions"]]._children) == len(e)
    assert len(groups[LAYER_NAMES["paths"]]._children) == 4


def test_inline_assets_make_a_self_contained_page(run):
    html = map_html(run, sample_users=2, inline_assets=True)
    assert not _asset_urls(html)
    assert "Leaflet 1.9.4" in html


def test_timeline_has_rows_per_policy(run):
    user = int(run.events["user"].iloc[0])
    fig = timeline_figure(run, user)
    rows = {y for trace in fig.data for y in trace.y}
    assert {"reactive: model", "oracle: downloads"} <= rows
    with pytest.raises(ValueError, match="user_id"):
        timeline_figure(run, 10_000)
