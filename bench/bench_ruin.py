"""Benchmark: does a shipped catalog cell agree with independent downloads measured at length? The check on the
library's adaptive paired estimate where downloads are bimodal (issue 20): the CIFAR-10 root's 4-bit sub-model at
BER 1e-2 with no protection, sent 10 times independently (seeds apart from the catalog's), each download scored
on its own 2,000 random test photos by plain Monte Carlo (no control variate).

Run: python bench/bench_ruin.py [--root resnet18_cifar10] [--key d4-r1-b4-s0] [--ber 1e-2] [--protection none]
     [--downloads 10] [--images 2000]

Prints each download's accuracy, their mean with its 95 % Student-t interval over downloads, the spread (10th and
90th percentiles) and the ruined share with its Wilson interval, beside the shipped catalog's cell, and whether the
two intervals overlap and each covers the other's mean.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.compress.combine import SubModelSpec, generate  # noqa: E402
from core.link.reliability import independent_downloads, ruin_share, ruin_threshold, t_quantile  # noqa: E402
from core.model.data import load_for_card  # noqa: E402
from core.model.models import ASSETS, load_checkpoint  # noqa: E402
from core.network.library import open_library  # noqa: E402
from core.network.library.reader import spec_from_row  # noqa: E402

SEED = 1_000  # the catalog's trials use seed 0 (trials 0..19): these downloads are others


def compare(root: str, key: str, ber: float, protection: str, downloads: int, images: int) -> dict:
    checkpoint = ASSETS / f"{root}.safetensors"
    model, card = load_checkpoint(checkpoint)
    data = load_for_card(card, checkpoint)
    lib = open_library(ASSETS / "library" / root)
    entries = lib.entries().set_index("key")
    if key not in entries.index:
        raise SystemExit(f"key={key!r} is not in the shipped catalog of {root}; allowed: {list(entries.index)}")
    row = entries.loc[key]
    spec = spec_from_row({**row.to_dict(), "key": key})
    if spec.keep_ratio < 1.0:
        raise SystemExit(f"key={key!r}: pruned entries are re-trained; this bench takes unpruned entries only")
    table = lib.ber_table()
    cell = table[(table.entry_id == int(row.id)) & (table["mode"] == "exit") & (table.protection == protection)
                 & np.isclose(table.ber, ber)]
    if cell.empty:
        raise SystemExit(f"no catalog cell for {key} at BER {ber:g} with protection {protection!r}")
    cell = cell.iloc[0]
    sub = generate(model, data, SubModelSpec(depth=spec.depth, bits=spec.bits), 0, evaluate=False)
    started = time.perf_counter()
    acc = independent_downloads(sub, data, ber, protection, SEED, downloads, images)
    seconds = time.perf_counter() - started
    mean, sd = float(acc.mean()), float(acc.std(ddof=1))
    half = t_quantile(0.95, downloads - 1) * sd / math.sqrt(downloads)
    chance = 1.0 / data.num_classes
    threshold = ruin_threshold(float(row.accuracy), chance)
    ruin = ruin_share(int((acc < threshold).sum()), downloads, threshold)
    return {"acc": acc, "mean": mean, "lo": max(0.0, mean - half), "hi": min(1.0, mean + half), "ruin": ruin,
            "p10": float(np.percentile(acc, 10)), "p90": float(np.percentile(acc, 90)), "cell": cell,
            "clean": float(row.accuracy), "seconds": seconds, "threshold": threshold}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="resnet18_cifar10")
    parser.add_argument("--key", default="d4-r1-b4-s0")
    parser.add_argument("--ber", type=float, default=1e-2)
    parser.add_argument("--protection", default="none")
    parser.add_argument("--downloads", type=int, default=10)
    parser.add_argument("--images", type=int, default=2000)
    args = parser.parse_args()
    r = compare(args.root, args.key, args.ber, args.protection, args.downloads, args.images)
    c = r["cell"]
    pct = lambda v: f"{100 * v:.1f} %"  # noqa: E731
    print(f"{args.root} {args.key} at BER {args.ber:g}, protection {args.protection}; clean {pct(r['clean'])}; "
          f"ruined below {pct(r['threshold'])}")
    print(f"independent: {args.downloads} downloads x {args.images} photos in {r['seconds']:.0f} s: "
          + " ".join(f"{100 * a:.1f}" for a in r["acc"]))
    print(f"  mean {pct(r['mean'])} (95 % interval over downloads {pct(r['lo'])} to {pct(r['hi'])}); "
          f"10th-90th percentile {pct(r['p10'])} to {pct(r['p90'])}; ruined {r['ruin'].ruined} of "
          f"{r['ruin'].downloads} ({pct(r['ruin'].lo)} to {pct(r['ruin'].hi)})")
    ruin_lo, ruin_hi = float(c.ruin_lo), float(c.ruin_hi)
    print(f"catalog:     {int(c.trials)} downloads x {int(c.images) // int(c.trials)} photos (paired): mean "
          f"{pct(c['mean'])} ({pct(c.lo)} to {pct(c.hi)}); 10th-90th percentile {pct(c.p10)} to {pct(c.p90)}; "
          f"ruined {int(c.ruined)} of {int(c.trials)} ({pct(ruin_lo)} to {pct(ruin_hi)})")
    overlap = r["lo"] <= c.hi and c.lo <= r["hi"]
    print(f"agreement: intervals overlap {overlap}; catalog interval covers the independent mean "
          f"{c.lo <= r['mean'] <= c.hi}; independent interval covers the catalog mean {r['lo'] <= c['mean'] <= r['hi']}; "
          f"ruined-share intervals overlap {r['ruin'].lo <= ruin_hi and ruin_lo <= r['ruin'].hi}")
    return 0 if overlap else 1


if __name__ == "__main__":
    raise SystemExit(main())
