"""Benchmark of accuracy under BER on the default model: corruption vs evaluation time per Monte Carlo trial.

    python bench/bench_channel.py [--trials 5] [--ber 1e-3]

Prints, for the fp32 root and the 4-bit sub-model: corruption time per trial (channel, decode, write and
restore of the hit tensors), evaluation time per trial, trials per second, one clean evaluation, and the ratio
corruption / clean evaluation (the overhead of a trial over a plain evaluation).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from core.compress.combine import SubModelSpec, generate  # noqa: E402
from core.model.data import load_digits  # noqa: E402
from core.model.evaluate import accuracy  # noqa: E402
from core.model.models import load_default  # noqa: E402
from core.link.reliability import WorkingCopy, iter_trials  # noqa: E402


def bench(sub, data, ber: float, protection: str, trials: int, seed: int) -> dict:
    started = time.perf_counter()
    working = WorkingCopy(sub)
    setup = time.perf_counter() - started
    accuracy(working.module, data, "test")            # warm-up
    started = time.perf_counter()
    clean = [accuracy(working.module, data, "test") for _ in range(3)]
    clean_s = (time.perf_counter() - started) / 3
    started = time.perf_counter()
    results = list(iter_trials(sub, data, ber, protection, trials, seed, working=working))
    wall = time.perf_counter() - started
    corrupt_s = sum(r.corrupt_seconds for r in results) / trials
    eval_s = sum(r.eval_seconds for r in results) / trials
    return {"setup_s": setup, "clean_eval_s": clean_s, "clean_accuracy": clean[0], "corrupt_s": corrupt_s,
            "eval_s": eval_s, "trials_per_s": trials / wall, "overhead": corrupt_s / clean_s,
            "mean_accuracy": sum(r.accuracy for r in results) / trials,
            "flips": sum(r.flips for r in results) / trials, "payload_bits": results[0].lossy_bits}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--ber", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root, _ = load_default()
    data = load_digits()
    print(f"torch threads {torch.get_num_threads()}, {len(data.y_test)} test images, BER {args.ber:g}, "
          f"{args.trials} trials")
    header = (f"{'sub-model':10s} {'protection':10s} {'payload Mbit':>12s} {'flips':>9s} {'corrupt ms':>10s} "
              f"{'eval ms':>8s} {'trials/s':>8s} {'clean eval ms':>13s} {'corrupt/clean':>13s} {'accuracy':>8s}")
    print(header)
    for label, spec in (("fp32", SubModelSpec(bits=32)), ("4-bit", SubModelSpec(bits=4))):
        sub = generate(root, data, spec, evaluate=False)
        for protection in ("none", "sanitise", "uep"):
            r = bench(sub, data, args.ber, protection, args.trials, args.seed)
            print(f"{label:10s} {protection:10s} {r['payload_bits'] / 1e6:12.1f} {r['flips']:9.0f} "
                  f"{1e3 * r['corrupt_s']:10.1f} {1e3 * r['eval_s']:8.1f} {r['trials_per_s']:8.2f} "
                  f"{1e3 * r['clean_eval_s']:13.1f} {r['overhead']:13.3f} {r['mean_accuracy']:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
