"""Streamlit AppTest: every page runs without exceptions and shows engine figures."""
from pathlib import Path

import pytest

from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.run()
    assert not at.exception, at.exception
    return at


def test_submodels_page_shows_the_root_card_and_families(app):
    labels = {m.label: m.value for m in app.metric}
    assert labels["Parameters (root, no exits)"] == "11,172,810"
    table = app.dataframe[0].value
    assert {"Depth level (exit k)", "Bit level (uniform bits)"} <= set(table["technique"])
    depth = table[table["technique"] == "Depth level (exit k)"]
    assert list(depth["size (Mbit)"]) == sorted(depth["size (Mbit)"])  # deeper exits download more
