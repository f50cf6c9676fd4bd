"""Real-browser tests (issue 6): the running dashboard in headless Chromium.

Every page in the navigation renders without an exception box (screenshots in out/screenshots/); the browser asks
nothing of any host but the app's own; the BER slider and a scenario preset change the numbers shown; ten
sessions at once all load.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import (COLD_S, ROOT, VIEWPORT, WARM_S, choose, declared_page_titles,
                                    exception_texts, heading, metrics, nav_links, open_page, screenshot,
                                    set_slider_to_end, wait_caption, wait_idle)

pytestmark = pytest.mark.browser

BER_CAPTION = "Bit-error rate on the link: "
LIVE = "Live accuracy"
ACCURACY = "Accuracy under this link"
SCENARIO = "Car trip"  # BER 1e-5, protection none, hardware vehicle (app/settings.py)
SCENARIO_BER = "10⁻⁵ (1 bit in 100,000)"
SESSIONS = 10


@dataclass
class Tour:
    """What one session saw while visiting every page in the navigation."""

    labels: list[str] = field(default_factory=list)
    missing_heading: list[str] = field(default_factory=list)
    exceptions: dict[str, list[str]] = field(default_factory=dict)
    urls: list[str] = field(default_factory=list)


def _open_app(page, app_url) -> None:
    """Load the app's default page and wait until its first run is over (a cold server generates sub-models)."""
    page.goto(app_url)
    page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=COLD_S * 1000)
    wait_idle(page, COLD_S)


@pytest.fixture(scope="module")
def tour(browser, app_url) -> Tour:
    """One session opens the app, visits every page of the navigation and moves the BER slider once,
    recording every request the browser makes (all frames, web sockets included)."""
    seen = Tour()
    context = browser.new_context(viewport=VIEWPORT)
    context.on("request", lambda r: seen.urls.append(r.url))
    page = context.new_page()
    page.on("websocket", lambda ws: seen.urls.append(ws.url))
    try:
        _open_app(page, app_url)
        for label, href in nav_links(page):
            seen.labels.append(label)
            try:
                open_page(page, label, href, COLD_S)
            except Exception as err:  # noqa: BLE001 -- recorded and asserted by the tests below
                seen.missing_heading.append(f"{label}: {type(err).__name__}: {str(err).splitlines()[0]}")
            seen.exceptions[label] = exception_texts(page)
            page.mouse.move(VIEWPORT["width"] * 0.6, VIEWPORT["height"] / 2)
            page.mouse.wheel(0, 20_000)  # content below the fold loads too (and its requests are recorded)
            screenshot(page, f"page-{label}")
        set_slider_to_end(page, "Bit-error rate (BER)")
        wait_caption(page, BER_CAPTION, "10⁻¹ (1 bit in 10)")
        wait_idle(page, WARM_S)
        screenshot(page, f"page-{seen.labels[-1]}-ber-1e-1" if seen.labels else "ber-1e-1")
    finally:
        context.close()
    return seen


def test_navigation_lists_every_declared_page(tour):
    declared = declared_page_titles()
    assert len(declared) >= 6, f"found only {declared} in app/main.py: the page scan is broken"
    assert set(declared) <= set(tour.labels), f"navigation shows {tour.labels}, app/main.py declares {declared}"


def test_default_page_answers_at_its_own_address(browser, app_url):
    """A shared link to /submodels opens the Sub-models page (Streamlit serves the default page at /)."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        page.goto(f"{app_url}/submodels?ber=0.002")
        heading(page, "Sub-models").wait_for(timeout=COLD_S * 1000)
        wait_idle(page, COLD_S)
        assert "Page not found" not in page.inner_text("body")
        wait_caption(page, BER_CAPTION, "2 × 10⁻³ (1 bit in 500)")  # the link's exact BER, not a slider step
    finally:
        context.close()


def test_every_page_renders_its_title(tour):
    assert len(tour.labels) >= 6, f"the tour visited only {tour.labels}: nothing to check"
    assert not tour.missing_heading, "pages that did not show their title and finish running:\n" + \
        "\n".join(tour.missing_heading)


def test_no_page_shows_an_exception(tour):
    assert len(tour.labels) >= 6, f"the tour visited only {tour.labels}: nothing to check"
    broken = {label: texts for label, texts in tour.exceptions.items() if texts}
    assert not broken, "exception boxes:\n" + "\n".join(f"{k}: {v[0][:500]}" for k, v in broken.items())


def test_browser_requests_only_the_app_itself(tour, app_url):
    own = urlsplit(app_url).netloc
    foreign = sorted({u for u in tour.urls
                      if not (urlsplit(u).scheme in ("data", "blob", "about")
                              or (urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc == own))})
    assert tour.urls, "no requests were recorded"
    assert not foreign, f"requests to hosts other than {own}:\n" + "\n".join(foreign[:30])


def test_config_turns_usage_statistics_off():
    """The shipped config (used by `streamlit run` without flags, e.g. in the container) calls no one home."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config.get("browser", {}).get("gatherUsageStats") is False


def _number(text: str) -> float:
    match = re.search(r"-?\d[\d,]*\.?\d*(?:e[-+]?\d+)?", text)
    assert match, f"no number in {text!r}"
    return float(match.group().replace(",", ""))


def test_ber_and_scenario_change_the_numbers(browser, app_url):
    """On the Live accuracy page, BER 1e-1 raises the expected flipped bits and lowers the accuracy under the link;
    the scenario preset's BER (1e-5) lowers the flips and raises the accuracy again."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        _open_app(page, app_url)
        links = dict(nav_links(page))
        assert LIVE in links, f"no '{LIVE}' page in the navigation: {list(links)}"
        before, noisy, preset = _live_page_numbers(page, links[LIVE])
    finally:
        context.close()
    flips = "Expected flipped bits per download"
    assert _number(noisy[flips]) > _number(before[flips]), (before, noisy)
    assert _number(noisy[ACCURACY]) < _number(before[ACCURACY]), (before, noisy)  # BER 1e-1 wrecks any model
    assert preset["BER / protection"].startswith("10⁻⁵"), preset
    assert _number(preset[flips]) < _number(noisy[flips]), (noisy, preset)
    assert _number(preset[ACCURACY]) > _number(noisy[ACCURACY]), (noisy, preset)


def _live_page_numbers(page, href):
    """The Live accuracy page's metrics at the default settings, at BER 1e-1 and after the scenario preset."""
    open_page(page, LIVE, href, COLD_S)
    before = metrics(page)
    assert ACCURACY in before, f"no '{ACCURACY}' metric on the Live accuracy page; metrics: {before}"
    assert set_slider_to_end(page, "Bit-error rate (BER)") == "10⁻¹"
    wait_caption(page, BER_CAPTION, "10⁻¹ (1 bit in 10)")
    wait_idle(page, WARM_S)
    assert not exception_texts(page), exception_texts(page)[0][:500]
    noisy = metrics(page)
    screenshot(page, "live-ber-1e-1")
    choose(page, "Device scenario", SCENARIO)
    wait_caption(page, BER_CAPTION, SCENARIO_BER)
    wait_idle(page, WARM_S)
    assert not exception_texts(page), exception_texts(page)[0][:500]
    preset = metrics(page)
    screenshot(page, f"live-{SCENARIO}")
    return before, noisy, preset


def test_ten_sessions_at_once_all_load(browser, app_url):
    contexts = [browser.new_context(viewport=VIEWPORT) for _ in range(SESSIONS)]
    try:
        pages = [c.new_page() for c in contexts]
        for p in pages:  # all ten sessions are open before any is checked
            p.goto(app_url, wait_until="commit")
        failures, deadline = [], time.monotonic() + COLD_S  # one budget for all, not ten
        for i, p in enumerate(pages):
            try:
                left = lambda: max(deadline - time.monotonic(), 1.0)  # noqa: E731
                heading(p, "Sub-models").wait_for(timeout=left() * 1000)
                wait_idle(p, left())
                if exception_texts(p):
                    failures.append(f"session {i}: {exception_texts(p)[0][:300]}")
            except Exception as err:  # noqa: BLE001 -- every session is checked, then all failures reported
                failures.append(f"session {i}: {type(err).__name__}: {str(err).splitlines()[0]}")
        screenshot(pages[-1], "session-10-of-10")
        assert not failures, "\n".join(failures)
    finally:
        for c in contexts:
            c.close()


def test_clicking_a_place_on_the_map_sets_the_device_location(browser, app_url):
    """The location picker draws the area offline; a click on a place marker becomes the sidebar's location."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        _open_app(page, app_url)
        page.locator("summary", has_text="Device location").first.click()
        expander = page.locator('[data-testid="stExpander"]').filter(has_text="Device location").first
        places = expander.locator(".js-plotly-plot .scatterlayer .trace .points path.point")
        places.nth(0).wait_for(timeout=WARM_S * 1000)
        # traces: streets (no markers), base stations (6 markers), then the places
        count = places.count()
        assert count > 7, count
        hover = expander.locator(".hoverlayer .hovertext").first
        deadline = time.monotonic() + WARM_S
        while True:  # the expander may still be opening: re-measure until plotly shows the point's hover label
            target = places.nth(count - 1)
            target.scroll_into_view_if_needed()
            box = target.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x - 5, y - 5)
            page.mouse.move(x, y)  # plotly picks the clicked point from its hover state
            try:
                hover.wait_for(timeout=2000)
                break
            except pytest.importorskip("playwright.sync_api").TimeoutError:
                assert time.monotonic() < deadline, "plotly never showed a hover label over the place marker"
        picked = page.locator("summary", has_text="click a place").filter(has_not_text="not reported").first
        for attempt in range(2):  # a click that lands while a busy app is still redrawing the map can be lost
            page.mouse.move(x - 5, y - 5)
            page.mouse.move(x, y)
            page.mouse.click(x, y)
            try:
                picked.wait_for(timeout=30_000 if attempt == 0 else WARM_S * 1000)
                break
            except pytest.importorskip("playwright.sync_api").TimeoutError:
                if attempt:
                    raise
                wait_idle(page, WARM_S)  # then hover and click once more at the marker's current place
                box = places.nth(count - 1).bounding_box()
                x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        wait_idle(page, WARM_S)
        assert not exception_texts(page), exception_texts(page)[0][:500]
        label = page.locator("summary", has_text="Device location").first.inner_text()
        screenshot(page, "location-picked")
        assert "not reported" not in label, label
    finally:
        context.close()
