"""Real-browser test of the Predictive downloads page's map (issue 13): in headless Chromium the Leaflet map inside
the page's iframe draws land and sea from the area's coastline (measured on the rendered pixels), the streets, every
place and base station of the area, and a legend with its entries; the browser asks nothing of any host but the
app's own (every request of every frame, the iframe's included). A screenshot of the map is saved in a temporary
folder (its path is printed) so that a person can check that the map is readable."""
from __future__ import annotations

import io
from urllib.parse import urlsplit

import numpy as np
import pytest

from app.maps import LAND, SEA
from core.mobility.area import load_area
from core.situation.situations import SITUATIONS
from tests.browser.conftest import COLD_S, WARM_S, exception_texts, heading, wait_idle

pytestmark = pytest.mark.browser

VIEW = {"width": 1440, "height": 1000}
MAP_FRAME = 'iframe[srcdoc*="mobility-legend"]'

# Counts the map's layers from Leaflet itself (the map is drawn on a canvas, so there are no SVG paths to count):
# land and sea polygons by fill colour, street polylines, places (circle markers) and base stations (square
# markers) by their tooltips, and how many of these lie in the map's view.
LAYERS_JS = """([land, sea]) => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  if (!map) return null;
  const out = {land: 0, sea: 0, streets: 0, places: [], stations: [], inView: 0};
  const view = map.getBounds();
  map.eachLayer(l => {
    const o = l.options || {};
    const tip = (l.getTooltip && l.getTooltip() ? String(l.getTooltip().getContent()) : '').replace(/<[^>]*>/g, '').trim();
    if (l instanceof L.Polygon) { if (o.fillColor === land) out.land++; else if (o.fillColor === sea) out.sea++; }
    else if (l instanceof L.Polyline && !tip.startsWith('user ')) out.streets++;
    else if (l instanceof L.Marker && tip.startsWith('Base station ')) {      // squares (a DivIcon)
      out.stations.push(tip);
      if (view.contains(l.getLatLng())) out.inView++;
    }
    else if (l instanceof L.CircleMarker && tip.includes(': needs the ')) {   // round
      out.places.push(tip);
      if (view.contains(l.getLatLng())) out.inView++;
    }
  });
  return out;
}"""


# Where a place's circle is on the map (pixels from the iframe's top left), with the places drawn over every other
# layer (a user's download ring may sit on a place): what a person clicks.
PLACE_POINT_JS = """(name) => {
  const map = Object.values(window).find(v => v instanceof L.Map);
  let found = null;
  map.eachLayer(l => {
    const tip = (l.getTooltip && l.getTooltip() ? String(l.getTooltip().getContent()) : '').replace(/<[^>]*>/g, '').trim();
    if (l instanceof L.CircleMarker && tip.startsWith(name + ': needs the ')) { l.bringToFront(); found = l; }
  });
  if (!found) return null;
  const p = map.latLngToContainerPoint(found.getLatLng());
  const box = map.getContainer().getBoundingClientRect();
  return {x: box.left + p.x, y: box.top + p.y};
}"""


def _click_places(page, element, frame, handle) -> dict:
    """Click one place of each situation of the area on the map; the tooltip text the pointer opened there."""
    area = load_area()
    out = {}
    for context in dict.fromkeys(p.context for p in area.places):
        place = next(p for p in area.places if p.context == context)
        element.scroll_into_view_if_needed()
        point = handle.evaluate(PLACE_POINT_JS, place.name)
        assert point is not None, place.name
        box = element.bounding_box()
        page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
        tip = frame.locator(".leaflet-tooltip", has_text=f"{place.name}: needs the ")
        tip.wait_for(timeout=WARM_S * 1000)
        out[context] = (place.name, tip.inner_text())
        page.mouse.move(box["x"] + 2, box["y"] + 2)                 # away, so the next tooltip is the next place's
    return out


def _hex(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])


def _share(pixels: np.ndarray, color: str, tolerance: int = 6) -> float:
    """Share of the pixels within ``tolerance`` of ``color`` in every channel."""
    return float((np.abs(pixels[..., :3].astype(int) - _hex(color)) <= tolerance).all(axis=-1).mean())


@pytest.fixture(scope="module")
def seen(browser, app_url, tmp_path_factory):
    """Open the Predictive downloads page, scroll to the map and record every request, the map's layers, its
    legend and its pixels."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("mobility_map_screenshots")
    urls: list[str] = []
    context = browser.new_context(viewport=VIEW)
    context.on("request", lambda r: urls.append(r.url))     # every frame of every page, the iframe's included
    page = context.new_page()
    page.on("websocket", lambda ws: urls.append(ws.url))
    try:
        page.goto(f"{app_url}/mobility")
        heading(page, "Predictive downloads").wait_for(timeout=COLD_S * 1000)
        wait_idle(page, COLD_S)
        out = {"exceptions": exception_texts(page), "page_text": page.inner_text('[data-testid="stMain"]')}
        element = page.locator(MAP_FRAME).first
        element.wait_for(timeout=WARM_S * 1000)
        element.scroll_into_view_if_needed()
        frame = page.frame_locator(MAP_FRAME).first
        frame.locator(".mobility-legend").wait_for(timeout=WARM_S * 1000)
        frame.locator(".leaflet-overlay-pane canvas").first.wait_for(timeout=WARM_S * 1000)
        handle = element.element_handle().content_frame()
        handle.wait_for_function("() => typeof L !== 'undefined' && Object.values(window).some(v => v instanceof L.Map)",
                                 timeout=WARM_S * 1000)
        out["layers"] = handle.evaluate(LAYERS_JS, [LAND, SEA])
        out["clicked"] = _click_places(page, element, frame, handle)
        out["legend"] = frame.locator(".mobility-legend").inner_text()
        out["layer_control"] = frame.locator(".leaflet-control-layers").text_content()   # collapsed: an icon
        page.wait_for_timeout(500)      # let the canvas finish its last animation frame before the pixels are read
        shot = folder / "predictive-downloads-map.png"
        element.screenshot(path=str(shot))
        page.screenshot(path=str(folder / "predictive-downloads-page.png"), full_page=True)
        out["pixels"] = np.asarray(Image.open(io.BytesIO(shot.read_bytes())).convert("RGB"))
        out["screenshot"] = shot
        print(f"map screenshot: {shot}")
    finally:
        context.close()
    out["urls"] = urls
    return out


def test_page_runs_without_an_exception(seen):
    assert not seen["exceptions"], seen["exceptions"][0][:500]


def test_map_draws_land_and_sea_from_the_coastline(seen):
    area = load_area()
    layers = seen["layers"]
    assert layers is not None, "no Leaflet map in the iframe"
    assert layers["land"] >= 1 and layers["land"] + layers["sea"] == len(area.land)
    land, sea = _share(seen["pixels"], LAND), _share(seen["pixels"], SEA)
    # HKU to Central: the island's north shore with the harbour to the north; both cover a real part of the map
    assert land > 0.15 and sea > 0.05, f"land {land:.1%}, sea {sea:.1%} of the map's pixels"


def test_map_draws_streets_places_and_base_stations_of_the_area(seen):
    area = load_area()
    layers = seen["layers"]
    assert layers["streets"] == len(area.edges)
    assert len(layers["places"]) == len(area.places)
    for p in area.places:
        assert any(tip.startswith(f"{p.name}: needs the ") for tip in layers["places"]), p.name
    assert len(layers["stations"]) == len(area.base_stations)
    assert layers["inView"] == len(area.places) + len(area.base_stations)   # fitted to the area: all in view


def test_legend_names_every_symbol_and_the_coastline_source(seen):
    legend = seen["legend"]
    area = load_area()
    for entry in ("Legend", "land", "sea", "street", "base station (edge server)", "download on time",
                  "download late", "Coastline: GSHHG full resolution", "reclamation"):
        assert entry in legend, f"{entry!r} missing from the legend:\n{legend}"
    for context in {p.context for p in area.places}:
        assert f"{area.context_labels.get(context, context)} model" in legend
    for layer in ("Land and sea (GSHHG coastline)", "Streets (area data)", "Places", "Base stations"):
        assert layer in seen["layer_control"]


def test_a_click_on_a_place_of_each_situation_shows_its_model(seen):
    """Issue 22: every place needs the model of its situation, and the model downloaded there is a real sub-model
    of that situation model from its own AI library (its name, size and accuracy on the situation's photos)."""
    area = load_area()
    assert set(seen["clicked"]) == {p.context for p in area.places} == set(SITUATIONS)
    from core.network.library.shipped import shipped_catalog
    from core.situation.library import model_path

    for context, (name, text) in seen["clicked"].items():
        assert text.startswith(f"{name}: needs the {area.context_labels[context]} model"), text
        assert shipped_catalog(model_path(context)) is not None, context
        assert f"a phone: {context} model: " in text and f"a car: {context} model: " in text, text
        assert "Mbit" in text and "on its photos" in text, text


def test_page_names_the_area_from_its_file(seen):
    assert load_area().name in seen["page_text"]


def test_no_request_leaves_the_app(seen, app_url):
    own = urlsplit(app_url).netloc
    assert any("/app/static/leaflet/leaflet.js" in u for u in seen["urls"]), "the map's Leaflet was not loaded"
    foreign = sorted({u for u in seen["urls"]
                      if not (urlsplit(u).scheme in ("data", "blob", "about")
                              or (urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc == own))})
    assert not foreign, f"requests to hosts other than {own}:\n" + "\n".join(foreign[:30])
