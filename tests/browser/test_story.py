"""Real-browser test of the Guide's story (issue 14): a lecturer opens one link (?present=1) at 1920x1080 and walks
every step with the → key. Each step shows its number and title, no exception box, the sidebar stays hidden, text is
enlarged; the browser asks nothing of any host but the app's own. Screenshots go to a temporary folder (their path
is printed) so that a person can look at them."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app import story
from tests.browser.conftest import COLD_S, exception_texts, wait_idle

pytestmark = pytest.mark.browser

SLIDE = {"width": 1920, "height": 1080}


# Where the step's first chart sits on the slide, and how wide the page is against the window.
LAYOUT_JS = """() => {
  const chart = document.querySelector('[data-testid="stMain"] .js-plotly-plot');
  const box = chart ? chart.getBoundingClientRect() : null;
  return {chart_bottom: box ? box.bottom : null, window_h: window.innerHeight,
          page_w: document.documentElement.scrollWidth, window_w: window.innerWidth};
}"""


def _step_heading(page, n: int):
    return page.get_by_role("heading", name=f"{n}. {story.STEPS[n - 1].title}", level=2)


@pytest.fixture(scope="module")
def walk(browser, app_url, tmp_path_factory):
    """Open /guide?present=1 and press → through every step; record what each step showed."""
    folder = tmp_path_factory.mktemp("story_screenshots")
    urls, seen = [], []
    context = browser.new_context(viewport=SLIDE)
    context.on("request", lambda r: urls.append(r.url))
    page = context.new_page()
    page.on("websocket", lambda ws: urls.append(ws.url))
    try:
        page.goto(f"{app_url}/guide?present=1")
        for n in range(1, len(story.STEPS) + 1):
            _step_heading(page, n).wait_for(timeout=COLD_S * 1000)
            wait_idle(page, COLD_S)
            path = folder / f"step-{n:02d}-{story.STEPS[n - 1].key}.png"
            page.screenshot(path=str(path))
            seen.append({
                "n": n, "path": path, "exceptions": exception_texts(page),
                "sidebar_visible": page.locator('[data-testid="stSidebar"]').is_visible(),
                "root_font_px": page.evaluate("() => parseFloat(getComputedStyle(document.documentElement).fontSize)"),
                "charts": page.locator(".js-plotly-plot").count(),
                **page.evaluate(LAYOUT_JS),
            })
            if n < len(story.STEPS):
                page.locator("body").press("ArrowRight")  # the Next button's keyboard shortcut
    finally:
        context.close()
    print(f"\nstory screenshots: {folder}")
    return {"steps": seen, "urls": urls, "folder": folder}


def test_every_step_is_reached_with_the_keyboard(walk):
    assert [s["n"] for s in walk["steps"]] == list(range(1, len(story.STEPS) + 1))
    assert all(s["path"].stat().st_size > 10_000 for s in walk["steps"])


def test_no_step_shows_an_exception(walk):
    broken = {s["n"]: s["exceptions"][0][:400] for s in walk["steps"] if s["exceptions"]}
    assert not broken, broken


def test_presenter_view_hides_the_sidebar_and_enlarges_text(walk):
    for s in walk["steps"]:
        assert not s["sidebar_visible"], s["n"]
        assert s["root_font_px"] >= 1.3 * 16, s
    assert sum(s["charts"] >= 1 for s in walk["steps"]) >= len(story.STEPS) - 2  # a chart on (almost) every step


def test_the_walk_asks_no_other_host(walk, app_url):
    own = urlsplit(app_url).netloc
    foreign = sorted({u for u in walk["urls"] if urlsplit(u).scheme not in ("data", "blob", "about")
                      and urlsplit(u).netloc != own})
    assert walk["urls"] and not foreign, foreign[:20]


def test_each_chart_fits_the_slide_without_scrolling_and_nothing_sticks_out_right(walk):
    """At 1920x1080 the step's chart ends above the screen's lower edge (headline and chart on one slide), and the
    page is no wider than the window."""
    below = {s["n"]: s["chart_bottom"] for s in walk["steps"] if s["chart_bottom"] and s["chart_bottom"] > s["window_h"]}
    assert not below, f"chart bottom below {SLIDE['height']} px on steps {below}; screenshots: {walk['folder']}"
    wide = {s["n"]: s["page_w"] for s in walk["steps"] if s["page_w"] > s["window_w"]}
    assert not wide, f"page wider than the window on steps {wide}; screenshots: {walk['folder']}"
