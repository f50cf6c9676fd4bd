"""The service layer's caches follow what their values depend on: a library rebuilt while the app runs gives its
new split table (the table is read from the library's depth entries); a sub-model reference is a cache key."""
import os
import shutil

import pandas as pd
import pytest
import streamlit as st

import core.network.select as select


def test_split_table_follows_a_library_rebuilt_while_the_app_runs(monkeypatch, tiny_library, tmp_path):
    from app import services

    folder = tmp_path / "library"
    shutil.copytree(tiny_library, folder)
    monkeypatch.setenv("INSITU_LIBRARY", str(folder))
    reads = []

    def read(lib):  # stands for the library's depth entries: which read of the catalog gave the table
        reads.append(lib)
        return pd.DataFrame({"read": [len(reads)]})

    monkeypatch.setattr(select, "library_split_points", read)
    first = services.split_rows(8)
    assert services.split_rows(8).equals(first) and len(reads) == 1  # cached while the catalog is the same
    catalog = folder / "catalog.sqlite"
    stamp = catalog.stat().st_mtime + 10
    os.utime(catalog, (stamp, stamp))  # rebuilt: a new catalog version
    assert int(services.split_rows(8)["read"].iloc[0]) == 2


def test_a_sub_model_reference_is_a_cache_key():
    from app import services
    from app.services import SubModelRef
    from core.compress.combine import SubModelSpec

    made = []

    @st.cache_data
    def evaluate(ref: SubModelRef) -> str:  # stands for live_clean & co.: one computation per sub-model
        made.append(ref)
        return ref.label

    evaluate(SubModelRef.generated(services.LIVE_SPECS["Bit level: 4-bit codes"]))
    evaluate(SubModelRef.generated(SubModelSpec(bits=4)))  # the same sub-model, named again: the same entry
    assert len(made) == 1
    evaluate(SubModelRef.generated(SubModelSpec(bits=8)))
    evaluate(SubModelRef.library_entry("library:40:1.0", 4))
    assert len(made) == 3
    with pytest.raises(ValueError, match="entry_id"):
        SubModelRef.library_entry("library:40:1.0", -1)


def test_int8_and_float_arithmetic_keep_separate_live_estimates():
    """Issue 21: dropping the arithmetic from the live estimate's key survived every test. An estimate in 8-bit
    integer arithmetic is never shown for floating point (nor the reverse): each has its own stored trials."""
    from app import services
    from app.settings import model_choices
    from core.compress.combine import SubModelSpec

    model = next(iter(model_choices()))
    ref = services.SubModelRef.generated(SubModelSpec(bits=4))
    config = services.live_config(target_points=50.0, max_trials=2, time_budget_s=None)
    args = (ref, model, 1e-3, "none", 12345, config)
    assert services.live_stored(*args, arithmetic="int8") is None
    first = services.live_estimate(*args, arithmetic="int8")
    assert first.trials == 2
    assert services.live_stored(*args, arithmetic="int8").mean == pytest.approx(first.mean)
    assert services.live_stored(*args, arithmetic="float") is None  # int8's trials are not float's
    float_run = services.live_estimate(*args, arithmetic="float")
    assert float_run.trials == 2
    assert services.live_stored(*args, arithmetic="float").mean == pytest.approx(float_run.mean)


def test_the_live_page_can_draw_the_librarys_curve_of_the_same_sub_model_at_once(tiny_library, monkeypatch):
    from app import services
    from app.settings import model_choices
    from core.compress.combine import SubModelSpec
    from core.network.library import open_library

    monkeypatch.setenv("INSITU_LIBRARY", str(tiny_library))
    model = next(iter(model_choices()))
    lib = open_library(tiny_library)
    entry = lib.entries().set_index("key").loc["d4-r1-b8-s0"]
    curve = services.library_curve(services.SubModelRef.generated(SubModelSpec(bits=8)), model, ("none",))
    table = lib.ber_table()
    want = table[(table.entry_id == entry["id"]) & (table["mode"] == "exit") & (table.protection == "none")]
    assert list(curve["ber"]) == list(want["ber"]) and list(curve["mean"]) == list(want["mean"])
    assert (curve["ci95_low"] <= curve["mean"]).all() and (curve["mean"] <= curve["ci95_high"]).all()
    by_entry = services.library_curve(services.SubModelRef.library_entry(services.library_key(lib), int(entry["id"])),
                                      model, ("none",))
    assert by_entry.equals(curve)
    # a sub-model the library does not hold (4-bit here) has no stored curve: the page measures it
    assert services.library_curve(services.SubModelRef.generated(SubModelSpec(bits=4)), model, ("none",)) is None
