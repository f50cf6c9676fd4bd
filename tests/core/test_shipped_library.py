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


def test_every_shipped_cell_follows_the_trial_rule_and_has_its_ruined_share():
    """No cell wider than its target rests on fewer trials than the rule asks; a mixed cell (ruined and intact
    downloads) has at least the mixed minimum; every cell has its spread and ruined count (issue 20)."""
    from core.model.models import SHIPPED_ROOTS

    for path in SHIPPED_ROOTS.values():
        lib = open_library(shipped_catalog(path).parent)
        plan = lib.config.trial_plan()
        ber = lib.ber_table()
        assert len(ber) and ber.ruined.between(0, ber.trials).all(), path
        half = (ber.hi - ber.lo) / 2
        early = ber.trials < plan.max_trials
        assert (half[early] <= plan.target_half_width + 1e-9).all(), path
        mixed = (ber.ruined > 0) & (ber.ruined < ber.trials)
        assert (ber.trials[mixed] >= plan.mixed_min_trials).all(), path
        assert ((ber.p10 <= ber.p90) & ber.ruin_lo.le(ber.ruin_share) & ber.ruin_share.le(ber.ruin_hi)).all()


def test_the_shipped_bimodal_cifar_cell_agrees_with_ten_independent_downloads():
    """The CIFAR-10 catalog's 4-bit sub-model at BER 1e-2, no protection (downloads either fine or ruined) against
    10 independent downloads (seeds apart from the catalog's), each scored on its own 300 photos by plain Monte
    Carlo: the two 95 % intervals overlap. bench/bench_ruin.py runs the same check with 2,000 photos a download."""
    import math

    import numpy as np

    from core.compress.combine import SubModelSpec, generate
    from core.link.reliability import independent_downloads, t_quantile
    from core.model.data import load_for_card
    from core.model.models import ASSETS, load_checkpoint

    CIFAR10_CHECKPOINT = ASSETS / "resnet18_cifar10.safetensors"

    model, card = load_checkpoint(CIFAR10_CHECKPOINT)
    data = load_for_card(card, CIFAR10_CHECKPOINT)
    lib = open_library(shipped_catalog(CIFAR10_CHECKPOINT).parent)
    entry = lib.entries().set_index("key").loc["d4-r1-b4-s0"]
    ber = lib.ber_table()
    cell = ber[(ber.entry_id == int(entry.id)) & (ber.protection == "none") & np.isclose(ber.ber, 1e-2)].iloc[0]
    assert cell.trials >= 10  # a bimodal cell never rests on 3 trials
    sub = generate(model, data, SubModelSpec(bits=4), 0, evaluate=False)
    acc = independent_downloads(sub, data, 1e-2, "none", 1_000, 10, 300)
    half = t_quantile(0.95, 9) * acc.std(ddof=1) / math.sqrt(10)
    assert acc.mean() - half <= cell.hi and cell.lo <= acc.mean() + half, (acc, cell.to_dict())


def test_a_fresh_library_answers_from_its_catalog_before_any_weights_exist(fresh, digits):
    entries = fresh.entries()
    assert len(entries) == 36 and len(pending_entries(fresh)) == 36
    assert not fresh.damaged_entries(include_missing=False)


@pytest.fixture(scope="module")
def rounds_like_the_build_machine(root, digits, tmp_path_factory):
    """Whether this CPU regenerates the shipped digits entries bit for bit (the build machine's rounding): a
    quantised entry and a pruned, re-trained group (re-training's convolution gradients round by the CPU's vector
    width: an AVX2 machine does not repeat an AVX-512 machine's re-training, while quantisation alone agrees)."""
    from core.network.library.shipped import regenerate

    folder = tmp_path_factory.mktemp("probe") / "lib"
    ensure_library(folder, DIGITS_CHECKPOINT)
    lib = open_library(folder)
    keys = lib.entries().set_index("key")
    made = {**regenerate(lib, int(keys.loc["d4-r1-b4-s0", "id"]), root, digits),
            **regenerate(lib, int(keys.loc["d2-r0.5-b8-s60", "id"]), root, digits)}
    return all(m.exact for m in made.values())


def test_first_use_regenerates_weights_that_match_the_catalog(fresh, root, digits, rounds_like_the_build_machine):
    import torch

    if not rounds_like_the_build_machine:
        pytest.skip(f"this CPU ({torch.backends.cpu.get_cpu_capability()}) rounds differently from the machine that "
                    "built the shipped catalogs: bit-exact regeneration is checked on a library built here "
                    "(test_regeneration_is_bit_exact_on_the_cpu_that_built_the_library), the other path by "
                    "test_a_cpu_that_rounds_differently_gets_the_entry_from_memory_with_a_note")
    entries = fresh.entries().set_index("key")
    sub = load_entry(fresh, int(entries.loc["d4-r1-b4-s0", "id"]), root, digits)
    assert sub.spec.bits == 4
    assert "d4-r1-b4-s0" not in pending_entries(fresh)
    # a pruned, re-trained entry: its whole group (every bit width of d2 keep 50 %) is made at once, hash-checked
    written = materialise(fresh, int(entries.loc["d2-r0.5-b8-s60", "id"]), root, digits)
    assert set(written) >= {"d2-r0.5-b32-s60", "d2-r0.5-b8-s60", "d2-r0.5-b4-s60"}
    assert not fresh.damaged_entries(include_missing=False)


@pytest.fixture(scope="module")
def built_here_folder(digits, tmp_path_factory):
    """A small library built on this CPU (one pruned, re-trained group) with its weight files removed, as a shipped
    catalog comes: its regeneration must be bit-exact whatever the CPU."""
    from core.network.library import LibraryConfig, build_library

    folder = tmp_path_factory.mktemp("built") / "lib"
    config = LibraryConfig(depths=(2,), keep_ratios=(0.5,), bits=(32, 4), retrain_steps=3, ber_grid=(1e-3,),
                           protections=("none",), trials=1, images_per_trial=32)
    build_library(DIGITS_CHECKPOINT, digits, folder, config, progress=False)
    for weights in folder.glob("*.safetensors"):
        weights.unlink()
    return folder


@pytest.fixture()
def built_here(built_here_folder, tmp_path):
    import shutil

    shutil.copytree(built_here_folder, tmp_path / "lib")
    return open_library(tmp_path / "lib")


def test_regeneration_is_bit_exact_on_the_cpu_that_built_the_library(built_here, root, digits):
    """Regenerating the weights of a library built here gives the build's bytes: they are kept and verify."""
    lib = built_here
    assert len(pending_entries(lib)) == 2
    written = materialise(lib, int(lib.entries().iloc[0]["id"]), root, digits)
    assert sorted(written) == sorted(lib.entries()["key"]) and not pending_entries(lib)
    lib.verify()


def test_a_cpu_that_rounds_differently_gets_the_entry_from_memory_with_a_note(fresh, root, digits):
    """The catalog's sha256 of one entry changed stands for a build machine that rounded differently: the entry is
    served from memory (its accuracy is the catalog's within rounding) with a note that says so, and not kept."""
    from core.network.library.shipped import load_entry_noting

    con = sqlite3.connect(fresh.path)
    with con:
        con.execute("UPDATE entries SET file_sha256 = ? WHERE key = 'd4-r1-b8-s0'", ("0" * 64,))
    con.close()
    row = fresh.entries().set_index("key").loc["d4-r1-b8-s0"]
    sub, note = load_entry_noting(fresh, int(row["id"]), root, digits)
    assert sub.spec.bits == 8 and sub.card.accuracy == pytest.approx(row["accuracy"], abs=0.01)
    assert "rounds differently" in note and "used from memory" in note and "test images" in note
    assert "d4-r1-b8-s0" in pending_entries(fresh)  # never kept under a hash it does not have


def test_weights_that_differ_from_the_catalog_are_refused(fresh, root, digits):
    con = sqlite3.connect(fresh.path)
    with con:
        con.execute("UPDATE entries SET file_sha256 = ? WHERE key = 'd4-r1-b8-s0'", ("0" * 64,))
    con.close()
    entry_id = int(fresh.entries().set_index("key").loc["d4-r1-b8-s0", "id"])
    with pytest.raises(ValueError, match="d4-r1-b8-s0.*differ from the catalog"):
        materialise(fresh, entry_id, root, digits)
    assert "d4-r1-b8-s0" in pending_entries(fresh)  # nothing half-made is kept
    # and weights that score far from the catalog's are refused even from memory: more than rounding
    con = sqlite3.connect(fresh.path)
    with con:
        con.execute("UPDATE entries SET accuracy = 0.5 WHERE key = 'd4-r1-b8-s0'")
    con.close()
    from core.network.library.shipped import load_entry_noting

    with pytest.raises(ValueError, match="more than this CPU's rounding explains"):
        load_entry_noting(fresh, entry_id, root, digits)


def test_a_library_folder_that_cannot_be_written_serves_the_entry_from_memory(built_here, root, digits,
                                                                               monkeypatch):
    """Issue 21 case 3: a read-only library folder (a read-only mount or container) gave an uncaught OSError on the
    first use of a shipped entry. Now the weights are regenerated and checked as always, used from memory, and the
    note says they could not be kept; nothing (not even a temporary file) is left in the folder."""
    import errno

    from core.network.library import shipped
    from core.network.library.shipped import load_entry_noting

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    fresh = built_here
    monkeypatch.setattr(shipped.tempfile, "mkstemp", read_only)
    before = sorted(p.name for p in fresh.folder.iterdir())
    key = "d2-r0.5-b4-s3"
    entry_id = int(fresh.entries().set_index("key").loc[key, "id"])
    sub, note = load_entry_noting(fresh, entry_id, root, digits)
    assert note.startswith("The library folder lib/ cannot be written (Read-only file system)"), note
    assert "used from memory" in note and "rounds differently" not in note
    assert str(fresh.folder.parent) not in note  # the folder's name, not the server's path
    assert sorted(p.name for p in fresh.folder.iterdir()) == before
    monkeypatch.undo()
    kept, none = load_entry_noting(fresh, entry_id, root, digits)  # a writable folder: kept on disk, no note
    assert none == "" and key not in pending_entries(fresh)
    ours, theirs = sub.module.state_dict(), kept.module.state_dict()
    assert ours and list(ours) == list(theirs)
    for name in ours:
        assert ours[name].equal(theirs[name]), name
    assert sub.card.total_bits == kept.card.total_bits


def test_an_interrupted_regeneration_leaves_no_partial_weight_file(built_here, root, digits, monkeypatch):
    from core.network.library import shipped

    fresh = built_here
    entry_id = int(fresh.entries().set_index("key").loc["d2-r0.5-b4-s3", "id"])
    real_replace = shipped.os.replace

    def crash(*args):
        raise KeyboardInterrupt  # e.g. the server stopped between writing and renaming

    monkeypatch.setattr(shipped.os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        materialise(fresh, entry_id, root, digits)
    monkeypatch.setattr(shipped.os, "replace", real_replace)
    assert not [p for p in fresh.folder.iterdir() if p.suffix == ".tmp"]
    assert set(pending_entries(fresh)) == {"d2-r0.5-b32-s3", "d2-r0.5-b4-s3"}


def test_a_catalog_of_an_older_schema_is_replaced_by_the_shipped_one(tmp_path):
    """An earlier version's copy of the shipped catalog (older schema) is kept aside and the current one copied:
    the pages answer instead of asking the user to rebuild."""
    folder = tmp_path / "lib"
    assert ensure_library(folder, DIGITS_CHECKPOINT) is True
    con = sqlite3.connect(folder / "catalog.sqlite")
    with con:
        con.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(ValueError, match="schema_version='2'"):
        open_library(folder)
    assert ensure_library(folder, DIGITS_CHECKPOINT) is True
    assert (folder / "catalog.sqlite.schema-2").is_file()
    assert len(open_library(folder).entries()) == 36
    assert ensure_library(folder, DIGITS_CHECKPOINT) is False  # current now: left alone
