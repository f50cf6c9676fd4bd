"""Experiments that reproduce the paper's figures from our own models.

``python -m core.experiments fig3 --root NAME|PATH --out out/fig3 [--ray [ADDRESS]]`` measures Fig. 3 on any
shipped or trained root model: local accuracy against downloaded size for the depth, parameter and bit levels,
at BER 0 and over a lossy link with each protection (paired estimator, 95 % intervals), and writes the table
``fig3.csv``. The engine draws nothing: ``python scripts/fig3.py OUT`` draws the interactive ``fig3.html`` from that
table with the dashboard's chart code (app.charts.fig3).
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.link.ber import check_ber
from core.link.protections import PROTECTION_NAMES, check_protection
from core.validation import check_int

FAMILIES = ("depth", "parameter", "bit")
FIG3_BERS = (0.0, 1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class Fig3Config:
    """The Fig. 3 sweep: sub-model families, link BERs, protections, paired-estimator trials and the test images
    each trial evaluates (None: the whole test split)."""

    depths: tuple[int, ...] = (1, 2, 3, 4)
    keep_ratios: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
    bits: tuple[int, ...] = (2, 3, 4, 8)
    bers: tuple[float, ...] = FIG3_BERS
    protections: tuple[str, ...] = PROTECTION_NAMES
    trials: int = 3
    seed: int = 0
    retrain_steps: int = 20
    images_per_trial: int | None = None
    max_trials: int | None = None        # None: max(20, trials); trials run on while the interval is wider
    target_half_width: float = 0.03      # than the target, and to at least mixed_min_trials when some downloads
    mixed_min_trials: int | None = None  # were ruined and some not (core.network.library.config.TrialPlan)

    def __post_init__(self):
        for ber in self.bers:
            check_ber(ber)
        for p in self.protections:
            check_protection(p)
        check_int("trials", self.trials, 1)
        from core.network.library.config import TrialPlan

        for name, value in zip(("max_trials", "mixed_min_trials"),
                               TrialPlan.defaults(self.trials, self.max_trials, self.mixed_min_trials)):
            object.__setattr__(self, name, value)
        self.trial_plan()
        check_int("seed", self.seed, 0)
        check_int("retrain_steps", self.retrain_steps, 0)
        if self.images_per_trial is not None:
            check_int("images_per_trial", self.images_per_trial, 1)
        if 4 not in self.bits:
            raise ValueError(f"bits={self.bits!r} must include 4: the bit level is measured against the 4-bit model")

    def trial_plan(self):
        from core.network.library.config import TrialPlan

        return TrialPlan(self.trials, self.max_trials, self.mixed_min_trials, self.target_half_width)

    @classmethod
    def quick(cls, **kw) -> "Fig3Config":
        base = dict(depths=(1, 4), keep_ratios=(0.25, 1.0), bits=(2, 4), bers=(0.0, 1e-3), trials=2, max_trials=4)
        base.update(kw)
        return cls(**base)


def fig3_specs(config: Fig3Config):
    """(family, spec) pairs of the sweep; the fp32 root serves depth 4 and keep ratio 1 alike."""
    from core.compress.combine import SubModelSpec, family_specs

    specs = family_specs(depths=config.depths, keep_ratios=tuple(r for r in config.keep_ratios if r < 1.0),
                         bits=config.bits, retrain_steps=config.retrain_steps)
    pairs = []
    for spec in specs:
        pairs.append((spec.technique if spec.technique != "root" else "depth", spec))
    if 1.0 in config.keep_ratios:
        pairs.append(("parameter", SubModelSpec()))
    return pairs


def _generate_cell(shared, cell):
    """Sweep cell: one Fig. 3 sub-model (spec, seed) from the shared root and data."""
    from core.compress.combine import generate

    spec, seed = cell
    return generate(shared["root"], shared["data"], spec, seed=seed, evaluate=False)


def fig3_table(root, data, config: Fig3Config = Fig3Config(), progress=None, executor=None):
    """Measure every point of Fig. 3 and return one row per (sub-model, BER, protection) as a DataFrame.

    Accuracy under bit errors is the paired estimator's (core.link.reliability, DESIGN.md) over ``trials`` to
    ``max_trials`` trials (config.trial_plan()) of ``images_per_trial`` test images each, with its 95 % interval
    (``ci95_low``, ``ci95_high``), the spread of single downloads (``p10``, ``p90``) and the ruined downloads
    (``ruined`` of ``trials``, ``ruin_share`` with its Wilson interval ``ruin_low``, ``ruin_high``).
    BER 0 has one row per sub-model (protection ``-``): no bit is flipped, so no protection acts. Cells run
    through core.sweep (``executor``: this process by default, or Ray) with identical results anywhere;
    ``progress(message)`` receives a line per finished phase and sub-model.
    """
    import pandas as pd

    from core.network.library.cells import BerCell, measure_adaptive, with_clean
    from core.network.library.config import TrialPlan
    from core.sweep import SERIAL, iter_results, share

    executor = SERIAL if executor is None else executor
    pairs = fig3_specs(config)
    specs = list(dict.fromkeys(spec for _, spec in pairs))  # the fp32 root serves two families: made once
    shared = share(executor, root=root, data=data)
    made = {}
    for i, sub in iter_results(_generate_cell, [(spec, config.seed) for spec in specs], shared, executor):
        made[f"sub{i}"] = sub
        if progress:
            progress(f"generated {specs[i].label}")
    shared = shared.with_items(**made)
    images = config.images_per_trial or int(len(data.y_test))
    todo = [(i, ber, protection) for i in range(len(specs)) for ber in config.bers
            for protection in (("none",) if ber == 0 else config.protections)]
    make = lambda j, t: BerCell(f"sub{todo[j][0]}", f"fig3:{config.seed}:{todo[j][0]}", "exit",  # noqa: E731
                                todo[j][1], todo[j][2], config.seed, t, images, specs[todo[j][0]])
    shared = with_clean([make(j, 0) for j in range(len(todo))], shared, executor)
    # BER 0: nothing flips, one trial is the clean whole-split accuracy itself (an exact value).
    exact = [j for j, t in enumerate(todo) if t[1] == 0]
    lossy = [j for j, t in enumerate(todo) if t[1] > 0]
    measured, n_test, chance = {}, int(len(data.y_test)), 1.0 / data.num_classes
    started = time.perf_counter()
    plans = ((exact, TrialPlan(1, 1, 1, config.target_half_width)), (lossy, config.trial_plan()))
    for cells, plan in plans:
        if not cells:
            continue
        pick = lambda k, t, cells=cells: make(cells[k], t)  # noqa: E731
        for k, res in measure_adaptive(pick, len(cells), shared, executor, plan, n_test, chance):
            i, ber, protection = todo[cells[k]]
            lo, hi = (res.mean, res.mean) if ber == 0 else (res.lo, res.hi)
            ruin = res.ruin
            measured.setdefault(i, []).append({
                "ber": ber, "protection": "-" if ber == 0 else protection, "trials": res.trials,
                "accuracy": res.mean, "std": res.std, "ci95_low": lo, "ci95_high": hi, "images": int(res.images),
                "p10": res.p10, "p90": res.p90, "ruined": res.ruined, "ruin_share": ruin.share,
                "ruin_low": ruin.lo, "ruin_high": ruin.hi,
                "per_trial": " ".join(f"{t.estimate:.4f}" for t in res.paired),
                "mean_flips": res.mean_flips, "seconds": round(time.perf_counter() - started, 3)})
            if progress:
                progress(f"{specs[i].label:22s} BER {ber:g} {protection:8s} accuracy {res.mean:.3f} "
                         f"[{res.lo:.3f}, {res.hi:.3f}] {res.trials} trials, {res.ruined} ruined")
    for i in measured:
        measured[i].sort(key=lambda m: (m["ber"], config.protections.index(m["protection"])
                                        if m["protection"] in config.protections else -1))
    rows = []
    for family, spec in pairs:
        i = specs.index(spec)
        sub = made[f"sub{i}"]
        base = dict(family=family, label=spec.label, depth=spec.depth, keep_ratio=spec.keep_ratio,
                    bits=spec.bits, total_bits=sub.payload.total_bits, payload_bits=sub.payload.payload_bits,
                    size_pct_of_root=sub.card.size_pct_of_root)
        rows += [{**base, **m} for m in measured[i]]
    df = pd.DataFrame(rows)
    four = df[(df.family == "bit") & (df.bits == 4)].total_bits
    ref = float(four.iloc[0]) if len(four) else np.nan
    df["size_pct"] = np.where(df.family == "bit", 100.0 * df.total_bits / ref, df.size_pct_of_root)
    df["size_reference"] = np.where(df.family == "bit", "4-bit model", "root model")
    return df.sort_values(["family", "size_pct", "ber", "protection"], kind="stable").reset_index(drop=True)


def _fig3_command(args) -> int:
    from core.model.data import load_dataset, load_for_card
    from core.model.models import load_checkpoint
    from core.model.roots import resolve_checkpoint
    from core.sweep import Executor

    checkpoint = resolve_checkpoint(args.root)
    root, card = load_checkpoint(checkpoint)
    data = load_for_card(card) if args.data_dir is None else load_dataset(card.dataset, args.data_dir,
                                                                        card.split_seed)
    kw = dict(trials=args.trials, max_trials=args.max_trials, seed=args.seed, retrain_steps=args.retrain_steps,
              images_per_trial=args.images_per_trial)
    if args.bers:
        kw["bers"] = tuple(float(b) for b in args.bers.split(","))
    config = Fig3Config.quick(**kw) if args.quick else Fig3Config(**kw)
    executor = Executor.from_flag(args.ray)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    print(f"Fig. 3 of {checkpoint.name} ({card.dataset}) {executor.describe()}", file=sys.stderr, flush=True)
    df = fig3_table(root, data, config, progress=lambda m: print(m, file=sys.stderr, flush=True),
                    executor=executor)
    df.to_csv(out / "fig3.csv", index=False)
    print(f"wrote {out / 'fig3.csv'} ({len(df)} rows, {time.perf_counter() - started:.0f} s); draw it with "
          f"python scripts/fig3.py {out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.experiments", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    f3 = sub.add_parser("fig3", help="accuracy against downloaded size under BER (paper Fig. 3)")
    f3.add_argument("--root", "--checkpoint", dest="root", default=None,
                    help="root model: a checkpoint path or a name in assets/ or runs/ (default: the shipped "
                         "default); its card names the data set")
    f3.add_argument("--data-dir", default=None, help="where the root's data set is (default: its card's data_dir)")
    f3.add_argument("--out", default="out/fig3")
    f3.add_argument("--trials", type=int, default=3, help="paired trials per cell at least (default 3)")
    f3.add_argument("--max-trials", type=int, default=None,
                    help="at most (default 20): more while the 95 %% interval is wider than +-3 points, and at "
                         "least 10 when some downloads were ruined and some not")
    f3.add_argument("--seed", type=int, default=0)
    f3.add_argument("--retrain-steps", type=int, default=20, help="re-training steps after pruning")
    f3.add_argument("--images-per-trial", type=int, default=None,
                    help="test images per paired trial, drawn afresh each trial (default: the whole test split)")
    f3.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                    help="run the cells on Ray: a local Ray without ADDRESS, else the cluster at ADDRESS")
    f3.add_argument("--bers", default=None, help="comma-separated BERs (default 0,1e-4,1e-3,1e-2)")
    f3.add_argument("--quick", action="store_true", help="a small sweep (2 sub-models per level, BER 0 and 1e-3)")
    args = parser.parse_args(argv)
    try:
        return _fig3_command(args)
    except ValueError as err:
        parser.error(str(err))
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
