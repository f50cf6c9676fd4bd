"""Shipped libraries: the catalog comes with the root, weights are regenerated on first use and match the
catalog's sha256 (the digits root keeps this test fast; the CIFAR-10 root works the same way)."""
import sqlite3

import pytest

from core.model.models import DIGITS_CHECKPOINT
from core.network.library import open_library
from core.network.library.shipped import ensure_library, load_entry, materialise, pending_entries, shipped_catalog


@pytest.fixture()
def fresh(tmp_path):
    folder = tmp_path / "lib"
    assert ensure_library(folder, DIGITS_CHECKPOINT) is True
    assert ensure_library(folder, DIGITS_CHECKPOINT) is False  # never overwrites a catalog that is there
    return open_library(folder)


def test_every_shipped_root_has_a_catalog_with_intervals():
    from core.model.models import SHIPPED_ROOTS

    for path in SHIPPED_ROOTS.values():
        catalog = shipped_catalog(path)
        assert catalog is not None, path
        con = sqlite3.connect(catalog)
        trials, bad = con.execute("SELECT MIN(trials), SUM(lo > mean OR hi < mean) FROM accuracy_ber").fetchone()
        con.close()
        assert trials >= 3 and bad == 0


def test_a_fresh_library_answers_from_its_catalog_before_any_weights_exist(fresh, digits):
    entries = fresh.entries()
    assert len(entries) == 36 and len(pending_entries(fresh)) == 36
    assert not fresh.damaged_entries(include_missing=False)


def test_first_use_regenerates_weights_that_match_the_catalog(fresh, root, digits):
    entries = fresh.entries().set_index("key")
    sub = load_entry(fresh, int(entries.loc["d4-r1-b4-s0", "id"]), root, digits)
    assert sub.spec.bits == 4
    assert "d4-r1-b4-s0" not in pending_entries(fresh)
    # a pruned, re-trained entry: its whole group (every bit width of d2 keep 50 %) is made at once, hash-checked
    written = materialise(fresh, int(entries.loc["d2-r0.5-b8-s60", "id"]), root, digits)
    assert set(written) >= {"d2-r0.5-b32-s60", "d2-r0.5-b8-s60", "d2-r0.5-b4-s60"}
    fresh.verify() if not pending_entries(fresh) else None
    assert not fresh.damaged_entries(include_missing=False)


def test_weights_that_differ_from_the_catalog_are_refused(fresh, root, digits):
    con = sqlite3.connect(fresh.path)
    with con:
        con.execute("UPDATE entries SET file_sha256 = ? WHERE key = 'd4-r1-b8-s0'", ("0" * 64,))
    con.close()
    entry_id = int(fresh.entries().set_index("key").loc["d4-r1-b8-s0", "id"])
    with pytest.raises(ValueError, match="d4-r1-b8-s0.*differ from the catalog"):
        materialise(fresh, entry_id, root, digits)
    assert "d4-r1-b8-s0" in pending_entries(fresh)  # nothing half-made is kept
