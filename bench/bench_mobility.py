"""Benchmark: time to simulate 1,000 users for one hour at 1 s steps (target under 10 s on 2 cores), and the
policy comparison table for one and two AI accelerators."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from core.mobility.area import load_area  # noqa: E402
from core.mobility.policies import DeviceConfig  # noqa: E402
from core.mobility.simulate import scenario, simulate  # noqa: E402

COLUMNS = ["switches", "on_time_share", "interruption_s_per_user", "interruption_s_per_switch",
           "predicted_share", "downloaded_Mbit", "wasted_Mbit", "peak_bs_load_Mbps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--step", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_area()  # parse the area once, as the app's cache would
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    for accelerators in (2, 1):
        cfg = scenario("default", n_users=args.users, duration_s=args.duration, step_s=args.step,
                       device=DeviceConfig(accelerators=accelerators))
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = simulate(cfg, args.seed)
            times.append(time.perf_counter() - t0)
        steps = int(round(args.duration / args.step))
        print(f"\n{args.users} users x {steps} steps of {args.step:g} s, {accelerators} AI accelerator(s), "
              f"3 policies: best {min(times):.2f} s, median {sorted(times)[len(times) // 2]:.2f} s "
              f"(target < 10 s)")
        print(result.overall[COLUMNS].round(3).to_string())


if __name__ == "__main__":
    main()
