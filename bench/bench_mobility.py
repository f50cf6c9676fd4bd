"""Benchmark: 1,000 users for one hour at 1 s steps with downloads sharing each cell, all three policies and both
Markov predictors (target under 10 s on 2 cores), user-steps per second, and the routine scenario's targets:
predictive next-place accuracy and on-time share >= 80 %, interruption <= 30 % of reactive's, wasted bits <= 15 %
of bits sent. The random-waypoint scenario and the habits model are reported beside it."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from core.mobility.area import load_area  # noqa: E402
from core.mobility.simulate import scenario, simulate  # noqa: E402

COLUMNS = ["switches", "on_time_share", "next_place_accuracy", "interruption_s_per_user", "predicted_share",
           "downloaded_Mbit", "wasted_Mbit", "wasted_share", "after_window_Mbit", "peak_bs_load_Mbps",
           "mean_bs_load_Mbps", "sharing_delay_s_per_switch"]
PRED_COLUMNS = ["predictor", "trips", "next_place_accuracy", "next_place_accuracy_route", "on_time_share",
                "interruption_s_per_user", "wasted_share", "peak_bs_load_Mbps"]


def targets(result) -> list[tuple[str, float, str, bool]]:
    o = result.overall
    p = o.loc["predictive"]
    ratio = p["interruption_s"] / max(o.loc["reactive", "interruption_s"], 1e-12)
    return [("next-place accuracy (after the route)", p["next_place_accuracy"], ">= 0.80",
             p["next_place_accuracy"] >= 0.8),
            ("on-time share", p["on_time_share"], ">= 0.80", p["on_time_share"] >= 0.8),
            ("interruption / reactive's", ratio, "<= 0.30", ratio <= 0.3),
            ("wasted bits / bits sent", p["wasted_share"], "<= 0.15", p["wasted_share"] <= 0.15)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=3600.0)
    parser.add_argument("--step", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", default=["routine", "random_waypoint", "habits"])
    args = parser.parse_args()
    load_area()  # parse the area once, as the app's cache would
    pd.set_option("display.width", 220)
    pd.set_option("display.max_columns", 20)
    steps = int(round(args.duration / args.step))
    for name in args.scenarios:
        cfg = scenario(name, n_users=args.users, duration_s=args.duration, step_s=args.step)
        times, cpu = [], []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            result = simulate(cfg, args.seed)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        best = min(times)
        print(f"\n== {name}: {args.users} users x {steps} steps of {args.step:g} s, sharing={cfg.sharing}, "
              f"policies {', '.join(cfg.policies)}, predictors {', '.join(result.predictors['predictor'])}")
        print(f"time: best {best:.2f} s, median {sorted(times)[len(times) // 2]:.2f} s (target < 10 s); "
              f"{args.users * steps / best / 1e6:.2f} M user-steps/s; CPU time {min(cpu):.2f} s (what a busy "
              "shared machine distorts least)")
        print(result.overall[COLUMNS].round(3).to_string())
        print(result.predictors[PRED_COLUMNS].round(3).to_string(index=False))
        if name == "routine":
            for label, value, goal, ok in targets(result):
                print(f"  target {label}: {value:.3f} ({goal}) {'met' if ok else 'NOT MET'}")


if __name__ == "__main__":
    main()
