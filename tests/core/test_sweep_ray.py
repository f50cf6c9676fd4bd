"""Sweeps on a local Ray (2 workers): the library build and Fig. 3 give exactly what a serial run gives, and a
worker killed with SIGKILL during a build leaves every entry present once, undamaged, the catalog consistent.

One Ray session for the whole module; tiny configs so that it stays within a few minutes on 2 cores."""
import os
import signal
import sqlite3
import time

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from core.experiments import Fig3Config, fig3_table  # noqa: E402
from core.network.library import CATALOG, LibraryConfig, build_library, entry_key, open_library  # noqa: E402
from core.sweep import Executor, check_reachable, ensure_ray  # noqa: E402

LOCAL_RAY = Executor("local", num_cpus=2)
TINY = LibraryConfig(depths=(1,), keep_ratios=(1.0, 0.5), bits=(32, 4), retrain_steps=2, ber_grid=(1e-3,),
                     protections=("none", "uep"), trials=3, images_per_trial=64, max_trials=6,
                     mixed_min_trials=6)
KEYS = [entry_key(s) for s in TINY.specs()]
VARYING = ["created", "generation_seconds"]  # wall-clock facts: the only columns allowed to differ


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ensure_ray(LOCAL_RAY)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def serial_library(root, digits, tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "lib"
    build_library(root, digits, out, TINY, seed=0, progress=False)
    return out


def _catalog(folder):
    con = sqlite3.connect(folder / CATALOG)
    try:
        entries = pd.read_sql_query("SELECT * FROM entries ORDER BY id", con).drop(columns=VARYING)
        ber = pd.read_sql_query("SELECT * FROM accuracy_ber ORDER BY entry_id, mode, ber, protection", con)
        meta = dict(con.execute("SELECT key, value FROM meta WHERE key != 'created'").fetchall())
    finally:
        con.close()
    files = {p.name: p.read_bytes() for p in folder.glob("*.safetensors")}
    return entries, ber, meta, files


def _assert_same_library(a, b):
    ea, ba, ma, fa = _catalog(a)
    eb, bb, mb, fb = _catalog(b)
    pd.testing.assert_frame_equal(ea, eb, check_exact=True)
    pd.testing.assert_frame_equal(ba, bb, check_exact=True)
    assert ma == mb
    assert fa == fb  # weight files bit for bit


def test_library_build_on_ray_is_identical_to_serial(serial_library, root, digits, tmp_path):
    out = tmp_path / "ray"
    report = build_library(root, digits, out, TINY, seed=0, progress=False, executor=LOCAL_RAY)
    assert list(report.generated) == KEYS and "Ray" in report.backend
    _assert_same_library(serial_library, out)


def test_fig3_on_ray_is_identical_to_serial(root, digits):
    config = Fig3Config(depths=(1,), keep_ratios=(1.0,), bits=(4,), bers=(0.0, 1e-2), protections=("none",),
                        trials=2, images_per_trial=64, max_trials=4)
    serial = fig3_table(root, digits, config)
    on_ray = fig3_table(root, digits, config, executor=LOCAL_RAY)
    columns = [c for c in serial.columns if c != "seconds"]
    pd.testing.assert_frame_equal(serial[columns], on_ray[columns], check_exact=True)
    assert set(serial.family) == {"depth", "parameter", "bit"} and serial[serial.ber > 0].trials.between(2, 4).all()
    assert (serial[serial.ber > 0].trials > 2).any()  # adaptive: fp32 at 1e-2 is wider than the target


def _busy_workers() -> list[int]:
    """Ray worker processes running a sweep cell now (their title is ray::<task function>)."""
    pids = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    title = f.read().split(b"\0")[0]
            except OSError:
                continue
            if title.startswith(b"ray::_run_remote"):
                pids.append(int(pid))
    return pids


def test_a_worker_killed_during_a_build_leaves_a_complete_consistent_library(serial_library, root, digits,
                                                                              tmp_path):
    killed = []

    def kill_a_busy_worker(phase, done, total):
        if done != 1 or phase in [p for p, _ in killed]:  # one kill per phase
            return
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            busy = _busy_workers()
            if busy:
                os.kill(busy[0], signal.SIGKILL)  # a worker this test's Ray started
                killed.append((phase, busy[0]))
                return
            time.sleep(0.05)

    out = tmp_path / "killed"
    report = build_library(root, digits, out, TINY, seed=0, progress=kill_a_busy_worker, executor=LOCAL_RAY)
    # The BER grid has many cells, so a kill there always hits a running one; in the generation phase it does when
    # a sub-model is still being made after the first is done.
    assert "BER grid" in [phase for phase, _ in killed], killed
    assert list(report.generated) == KEYS
    lib = open_library(out, verify_files=True)  # every weight file against its sha256
    assert list(lib.entries()["key"]) == KEYS  # each entry once
    ber = lib.ber_table()
    assert len(ber) == len(KEYS) * 2 * 2 and ber["trials"].between(TINY.trials, TINY.max_trials).all()
    assert not list(out.glob("*.tmp"))
    _assert_same_library(serial_library, out)  # the retried cells gave exactly the same results


def test_the_address_of_a_running_ray_passes_the_check():
    """The check that keeps an unreachable address from hanging (tests/core/test_sweep_address.py) lets a running
    Ray through: here the module's own, by its address, from a child process."""
    address = ray.get_runtime_context().gcs_address
    started = time.monotonic()
    check_reachable(Executor(address), "INSITU_RAY_ADDRESS")
    assert time.monotonic() - started < 15
