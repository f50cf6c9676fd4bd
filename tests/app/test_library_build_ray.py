"""The AI library page's build button with $INSITU_RAY_ADDRESS naming an address where no Ray answers: the page
says so in words (the address, how to start Ray) within seconds and builds in its own process instead; it never
hangs (ray.init alone retries for many minutes)."""
import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
NOBODY = "127.0.0.1:1"   # nothing listens on port 1 of this machine


def _click_build(monkeypatch, folder) -> tuple[AppTest, float]:
    monkeypatch.setenv("INSITU_LIBRARY", str(folder))
    monkeypatch.setenv("INSITU_RAY_ADDRESS", NOBODY)
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.switch_page("views/library.py").run()
    assert not at.exception, at.exception
    build = next(b for b in at.button if b.label.startswith("Build the AI library"))
    assert NOBODY in build.label                           # the page says where it means to build
    started = time.monotonic()
    build.click().run()
    assert not at.exception, at.exception
    return at, time.monotonic() - started


def test_an_unreachable_ray_is_named_and_the_build_runs_here(monkeypatch, tmp_path):
    (tmp_path / "catalog.sqlite").write_bytes(b"")   # the build in this process then stops at once, by name
    at, seconds = _click_build(monkeypatch, tmp_path)
    assert seconds < 30
    notice = " ".join(w.value for w in at.warning)
    assert f"INSITU_RAY_ADDRESS='{NOBODY}'" in notice and "connection refused" in notice
    assert "ray start --head --port=6379" in notice and "Building in this process instead" in notice
    # The build did run, in this process: its own problem (the empty catalog) is what stops it.
    assert any("could not be built" in e.value and "catalog.sqlite" in e.value for e in at.error)


def test_after_building_here_the_page_still_says_why(monkeypatch, tmp_path):
    import app.library_build as library_build
    from core.sweep import SERIAL

    used = []

    def fake_build(*args, executor=None, **kwargs):   # records where the page builds; builds nothing
        used.append(executor)

    monkeypatch.setattr(library_build, "build_library", fake_build)
    at, seconds = _click_build(monkeypatch, tmp_path / "new")
    assert seconds < 30 and used == [SERIAL]
    # The page reran to show the library; the notice comes back as a toast.
    assert any(NOBODY in t.value and "built in this process" in t.value for t in at.toast)
