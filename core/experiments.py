"""Experiments that reproduce the paper's figures from our own models.

``python -m core.experiments fig3 --dataset digits --out out/fig3`` measures Fig. 3: local accuracy against
downloaded size for the depth, parameter and bit levels, at BER 0 and over a lossy link with each protection,
and writes ``fig3.csv`` and an interactive ``fig3.html``.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.link.channel import PROTECTIONS, check_ber, check_protection
from core.validation import check_int

FAMILIES = ("depth", "parameter", "bit")
FAMILY_TITLES = {"depth": "(a) depth level", "parameter": "(b) parameter level", "bit": "(c) bit level"}
FIG3_BERS = (0.0, 1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class Fig3Config:
    """The Fig. 3 sweep: sub-model families, link BERs, protections and Monte Carlo trials."""

    depths: tuple[int, ...] = (1, 2, 3, 4)
    keep_ratios: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
    bits: tuple[int, ...] = (2, 3, 4, 8)
    bers: tuple[float, ...] = FIG3_BERS
    protections: tuple[str, ...] = PROTECTIONS
    trials: int = 3
    seed: int = 0
    retrain_steps: int = 20
    limit: int | None = None

    def __post_init__(self):
        for ber in self.bers:
            check_ber(ber)
        for p in self.protections:
            check_protection(p)
        check_int("trials", self.trials, 1)
        check_int("seed", self.seed, 0)
        check_int("retrain_steps", self.retrain_steps, 0)
        if self.limit is not None:
            check_int("limit", self.limit, 1)
        if 4 not in self.bits:
            raise ValueError(f"bits={self.bits!r} must include 4: the bit level is measured against the 4-bit model")

    @classmethod
    def quick(cls, **kw) -> "Fig3Config":
        base = dict(depths=(1, 4), keep_ratios=(0.25, 1.0), bits=(2, 4), bers=(0.0, 1e-3), trials=2)
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


def fig3_table(root, data, config: Fig3Config = Fig3Config(), progress=None):
    """Measure every point of Fig. 3 and return one row per (sub-model, BER, protection) as a DataFrame.

    BER 0 has one row per sub-model (protection ``-``): no bit is flipped, so no protection acts.
    """
    import pandas as pd

    from core.compress.combine import generate
    from core.link.reliability import WorkingCopy, accuracy_under_ber

    made: dict = {}
    measured: dict = {}   # spec -> its rows, so that the root is measured once for two families
    rows = []
    for family, spec in fig3_specs(config):
        if spec in measured:
            rows += [{**row, "family": family} for row in measured[spec]]
            continue
        first = len(rows)
        if spec not in made:
            started = time.perf_counter()
            made[spec] = generate(root, data, spec, seed=config.seed, evaluate=False)
            if progress:
                progress(f"generated {spec.label} in {time.perf_counter() - started:.1f} s")
        sub = made[spec]
        working = WorkingCopy(sub)
        base = dict(family=family, label=spec.label, depth=spec.depth, keep_ratio=spec.keep_ratio,
                    bits=spec.bits, total_bits=sub.payload.total_bits, payload_bits=sub.payload.payload_bits,
                    size_pct_of_root=sub.card.size_pct_of_root)
        for ber in config.bers:
            for protection in (("none",) if ber == 0 else config.protections):
                started = time.perf_counter()
                res = accuracy_under_ber(sub, data, ber, protection, 1 if ber == 0 else config.trials,
                                         config.seed, limit=config.limit, working=working)
                rows.append({**base, "ber": ber, "protection": "-" if ber == 0 else protection,
                             "trials": len(res.trials), "accuracy": res.mean, "std": res.std,
                             "ci95_low": res.ci95[0], "ci95_high": res.ci95[1],
                             "per_trial": " ".join(f"{a:.4f}" for a in res.trials),
                             "reliable_bits": res.reliable_bits, "mean_flips": res.mean_flips,
                             "mean_nonfinite": res.mean_nonfinite, "mean_replaced": res.mean_replaced,
                             "seconds": round(time.perf_counter() - started, 3)})
                if progress:
                    progress(f"{family:9s} {spec.label:22s} BER {ber:g} {protection:8s} "
                             f"accuracy {res.mean:.3f}")
        del working
        measured[spec] = rows[first:]
    df = pd.DataFrame(rows)
    four = df[(df.family == "bit") & (df.bits == 4)].total_bits
    ref = float(four.iloc[0]) if len(four) else np.nan
    df["size_pct"] = np.where(df.family == "bit", 100.0 * df.total_bits / ref, df.size_pct_of_root)
    df["size_reference"] = np.where(df.family == "bit", "4-bit model", "root model")
    return df.sort_values(["family", "size_pct", "ber", "protection"], kind="stable").reset_index(drop=True)


def fig3_figure(df):
    """Three panels (depth, parameter, bit level): accuracy against downloaded size, one line per BER and
    protection, with the 95 % interval of the Monte Carlo mean as error bars. A pure function of the table."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=3, subplot_titles=[FAMILY_TITLES[f] for f in FAMILIES], shared_yaxes=True)
    colours = {0.0: "black", 1e-4: "#1f77b4", 1e-3: "#2ca02c", 1e-2: "#d62728"}
    dashes = {"-": "solid", "none": "dot", "sanitise": "dash", "clamp": "dashdot", "uep": "longdash"}
    seen = set()
    for col, family in enumerate(FAMILIES, start=1):
        part = df[df.family == family]
        for (ber, protection), line in part.groupby(["ber", "protection"], sort=True):
            line = line.sort_values("size_pct")
            name = "BER 0" if ber == 0 else f"BER {ber:g}, {protection}"
            fig.add_trace(go.Scatter(
                x=line.size_pct, y=100 * line.accuracy, mode="lines+markers", name=name, legendgroup=name,
                showlegend=name not in seen,
                line=dict(color=colours.get(ber, "grey"), dash=dashes.get(protection, "solid")),
                error_y=dict(type="data", symmetric=False, array=100 * (line.ci95_high - line.accuracy),
                             arrayminus=100 * (line.accuracy - line.ci95_low), thickness=1),
                customdata=np.stack([line.label, line.trials], axis=1),
                hovertemplate="%{customdata[0]}<br>size %{x:.1f} %<br>accuracy %{y:.1f} %"
                              "<br>trials %{customdata[1]}<extra>" + name + "</extra>"), row=1, col=col)
            seen.add(name)
        ref = "4-bit model" if family == "bit" else "root model"
        fig.update_xaxes(title_text=f"downloaded size (% of {ref})", row=1, col=col)
    fig.update_yaxes(title_text="local inference accuracy (%)", row=1, col=1)
    fig.update_layout(title="Fig. 3 reproduced: accuracy against downloaded size, reliable and lossy links",
                      height=480, legend=dict(orientation="v"))
    return fig


def _fig3_command(args) -> int:
    from core.model.data import load_dataset
    from core.model.models import load_checkpoint, load_default

    if args.checkpoint:
        root, card = load_checkpoint(args.checkpoint)
    elif args.dataset == "digits":
        root, card = load_default()
    else:
        raise ValueError(f"dataset={args.dataset!r} needs --checkpoint (only digits has a shipped root model)")
    data = load_dataset(args.dataset, args.data_dir)
    kw = dict(trials=args.trials, seed=args.seed, retrain_steps=args.retrain_steps, limit=args.limit)
    if args.bers:
        kw["bers"] = tuple(float(b) for b in args.bers.split(","))
    config = Fig3Config.quick(**kw) if args.quick else Fig3Config(**kw)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    df = fig3_table(root, data, config, progress=lambda m: print(m, file=sys.stderr, flush=True))
    df.to_csv(out / "fig3.csv", index=False)
    fig3_figure(df).write_html(out / "fig3.html", include_plotlyjs=True)
    print(f"wrote {out / 'fig3.csv'} and {out / 'fig3.html'} ({len(df)} rows, "
          f"{time.perf_counter() - started:.0f} s)")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.experiments", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    f3 = sub.add_parser("fig3", help="accuracy against downloaded size under BER (paper Fig. 3)")
    f3.add_argument("--dataset", default="digits")
    f3.add_argument("--data-dir", default=None)
    f3.add_argument("--checkpoint", default=None, help="root model (default: the shipped digits model)")
    f3.add_argument("--out", default="out/fig3")
    f3.add_argument("--trials", type=int, default=3)
    f3.add_argument("--seed", type=int, default=0)
    f3.add_argument("--retrain-steps", type=int, default=20, help="re-training steps after pruning")
    f3.add_argument("--limit", type=int, default=None, help="evaluate on the first N test samples only")
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
