"""Situation models as the AI library serves them: the shipped situation models (assets/situations/), and each one's
own library of sub-models (every technique) measured under bit errors on its situation's test photos.

A situation model is a BackboneNet whose exits are cut to the situation's classes, so its library is built exactly
as a root's (core.network.library.build_library) with the situation model as the root and the situation's own task
(core.situation.situations.situation_data) as the data. The catalog ships in
assets/library/<root>-<situation>/catalog.sqlite beside the roots' catalogs; its weights are regenerated from the
situation model on first use and checked against the catalog's sha256, as for a root
(core.network.library.shipped).

    python -m core.situation.library [--situation NAME ...] [--out library] [--ray [ADDRESS]]

builds the libraries (all registered situations by default) and copies each catalog into assets/library/.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from core.model.models import ASSETS, PROJECT, BackboneNet
from core.model.splits import DataSplits
from core.network.library.config import LibraryConfig
from core.situation.customise import SituationModel
from core.situation.situations import SITUATIONS, Situation, situation, situation_data
from core.situation.store import file_stem, load_situation_model

SITUATION_MODELS = ASSETS / "situations"
BUILD_COMMAND = "python scripts/build_situation_models.py"
LIBRARY_COMMAND = "python -m core.situation.library"

# Every technique on the situation model, alone and combined: the 4 exits x fp32 / 8-bit / 4-bit, and the whole
# backbone pruned to keep 50 % of its weights (re-trained 60 steps on the situation's training photos) x the same
# widths: 15 entries. Accuracy under bit errors on the situation's own test photos at the roots' five BERs, received
# as they are (the "none" protection, which the mobility simulation's selection uses), with the trial rule of the
# roots' shipped catalogs (core.network.library.config.TrialPlan: 3-20 paired trials of 128 photos, at least 10
# where downloads are mixed); split inference at BER 0 only. Narrower than a root's catalog (one protection, one
# pruned keep ratio) so that five such libraries build on 2 cores in minutes; build_situation_library takes a wider
# config.
SITUATION_LIBRARY_CONFIG = LibraryConfig(depths=(1, 2, 3, 4), keep_ratios=(1.0, 0.5), bits=(32, 8, 4),
                                         pruned_depths=(4,), retrain_steps=60, protections=("none",),
                                         trials=3, images_per_trial=128, split_ber=False, max_trials=20,
                                         mixed_min_trials=10, target_half_width=0.03)


def stem(name: str) -> str:
    """The file name (no suffix) of a situation's model and library folder: ``resnet18_cifar10-road``."""
    sit = situation(name)
    return file_stem(sit.root, sit.name)


def model_path(name: str, folder: str | os.PathLike = SITUATION_MODELS) -> Path:
    """The situation model's weight file (its card is the same name with .json)."""
    return Path(folder) / f"{stem(name)}.safetensors"


def load_shipped(name: str, root: BackboneNet, folder: str | os.PathLike = SITUATION_MODELS) -> SituationModel:
    """The situation model of ``name`` read onto ``root`` from ``folder`` (hash- and root-checked by
    core.situation.store). A missing file is reported with the command that makes it."""
    path = model_path(name, folder)
    if not path.with_suffix(".json").is_file():
        raise ValueError(f"situation={name!r}: no situation model at {path.with_suffix('.json')}; make it with "
                         f"{BUILD_COMMAND} --situation {name!r}")
    return load_situation_model(path, root)


def library_folder(name: str, libraries: str | os.PathLike | None = None) -> Path:
    """Where a situation's library lives: <libraries>/<root>-<situation> (default: the project's library/)."""
    return Path(libraries if libraries is not None else PROJECT / "library") / stem(name)


def ensure_situation_library(name: str, libraries: str | os.PathLike | None = None) -> Path:
    """The situation's library folder, given the shipped catalog when it has none (or an older schema's)."""
    from core.network.library.shipped import ensure_library

    folder = library_folder(name, libraries)
    ensure_library(folder, model_path(name))  # the shipped catalog is assets/library/<stem>/catalog.sqlite
    return folder


def open_situation_library(name: str, situation_model: SituationModel, libraries: str | os.PathLike | None = None):
    """The situation's library, opened and checked to be built from ``situation_model``."""
    from core.network.library import open_library

    if situation_model.situation.name != situation(name).name:
        raise ValueError(f"situation_model is of situation {situation_model.situation.name!r}, not {name!r}")
    return open_library(ensure_situation_library(name, libraries), root=situation_model.model)


@dataclass(frozen=True)
class SituationTask:
    """What a situation's library entries are regenerated and scored with: the situation model (as root) and the
    situation's own photos (labels as positions in its classes)."""

    situation: Situation
    model: SituationModel
    data: DataSplits


@lru_cache(maxsize=4)
def shipped_root(root: str) -> tuple[BackboneNet, DataSplits]:
    """A shipped root (by checkpoint name, e.g. ``resnet18_cifar10``) and the data it ships with, loaded once per
    process (commands that go through several situations of one root)."""
    from core.model.data import load_for_card
    from core.model.models import load_checkpoint

    checkpoint = ASSETS / f"{root}.safetensors"
    model, card = load_checkpoint(checkpoint)
    return model, load_for_card(card, checkpoint)


def situation_task(name: str, root: BackboneNet, root_data: DataSplits,
                   folder: str | os.PathLike = SITUATION_MODELS) -> SituationTask:
    """The shipped situation model of ``name`` and its task's data cut from the root's data."""
    sit = situation(name)
    return SituationTask(sit, load_shipped(name, root, folder), situation_data(sit, root_data))


def build_situation_library(task: SituationTask, out_dir: str | os.PathLike,
                            config: LibraryConfig = SITUATION_LIBRARY_CONFIG, seed: int = 0, progress=True,
                            executor=None):
    """Build (or complete) the situation's library: core.network.library.build_library on the situation model
    and the situation's photos."""
    from core.network.library import build_library

    return build_library(task.model.model, task.data, out_dir, config, seed=seed, progress=progress,
                         executor=executor)


def main(argv=None) -> int:
    import argparse
    import time

    from core.network.library.shipped import ship_catalog
    from core.sweep import Executor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--situation", action="append", choices=list(SITUATIONS), metavar="NAME",
                        help=f"a registered situation (repeat for several; default: all of {list(SITUATIONS)})")
    parser.add_argument("--out", default=str(PROJECT / "library"), help="where the full libraries are built")
    parser.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                        help="run the cells on Ray: a local one (bare --ray) or a cluster's address")
    parser.add_argument("--no-copy", action="store_true", help="do not copy the catalogs into assets/library/")
    args = parser.parse_args(argv)
    executor = Executor.from_flag(args.ray)
    for name in args.situation or list(SITUATIONS):
        try:
            task = situation_task(name, *shipped_root(situation(name).root))
        except ValueError as err:
            parser.error(str(err))
        started = time.perf_counter()
        folder = library_folder(name, args.out)
        report = build_situation_library(task, folder, executor=executor)
        print(f"{name}: {len(report.generated)} entries made, {report.ber_cells} BER cells on "
              f"{len(task.data.y_test)} test photos, in {time.perf_counter() - started:.0f} s", flush=True)
        if not args.no_copy:
            shipped = ship_catalog(folder, stem(name))
            print(f"copied the catalog to {shipped} ({shipped.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["BUILD_COMMAND", "LIBRARY_COMMAND", "SITUATION_LIBRARY_CONFIG", "SITUATION_MODELS", "SituationTask",
           "build_situation_library", "ensure_situation_library", "library_folder", "load_shipped", "model_path",
           "open_situation_library", "shipped_root", "situation_task", "stem"]
