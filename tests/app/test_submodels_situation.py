"""AppTest of the Sub-models page's situation sections (issue 22): the situation picker shows the situation model's
card (classes, test photos, accuracy per exit beside the generic root restricted to the same classes), takes the
situation the session holds, and customises the downloaded sub-model on the device's own photos. On the digits
root of the test suite, whose situation is the post office (ten digits)."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.test_plain_language import _problems

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
SITUATION = "post office"


def _run(monkeypatch, library_dir, situation=None):
    monkeypatch.setenv("INSITU_LIBRARY", str(library_dir))
    at = AppTest.from_file(MAIN, default_timeout=600)
    if situation is not None:
        at.session_state["situation"] = situation
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture(scope="module")
def shipped_library(tmp_path_factory):
    """A fresh folder: the page copies the shipped catalog of the digits root into it on first use."""
    return tmp_path_factory.mktemp("library") / "shipped"


@pytest.fixture(scope="module")
def card():
    from core.situation.library import model_path
    from core.situation.store import read_card

    return read_card(model_path(SITUATION))


def _frame(at, column: str):
    return next(d.value for d in at.dataframe if column in d.value.columns)


def test_picking_a_situation_shows_its_cards_classes_and_accuracy_per_exit(monkeypatch, shipped_library, card):
    at = _run(monkeypatch, shipped_library)
    assert at.selectbox(key="sm_situation").value == ""  # the generic root until a situation is picked
    assert not [m for m in at.metric if m.label == "Classes it answers among"]
    at.selectbox(key="sm_situation").select(SITUATION).run()
    assert not at.exception, at.exception
    assert at.session_state["situation"] == SITUATION  # other pages read the same key
    shown = {m.label: m.value for m in at.metric}
    assert shown["Classes it answers among"] == str(len(card.classes)) == "10"
    assert shown["Test photos it is scored on"] == f"{card.test_photos:,}"
    assert any(", ".join(card.classes) in m.value for m in at.markdown)
    exits = _frame(at, "situation model")
    assert list(exits["exit"]) == [1, 2, 3, 4]
    assert tuple(exits["situation model"]) == tuple(card.exit_accuracy)
    # The generic root restricted to the classes: what each exit's figure is compared with, on the same photos.
    assert exits["generic root, answer among these classes"].between(0.9, 1.0).all()
    assert any("same" in c.value and f"{card.test_photos:,} test photos" in c.value for c in at.caption)
    assert not _problems(at), _problems(at)


def test_the_page_starts_at_the_situation_the_session_holds(monkeypatch, shipped_library):
    at = _run(monkeypatch, shipped_library, situation=SITUATION)
    assert at.selectbox(key="sm_situation").value == SITUATION
    assert "Classes it answers among" in [m.label for m in at.metric]


def test_a_situation_of_another_root_is_named_not_shown(monkeypatch, shipped_library):
    at = _run(monkeypatch, shipped_library, situation="road")
    assert at.selectbox(key="sm_situation").value == ""
    assert any("road situation" in i.value and "another root model" in i.value for i in at.info)


def test_the_device_customises_its_sub_model_and_the_page_says_what_it_gained(monkeypatch, shipped_library):
    at = _run(monkeypatch, shipped_library, situation=SITUATION)
    assert not [m for m in at.metric if m.label == "Accuracy as downloaded"]  # nothing runs before the button
    at.selectbox(key="od_start").select("2-bit codes, no quantisation-aware training").run()
    assert any("such a case" in w.value and "2-bit" in w.value for w in at.warning)
    at.selectbox(key="od_start").select("exit 2, 32-bit floats").run()
    assert not any("such a case" in w.value for w in at.warning)
    at.slider(key="od_photos").set_value(5)
    at.slider(key="od_steps").set_value(20)
    at.button(key="od_run").click().run()
    assert not at.exception, at.exception
    shown = {m.label: (m.value, m.proto.delta) for m in at.metric}
    assert "Accuracy as downloaded" in shown and "After 20 steps" in shown
    assert "against as downloaded" in shown["After 20 steps"][1]
    assert shown["Training time on this device"][1] == "smartphone, estimated"
    assert any("3 × the sub-model's" in c.value and "Why 3 ×" in c.value for c in at.caption)
    assert not _problems(at), _problems(at)
    at.slider(key="od_steps").set_value(40).run()  # once prepared, a slider reruns at once (no button)
    assert "After 40 steps" in [m.label for m in at.metric]
