"""Building an AI library: generate only what is missing (entries, BER cells) and repair damaged entries.

The build holds a lock on the folder (a second build waits, then finds the work done); entries and BER cells are
computed as sweep cells (core.sweep: in this process or on Ray, with identical results) and committed in cell
order as they arrive: each weight file through a temporary file of this process renamed into place, then its row
in one transaction, so a build stopped anywhere leaves a consistent library that the next build completes.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from core.model.models import NUM_STAGES, BackboneNet, load_checkpoint
from core.model.splits import DataSplits
from core.network.tiers import tier_for_entry
from core.sweep import SERIAL, Executor, iter_results, share
from core.validation import check_int

from .catalog import CATALOG, build_lock, check_catalog, connect, init_catalog, state_sha256
from .cells import BerCell, generate_cell, group_specs, measure_adaptive, with_clean
from .config import MODES, LibraryConfig, entry_key
from .reader import Library, spec_from_row
from .weights import sha256_bytes, sha256_file, write_atomic

Progress = Callable[[str, int, int], None]  # (phase, cells done, cells in all)


@dataclass(frozen=True)
class BuildReport:
    """What one build call did: entries generated (repaired ones among them), BER cells measured, entries
    already there, where it ran, seconds."""

    path: str
    generated: tuple[str, ...]
    skipped: tuple[str, ...]
    repaired: tuple[str, ...]
    ber_cells: int
    backend: str
    seconds: float


def _load_root(root_path_or_model) -> tuple[BackboneNet, dict, str]:
    if isinstance(root_path_or_model, BackboneNet):
        model = root_path_or_model
        card = {"arch": "resnet18", "classes": [str(i) for i in range(model.num_classes)],
                "input_shape": None, "width": getattr(model, "width", 1.0), "source": "model object"}
        return model, card, ""
    if isinstance(root_path_or_model, (str, Path)):
        model, card = load_checkpoint(root_path_or_model)
        file_sha = sha256_file(Path(root_path_or_model).with_suffix(".safetensors"))
        return model, asdict(card), file_sha
    raise ValueError(f"root_path_or_model={root_path_or_model!r} must be a BackboneNet or a checkpoint path")


def _repair(path: Path, lib: Library) -> list[str]:
    """Remove entries whose weight file is damaged (their BER cells go with them): the build regenerates them.
    Improved versions are left alone: no build can make them again (``Library.damaged_entries`` names them)."""
    bad = [d for d in lib.damaged_entries() if d.version == 1]
    if bad:
        con = connect(path)
        with con:
            con.executemany("DELETE FROM entries WHERE id = ?", [(d.id,) for d in bad])
        con.close()
        for d in bad:
            (lib.folder / d.file).unlink(missing_ok=True)
    return [d.key for d in bad]


def build_library(root_path_or_model, data: DataSplits, out_dir: str | Path,
                  config: LibraryConfig | None = None, seed: int = 0, progress: bool | Progress = True,
                  on_entry: Callable[[str, int], None] | None = None,
                  executor: Executor | None = None) -> BuildReport:
    """Build or complete the library in ``out_dir``: generate only entries (and BER cells) that are missing, and
    regenerate entries whose weight file is damaged. Pure function of (root, data, config, seed): the executor
    (this process by default, or Ray) changes where cells run, not what they give.

    ``progress``: True for tqdm bars, False for none, or a function (phase, done, total) (the dashboard's bar).
    ``on_entry(key, n_done)`` is called after each committed entry (tests that interrupt a build).
    """
    config = LibraryConfig() if config is None else config
    if not isinstance(config, LibraryConfig):
        raise ValueError(f"config={config!r} must be a LibraryConfig")
    check_int("seed", seed, 0)
    executor = SERIAL if executor is None else executor
    if not isinstance(executor, Executor):
        raise ValueError(f"executor={executor!r} must be a core.sweep.Executor")
    started = time.perf_counter()
    root, card, file_sha = _load_root(root_path_or_model)
    root.eval()
    if root.num_classes != data.num_classes or root.in_channels != data.input_shape[0]:
        raise ValueError(f"data={data.name!r} ({data.num_classes} classes, {data.input_shape[0]} channels) does "
                         f"not match the root model ({root.num_classes} classes, {root.in_channels} channels)")
    if card.get("input_shape") is None:
        card = {**card, "input_shape": list(data.input_shape), "classes": list(data.classes)}
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CATALOG
    bars = _Bars(progress)
    with build_lock(folder):
        for stray in folder.glob("*.tmp"):  # left by an interrupted write: never part of the library
            stray.unlink()
        init_catalog(path, state_sha256(root), card, file_sha, data, config.to_json(), seed,
                     tier_for_entry.__doc__.split("Rule: ")[1].strip())
        lib = Library(folder, check_catalog(path))
        repaired = _repair(path, lib)
        have = set(lib.entries()["key"])
        todo = [s for s in config.specs() if entry_key(s) not in have]
        shared = share(executor, root=root, data=data, root_card=card)
        generated = []
        try:
            cells = [(seed, group) for group in group_specs(todo)]
            for _, entries in iter_results(generate_cell, cells, shared, executor, bars.phase("sub-models")):
                for entry in entries:
                    _commit_entry(path, folder, entry, seed)
                    generated.append(entry.key)
                    if on_entry is not None:
                        on_entry(entry.key, len(generated))
            ber_count = _measure_ber(path, lib, shared, executor, config, seed, bars)
        finally:
            bars.close()
    skipped = tuple(entry_key(s) for s in config.specs() if entry_key(s) in have)
    return BuildReport(str(folder), tuple(generated), skipped, tuple(repaired), ber_count, executor.describe(),
                       round(time.perf_counter() - started, 2))


def _commit_entry(path: Path, folder: Path, entry, seed: int) -> None:
    fname = f"{entry.key}.safetensors"
    digest = write_atomic(entry.weights, folder / fname)
    row = {**entry.row, "tier": tier_for_entry(entry.row["technique"], entry.row["total_bits"]), "file": fname,
           "file_sha256": digest, "seed": seed, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    con = connect(path)
    with con:
        con.execute(f"INSERT INTO entries ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()))
    con.close()


def _measure_ber(path: Path, lib: Library, shared, executor: Executor, config: LibraryConfig, seed: int,
                 bars: "_Bars", only: set[int] | None = None) -> int:
    """Measure every missing (entry, mode, BER, protection) cell (of the entries ``only`` names, when given):
    ``config.trials`` paired trials first, then more (in rounds, each cell's trial i always from (seed, i)) until
    the interval's half-width reaches ``config.target_half_width`` or ``config.max_trials``; a cell whose downloads
    are mixed, some ruined and some not, keeps on to at least ``config.mixed_min_trials``
    (core.link.reliability.stop_reason)."""
    if not config.ber_grid or not config.protections:
        return 0
    entries = lib.entries()
    if only is not None:
        entries = entries[entries["id"].isin(only)]
    done_cells = {(int(r.entry_id), r.mode, round(float(r.ber), 15), r.protection)
                  for r in lib.ber_table().itertuples()}
    n_test = int(lib.data_identity["test_samples"])
    chance = 1.0 / len(lib.data_identity["classes"])
    todo, weights = [], {}
    for row in entries.itertuples():
        modes = MODES if int(row.depth) < NUM_STAGES and config.split_ber else MODES[:1]
        missing = [(m, b, p) for m in modes for b in config.ber_grid for p in config.protections
                   if (int(row.id), m, round(b, 15), p) not in done_cells]
        improved = int(row.version) > 1
        if not missing or (improved and not (lib.folder / row.file).is_file()):
            continue  # an improved version without its file cannot be measured (nor made): verify names it
        data = (lib.folder / row.file).read_bytes()
        if sha256_bytes(data) != row.file_sha256:  # changed since the repair above: never measure a stranger
            if improved:  # damaged, and left alone by the repair: verify names it
                continue
            raise ValueError(f"library weight file {str(lib.folder / row.file)!r} changed during the build")
        weights[row.key] = data
        spec = spec_from_row(row._asdict())
        todo += [(int(row.id), row.key, row.file_sha256, spec, int(row.total_bits), m, b, p) for m, b, p in missing]
    if not todo:
        return 0
    first = [BerCell(t[1], t[2], t[5], t[6], t[7], seed, 0, config.images_per_trial, t[3], t[4]) for t in todo]
    shared = with_clean(first, shared.with_items(**weights), executor,
                        bars.phase("Measuring each sub-model without bit errors"))
    make = lambda i, index: BerCell(todo[i][1], todo[i][2], todo[i][5], todo[i][6], todo[i][7], seed,  # noqa: E731
                                    index, config.images_per_trial, todo[i][3], todo[i][4])
    phase = lambda r: bars.phase("BER grid" if r == 1 else f"BER grid, more trials (round {r})")  # noqa: E731
    count = 0
    con = connect(path)
    try:
        for i, res in measure_adaptive(make, len(todo), shared, executor, config.trial_plan(), n_test, chance,
                                       phase):
            entry_id, _, _, _, _, mode, ber, protection = todo[i]
            with con:
                con.execute(f"INSERT OR REPLACE INTO accuracy_ber VALUES ({', '.join('?' * 13)})",
                            (entry_id, mode, float(ber), protection, float(res.mean), float(res.std),
                             float(res.lo), float(res.hi), res.trials, int(res.images), float(res.p10),
                             float(res.p90), int(res.ruined)))
            count += 1
    finally:
        con.close()
    return count


class _Bars:
    """tqdm bars on the command line, a caller's function (the dashboard), or nothing."""

    def __init__(self, progress):
        self.progress = progress
        self._close = None

    def phase(self, name: str):
        if self._close:
            self._close()
            self._close = None
        if self.progress is True:
            from core.sweep import tqdm_progress

            update, self._close = tqdm_progress(f"AI library: {name}")
            return update
        if callable(self.progress):
            return lambda done, total: self.progress(name, done, total)
        return None

    def close(self):
        if self._close:
            self._close()
            self._close = None
