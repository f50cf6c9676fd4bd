"""Versions in the AI library (issue 23, part 3): an improved entry is stored as a new version of the same sub-model,
with its card, sizes, BER cells, provenance and sha256; it reads back, is checked, is shipped, and the selection
can choose it.

A tiny library of the digits root (exit 1 at 4 bits, whole and kept at 25 %) is built once; most tests store a
version made directly from a slightly changed state (no Flower needed). One test runs the command end to end on
Flower's simulation (2 devices, 1 round) and skips, with the reason, where flwr is not installed."""
import dataclasses
import shutil
import sqlite3

import pytest
import torch

from core.compress.common import transmitted_state
from core.model.models import DIGITS_CHECKPOINT
from core.network.dsi import dsi_from_presets
from core.network.library import LibraryConfig, build_library, open_library
from core.network.library import shipped
from core.network.library.catalog import CATALOG, SCHEMA_VERSION, migrate_versions
from core.network.library.shipped import ensure_library, load_entry_noting, ship_catalog
from core.network.library.versions import (METHOD_FEDERATED, Provenance, compare_table, store_version,
                                           version_submodel)
from core.network.library.weights import sha256_file, weights_bytes
from core.network.select import select

PARENT = "d1-r0.25-b4-s5"
VERSION = f"{PARENT}-v2"
CONFIG = LibraryConfig(depths=(1,), keep_ratios=(1.0, 0.25), bits=(4,), retrain_steps=5, ber_grid=(1e-3,),
                       protections=("none",), trials=1)
PROVENANCE = Provenance(method=METHOD_FEDERATED, parent=PARENT, devices=2, rounds=1, local_steps=3, batch_size=16,
                        lr=0.005, update_bits=8, split="dirichlet", alpha=0.5, classes_per_device=None, seed=7,
                        flwr_version="1.42.0", accuracy_per_round=(0.90, 0.92), test_images=359,
                        photos_per_device=(700, 737), uplink_bits_per_update=123_456, seconds=12.5,
                        where="on a Ray started on this machine (2 CPUs)")


def _changed_state(entry):
    """A slightly changed version of the entry's weights (as a federated round would give), before projection."""
    gen = torch.Generator().manual_seed(0)
    return {k: v.float() * 1.02 + 0.001 * torch.randn(v.shape, generator=gen)
            for k, v in transmitted_state(entry.module).items()}


@pytest.fixture(scope="module")
def built(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("versions") / "built"
    build_library(DIGITS_CHECKPOINT, digits, folder, CONFIG, progress=False)
    return folder


@pytest.fixture(scope="module")
def stored(tmp_path_factory, built, root, digits):
    """A copy of the tiny library with version 2 of PARENT (and the report of storing it)."""
    folder = tmp_path_factory.mktemp("versions") / "stored"
    shutil.copytree(built, folder)
    lib = open_library(folder)
    entry = lib.load_submodel(int(lib.entries().set_index("key").loc[PARENT, "id"]))
    report = store_version(folder, PARENT, entry, _changed_state(entry), PROVENANCE, root, digits)
    return folder, report, entry


def _copy(folder, tmp_path, name="copy"):
    target = tmp_path / name
    shutil.copytree(folder, target)
    return target


# ---------- storing and reading back ----------

def test_a_version_is_the_same_sub_model_with_its_own_row_file_and_hash(stored):
    folder, report, _ = stored
    entries = open_library(folder).entries().set_index("key")
    parent, version = entries.loc[PARENT], entries.loc[VERSION]
    assert report.key == VERSION and report.version == 2 and report.parent == PARENT
    for field in ("depth", "keep_ratio", "bits", "retrain_steps", "total_bits", "device_memory_bytes", "tier",
                  "technique"):
        assert version[field] == parent[field], field
    assert (version["version"], version["parent"], version["base_key"]) == (2, PARENT, PARENT)
    assert (parent["version"], parent["parent"], parent["latest"], parent["newer_version"]) == (1, "", False, VERSION)
    assert version["latest"] and version["newer_version"] == ""
    assert version["file"] == f"versions/{VERSION}.safetensors"
    assert sha256_file(folder / version["file"]) == version["file_sha256"] == report.file_sha256
    assert "improved (version 2)" in version["label"]


def test_the_stored_version_reads_back_bit_for_bit_with_its_measured_accuracy(stored, digits):
    from core.model.evaluate import accuracy

    folder, report, entry = stored
    lib = open_library(folder, verify_files=True)
    loaded = lib.load_submodel(report.entry_id)
    made = version_submodel(entry, _changed_state(entry))
    for name, value in transmitted_state(made.module).items():
        assert torch.equal(transmitted_state(loaded.module)[name], value), name
    assert loaded.payload.total_bits == report.total_bits
    assert accuracy(loaded.module, digits, "test") == pytest.approx(lib.entry(report.entry_id)["accuracy"], abs=0)
    masks = {k: v for k, v in entry.masks.items()}
    assert masks and all((transmitted_state(loaded.module)[k][~m] == 0).all() for k, m in masks.items())


def test_the_weight_file_of_a_version_is_compact(stored):
    folder, report, entry = stored
    plain = len(weights_bytes(version_submodel(entry, _changed_state(entry))))
    assert report.file_bytes == (folder / f"versions/{VERSION}.safetensors").stat().st_size
    assert report.file_bytes < plain / 4  # 4-bit codes at 25 % kept: about 2 bits a weight instead of 16


def test_provenance_is_persisted_and_said_in_words(stored):
    folder, _, _ = stored
    versions = open_library(folder).versions()
    assert list(versions["key"]) == [VERSION]
    row = versions.iloc[0]
    assert (row["parent_key"], row["base_key"], row["version"], row["method"]) == (PARENT, PARENT, 2,
                                                                                  METHOD_FEDERATED)
    assert Provenance.from_dict(row["provenance"]) == PROVENANCE
    words = PROVENANCE.words("exit 1, keep 25%, 4-bit")
    for part in ("2 devices", "1 round of 3 training steps", "8-bit codes", "Flower 1.42.0", "seed 7",
                 "90.0%, 92.0%", "alpha 0.5"):
        assert part in words, part


def test_the_version_has_ber_cells_measured_like_its_parent(stored):
    folder, report, _ = stored
    lib = open_library(folder)
    cells = lib.ber_table()
    parent_id = int(lib.entries().set_index("key").loc[PARENT, "id"])
    grid = lambda i: sorted(map(tuple, cells[cells.entry_id == i][["mode", "ber", "protection"]].values))  # noqa
    assert grid(report.entry_id) == grid(parent_id) and report.ber_cells == len(grid(parent_id)) == 2
    table = compare_table(lib)
    assert list(table["side"]) == ["improved from", "version"] and table["ber 0.001"].notna().all()


def test_a_second_improvement_becomes_version_3_of_the_same_entry(stored, tmp_path, root, digits):
    folder = _copy(stored[0], tmp_path)
    lib = open_library(folder)
    v2 = lib.load_submodel(stored[1].entry_id)
    report = store_version(folder, VERSION, v2, {k: v * 0.99 for k, v in transmitted_state(v2.module).items()},
                           dataclasses.replace(PROVENANCE, parent=VERSION), root, digits,
                           config=dataclasses.replace(CONFIG, ber_grid=()))
    entries = open_library(folder).entries().set_index("key")
    assert report.key == f"{PARENT}-v3" and entries.loc[report.key, "parent"] == VERSION
    assert entries.loc[PARENT, "newer_version"] == entries.loc[VERSION, "newer_version"] == report.key


# ---------- damage, old catalogs, refusals ----------

def test_a_damaged_version_file_is_named_never_loaded(stored, tmp_path, root, digits):
    folder = _copy(stored[0], tmp_path)
    path = folder / f"versions/{VERSION}.safetensors"
    path.write_bytes(b"\x80\x04\x95" + path.read_bytes()[3:])  # a pickle's first bytes: it must never be unpickled
    lib = open_library(folder)
    (bad,) = lib.damaged_entries()
    assert (bad.key, bad.file, bad.version) == (VERSION, f"versions/{VERSION}.safetensors", 2)
    assert str(path) in bad.problem and "cannot be made again from the root" in bad.problem
    with pytest.raises(ValueError, match=f"{VERSION}.safetensors.*damaged"):
        load_entry_noting(lib, stored[1].entry_id, root, digits)
    with pytest.raises(ValueError, match="improved versions .*cannot"):
        lib.verify()


def test_a_missing_version_file_is_reported_and_the_build_keeps_the_version(stored, tmp_path, root, digits):
    folder = _copy(stored[0], tmp_path)
    (folder / f"versions/{VERSION}.safetensors").unlink()
    with pytest.raises(ValueError, match="missing.*cannot be made again from the root"):
        load_entry_noting(open_library(folder), stored[1].entry_id, root, digits)
    report = build_library(DIGITS_CHECKPOINT, digits, folder, CONFIG, progress=False)
    assert report.repaired == () and report.generated == ()
    assert VERSION in set(open_library(folder).entries()["key"])  # a build never deletes what it cannot make


def _as_schema_3(path):
    """A catalog as this program wrote it before versions existed (schema 3, no versions table)."""
    con = sqlite3.connect(path)
    with con:
        if con.execute("SELECT name FROM sqlite_master WHERE name = 'versions'").fetchone():
            con.execute("DELETE FROM entries WHERE id IN (SELECT entry_id FROM versions)")
            con.execute("DROP TABLE versions")
        con.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    con.close()


def test_every_shipped_catalog_opens():
    folders = sorted(p.parent for p in shipped.SHIPPED_LIBRARIES.glob(f"*/{CATALOG}"))
    assert len(folders) >= 7
    for folder in folders:
        entries = open_library(folder).entries()
        assert len(entries) and (entries["version"] >= 1).all(), folder


def test_a_catalog_without_versions_still_opens(tmp_path):
    copy = tmp_path / CATALOG
    shutil.copyfile(shipped.SHIPPED_LIBRARIES / "resnet18_digits" / CATALOG, copy)
    _as_schema_3(copy)  # the shipped catalogs were built so (a later one may ship versions)
    lib = open_library(copy)
    entries = lib.entries()
    assert len(entries) == 36 and (entries["version"] == 1).all() and (entries["parent"] == "").all()
    assert entries["latest"].all() and lib.versions().empty and compare_table(lib).empty
    migrate_versions(copy)
    after = open_library(copy)
    assert after.meta["schema_version"] == str(SCHEMA_VERSION)
    assert after.entries().drop(columns=["latest", "newer_version"]).equals(
        entries.drop(columns=["latest", "newer_version"]))


def test_storing_into_a_schema_3_catalog_migrates_it(built, tmp_path, root, digits):
    folder = _copy(built, tmp_path)
    _as_schema_3(folder / CATALOG)
    lib = open_library(folder)
    entry = lib.load_submodel(int(lib.entries().set_index("key").loc[PARENT, "id"]))
    store_version(folder, PARENT, entry, _changed_state(entry), PROVENANCE, root, digits,
                  config=dataclasses.replace(CONFIG, ber_grid=()))
    after = open_library(folder)
    assert after.meta["schema_version"] == "4" and list(after.versions()["key"]) == [VERSION]


def test_bad_arguments_are_refused_by_name(stored, root, digits):
    folder, _, entry = stored
    with pytest.raises(ValueError, match="parent_key='d9-nope'.*allowed"):
        store_version(folder, "d9-nope", entry, _changed_state(entry), PROVENANCE, root, digits)
    wrong = {**_changed_state(entry), "head.fc.weight": torch.zeros(3, 3)}
    with pytest.raises(ValueError, match=r"state\['head.fc.weight'\] has shape"):
        version_submodel(entry, wrong)
    with pytest.raises(ValueError, match="accuracy_per_round has 3 values; allowed: rounds \\+ 1 = 2"):
        dataclasses.replace(PROVENANCE, accuracy_per_round=(0.9, 0.9, 0.9))
    with pytest.raises(ValueError, match="split='iid'"):
        dataclasses.replace(PROVENANCE, split="iid")


def test_the_command_names_a_bad_flag_before_loading_anything(capsys):
    from core.network.library.cli import main

    assert main(["improve", "--entry", PARENT, "--local-steps", "0"]) == 2
    assert "--local-steps=0" in capsys.readouterr().err
    assert main(["improve", "--entry", PARENT, "--split", "iid"]) == 2
    assert "--split='iid' is not one of ['dirichlet', 'by_class']" in capsys.readouterr().err
    assert main(["improve", "--entry", PARENT, "--ray", "127.0.0.1:1"]) == 2  # no Ray there: said in seconds
    err = capsys.readouterr().err
    assert "--ray='127.0.0.1:1': no Ray can be reached" in err and "ray start --head" in err


# ---------- selection ----------

def _with_version_accuracy(folder, delta: float):
    """Set the stored version's accuracy (clean and under bit errors) to its parent's plus ``delta``."""
    con = sqlite3.connect(folder / CATALOG)
    with con:
        pid, vid = (con.execute("SELECT id FROM entries WHERE key = ?", (k,)).fetchone()[0] for k in (PARENT, VERSION))
        con.execute("UPDATE entries SET accuracy = (SELECT accuracy FROM entries WHERE id = ?) + ?, split_accuracy = "
                    "(SELECT split_accuracy FROM entries WHERE id = ?) + ? WHERE id = ?", (pid, delta, pid, delta, vid))
        for mode, ber, prot, mean, lo, hi in con.execute(
                "SELECT mode, ber, protection, mean, lo, hi FROM accuracy_ber WHERE entry_id = ?", (pid,)).fetchall():
            con.execute("UPDATE accuracy_ber SET mean = ?, lo = ?, hi = ? WHERE entry_id = ? AND mode = ? AND ber = ? "
                        "AND protection = ?", (mean + delta, lo + delta, hi + delta, vid, mode, ber, prot))
    con.close()


@pytest.mark.parametrize("delta, picked", [(0.02, VERSION), (-0.02, PARENT)])
def test_the_selection_picks_the_more_accurate_of_an_entry_and_its_version(stored, tmp_path, delta, picked):
    folder = _copy(stored[0], tmp_path)
    _with_version_accuracy(folder, delta)
    sel = select(dsi_from_presets("smartphone", "image recognition", ber=1e-3), open_library(folder),
                 allow_generate=False)
    best = sel.best()
    assert best["key"] == picked and best["mode"] == "exit"
    other = "the version it was improved from" if picked == VERSION else "a newer version of it"
    assert other in best["why"] and "points less accurate" in best["why"]
    rows = sel.candidates.set_index(["key", "mode"])
    assert rows.loc[(PARENT, "exit"), "newer_version"] == VERSION and not rows.loc[(PARENT, "exit"), "latest"]
    assert rows.loc[(VERSION, "exit"), "parent"] == PARENT and rows.loc[(VERSION, "exit"), "version"] == 2


# ---------- shipping ----------

def test_shipping_copies_the_catalog_and_the_version_files_and_a_fresh_library_uses_them(
        stored, tmp_path, monkeypatch, root, digits):
    monkeypatch.setattr(shipped, "SHIPPED_LIBRARIES", tmp_path / "assets")
    catalog = ship_catalog(stored[0], "tinyroot")
    shipped_file = catalog.parent / f"versions/{VERSION}.safetensors"
    assert sha256_file(shipped_file) == stored[1].file_sha256
    print(f"shipped version file: {shipped_file.stat().st_size:,} bytes")
    fresh = tmp_path / "fresh"
    assert ensure_library(fresh, tmp_path / "tinyroot.safetensors") is True
    assert (fresh / f"versions/{VERSION}.safetensors").is_file()
    (fresh / f"versions/{VERSION}.safetensors").unlink()  # e.g. a copy made before the versions shipped
    sub, note = load_entry_noting(open_library(fresh), stored[1].entry_id, root, digits)
    assert note == "" and sub.payload.total_bits == stored[1].total_bits
    assert sha256_file(fresh / f"versions/{VERSION}.safetensors") == stored[1].file_sha256


def test_shipped_versions_reach_a_library_copied_before_they_shipped(stored, built, tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "SHIPPED_LIBRARIES", tmp_path / "assets")
    ship_catalog(stored[0], "tinyroot")
    local = _copy(built, tmp_path, "local")  # the same root's library without the version
    assert ensure_library(local, tmp_path / "tinyroot.safetensors") is False
    lib = open_library(local, verify_files=True)
    assert list(lib.versions()["key"]) == [VERSION]
    source = open_library(stored[0])
    mine, theirs = lib.ber_table(), source.ber_table()
    assert len(mine[mine.entry_id == int(lib.versions()["entry_id"][0])]) == \
        len(theirs[theirs.entry_id == stored[1].entry_id]) == 2
    assert ensure_library(local, tmp_path / "tinyroot.safetensors") is False  # no second copy
    assert len(open_library(local).versions()) == 1


# ---------- the command, on Flower ----------

def test_the_improve_command_runs_flower_and_stores_the_version(built, tmp_path, capsys):
    from core.federated.flower import flower_missing
    from core.network.library.cli import main

    if flower_missing():
        pytest.skip(flower_missing())
    import flwr

    folder = _copy(built, tmp_path)
    code = main(["improve", "--root", "resnet18_digits", "--library", str(folder), "--entry", PARENT, "--devices",
                 "2", "--rounds", "1", "--local-steps", "2", "--batch-size", "16", "--eval-limit", "64", "--cpus",
                 "2", "--seed", "1"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"{VERSION}: version 2 of {PARENT}" in out and "weight file:" in out and "sha256" in out
    version = open_library(folder).versions().iloc[0]
    prov = Provenance.from_dict(version["provenance"])
    assert (prov.devices, prov.rounds, prov.local_steps, prov.seed, prov.test_images) == (2, 1, 2, 1, 64)
    assert prov.flwr_version == flwr.__version__ and len(prov.accuracy_per_round) == 2
    assert len(prov.photos_per_device) == 2 and prov.uplink_bits_per_update > 0
