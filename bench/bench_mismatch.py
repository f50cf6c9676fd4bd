"""Benchmark: noticing the mismatch on the simulated users. The default area's routine scenario (200 users, 1 h);
each user's device takes a real test photo every --interval seconds at its place and classifies it with the
situation model it holds (exit 4). Four ways of switching models on the same users and photos: location prediction
alone (the predictive policy's right guesses), a river drift detector on the confidence alone, prediction with the
detector as fallback, and the oracle (core.situation.mismatch).

Run: python bench/bench_mismatch.py [--photos 500] [--interval 2] [--seed 0] [--users 200] [--threads 2]
     [--kinds page_hinkley adwin]

Prints the held models' mean confidence per situation of the photos (what the detector has to notice), then per
detector kind and way: changes of situation fixed at the change / by the detector / not while they lasted, the
delay (median and 90th percentile, photos answered by the old model and seconds) over all changes and over the
changes the detector caught, false triggers per user-hour, wrong-model photos and downloads; with wall times.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.mobility.simulate import scenario, simulate  # noqa: E402
from core.situation.drift import DETECTORS, DetectorConfig  # noqa: E402
from core.situation.mismatch import MismatchConfig, mismatch, shipped_pools  # noqa: E402


def _delay(photos: float, seconds: float) -> str:
    """Photos answered by the old model and seconds until the switch; "not caught" when the user left first."""
    if np.isnan(photos):
        return "-"
    return "not caught" if np.isinf(photos) else f"{photos:.0f} photos / {seconds:.0f} s"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=500, help="test photos per situation in the pools")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between photos at a place")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--kinds", nargs="+", default=["page_hinkley", "adwin"], choices=list(DETECTORS))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    begin = time.perf_counter()

    started = time.perf_counter()
    pools = shipped_pools(args.photos, seed=0)
    print(f"pools: {args.photos} test photos per situation (fewer where a situation has fewer), every held model "
          f"on every situation's photos: {time.perf_counter() - started:.1f} s")
    table = pools.table()
    with pd.option_context("display.width", 200, "display.max_columns", 10):
        print("mean confidence (rows: held model, columns: where the photos come from)")
        print(table.pivot(index="held", columns="photos_from", values="mean_confidence").round(3))
        print("accuracy")
        print(table.pivot(index="held", columns="photos_from", values="accuracy").round(3))

    base = scenario("routine", n_users=args.users)
    started = time.perf_counter()
    sim = simulate(base, args.seed)
    print(f"\nsimulation: routine scenario, {args.users} users, {base.duration_s / 60:.0f} min, seed {args.seed}, "
          f"area {sim.area_name}: {time.perf_counter() - started:.1f} s")

    for kind in args.kinds:
        config = MismatchConfig(scenario=base, photo_interval_s=args.interval, detector=DetectorConfig(kind),
                                pool_photos=args.photos)
        started = time.perf_counter()
        result = mismatch(config, args.seed, pools=pools, simulation=sim)
        wall = time.perf_counter() - started
        print(f"\ndetector {DETECTORS[kind].label}, settings {config.detector.parameters()}; a photo every "
              f"{args.interval:g} s: {result.photos:,} photos, {result.user_hours:.0f} user-hours; {wall:.1f} s")
        for way, r in result.summary.iterrows():
            print(f"  {r['label']}")
            print(f"    changes {r['changes']}: at the change {r['fixed_at_change']}, by the detector "
                  f"{r['fixed_by_detector']}, not while it lasted {r['not_fixed']}")
            print(f"    delay over all changes: median {_delay(r['delay_photos_median'], r['delay_s_median'])}, "
                  f"90th pct {_delay(r['delay_photos_upper'], r['delay_s_upper'])}")
            if r["fixed_by_detector"]:
                print(f"    detection delay (changes the detector caught): median "
                      f"{_delay(r['detector_delay_photos_median'], r['detector_delay_s_median'])}, 90th pct "
                      f"{_delay(r['detector_delay_photos_upper'], r['detector_delay_s_upper'])}")
            print(f"    triggers: {r['true_triggers']} true, {r['false_triggers']} false "
                  f"({r['false_triggers_per_user_hour']:.3f} per user-hour)")
            print(f"    wrong-model photos {r['wrong_model_photos']:,} ({100 * r['wrong_model_share']:.1f} %), "
                  f"answers right {100 * r['right_answer_share']:.1f} %, downloads {r['downloads']} "
                  f"(+ {r['wasted_downloads']} on wrong guesses)")
    print(f"\nwall time in all: {time.perf_counter() - begin:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
