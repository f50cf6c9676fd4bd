"""Command line of the AI library.

    python -m core.network.library build --out library/digits [--root NAME|PATH] [--trials 3] [--ray [ADDRESS]]
    python -m core.network.library show library/digits [--verify] [--ber]

``build`` generates only what is missing and regenerates damaged entries; ``show --verify`` reads every weight
file and lists the damaged ones by name (exit status 1 when there are any).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from .build import build_library
from .config import QUICK_CONFIG, LibraryConfig
from .reader import open_library


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core.network.library",
                                     description="Build or inspect an AI library (sub-models in three tiers).")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build or complete a library (only missing or damaged entries are generated)")
    b.add_argument("--out", default="library/digits", help="library folder (default: library/digits)")
    b.add_argument("--root", "--checkpoint", dest="root", default=None,
                   help="root model: a checkpoint path or name in assets/ or runs/ (default: the shipped default); "
                        "its card names the data set and data_dir")
    b.add_argument("--quick", action="store_true", help="a small library for a smoke test (about a minute)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--retrain-steps", type=int, default=None)
    b.add_argument("--trials", type=int, default=None, help="paired-estimator trials per BER cell (default 3)")
    b.add_argument("--images-per-trial", type=int, default=None,
                   help="test images evaluated per trial (default 256; all when the test split is smaller)")
    b.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="run the cells on Ray: a local Ray without ADDRESS, else the cluster at ADDRESS "
                        "(HOST:PORT, ray://HOST:PORT or auto; start one with `ray start --head --port=6379`)")
    s = sub.add_parser("show", help="print a library's entries")
    s.add_argument("path")
    s.add_argument("--verify", action="store_true", help="read every weight file; list damaged entries by name")
    s.add_argument("--ber", action="store_true", help="also print the accuracy under bit errors, with intervals")
    return parser


def _show(args) -> int:
    lib = open_library(args.path)
    entries = lib.entries()
    cols = ["id", "key", "technique", "tier", "total_bits", "size_pct_of_root", "device_memory_bytes",
            "accuracy", "split_accuracy"]
    print(entries[cols].to_string(index=False))
    if args.ber:
        ber = lib.ber_table().merge(entries[["id", "key"]], left_on="entry_id", right_on="id")
        print(ber[["key", "mode", "ber", "protection", "mean", "lo", "hi", "trials", "images"]].to_string(index=False))
    if args.verify:
        bad = lib.damaged_entries()
        if bad:
            print(f"{len(bad)} damaged entr{'y' if len(bad) == 1 else 'ies'} (`build` regenerates them):")
            for d in bad:
                print(f"  {d.key} ({d.file}): {d.problem}")
            return 1
        print(f"all {len(entries)} weight files match their sha256")
    return 0


def _build(args) -> int:
    from core.model.data import load_for_card
    from core.model.models import load_checkpoint
    from core.model.roots import resolve_checkpoint
    from core.sweep import Executor, check_reachable

    config = QUICK_CONFIG if args.quick else LibraryConfig()
    overrides = {k: v for k, v in (("retrain_steps", args.retrain_steps), ("trials", args.trials),
                                   ("images_per_trial", args.images_per_trial)) if v is not None}
    if overrides:
        config = LibraryConfig(**{**asdict(config), **overrides})
    executor = Executor.from_flag(args.ray)
    check_reachable(executor, "--ray")   # before loading anything: an address where no Ray answers fails in seconds
    checkpoint = resolve_checkpoint(args.root)
    card = load_checkpoint(checkpoint)[1]
    data = load_for_card(card)  # the root model's own data and split (its card names the data_dir)
    print(f"building {args.out} from {checkpoint.name} {executor.describe()}", file=sys.stderr)
    report = build_library(checkpoint, data, args.out, config, args.seed, progress=True, executor=executor)
    repaired = f", {len(report.repaired)} damaged regenerated" if report.repaired else ""
    print(f"{report.path}: {len(report.generated)} generated{repaired}, {len(report.skipped)} already there, "
          f"{report.ber_cells} BER cells, {report.seconds:.1f} s {report.backend}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _show(args) if args.command == "show" else _build(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
