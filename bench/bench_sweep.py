"""Benchmark of the sweep executor: the BER grid of the default library, in this process vs a local Ray.

The entries are generated first (not timed); then the same BER grid (the default library's BERs, protections,
trials and images per trial) is measured on two copies of that library, once in this process and once on a
local Ray with ``--workers`` workers. Prints both times, the speed-up, Ray's start-up time (separately), and
whether the two catalogs are identical.

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
        serial_dir, ray_dir = work / "serial", work / "ray"
        shutil.copytree(base, serial_dir)
        shutil.copytree(base, ray_dir)

        started = time.perf_counter()
        serial = build_library(checkpoint, data, serial_dir, config, progress=False)
        serial_s = time.perf_counter() - started
        print(f"serial (this process): {serial.ber_cells} BER cells x {config.trials} trials of "
              f"{config.images_per_trial} images in {serial_s:.1f} s; load average {os.getloadavg()[0]:.1f}")

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
        same = _ber(serial_dir).equals(_ber(ray_dir))
        print(f"speed-up: {serial_s / ray_s:.2f}x; identical BER tables: {same}")
        return 0 if same else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
