"""The service layer's caches follow what their values depend on: a library rebuilt while the app runs gives its
new split table (the table is read from the library's depth entries)."""
import os
import shutil

import pandas as pd

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
