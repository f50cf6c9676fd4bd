"""Benchmark of the sweep executor: the BER grid of the default library, in this process vs a local Ray.

The entries are generated first (not timed); then the same BER grid (the default library's BERs, protections,
trials and images per trial) is measured on two copies of that library, once in this process and once on a
local Ray with ``--workers`` workers. Prints both times, the speed-up, Ray's start-up time (separately), and
whether the catalogs are identical. The serial run is timed twice: with torch's default threads (intra-op
parallel: on 2 cores it already uses both) and with 1 thread (one core, what a worker runs).

    python bench/bench_sweep.py                 # the default library's entries (36; long on 2 cores)
    python bench/bench_sweep.py --quick         # 4 entries (depth 1 and 4, fp32 and 4-bit): a few minutes
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402
import torch  # noqa: E402

from core.model.data import load_for_card  # noqa: E402
from core.model.models import load_checkpoint  # noqa: E402
from core.model.roots import resolve_checkpoint  # noqa: E402
from core.network.library import CATALOG, LibraryConfig, build_library  # noqa: E402
from core.sweep import Executor, ensure_ray  # noqa: E402


def _ber(folder: Path) -> pd.DataFrame:
    con = sqlite3.connect(folder / CATALOG)
    try:
        return pd.read_sql_query("SELECT * FROM accuracy_ber ORDER BY entry_id, mode, ber, protection", con)
    finally:
        con.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=None, help="root model name or checkpoint (default: the shipped default)")
    parser.add_argument("--quick", action="store_true", help="4 entries instead of the default library's")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--trials", type=int, default=None)
    args = parser.parse_args()
    checkpoint = resolve_checkpoint(args.root)
    card = load_checkpoint(checkpoint)[1]
    data = load_for_card(card)
    config = LibraryConfig()
    if args.quick:
        config = replace(config, depths=(1, 4), keep_ratios=(1.0,), bits=(32, 4))
    if args.trials:
        config = replace(config, trials=args.trials)
    print(f"machine: {os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f} at start; root {checkpoint.name}")
    work = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    try:
        base = work / "entries"
        started = time.perf_counter()
        build_library(checkpoint, data, base, replace(config, ber_grid=()), progress=False)
        n_entries = len(config.specs())
        print(f"entries generated (not timed below): {n_entries} in {time.perf_counter() - started:.0f} s")
        serial_dir, one_dir, ray_dir = work / "serial", work / "one_thread", work / "ray"
        for d in (serial_dir, one_dir, ray_dir):
            shutil.copytree(base, d)

        threads = torch.get_num_threads()
        started = time.perf_counter()
        serial = build_library(checkpoint, data, serial_dir, config, progress=False)
        serial_s = time.perf_counter() - started
        print(f"serial (this process, {threads} torch threads): {serial.ber_cells} BER cells x {config.trials} "
              f"trials of {config.images_per_trial} images in {serial_s:.1f} s; load average {os.getloadavg()[0]:.1f}")
        torch.set_num_threads(1)
        started = time.perf_counter()
        build_library(checkpoint, data, one_dir, config, progress=False)
        one_s = time.perf_counter() - started
        torch.set_num_threads(threads)
        print(f"serial (this process, 1 torch thread: one core): {one_s:.1f} s; load average "
              f"{os.getloadavg()[0]:.1f}")

        executor = Executor("local", num_cpus=args.workers)
        started = time.perf_counter()
        ensure_ray(executor)
        startup_s = time.perf_counter() - started
        started = time.perf_counter()
        on_ray = build_library(checkpoint, data, ray_dir, config, progress=False, executor=executor)
        ray_s = time.perf_counter() - started
        print(f"Ray start-up: {startup_s:.1f} s (not counted below)")
        print(f"local Ray, {args.workers} workers: {on_ray.ber_cells} BER cells in {ray_s:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f}")
        same = _ber(serial_dir).equals(_ber(ray_dir)) and _ber(serial_dir).equals(_ber(one_dir))
        print(f"speed-up of Ray over serial with {threads} threads: {serial_s / ray_s:.2f}x; over serial on one "
              f"core: {one_s / ray_s:.2f}x; identical BER tables (all three): {same}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
