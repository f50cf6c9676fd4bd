"""Build the AI library of each shipped root and copy its catalog into assets/library/<root>/ (no weights: the
dashboard regenerates an entry's weights from the root on first use and checks them against the catalog's hash).

    python scripts/build_shipped_libraries.py [cifar10|digits ...] [--out library]

The configurations are written here so that the shipped catalogs can be rebuilt exactly.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model.data import load_for_card  # noqa: E402
from core.model.models import ASSETS, load_checkpoint  # noqa: E402
from core.network.library import LibraryConfig, build_library  # noqa: E402
from core.network.library.shipped import ship_catalog  # noqa: E402

SHIPPED_CONFIGS = {
    # 24 entries: the 4 exits x fp32 / 8-bit / 4-bit, and the whole backbone pruned to keep 75 / 50 / 25 / 10 % of
    # its weights (re-trained 60 steps) x fp32 / 8-bit / 4-bit: every technique alone and combined, and sizes from
    # 1 Mbit to the root's 89.5 Mbit, so all three tiers hold entries. 5 BERs x 4 protections per entry; each cell
    # has at least 3 paired trials of 128 photos, more while its 95 % interval is wider than +-3 points (at most
    # 20), and at least 10 when some downloads were ruined and some not. Each cell needs the clean model's answer on
    # all 10,000 test photos once, so the shipped grid measures the device's own exit under BER and split inference
    # (device part + server) at BER 0 only. Built with --ray (a local Ray, 2 workers on 2 cores).
    "resnet18_cifar10": LibraryConfig(depths=(1, 2, 3, 4), keep_ratios=(1.0, 0.75, 0.5, 0.25, 0.1),
                                      bits=(32, 8, 4), pruned_depths=(4,), retrain_steps=60, trials=3,
                                      images_per_trial=128, split_ber=False, max_trials=20, mixed_min_trials=10,
                                      target_half_width=0.03),
    # 36 entries: the full default grid of sub-models on the small digits root (359 test images); the device's own
    # exit under BER (3 to 20 paired trials of 256 images per cell, by the same rule), split inference at BER 0.
    "resnet18_digits": LibraryConfig(trials=3, images_per_trial=256, split_ber=False, max_trials=20,
                                     mixed_min_trials=10, target_half_width=0.03),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("roots", nargs="*", default=list(SHIPPED_CONFIGS), choices=list(SHIPPED_CONFIGS))
    parser.add_argument("--out", default="library", help="where the full libraries (with weights) are built")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run the cells on Ray: a local one (bare --ray) or a cluster's address")
    args = parser.parse_args()
    from core.sweep import Executor

    executor = Executor.from_flag(args.ray)
    for stem in args.roots:
        checkpoint = ASSETS / f"{stem}.safetensors"
        _, card = load_checkpoint(checkpoint)
        data = load_for_card(card, checkpoint)
        folder = Path(args.out) / stem
        started = time.perf_counter()
        report = build_library(checkpoint, data, folder, SHIPPED_CONFIGS[stem], seed=0, progress=True,
                               executor=executor)
        print(f"{stem}: {report} in {time.perf_counter() - started:.0f} s")
        shipped = ship_catalog(folder, stem)
        print(f"copied the catalog to {shipped} ({shipped.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
