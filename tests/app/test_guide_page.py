"""AppTest of the Guide's story mode and the presenter view: Next / Back move through the steps, a step's preset
sets the sidebar, presenter view hides the sidebar's clutter and keeps the navigation."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from app import story

ROOT = Path(__file__).resolve().parents[2]
MAIN = str(ROOT / "app" / "main.py")


def _guide(present: bool = False) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=900)
    if present:
        at.query_params["present"] = "1"
    at.switch_page("views/guide.py").run()
    assert not at.exception, at.exception
    return at


def _step_header(at) -> str:
    return at.header[0].value


@pytest.fixture(scope="module")
def page():
    return _guide()


def test_story_opens_at_step_one_with_a_headline_chart_and_verdict(page):
    assert _step_header(page) == f"1. {story.STEPS[0].title}"
    assert page.button(key="story_back").disabled and not page.button(key="story_next").disabled
    assert page.session_state["story_step"] == 0
    headline = next(m.value for m in page.markdown if m.value.startswith("### "))
    assert "VGG-16" in headline
    assert len(page.get("plotly_chart")) == 1
    assert len(page.success) == 1  # Fig. 4's arithmetic: an unconditional verdict


def test_next_and_back_move_one_step(page):
    page.button(key="story_next").click().run()
    assert not page.exception, page.exception
    assert _step_header(page) == f"2. {story.STEPS[1].title}"
    assert any("quickest split is exit" in m.value for m in page.markdown)
    page.button(key="story_back").click().run()
    assert _step_header(page) == f"1. {story.STEPS[0].title}"


def test_a_steps_preset_sets_the_sidebar(page):
    from app.settings import SCENARIOS, apply_scenario

    key = story.STEPS[0].preset
    page.button(key=f"story_preset_{story.STEPS[0].key}").click().run()
    assert not page.exception, page.exception
    assert page.session_state["settings"] == apply_scenario(key)
    assert page.selectbox(key="w_hardware").value == SCENARIOS[key].settings["hardware"]
    assert page.button(key=f"story_preset_{story.STEPS[0].key}").disabled  # "(in use)"


def test_presenter_link_hides_the_sidebar_tables_and_downloads_but_keeps_navigation():
    at = _guide(present=True)
    assert at.session_state["presenter_on"] is True
    styles = [h.proto.body for h in at.get("html")]
    assert any('data-testid="stSidebar"' in b and "font-size: 140%" in b for b in styles)
    assert not at.dataframe and not at.get("download_button")
    assert at.button(key="story_next") and at.button(key="story_back")
    assert at.toggle(key="w_presenter_guide").value is True
    at.toggle(key="w_presenter_guide").set_value(False).run()
    assert at.session_state["presenter_on"] is False
    assert not any('data-testid="stSidebar"' in h.proto.body for h in at.get("html"))


def _guide_at(query: dict) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=900)
    for k, v in query.items():
        at.query_params[k] = v
    at.switch_page("views/guide.py").run()
    assert not at.exception, at.exception
    return at


def test_the_step_is_in_the_link_and_follows_back_and_next():
    at = _guide_at({"step": "3"})
    assert _step_header(at) == f"3. {story.STEPS[2].title}"
    assert at.query_params["step"] == "3" and not any("step=" in w.value for w in at.warning)
    at.button(key="story_next").click().run()
    assert _step_header(at) == f"4. {story.STEPS[3].title}" and at.query_params["step"] == "4"
    at.button(key="story_back").click().run()
    at.button(key="story_back").click().run()
    assert _step_header(at) == f"2. {story.STEPS[1].title}" and at.query_params["step"] == "2"


@pytest.mark.parametrize("bad", ["eleven", "0", str(len(story.STEPS) + 1)])
def test_a_bad_step_in_the_link_is_reported_by_name(bad):
    at = _guide_at({"step": bad})
    assert _step_header(at) == f"1. {story.STEPS[0].title}"
    assert any(f"step={bad!r}" in w.value and f"1 to {len(story.STEPS)}" in w.value for w in at.warning), \
        [w.value for w in at.warning]
    at.button(key="story_next").click().run()  # moving on clears the report and writes the new step
    assert at.query_params["step"] == "2" and not any("step=" in w.value for w in at.warning)
