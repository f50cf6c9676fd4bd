"""Command line of the AI library.

    python -m core.network.library build --out library/digits [--root NAME|PATH] [--trials 3] [--ray [ADDRESS]]
    python -m core.network.library show library/digits [--verify] [--ber]
    python -m core.network.library improve --root resnet18_digits --entry d1-r0.25-b4-s60 [--devices 4 --rounds 2
        --local-steps 5 --update-bits 8 --split dirichlet --alpha 0.5 --seed 0] [--ray [ADDRESS]] [--ship]

``build`` generates only what is missing and regenerates damaged entries; ``show --verify`` reads every weight
file and lists the damaged ones by name (exit status 1 when there are any); ``improve`` improves an entry by
federated rounds on Flower (devices that keep their photos) and stores the result as the entry's next version
(versions.py), with its card, BER cells, provenance and sha256; ``--ship`` copies the catalog and the versions'
weight files into assets/library/<root>/.
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
    _improve_parser(sub)
    s = sub.add_parser("show", help="print a library's entries")
    s.add_argument("path")
    s.add_argument("--verify", action="store_true", help="read every weight file; list damaged entries by name")
    s.add_argument("--ber", action="store_true", help="also print the accuracy under bit errors, with intervals")
    return parser


def _improve_parser(sub) -> None:
    from core.federated.config import SPLITS, FederatedConfig

    d = FederatedConfig()
    i = sub.add_parser("improve", help="improve an entry by federated rounds (Flower) and store it as its next "
                                       "version")
    i.add_argument("--root", "--checkpoint", dest="root", default=None,
                   help="root model: a checkpoint path or name in assets/ or runs/ (default: the shipped default)")
    i.add_argument("--library", default=None, help="library folder (default: library/<root>, from the shipped "
                                                   "catalog on first use)")
    i.add_argument("--entry", required=True, help="key of the entry to improve, e.g. d1-r0.25-b4-s60 (a built "
                                                  "entry or a version of one)")
    i.add_argument("--devices", type=int, default=d.devices, help=f"devices taking part (default {d.devices})")
    i.add_argument("--rounds", type=int, default=d.rounds, help=f"federated rounds (default {d.rounds})")
    i.add_argument("--local-steps", type=int, default=d.local_steps,
                   help=f"training steps on each device per round (default {d.local_steps})")
    i.add_argument("--batch-size", type=int, default=d.batch_size)
    i.add_argument("--lr", type=float, default=d.lr)
    i.add_argument("--update-bits", type=int, default=d.update_bits,
                   help=f"bits of each value of an update sent up (2-8, 16 or 32; default {d.update_bits})")
    i.add_argument("--split", default=d.split, help=f"how the training photos are shared: {', '.join(SPLITS)} "
                                                    f"(default {d.split})")
    i.add_argument("--alpha", type=float, default=d.alpha, help="Dirichlet concentration (split dirichlet)")
    i.add_argument("--classes-per-device", type=int, default=d.classes_per_device, help="(split by_class)")
    i.add_argument("--eval-limit", type=int, default=None,
                   help="test photos scored after each round (default all; the version's card always uses all)")
    i.add_argument("--cpus", type=int, default=d.cpus, help="CPUs of the local Ray that runs the devices")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--trials", type=int, default=None,
                   help="paired trials per BER cell of the version (default: the library's, as for built entries)")
    i.add_argument("--max-trials", type=int, default=None, help="at most this many per cell (default: the library's)")
    i.add_argument("--images-per-trial", type=int, default=None)
    i.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                   help="without ADDRESS: the BER cells on a local Ray too (the devices always run on Ray); with "
                        "ADDRESS (HOST:PORT, ray://HOST:PORT or auto): the devices and the cells on that cluster")
    i.add_argument("--ship", action="store_true",
                   help="copy the catalog and the versions' weight files into assets/library/<root>/")


FEDERATED_FLAGS = ("devices", "rounds", "local_steps", "batch_size", "lr", "split", "alpha", "classes_per_device",
                   "update_bits", "eval_limit", "cpus")


def _federated_config(args):
    """The FederatedConfig of the command's flags; a bad value is named by its flag (``--local-steps=0 ...``)."""
    from core.federated.config import FederatedConfig

    try:
        return FederatedConfig(**{name: getattr(args, name) for name in FEDERATED_FLAGS})
    except ValueError as err:
        raise _as_flag(err, FEDERATED_FLAGS) from None


def _as_flag(err: ValueError, names) -> ValueError:
    """The error of a config field, named by the command's flag (``local_steps=0 ...`` -> ``--local-steps=0 ...``)."""
    text = str(err)
    for name in sorted(names, key=len, reverse=True):
        if text.startswith(f"{name}="):
            return ValueError(f"--{name.replace('_', '-')}" + text[len(name):])
    return ValueError(text)


def _ber_config(args, config: LibraryConfig) -> LibraryConfig:
    """The library's own BER measurement, with the command's --trials, --max-trials, --images-per-trial."""
    overrides = {k: v for k, v in (("trials", args.trials), ("max_trials", args.max_trials),
                                   ("images_per_trial", args.images_per_trial)) if v is not None}
    if not overrides:
        return config
    if "max_trials" in overrides:  # fewer downloads at most: the mixed cells' minimum follows
        overrides["mixed_min_trials"] = min(config.mixed_min_trials, overrides["max_trials"])
    try:
        return LibraryConfig(**{**asdict(config), **overrides})
    except ValueError as err:
        raise _as_flag(err, ("trials", "max_trials", "images_per_trial")) from None


def _improve(args) -> int:
    import inspect
    import time
    from pathlib import Path

    from core.model.data import load_for_card
    from core.model.models import PROJECT, load_checkpoint
    from core.model.roots import resolve_checkpoint
    from core.sweep import LOCAL, Executor, check_reachable

    from .shipped import ensure_library, load_entry_noting, ship_catalog
    from .versions import Provenance, store_version

    started = time.perf_counter()
    config = _federated_config(args)
    if args.seed < 0:
        raise ValueError(f"--seed={args.seed!r} must be an integer >= 0")
    executor = Executor.from_flag(args.ray)
    check_reachable(executor, "--ray")   # before loading anything: an address where no Ray answers fails in seconds
    from core.federated.flower import flower_missing, improve

    missing = flower_missing()
    if missing:
        raise ValueError(f"improve runs the devices on Flower: {missing}")
    federated_kwargs = {}
    if executor.ray not in (None, LOCAL):
        if "ray_address" not in inspect.signature(improve).parameters:
            raise ValueError(f"--ray={args.ray!r}: this version of core.federated.flower.improve runs its devices on "
                             "a Ray started on this machine only; allowed: --ray without an address")
        federated_kwargs["ray_address"] = executor.ray
    if "progress" in inspect.signature(improve).parameters:
        federated_kwargs["progress"] = _round_line
    checkpoint = resolve_checkpoint(args.root)
    root, card = load_checkpoint(checkpoint)
    data = load_for_card(card, checkpoint)
    folder = Path(args.library) if args.library else PROJECT / "library" / checkpoint.stem
    ensure_library(folder, checkpoint)
    lib = open_library(folder, root=root)
    entries = lib.entries().set_index("key")
    if args.entry not in entries.index:
        raise ValueError(f"--entry={args.entry!r} is not in library {folder}; allowed: {', '.join(entries.index[:6])}"
                         f"{' ...' if len(entries) > 6 else ''} ({len(entries)} entries: `python -m "
                         f"core.network.library show {folder}`)")
    ber_config = _ber_config(args, lib.config)
    entry, note = load_entry_noting(lib, int(entries.loc[args.entry, "id"]), root, data)
    if note:
        print(note, file=sys.stderr)
    where = (f"on the Ray cluster at {executor.ray}" if "ray_address" in federated_kwargs else
             f"on a Ray started on this machine ({config.cpus} CPUs)")
    rounds = f"{config.rounds} round{'s' if config.rounds != 1 else ''}"
    print(f"improving {args.entry} ({entries.loc[args.entry, 'label']}) of {checkpoint.stem}: {config.devices} "
          f"devices ({config.split}), {rounds} x {config.local_steps} local steps of {config.batch_size} photos, "
          f"updates at {config.update_bits} bits, seed {args.seed}, {where}", file=sys.stderr, flush=True)
    result = improve(entry, data, config, args.seed, **federated_kwargs)
    provenance = Provenance.from_federated(result, args.entry, where)
    print(f"federated rounds done in {result.seconds:.1f} s; storing the version and measuring it "
          f"{executor.describe()}", file=sys.stderr, flush=True)
    report = store_version(folder, args.entry, entry, result.state, provenance, root, data, executor=executor,
                           config=ber_config, progress=True)
    _print_version(open_library(folder), report, provenance)
    if args.ship:
        shipped = ship_catalog(folder, checkpoint.stem)
        version_file = shipped.parent / Path(report.file).relative_to(folder)
        print(f"shipped: {shipped} ({shipped.stat().st_size / 1e3:.0f} kB) and {version_file} "
              f"({version_file.stat().st_size / 1e3:.1f} kB)")
    print(f"done in {time.perf_counter() - started:.1f} s (loading, federated rounds, card and BER cells)")
    return 0


def _round_line(update: dict) -> None:
    """One line on stderr per federated round (core.federated.flower.improve's ``progress``)."""
    bits = list(update.get("uplink_bits") or [])
    sent = f", {sum(bits) / len(bits) / 1e6:.2f} Mbit up per device" if bits else " (as downloaded)"
    print(f"round {update.get('round')}: accuracy {update.get('accuracy', float('nan')):.2%}{sent}, "
          f"{update.get('seconds', 0.0):.1f} s", file=sys.stderr, flush=True)


def _print_version(lib, report, provenance) -> None:
    """The version's card beside its parent's: size, clean accuracy, accuracy under bit errors, provenance, file."""
    from .versions import compare_table

    def pct(x):
        return "-" if x is None else f"{x:.2%}"

    start = "" if report.parent == report.base_key else f", improved from {report.parent}"
    print(f"{report.key}: version {report.version} of {report.base_key}{start}")
    print(f"  size: {report.total_bits / 1e6:.3f} Mbit ({report.size_pct_of_root:.2f} % of the root), the same as "
          f"{report.parent}")
    photos = int(lib.data_identity["test_samples"])
    split = (f"; with the server finishing {pct(report.parent_split_accuracy)} -> {pct(report.split_accuracy)}"
             if report.split_accuracy is not None else "")
    print(f"  clean accuracy on all {photos:,} test photos: {pct(report.parent_accuracy)} -> {pct(report.accuracy)}"
          f"{split} (measured in {report.card_seconds:.1f} s)")
    table = compare_table(lib)
    pair = table[table["pair"] == report.key]
    bers = [c for c in table.columns if c.startswith("ber ")]
    if len(pair) == 2 and bers:
        before, after = pair.iloc[0], pair.iloc[1]
        print("  under bit errors (no protection, device exit): " + "; ".join(
            f"BER {c[4:]}: {before[c]:.1%} -> {after[c]:.1%}" for c in bers))
    print(f"  BER cells measured: {report.ber_cells} in {report.ber_seconds:.1f} s")
    print(f"  provenance: {provenance.words()}")
    print(f"  weight file: {report.file} ({report.file_bytes:,} bytes, sha256 {report.file_sha256})")


def _show(args) -> int:
    lib = open_library(args.path)
    entries = lib.entries()
    cols = ["id", "key", "version", "technique", "tier", "total_bits", "size_pct_of_root", "device_memory_bytes",
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
        return {"show": _show, "build": _build, "improve": _improve}[args.command](args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
