"""Benchmark of the AI library: build time of the default library on this machine, entries, and select() latency.

    python bench/bench_library.py              # fresh build of the default library into a temporary folder
    python bench/bench_library.py --quick      # the --quick library instead (smoke test)
    python bench/bench_library.py --open library/digits   # no build: time reopening and select() only
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model.data import load_digits  # noqa: E402
from core.network.dsi import HARDWARE_PRESETS, dsi_from_presets  # noqa: E402
from core.network.library import QUICK_CONFIG, LibraryConfig, build_library, open_library  # noqa: E402
from core.model.models import DEFAULT_CHECKPOINT, load_checkpoint  # noqa: E402
from core.network.select import select  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--open", default=None, help="an existing library folder: skip the build")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    root, card = load_checkpoint(DEFAULT_CHECKPOINT)
    data = load_digits(card.split_seed)
    print(f"machine: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start")
    if args.open:
        folder = Path(args.open)
    else:
        folder = Path(tempfile.mkdtemp(prefix="bench_library_")) / "digits"
        config = QUICK_CONFIG if args.quick else LibraryConfig()
        started = time.perf_counter()
        report = build_library(DEFAULT_CHECKPOINT, data, folder, config, seed=0, progress=True)
        print(f"build: {time.perf_counter() - started:.1f} s for {len(report.generated)} entries "
              f"({report.ber_cells} BER cells, {config.trials} trials of {config.images_per_trial} images each, "
              f"{report.backend}); load average now {os.getloadavg()[0]:.1f}")
        started = time.perf_counter()
        again = build_library(DEFAULT_CHECKPOINT, data, folder, config, seed=0, progress=False)
        print(f"incremental rebuild (nothing missing): {time.perf_counter() - started:.2f} s, "
              f"{len(again.generated)} generated")
    started = time.perf_counter()
    lib = open_library(folder)
    print(f"open_library: {1e3 * (time.perf_counter() - started):.1f} ms; entries: {len(lib)}; "
          f"tiers: {lib.entries().tier.value_counts().to_dict()}; "
          f"size on disk: {sum(p.stat().st_size for p in folder.iterdir()) / 1e6:.1f} MB")
    for ber in (0.0, 1e-3):
        times = []
        for name in HARDWARE_PRESETS:
            dsi = dsi_from_presets(name, ber=ber)
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                select(dsi, lib, allow_generate=False)
                times.append(time.perf_counter() - t0)
        print(f"select() at BER {ber:g}, library only: median {1e3 * statistics.median(times):.1f} ms, "
              f"max {1e3 * max(times):.1f} ms over {len(times)} calls")
    t0 = time.perf_counter()
    sel = select(dsi_from_presets("wearable"), lib, root=root, data=data)
    print(f"select() with on-the-fly generation ({len(sel.generated)} generated): "
          f"{time.perf_counter() - t0:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
