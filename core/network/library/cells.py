"""The sweep cells of a library build and of other BER grids (core.sweep runs them here or on Ray workers).

A generation cell makes the sub-models of one (depth, keep ratio) group and returns their weight files' bytes
and cards; a BER cell is one trial of the paired estimator for one (sub-model, mode, BER, protection, trial
index). Both are pure functions of their arguments and the shared root model and data; decoded sub-models, their
working copies and clean per-image correctness are kept per worker process (core.sweep.worker_cache).
"""
from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass

import numpy as np
import torch

from core.compress.combine import SubModel, SubModelSpec, generate
from core.compress.common import count_macs
from core.compress.depth import quantise_features
from core.link.reliability import clean_correctness, paired_trial, summarise_paired
from core.link.working import WorkingCopy
from core.model.models import NUM_STAGES, BackboneNet, DepthSubModel, server_model
from core.model.splits import DataSplits
from core.sweep import iter_results, run, shared_id, worker_cache

from .config import FEATURE_BITS, entry_key
from .weights import parse_weights, submodel_from_tensors, weights_bytes


# ---------------------------------------------------------------- generation

@dataclass(frozen=True)
class GeneratedEntry:
    """One generated library entry as it travels back from a worker: its weight file's bytes and its row."""

    key: str
    spec: SubModelSpec
    weights: bytes
    row: dict


def group_specs(specs: list[SubModelSpec]) -> list[tuple[SubModelSpec, ...]]:
    """Generation cells: pruned, re-trained specs grouped by (depth, keep ratio) so that one re-training serves
    every bit width; every other spec alone. Order follows ``specs``."""
    groups: dict = {}
    for spec in specs:
        shared = spec.keep_ratio < 1.0 and spec.retrain_steps > 0
        groups.setdefault((spec.depth, spec.keep_ratio, spec.retrain_steps) if shared else spec, []).append(spec)
    return [tuple(g) for g in groups.values()]


def generate_cell(shared, cell: tuple[int, tuple[SubModelSpec, ...]]) -> list[GeneratedEntry]:
    """Generate one group of entries (seed, specs) from the shared root model and data."""
    seed, specs = cell
    root, data = shared["root"], shared["data"]
    out = []
    base = None
    for spec in specs:
        started = time.perf_counter()
        sub, base, extra = _generate(root, data, spec, seed, base)
        out.append(GeneratedEntry(entry_key(spec), spec, weights_bytes(sub),
                                  _row(sub, root, data, time.perf_counter() - started + extra)))
    return out


def _generate(root, data, spec: SubModelSpec, seed: int, base):
    """One entry. Pruned entries share one re-training per (depth, keep ratio): the re-trained fp32 sub-model is
    put back into a root copy and quantised without re-training, which is exactly what generate() does after
    re-training (masks are re-derived from the exact zeros and checked). Returns (sub-model, base, seconds of
    shared re-training used)."""
    if spec.keep_ratio >= 1.0 or spec.retrain_steps == 0:
        return generate(root, data, spec, seed), base, 0.0
    extra = 0.0
    if base is None:
        if spec.bits == 32:
            sub = generate(root, data, spec, seed)
            return sub, (_retrained_root(root, sub.module), sub.masks), 0.0
        t0 = time.perf_counter()
        base_spec = SubModelSpec(depth=spec.depth, keep_ratio=spec.keep_ratio, bits=32,
                                 retrain_steps=spec.retrain_steps)
        made = generate(root, data, base_spec, seed, evaluate=False)
        base = (_retrained_root(root, made.module), made.masks)
        extra = time.perf_counter() - t0
    base_root, masks = base
    quick = SubModelSpec(depth=spec.depth, keep_ratio=spec.keep_ratio, bits=spec.bits, retrain_steps=0)
    sub = generate(base_root, data, quick, seed)
    if set(sub.masks) != set(masks) or any(not torch.equal(sub.masks[n], masks[n]) for n in masks):
        return generate(root, data, spec, seed), base, 0.0  # a re-trained weight hit exactly zero: the long way
    card = sub.card.__class__(**{**sub.card.__dict__, "accuracy_before_retrain": None})
    return SubModel(spec, sub.module, sub.payload, sub.masks, sub.bits_map, card), base, extra


def _retrained_root(root: BackboneNet, module: DepthSubModel) -> BackboneNet:
    """A copy of the root whose first ``depth`` stages and exit are those of a pruned, re-trained sub-model."""
    out = copy.deepcopy(root)
    k = module.depth
    out.stem = copy.deepcopy(module.stem)
    for i in range(k):
        out.stages[i] = copy.deepcopy(module.stages[i])
    out.exits[k - 1] = copy.deepcopy(module.head)
    return out.eval()


def _row(sub: SubModel, root: BackboneNet, data: DataSplits, seconds: float) -> dict:
    """The catalog row of an entry, less what the driver adds (tier, file, sha256, seed, created)."""
    c, spec = sub.card, sub.spec
    parts = c.bits_by_part
    if spec.depth < NUM_STAGES:
        shape = tuple(root.features(torch.zeros(1, *data.input_shape), spec.depth).shape[1:])
        server_macs = count_macs(server_model(root, spec.depth), shape)[0]
    else:
        server_macs = 0
    return {**{f: getattr(c, f) for f in ("technique", "label", "depth", "keep_ratio", "bits", "parameters",
                                          "nonzero_parameters", "total_bits", "root_bits", "size_pct_of_root",
                                          "device_macs", "effective_macs", "device_memory_bytes",
                                          "uplink_bits_per_sample", "accuracy", "accuracy_before_retrain",
                                          "accuracy_before_qat")},
            **{f"bits_{p}": int(parts[p]) for p in ("values", "index", "scales", "ranges", "topology", "payload",
                                                    "reliable")},
            "key": entry_key(spec), "retrain_steps": spec.retrain_steps, "server_macs": int(server_macs),
            "split_accuracy": _split_accuracy(sub.module, root, data), "generation_seconds": round(seconds, 3),
            "layer_bits": json.dumps(c.layer_bits), "layer_density": json.dumps(c.layer_density)}


@torch.no_grad()
def _split_accuracy(module: DepthSubModel, root: BackboneNet, data: DataSplits) -> float | None:
    """Accuracy of split inference: the received device stages, 8-bit features up, the root's server stages."""
    if module.depth >= NUM_STAGES:
        return None
    server = server_model(root, module.depth)
    hits = total = 0
    for xb, yb in data.batches("test", 512):
        pred = server(quantise_features(module.features(xb), FEATURE_BITS)).argmax(1)
        hits += int((pred == yb).sum())
        total += len(yb)
    return hits / total


# ---------------------------------------------------------------- accuracy under bit errors

class SplitModule(torch.nn.Module):
    """Split inference as one module: the device's stages (names as in the payload), 8-bit features, then the
    root's server stages. Lets the channel trials corrupt the downloaded part and score the split result."""

    def __init__(self, device: DepthSubModel, server: torch.nn.Module):
        super().__init__()
        self.stem, self.stages, self.head = device.stem, device.stages, device.head
        self.server = server

    def forward(self, x):
        for_device = self.stem(x)
        for stage in self.stages:
            for_device = stage(for_device)
        return self.server(quantise_features(for_device, FEATURE_BITS))


@dataclass(frozen=True)
class BerCell:
    """One trial of the paired estimator: the sub-model under ``source`` (a shared item: a SubModel, or an entry's
    weight file bytes with ``sha256``), in ``mode`` (exit or split), at one BER and protection."""

    source: str
    sha256: str
    mode: str
    ber: float
    protection: str
    seed: int
    index: int
    images: int
    spec: SubModelSpec | None = None
    total_bits: int = 0


def _working_copy(shared, cell: BerCell) -> WorkingCopy:
    item = shared[cell.source]
    if isinstance(item, (bytes, bytearray)):
        tensors, meta = parse_weights(bytes(item), cell.source)
        sub = submodel_from_tensors(tensors, meta, shared["root_card"], cell.spec, None, cell.total_bits,
                                    cell.source)
    else:
        sub = item
    model = sub
    if cell.mode == "split":
        split = SplitModule(sub.module, server_model(shared["root"], sub.spec.depth))
        model = SubModel(sub.spec, split, sub.payload, sub.masks, sub.bits_map, sub.card)
    return WorkingCopy(model)  # private to this process; trials corrupt and restore it in place


def _working(shared, cell: BerCell) -> WorkingCopy:
    key = ("working", cell.sha256, cell.mode, shared_id(shared, cell.source), shared_id(shared, "root"),
           shared_id(shared, "data"))
    return worker_cache(key, lambda: _working_copy(shared, cell))


def clean_name(cell: BerCell) -> str:
    """The shared item holding the clean per-image correctness of a cell's sub-model and mode."""
    return f"clean:{cell.source}:{cell.mode}"


def clean_cell(shared, cell: BerCell) -> np.ndarray:
    """The clean sub-model's per-image correctness on the whole test split: once per sub-model and mode."""
    return clean_correctness(_working(shared, cell).module, shared["data"])


def with_clean(cells, shared, executor, progress=None):
    """``shared`` plus the clean correctness of every (sub-model, mode) among ``cells``, each computed once (in
    parallel on Ray) and shared, so that no worker repeats the pass over the whole test split."""
    firsts = list({clean_name(c): c for c in cells}.values())
    arrays = run(clean_cell, firsts, shared, executor, progress, threads_per_task=1)
    return shared.with_items(**{clean_name(c): a for c, a in zip(firsts, arrays)})


def ber_cell(shared, cell: BerCell):
    """One paired trial (core.link.reliability.paired_trial) of a cell; its working copy is kept per process, and
    its clean correctness comes from ``with_clean`` (or is computed here once per process without it)."""
    working = _working(shared, cell)
    name = clean_name(cell)
    if name in shared:
        clean = shared[name]
    else:
        key = ("clean", cell.sha256, cell.mode, shared_id(shared, cell.source), shared_id(shared, "data"))
        clean = worker_cache(key, lambda: clean_cell(shared, cell))
    return paired_trial(working, shared["data"], clean, cell.ber, cell.protection, cell.seed, cell.index,
                        cell.images)


def measure_adaptive(make_cell, count: int, shared, executor, plan, n_test: int, chance: float, phase=None):
    """Yield (cell number, BerResult) for ``count`` BER cells as each one finishes: ``plan.trials`` paired trials
    first, then rounds of more for the cells whose ``plan.more`` asks for them (a TrialPlan). ``make_cell(i,
    index)`` is trial ``index`` of cell ``i`` (always drawn from (seed, index): a cell's result does not depend on
    the rounds or the executor). ``phase(round)`` gives the progress function of a round (or None)."""
    trials = {i: [] for i in range(count)}
    asked = {i: plan.trials for i in range(count)}
    round_no = 0
    while asked:
        round_no += 1
        cells, owners = [], []
        for i, want in asked.items():
            for index in range(len(trials[i]), want):
                cells.append(make_cell(i, index))
                owners.append(i)
        progress = phase(round_no) if phase is not None else None
        for j, (_, result) in enumerate(iter_results(ber_cell, cells, shared, executor, progress,
                                                     threads_per_task=1)):
            trials[owners[j]].append(result)
        following = {}
        for i in asked:
            first = make_cell(i, 0)
            res = summarise_paired(trials[i], first.ber, first.protection, n_test=n_test, chance=chance)
            more = plan.more(res)
            if more:
                following[i] = more
            else:
                yield i, res
        asked = following
