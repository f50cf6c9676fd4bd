"""AI library page with damaged files: an empty catalog and a damaged weight file are reported by name, the page
keeps working (no traceback), and the build button says why it cannot build instead of raising."""
import shutil
from pathlib import Path

from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def _page(monkeypatch, folder):
    monkeypatch.setenv("INSITU_LIBRARY", str(folder))
    monkeypatch.delenv("INSITU_RAY_ADDRESS", raising=False)
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/library.py").run()
    return at


def test_an_empty_catalog_is_reported_and_the_build_button_explains(monkeypatch, tmp_path):
    (tmp_path / "catalog.sqlite").write_bytes(b"")
    at = _page(monkeypatch, tmp_path)
    assert not at.exception, at.exception
    # (the folder's name contains "empty" too: the words of the message are checked)
    assert any("catalog.sqlite" in w.value and "the file is empty (0 bytes)" in w.value for w in at.warning)
    build = next(b for b in at.button if b.label.startswith("Build the AI library"))
    build.click().run()
    assert not at.exception, at.exception
    assert any("could not be built" in e.value and "catalog.sqlite" in e.value for e in at.error)


def test_a_damaged_weight_file_is_named_by_the_check(monkeypatch, tiny_library, tmp_path):
    folder = tmp_path / "lib"
    shutil.copytree(tiny_library, folder)
    victim = sorted(folder.glob("*.safetensors"))[0]
    victim.write_bytes(victim.read_bytes()[:100])  # truncated
    at = _page(monkeypatch, folder)
    assert not at.exception, at.exception
    at.button(key="lib_verify").click().run()
    assert not at.exception, at.exception
    assert any(victim.stem in e.value and "1 damaged entry" in e.value for e in at.error)
