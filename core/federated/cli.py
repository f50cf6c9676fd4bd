"""Command line of federated improvement: improve one entry of a root's AI library on Flower and print each round.

    python -m core.federated --root resnet18_digits --entry d1-r0.5-b4-s60 --devices 4 --rounds 2
    python -m core.federated --root resnet18_cifar10 --bits 3 --devices 10 --rounds 3 --central

``--entry KEY`` takes a library entry (a shipped catalog's weights are regenerated from the root on first use);
``--bits B`` generates a B-bit sub-model of the root instead (e.g. 3-bit, which the shipped catalogs lack).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.federated.config import SPLITS, FederatedConfig


def load_entry_for(checkpoint: Path, key: str | None, bits: int | None, data, root, library: str | None = None):
    """(SubModel, label, note): the library entry ``key`` of the root's library, or a fresh ``bits``-bit one."""
    from core.compress.combine import SubModelSpec, generate

    if (key is None) == (bits is None):
        raise ValueError(f"entry={key!r}, bits={bits!r}: give a library entry key or a bit width to generate, "
                         "one of the two")
    if bits is not None:
        sub = generate(root, data, SubModelSpec(bits=bits), 0, evaluate=False)
        return sub, f"{sub.spec.label} (generated, seed 0)", ""
    from core.model.models import PROJECT
    from core.network.library import open_library
    from core.network.library.shipped import ensure_library, load_entry_noting

    folder = Path(library) if library else PROJECT / "library" / checkpoint.stem
    ensure_library(folder, checkpoint)
    lib = open_library(folder, root=root)
    entries = lib.entries().set_index("key")
    if key not in entries.index:
        raise ValueError(f"entry={key!r} is not in library {folder.name}; allowed: {sorted(entries.index)[:8]}...")
    sub, note = load_entry_noting(lib, int(entries.loc[key, "id"]), root, data)
    return sub, f"{entries.loc[key, 'label']} ({key}, library {folder.name})", note


def _parser() -> argparse.ArgumentParser:
    d = FederatedConfig()
    p = argparse.ArgumentParser(prog="python -m core.federated", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default=None, help="root checkpoint name or path (default: the shipped default)")
    p.add_argument("--library", default=None, help="library folder (default: library/<root>, from the shipped "
                                                   "catalog)")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--entry", default=None, help="library entry key, e.g. d4-r0.1-b4-s60")
    what.add_argument("--bits", type=int, default=None, help="generate a sub-model with these bits instead")
    p.add_argument("--devices", type=int, default=d.devices)
    p.add_argument("--rounds", type=int, default=d.rounds)
    p.add_argument("--local-steps", type=int, default=d.local_steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--split", default=d.split, choices=SPLITS)
    p.add_argument("--alpha", type=float, default=d.alpha, help="Dirichlet concentration (split dirichlet)")
    p.add_argument("--classes-per-device", type=int, default=d.classes_per_device, help="(split by_class)")
    p.add_argument("--update-bits", type=int, default=d.update_bits)
    p.add_argument("--eval-limit", type=int, default=None, help="test photos scored per round (default all)")
    p.add_argument("--cpus", type=int, default=d.cpus, help="CPUs of the local Ray running the devices")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--uplink-mbps", type=float, default=None, help="also print seconds per update at this rate")
    p.add_argument("--central", action="store_true",
                   help="also train centrally on the pooled photos (the upper bound): per round, the local steps "
                        "with all devices' photos in each step")
    p.add_argument("--target", type=float, default=None,
                   help="accuracy to reach, e.g. 0.86 (default: halfway from the entry as downloaded to the root)")
    p.add_argument("--progress", default=None, metavar="FILE",
                   help="append one JSON line per event (start, each round, central, done or error) to FILE")
    p.add_argument("--ray", nargs="?", const=None, default=False, metavar="ADDRESS",
                   help="run the devices on a running Ray cluster at ADDRESS (e.g. 10.0.0.5:6379 or auto); "
                        "bare --ray: auto, the cluster this machine belongs to; default: a local Ray of --cpus CPUs")
    return p


class Progress:
    """The --progress file: one JSON object per line, each line written whole and flushed, so that a reader (the
    dashboard's Improve together page) sees every finished event while the run goes on."""

    def __init__(self, path: str | None):
        self.path = Path(path) if path else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, event: str, **fields) -> None:
        if self.path is None:
            return
        import json

        line = json.dumps({"event": event, **fields}, allow_nan=False) + "\n"
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()


def run(args) -> dict:
    """Run the command's work; returns the figures it printed (for bench/bench_federated.py)."""
    import time

    from core.federated.flower import improve
    from core.federated.local import central_curve, halfway_target, rounds_to_target, scoring_data
    from core.model.data import load_for_card
    from core.model.evaluate import accuracy
    from core.model.models import device_model, load_checkpoint
    from core.model.roots import resolve_checkpoint

    config = FederatedConfig(devices=args.devices, rounds=args.rounds, local_steps=args.local_steps,
                             batch_size=args.batch_size, lr=args.lr, split=args.split, alpha=args.alpha,
                             classes_per_device=args.classes_per_device, update_bits=args.update_bits,
                             eval_limit=args.eval_limit, cpus=args.cpus)
    if args.target is not None and not 0.0 < args.target <= 1.0:
        raise ValueError(f"target={args.target!r} must be an accuracy between 0 and 1, e.g. 0.86")
    address = None if args.ray is False else (args.ray or "auto")
    progress = Progress(args.progress)
    checkpoint = resolve_checkpoint(args.root)
    root, card = load_checkpoint(checkpoint)
    data = load_for_card(card, checkpoint)
    entry, label, note = load_entry_for(checkpoint, args.entry, args.bits, data, root, args.library)
    if note:
        print(note, file=sys.stderr)
    root_acc = accuracy(device_model(root, entry.spec.depth), scoring_data(data, config.eval_limit), "test")
    print(f"{checkpoint.stem}: {label}; {config.devices} devices ({config.split}), {config.rounds} rounds x "
          f"{config.local_steps} local steps of {config.batch_size} photos, updates at {config.update_bits} bits; "
          f"seed {args.seed}", flush=True)
    test_images = len(scoring_data(data, config.eval_limit).y_test)
    progress("start", root=checkpoint.stem, label=label, root_accuracy=root_acc, test_images=test_images,
             devices=config.devices, rounds=config.rounds, local_steps=config.local_steps,
             batch_size=config.batch_size, update_bits=config.update_bits, split=config.split, seed=args.seed)
    result = improve(entry, data, config, args.seed, ray_address=address,
                     progress=lambda r: progress("round", **r))
    target = args.target if args.target is not None else halfway_target(result.accuracy[0], root_acc)
    print(f"\nroot (exit {entry.spec.depth}, uncompressed): {root_acc:.2%} on {result.test_images} test photos")
    print("photos per device: " + ", ".join(map(str, result.photos)))
    print(f"{'round':>5} {'accuracy':>9} {'uplink bits/device':>19} {'uplink bits/round':>18} {'seconds':>8}")
    for r, acc in enumerate(result.accuracy):
        if r == 0:
            print(f"{0:>5} {acc:>9.2%} {'(as downloaded)':>19}")
            continue
        per = int(result.uplink_bits[r - 1, 0]) if (result.uplink_bits[r - 1] == result.uplink_bits[r - 1, 0]).all() \
            else f"{int(result.uplink_bits[r - 1].mean())} (mean)"
        print(f"{r:>5} {acc:>9.2%} {per:>19} {int(result.uplink_bits_per_round[r - 1]):>18} "
              f"{result.round_seconds[r - 1]:>8.1f}")
    if args.uplink_mbps:
        secs = result.uplink_seconds(args.uplink_mbps * 1e6)
        print(f"an update at {args.uplink_mbps:g} Mbit/s uplink: {secs.max():.3f} s")
    print(f"wall time {result.seconds:.1f} s (Ray and Flower start-up included)")
    fed_rounds = rounds_to_target(result.accuracy, target)
    out = {"result": result, "root_accuracy": root_acc, "label": label, "target": target,
           "rounds_to_target": fed_rounds}
    central_rounds = None
    if args.central:
        started = time.perf_counter()
        curve = central_curve(entry, data, config, args.seed)
        central_rounds = rounds_to_target(curve, target)
        out.update(central=curve[-1], central_curve=curve, central_rounds_to_target=central_rounds)
        progress("central", accuracy=list(curve))
        print(f"central upper bound (per round {config.local_steps} steps of {config.devices * config.batch_size} "
              f"pooled photos): " + " ".join(f"{a:.2%}" for a in curve)
              + f" ({time.perf_counter() - started:.1f} s)")
    said = lambda n: "not reached" if n is None else f"{n} round{'s' if n != 1 else ''}"  # noqa: E731
    print(f"target {target:.2%}: federated {said(fed_rounds)}"
          + (f", central {said(central_rounds)}" if args.central else ""))
    progress("done", seconds=result.seconds, target=target, rounds_to_target=fed_rounds,
             central_rounds_to_target=central_rounds)
    return out


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        run(args)
    except Exception as err:  # noqa: BLE001 (said to the progress file's reader, then raised or reported)
        Progress(args.progress)("error", message=f"{type(err).__name__}: {err}")
        if not isinstance(err, ValueError):
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
