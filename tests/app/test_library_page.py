"""AppTest of the AI library page: tiers, entries, filters and the BER table come from the library on disk."""
from pathlib import Path

from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")


def test_library_page_lists_entries_by_tier_and_filters(monkeypatch, tiny_library):
    from core.network.library import open_library

    monkeypatch.setenv("INSITU_LIBRARY", str(tiny_library))
    at = AppTest.from_file(MAIN, default_timeout=600)
    at.switch_page("views/library.py").run()
    assert not at.exception, at.exception
    entries = open_library(tiny_library).entries()
    table = at.dataframe[1].value
    assert sorted(table["entry"]) == sorted(entries["id"])  # headers in words: the id column reads "entry"
    shown = sum(int(m.value.split()[0]) for m in at.metric if m.label.endswith("cloud (real-time)")
                or "cloud (" in m.label)
    assert shown == len(entries)
    at.multiselect(key="lib_bits").set_value([8]).run()
    assert set(at.dataframe[1].value["entry"]) == set(entries[entries["bits"] == 8]["id"])
