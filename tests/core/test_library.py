"""AI library: build, reopen, incremental and interrupted builds, damaged or foreign files (reported by name,
repaired by a rebuild), old schemas, concurrent builds, tiers, config errors."""
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.compress.combine import SubModelSpec, generate
from core.network.library import CATALOG, LibraryConfig, build_library, entry_key, open_library
from core.network.library.cli import main as library_cli
from core.network.tiers import tier_for_entry

# Tiny on purpose (depth 1 is cheap): 4 entries, two of them pruned and re-trained for 2 steps; 3 to 8 paired
# trials of 64 images per BER cell (more while the interval is wider than 3 points, at least 6 when mixed).
TINY = LibraryConfig(depths=(1,), keep_ratios=(1.0, 0.5), bits=(32, 4), retrain_steps=2, ber_grid=(1e-3,),
                     protections=("none",), trials=3, images_per_trial=64, max_trials=8, mixed_min_trials=6)
PROJECT = Path(__file__).resolve().parents[2]
KEYS = [entry_key(s) for s in TINY.specs()]


@pytest.fixture(scope="module")
def built(root, digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("lib") / "digits"
    report = build_library(root, digits, out, TINY, seed=0, progress=False)
    return out, report


@pytest.fixture
def copy_of(built, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(built[0], out)
    return out


def test_build_writes_one_row_and_one_weight_file_per_entry(built):
    out, report = built
    assert list(report.generated) == KEYS and report.skipped == ()
    lib = open_library(out, verify_files=True)
    df = lib.entries()
    assert list(df.key) == KEYS
    assert all((out / f).is_file() for f in df.file)
    assert set(df.tier) <= {"edge", "local", "central"}
    assert (df.total_bits > 0).all() and (df.device_memory_bytes > 0).all()
    assert df.loc[df.keep_ratio < 1, "retrain_steps"].eq(2).all()


def test_reopened_module_is_the_received_model(built, digits):
    from core.model.evaluate import accuracy

    lib = open_library(built[0])
    entries = lib.entries()
    assert list(entries.key) == KEYS  # every entry is checked below, and there are entries to check
    for _, row in entries.iterrows():
        module = lib.load_module(int(row.id))
        assert accuracy(module, digits) == pytest.approx(row.accuracy)
        assert lib.load_submodel(int(row.id)).payload.total_bits == row.total_bits


def test_shared_retraining_gives_exactly_what_generate_gives(built, root, digits):
    lib = open_library(built[0])
    row = lib.entries().set_index("key").loc["d1-r0.5-b4-s2"]
    direct = generate(root, digits, SubModelSpec(depth=1, keep_ratio=0.5, bits=4, retrain_steps=2), 0)
    assert direct.payload.total_bits == row.total_bits
    stored = lib.load_module(int(row.id)).state_dict()
    for name, tensor in direct.module.state_dict().items():
        if not name.endswith("num_batches_tracked"):
            assert torch.equal(stored[name], tensor), name


def test_ber_grid_is_measured_for_the_exit_and_the_split_with_intervals(built):
    lib = open_library(built[0])
    ber = lib.ber_table()
    assert len(ber) == len(KEYS) * 2  # depth 1 < 4: exit and split modes, one BER, one protection
    assert set(ber["mode"]) == {"exit", "split"}
    assert ber["trials"].between(3, 8).all() and (ber["images"] == ber["trials"] * 64).all()
    # The trial rule: a cell stops early only with its interval within the target, and a mixed cell (ruined and
    # intact downloads) never before 6 trials.
    half = (ber["hi"] - ber["lo"]) / 2
    assert ((ber["trials"] == 8) | (half <= 0.03 + 1e-9)).all()
    mixed = (ber["ruined"] > 0) & (ber["ruined"] < ber["trials"])
    assert (ber.loc[mixed, "trials"] >= 6).all()
    assert (ber["trials"] > 3).any()  # fp32 sent raw at 1e-3 is ruined in some downloads and not others
    assert ((ber["p10"] <= ber["mean"] + 1e-9) & (ber["mean"] <= ber["p90"] + 1e-9)).all()
    assert ((ber["ruin_lo"] <= ber["ruin_share"]) & (ber["ruin_share"] <= ber["ruin_hi"])).all()
    assert ((0 <= ber["lo"]) & (ber["lo"] <= ber["mean"]) & (ber["mean"] <= ber["hi"]) & (ber["hi"] <= 1)).all()
    # fp32 sent raw collapses at BER 1e-3 (exponent flips); its 4-bit codes stay close to their clean accuracy.
    entries = lib.entries().set_index("id")
    exit_rows = ber[ber["mode"] == "exit"].set_index("entry_id")
    raw = exit_rows.loc[int(entries.index[entries.key == "d1-r1-b32-s0"][0])]
    codes = exit_rows.loc[int(entries.index[entries.key == "d1-r1-b4-s0"][0])]
    assert raw["mean"] < 0.5 * entries.loc[raw.name, "accuracy"]
    assert codes["mean"] > raw["mean"]


def test_rebuild_generates_nothing_and_leaves_files_alone(copy_of, root, digits):
    stamps = {p.name: p.stat().st_mtime_ns for p in copy_of.glob("*.safetensors")}
    report = build_library(root, digits, copy_of, TINY, seed=0, progress=False)
    assert report.generated == () and list(report.skipped) == KEYS and report.ber_cells == 0
    assert {p.name: p.stat().st_mtime_ns for p in copy_of.glob("*.safetensors")} == stamps


def test_interrupted_build_keeps_finished_entries_and_resumes(root, digits, tmp_path):
    out = tmp_path / "lib"
    config = LibraryConfig(depths=(1,), keep_ratios=(1.0,), bits=(32, 8, 4), ber_grid=())  # cheap: no BER
    keys = [entry_key(s) for s in config.specs()]

    def stop_after_two(key, done):
        if done == 2:
            raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        build_library(root, digits, out, config, seed=0, progress=False, on_entry=stop_after_two)
    first = open_library(out).entries()
    assert list(first.key) == keys[:2]
    stamps = {f: (out / f).stat().st_mtime_ns for f in first.file}
    report = build_library(root, digits, out, config, seed=0, progress=False)
    assert list(report.skipped) == keys[:2] and list(report.generated) == keys[2:]
    after = open_library(out, verify_files=True).entries()
    assert list(after.key) == keys
    assert {f: (out / f).stat().st_mtime_ns for f in first.file} == stamps  # finished entries not rebuilt


def _fail_writes_halfway(monkeypatch, fail_at: int = 1) -> list[str]:
    """Make the ``fail_at``-th weight-file write of the library (and every later one) stop with a full disk after
    half its bytes reached the disk, wherever it writes; return the names written to."""
    from core.network.library import weights as weights_module

    real_open, names = open, []

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            self.f.write(data[:len(data) // 2])
            self.f.flush()
            raise OSError(28, "No space left on device (test)")

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

    def half_open(file, mode="r", *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        if "w" in mode and ".safetensors" in str(file):
            names.append(Path(file).name)
            if len(names) >= fail_at:
                return HalfWriter(f)
        return f

    monkeypatch.setattr(weights_module, "open", half_open, raising=False)
    return names


def test_an_interrupted_weight_write_leaves_no_partial_file_and_the_previous_one_whole(root, digits, tmp_path,
                                                                                      monkeypatch):
    """A write is never made in place: stopped halfway, it leaves no partial file under the entry's name (nor a
    temporary one), and a file that was there before is untouched and still verifies against the catalog."""
    from core.network.library.weights import file_problem, write_atomic

    out = tmp_path / "lib"
    config = LibraryConfig(depths=(1,), keep_ratios=(1.0,), bits=(32, 8, 4), ber_grid=())  # cheap: no BER
    written = _fail_writes_halfway(monkeypatch, fail_at=3)
    with pytest.raises(OSError, match="No space left"):
        build_library(root, digits, out, config, seed=0, progress=False)
    assert len(written) == 3  # the third entry's write was the one stopped
    lib = open_library(out, verify_files=True)  # the finished entries verify; the stopped one is not in it
    kept = lib.entries()
    missing = sorted({entry_key(s) for s in config.specs()} - set(kept.key))
    assert len(kept) == 2 and len(missing) == 1
    assert sorted(p.name for p in out.iterdir() if p.suffix != ".sqlite" and not p.name.startswith(".")) == \
        sorted(kept.file)  # no file under the stopped entry's name, no temporary file

    row = kept.iloc[0]
    previous = (out / row.file).read_bytes()
    monkeypatch.undo()
    _fail_writes_halfway(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        write_atomic((out / kept.iloc[1].file).read_bytes(), out / row.file)  # replace it with another entry's
    assert (out / row.file).read_bytes() == previous and file_problem(out / row.file, row.file_sha256) == ""
    assert not list(out.glob("*.tmp"))


def test_a_stray_temporary_file_is_discarded(copy_of, root, digits):
    (copy_of / "d1-r1-b32-s0.safetensors.1234.tmp").write_bytes(b"half written")
    build_library(root, digits, copy_of, TINY, seed=0, progress=False)
    assert not list(copy_of.glob("*.tmp"))


def test_truncated_catalog_is_rejected(copy_of):
    path = copy_of / CATALOG
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="damaged"):
        open_library(copy_of)


def test_zero_byte_catalog_is_reported_by_name(copy_of, root, digits):
    (copy_of / CATALOG).write_bytes(b"")
    with pytest.raises(ValueError, match=r"catalog\.sqlite.*empty"):
        open_library(copy_of)
    with pytest.raises(ValueError, match=r"catalog\.sqlite.*empty"):  # a build refuses it too, never a traceback
        build_library(root, digits, copy_of, TINY, seed=0, progress=False)


def test_catalog_of_an_older_schema_is_reported_clearly(copy_of):
    con = sqlite3.connect(copy_of / CATALOG)
    with con:
        con.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(ValueError, match="schema_version='1'.*allowed: 3"):
        open_library(copy_of)


def _damage(folder, key, how):
    path = folder / f"{key}.safetensors"
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif how == "not safetensors":
        path.write_bytes(b"PK\x03\x04 this is a zip file, not weights")
    elif how == "one bit flipped":
        flipped = bytearray(data)
        flipped[-10] ^= 0x01
        path.write_bytes(bytes(flipped))
    else:
        path.unlink()


@pytest.mark.parametrize("how", ["truncated", "not safetensors", "one bit flipped", "missing"])
def test_show_verify_names_the_damaged_entry_and_build_repairs_it(copy_of, root, digits, capsys, how):
    victim = KEYS[1]
    good = {p.name: p.read_bytes() for p in copy_of.glob("*.safetensors")}
    _damage(copy_of, victim, how)
    assert library_cli(["show", str(copy_of), "--verify"]) == 1
    out = capsys.readouterr().out
    assert f"1 damaged entry" in out and victim in out and KEYS[0] + " (" not in out.split("damaged entry")[1]
    assert [d.key for d in open_library(copy_of).damaged_entries()] == [victim]

    report = build_library(root, digits, copy_of, TINY, seed=0, progress=False)
    assert report.repaired == (victim,) and report.generated == (victim,)
    lib = open_library(copy_of, verify_files=True)
    assert sorted(lib.entries()["key"]) == sorted(KEYS)
    assert {p.name: p.read_bytes() for p in copy_of.glob("*.safetensors")} == good  # regenerated bit for bit
    assert len(lib.ber_table()) == len(KEYS) * 2  # the repaired entry's BER cells are measured again
    assert library_cli(["show", str(copy_of), "--verify"]) == 0


def test_corrupted_weight_file_is_rejected(copy_of):
    lib = open_library(copy_of)
    row = lib.entries().iloc[0]
    data = bytearray((copy_of / row.file).read_bytes())
    data[-10] ^= 0xFF
    (copy_of / row.file).write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        lib.load_module(int(row.id))
    with pytest.raises(ValueError, match="damaged"):
        open_library(copy_of, verify_files=True)


def test_foreign_sqlite_file_is_rejected(tmp_path):
    con = sqlite3.connect(tmp_path / CATALOG)
    con.execute("CREATE TABLE songs (title TEXT)")
    con.commit()
    con.close()
    with pytest.raises(ValueError, match="not an AI library"):
        open_library(tmp_path)


def test_missing_library_names_the_build_command(tmp_path):
    with pytest.raises(ValueError, match="python -m core.network.library build"):
        open_library(tmp_path / "nowhere")


def test_library_of_another_root_is_rejected(built, root, digits, tmp_path):
    other = type(root)(root.num_classes, root.in_channels)
    with pytest.raises(ValueError, match="root model"):
        open_library(built[0], root=other)
    out = tmp_path / "copy"
    shutil.copytree(built[0], out)
    with pytest.raises(ValueError, match="another root model"):
        build_library(other, digits, out, TINY, seed=0, progress=False)


def test_rebuild_with_another_seed_is_refused(copy_of, root, digits):
    with pytest.raises(ValueError, match="seed=1"):
        build_library(root, digits, copy_of, TINY, seed=1, progress=False)


def test_two_builds_at_once_never_corrupt_a_library(tmp_path):
    """Two processes build the same library at once: one waits for the other's lock, then finds it complete."""
    out = tmp_path / "lib"
    config = ("from core.network.library import LibraryConfig, build_library\n"
              "from core.model.models import DEFAULT_CHECKPOINT\n"
              "from core.model.data import load_digits\n"
              "c = LibraryConfig(depths=(1,), keep_ratios=(1.0,), bits=(32, 8, 4), ber_grid=(1e-2,), "
              "protections=('none',), trials=3, images_per_trial=32)\n"
              f"r = build_library(DEFAULT_CHECKPOINT, load_digits(), {str(out)!r}, c, progress=False)\n"
              "print(len(r.generated), len(r.skipped))\n")
    procs = [subprocess.Popen([sys.executable, "-c", config], cwd=PROJECT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=900) for p in procs]
    assert all(p.returncode == 0 for p in procs), [r[1][-2000:] for r in results]
    counts = sorted(tuple(map(int, r[0].split())) for r in results)
    assert counts == [(0, 3), (3, 0)]  # one built all three entries, the other found them there
    lib = open_library(out, verify_files=True)  # every sha256 checked
    keys = list(lib.entries()["key"])
    assert sorted(keys) == sorted(["d1-r1-b32-s0", "d1-r1-b8-s0", "d1-r1-b4-s0"]) and len(set(keys)) == 3
    assert len(lib.ber_table()) == 3 * 2 and not list(out.glob("*.tmp"))


def test_tier_rule_follows_the_paper():
    assert tier_for_entry("root", 10) == "central"
    assert tier_for_entry("bit", 10e6) == "edge"       # 10 ms at 1 Gb/s: real-time
    assert tier_for_entry("parameter", 100e6) == "local"  # 100 ms: not real-time


@pytest.mark.parametrize("kwargs, name", [
    ({"depths": (0,)}, "depth"), ({"keep_ratios": (1.5,)}, "keep_ratios"), ({"bits": (12,)}, "bits"),
    ({"ber_grid": (0.7,)}, "ber_grid"), ({"protections": ("magic",)}, "protections"), ({"trials": 0}, "trials"),
    ({"retrain_steps": -1}, "retrain_steps"), ({"depths": ()}, "depths"), ({"images_per_trial": 0}, "images_per_trial"),
    ({"protections": "none"}, "protections")])
def test_bad_config_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        LibraryConfig(**kwargs)


def test_bad_build_arguments(root, digits, tmp_path):
    with pytest.raises(ValueError, match="config"):
        build_library(root, digits, tmp_path, config={"depths": (1,)}, progress=False)
    with pytest.raises(ValueError, match="root_path_or_model"):
        build_library(42, digits, tmp_path, TINY, progress=False)


def test_unknown_entry_id_lists_the_allowed_ones(built):
    with pytest.raises(ValueError, match="entry_id=999"):
        open_library(built[0]).load_module(999)
