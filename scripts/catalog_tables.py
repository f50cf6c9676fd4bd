"""Print the markdown tables of docs/fig3.md's first section from a shipped catalog: accuracy at BER 0 and at one
BER per protection with its 95 % interval, and per BER the mean with the spread of single downloads and the ruined
ones, so the document can be rebuilt from the catalog exactly.

    python scripts/catalog_tables.py [--root resnet18_cifar10] [--ber 1e-3]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROWS = (  # (technique, entry key) in the document's order
    ("depth", "d1-r1-b32-s0"), ("depth", "d2-r1-b32-s0"), ("depth", "d3-r1-b32-s0"), ("depth / root", "d4-r1-b32-s0"),
    ("parameter", "d4-r0.75-b32-s60"), ("parameter", "d4-r0.5-b32-s60"), ("parameter", "d4-r0.25-b32-s60"),
    ("parameter", "d4-r0.1-b32-s60"), ("bit", "d4-r1-b8-s0"), ("bit", "d4-r1-b4-s0"),
    ("combined", "d4-r0.5-b4-s60"), ("combined", "d4-r0.1-b4-s60"), ("combined", "d2-r1-b8-s0"),
)
SPREAD = (("d4-r1-b32-s0", "none"), ("d4-r1-b32-s0", "sanitise"), ("d4-r1-b8-s0", "none"), ("d4-r1-b4-s0", "none"),
          ("d4-r0.5-b32-s60", "sanitise"), ("d4-r0.5-b4-s60", "none"), ("d4-r0.1-b4-s60", "none"))


def main(argv=None) -> int:
    from core.model.models import ASSETS
    from core.network.library import open_library

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="resnet18_cifar10")
    parser.add_argument("--ber", type=float, default=1e-3)
    args = parser.parse_args(argv)
    lib = open_library(ASSETS / "library" / args.root)
    entries = lib.entries().set_index("key")
    ber = lib.ber_table()
    ber = ber[ber["mode"] == "exit"]
    prots = list(lib.config.protections)
    pct = lambda v: f"{100 * v:.1f}"  # noqa: E731

    def cell(key, b, p):
        row = ber[(ber.entry_id == int(entries.loc[key, "id"])) & (ber.protection == p) & (abs(ber.ber - b) < 1e-15)]
        return row.iloc[0] if len(row) else None

    print(f"| technique | sub-model | size (% of root) | tier | BER 0 | " + " | ".join(
        f"{args.ber:g}, {p}" for p in prots) + " |")
    print("| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in prots) + " |")
    for tech, key in ROWS:
        if key not in entries.index:
            continue
        e = entries.loc[key]
        cells = []
        for p in prots:
            c = cell(key, args.ber, p)
            cells.append("-" if c is None else f"{pct(c['mean'])} ({pct(c.lo)}-{pct(c.hi)})"
                         + (f", {int(c.ruined)}/{int(c.trials)} ruined" if c.ruined else ""))
        print(f"| {tech} | {e.label} | {e.size_pct_of_root:.1f} | {e.tier} | {pct(e.accuracy)} | "
              + " | ".join(cells) + " |")
    print()
    grid = sorted(set(ber.ber))
    print("| sub-model | " + " | ".join(f"BER {b:g}" for b in grid) + " |")
    print("| --- | " + " | ".join("---" for _ in grid) + " |")
    for key, p in SPREAD:
        if key not in entries.index:
            continue
        out = []
        for b in grid:
            c = cell(key, b, p)
            out.append("-" if c is None else f"{pct(c['mean'])} ± {pct((c.hi - c.lo) / 2)}; {pct(c.p10)}-"
                       f"{pct(c.p90)}; {int(c.ruined)}/{int(c.trials)}")
        print(f"| {entries.loc[key, 'label']}, {p} | " + " | ".join(out) + " |")
    trials = ber.trials
    mixed = (ber.ruined > 0) & (ber.ruined < ber.trials)
    print(f"\ncells: {len(ber)}; downloads per cell {int(trials.min())}-{int(trials.max())} (mean {trials.mean():.1f}); "
          f"at the maximum {int((trials == lib.config.max_trials).sum())}; mixed (some ruined, some not) "
          f"{int(mixed.sum())}; with a ruined download {int((ber.ruined > 0).sum())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
