"""The AI library (paper Sec. 3): pre-generated sub-models of one root model with measured cards, in three tiers.

A library is a folder: ``catalog.sqlite`` (schema version, root identity, one row per sub-model with its card,
tier and weight file hash, accuracy on a BER grid per protection) and one safetensors file per sub-model holding
the received weights. Entries are written atomically one by one, so a build that stops midway resumes where it
stopped. Build the default one with ``python -m core.network.library build --out library/digits``.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.compress.combine import SubModel, SubModelCard, SubModelSpec, generate
from core.compress.common import count_macs, transmitted_state
from core.compress.depth import quantise_features
from core.model.data import DataSplits
from core.model.models import (NUM_STAGES, BackboneNet, DepthSubModel, build_model, check_depth,
                         device_model, load_checkpoint, server_model)
from core.compress.payload import INT_BITS, TensorFormat, check_bits, encode
from core.network.tiers import REAL_TIME_MAX_S, TIER_PRESETS, download_time
from core.validation import check_choice, check_int, check_range

SCHEMA_VERSION = 1
APPLICATION_ID = "insitu-ai-library"
CATALOG = "catalog.sqlite"
PROTECTIONS = ("none", "sanitise", "clamp", "uep")
FEATURE_BITS = 8  # uplinked features at split inference: 8-bit codes per sample (core.compress.depth)
# Tier rule reference: the paper's 6G user-experienced rate (1 Gb/s).
REFERENCE_DOWNLINK_BPS = 1e9


# ---------------------------------------------------------------- configuration

@dataclass(frozen=True)
class LibraryConfig:
    """Which sub-models a library holds and how they are measured.

    Entries are depths x keep ratios x bit widths (``combinations=True``) or only those that change one of the
    three from the root (``False``). Pruned entries are re-trained ``retrain_steps`` SGD steps once per
    (depth, keep ratio), then quantised to each width. Accuracy under bit errors is measured at each BER of
    ``ber_grid`` for each protection with ``trials`` Monte Carlo trials (if core.link.reliability is available).
    """

    depths: tuple[int, ...] = (1, 2, 3, 4)
    keep_ratios: tuple[float, ...] = (1.0, 0.5, 0.25)
    bits: tuple[int, ...] = (32, 8, 4)
    combinations: bool = True
    retrain_steps: int = 60
    ber_grid: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)
    protections: tuple[str, ...] = ("none", "sanitise", "clamp", "uep")
    trials: int = 1

    def __post_init__(self):
        for name in ("depths", "keep_ratios", "bits", "ber_grid", "protections"):
            try:
                values = tuple(getattr(self, name))
            except TypeError:
                raise ValueError(f"{name}={getattr(self, name)!r} must be a sequence") from None
            if not values and name not in ("ber_grid", "protections"):
                raise ValueError(f"{name}={values!r} must not be empty")
            object.__setattr__(self, name, values)
        depths = tuple(sorted({check_depth(d) for d in self.depths}))
        ratios = tuple(sorted({check_range("keep_ratios", r, 0.0, 1.0, lo_open=True) for r in self.keep_ratios},
                              reverse=True))
        bits = tuple(sorted({check_bits(b, "bits") for b in self.bits}, reverse=True))
        grid = tuple(sorted({check_range("ber_grid", b, 0.0, 0.5, lo_open=True) for b in self.ber_grid}))
        prots = tuple(dict.fromkeys(check_choice("protections", p, PROTECTIONS) for p in self.protections))
        if not isinstance(self.combinations, bool):
            raise ValueError(f"combinations={self.combinations!r} must be True or False")
        check_int("retrain_steps", self.retrain_steps, 0)
        check_int("trials", self.trials, 1)
        for name, value in (("depths", depths), ("keep_ratios", ratios), ("bits", bits), ("ber_grid", grid),
                            ("protections", prots)):
            object.__setattr__(self, name, value)

    def specs(self) -> list[SubModelSpec]:
        """Every sub-model of the library, grouped by (depth, keep ratio) so that one re-training serves all widths."""
        out = []
        for k in self.depths:
            for r in self.keep_ratios:
                for b in self.bits:
                    changed = (k < NUM_STAGES) + (r < 1.0) + (b < 32)
                    if not self.combinations and changed > 1:
                        continue
                    out.append(SubModelSpec(depth=k, keep_ratio=r, bits=b,
                                            retrain_steps=self.retrain_steps if r < 1.0 else 0))
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self))


QUICK_CONFIG = LibraryConfig(depths=(2, 4), keep_ratios=(1.0, 0.5), bits=(32, 8), retrain_steps=5,
                             ber_grid=(1e-3, 1e-2), protections=("none", "sanitise"), trials=1)


def entry_key(spec: SubModelSpec) -> str:
    """Stable name of a library entry (also its weight file name)."""
    return f"d{spec.depth}-r{spec.keep_ratio:g}-b{spec.bits}-s{spec.retrain_steps}"


# ---------------------------------------------------------------- tiers

def tier_for_entry(technique: str, total_bits: int, *, reference_bps: float = REFERENCE_DOWNLINK_BPS,
                   real_time_max_s: float = REAL_TIME_MAX_S, tiers=None) -> str:
    """Which tier stores an entry (paper Sec. 3: real-time at the edge, non-real-time local, generic central).

    Rule: the uncompressed root model is the generic model (central cloud). A sub-model that downloads from the
    edge within the real-time limit (50 ms, core.network.tiers.REAL_TIME_MAX_S) at the 6G user-experienced rate of
    1 Gb/s is a real-time model (edge cloud); every other sub-model is non-real-time (local cloud).
    """
    tiers = TIER_PRESETS if tiers is None else tiers
    if technique == "root":
        return "central"
    if download_time(total_bits, tiers["edge"], reference_bps) <= real_time_max_s:
        return "edge"
    return "local"


# ---------------------------------------------------------------- hashing and identity

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def state_sha256(module: torch.nn.Module) -> str:
    """Hash of a model's tensors (names, dtypes, shapes, bytes): the identity of the root model."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def _data_identity(data: DataSplits) -> dict:
    return {"name": data.name, "split_seed": data.split_seed, "classes": list(data.classes),
            "input_shape": list(data.input_shape), "test_samples": int(len(data.y_test))}


# ---------------------------------------------------------------- catalog schema

_ENTRY_COLUMNS = {
    "key": "TEXT NOT NULL UNIQUE", "technique": "TEXT NOT NULL", "label": "TEXT NOT NULL",
    "depth": "INTEGER NOT NULL", "keep_ratio": "REAL NOT NULL", "bits": "INTEGER NOT NULL",
    "retrain_steps": "INTEGER NOT NULL", "parameters": "INTEGER NOT NULL", "nonzero_parameters": "INTEGER NOT NULL",
    "total_bits": "INTEGER NOT NULL", "root_bits": "INTEGER NOT NULL", "size_pct_of_root": "REAL NOT NULL",
    "bits_values": "INTEGER", "bits_index": "INTEGER", "bits_scales": "INTEGER", "bits_ranges": "INTEGER",
    "bits_topology": "INTEGER", "bits_payload": "INTEGER", "bits_reliable": "INTEGER",
    "device_macs": "INTEGER NOT NULL", "effective_macs": "INTEGER NOT NULL",
    "device_memory_bytes": "INTEGER NOT NULL", "uplink_bits_per_sample": "INTEGER NOT NULL",
    "server_macs": "INTEGER NOT NULL", "accuracy": "REAL NOT NULL", "split_accuracy": "REAL",
    "accuracy_before_retrain": "REAL", "accuracy_before_qat": "REAL", "generation_seconds": "REAL NOT NULL",
    "layer_bits": "TEXT NOT NULL", "layer_density": "TEXT NOT NULL", "tier": "TEXT NOT NULL",
    "file": "TEXT NOT NULL", "file_sha256": "TEXT NOT NULL", "seed": "INTEGER NOT NULL",
    "created": "TEXT NOT NULL",
}
_BER_COLUMNS = ("entry_id", "mode", "ber", "protection", "mean", "std", "trials")
MODES = ("exit", "split")  # inference at the device's own exit k, or split inference with the server (k < 4)
_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    + ", ".join(f"{k} {v}" for k, v in _ENTRY_COLUMNS.items()) + ")",
    "CREATE TABLE IF NOT EXISTS accuracy_ber (entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE, "
    "mode TEXT NOT NULL, ber REAL NOT NULL, protection TEXT NOT NULL, mean REAL NOT NULL, std REAL NOT NULL, "
    "trials INTEGER NOT NULL, PRIMARY KEY (entry_id, mode, ber, protection))",
]


def _connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    else:
        con = sqlite3.connect(str(path))
    con.execute("PRAGMA foreign_keys = ON")
    return con


def _damaged(path, why) -> ValueError:
    return ValueError(f"library={str(path)!r} is damaged or not an AI library: {why}")


def _check_catalog(path: Path) -> dict:
    """Open a catalog read-only, check integrity, tables, columns and schema version; return its meta."""
    if not path.is_file():
        raise ValueError(f"library={str(path.parent)!r} has no {CATALOG}; build it with "
                         "`python -m core.network.library build --out <folder>`")
    try:
        con = _connect(path, readonly=True)
        try:
            check = con.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise _damaged(path, f"integrity check says {check!r}")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"meta", "entries", "accuracy_ber"} <= tables:
                raise _damaged(path, f"tables {sorted(tables)}, expected meta, entries and accuracy_ber")
            cols = {r[1] for r in con.execute("PRAGMA table_info(entries)")}
            missing = set(_ENTRY_COLUMNS) - cols
            ber_cols = {r[1] for r in con.execute("PRAGMA table_info(accuracy_ber)")}
            if missing or not set(_BER_COLUMNS) <= ber_cols:
                raise _damaged(path, f"columns missing: {sorted(missing | (set(_BER_COLUMNS) - ber_cols))}")
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise _damaged(path, err) from None
    if meta.get("application") != APPLICATION_ID:
        raise _damaged(path, f"application={meta.get('application')!r}, expected {APPLICATION_ID!r}")
    if meta.get("schema_version") != str(SCHEMA_VERSION):
        raise ValueError(f"library={str(path)!r} has schema_version={meta.get('schema_version')!r}; "
                         f"allowed: {SCHEMA_VERSION} (rebuild it)")
    for key in ("root_state_sha256", "root_card", "data", "config", "seed"):
        if key not in meta:
            raise _damaged(path, f"meta has no {key!r}")
    try:
        for key in ("root_card", "data", "config"):
            json.loads(meta[key])
    except json.JSONDecodeError as err:
        raise _damaged(path, f"meta is not valid JSON: {err}") from None
    return meta


# ---------------------------------------------------------------- weight files

def _received_tensors(sub: SubModel) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """What goes in an entry's safetensors file: weights as received (integer codes + scales where the payload
    has them, fp16 or fp32 otherwise) and masks; bit widths and shapes go in the metadata."""
    tensors: dict[str, torch.Tensor] = {}
    state = transmitted_state(sub.module)
    for record in sub.payload.records:
        value = state[record.name].detach().cpu().float().contiguous()
        if record.bits in INT_BITS:
            scales = record.scales.astype(np.float32)
            per = max(1, record.numel // len(scales))
            channel = np.minimum(np.arange(record.numel) // per, len(scales) - 1)
            safe = np.where(scales > 0, scales, 1.0)[channel]
            codes = np.rint(value.numpy().reshape(-1) / safe).astype(np.int8).reshape(record.shape)
            tensors[record.name] = torch.from_numpy(codes)
            tensors[f"{record.name}::scales"] = torch.from_numpy(scales.copy())
        elif record.bits == 16:
            tensors[record.name] = value.half()
        else:
            tensors[record.name] = value
    for name, mask in sub.masks.items():
        tensors[f"{name}::mask"] = mask.detach().cpu().bool().contiguous()
    widths = {r.name: r.bits for r in sub.payload.records}
    meta = {"format": APPLICATION_ID, "schema_version": str(SCHEMA_VERSION), "depth": str(sub.spec.depth),
            "folded_bn": str(bool(getattr(sub.spec, "folds_bn", False))),
            "bits": json.dumps(widths), "architecture": json.dumps(sub.payload.architecture)}
    return tensors, meta


def _write_weights(sub: SubModel, path: Path) -> str:
    """Write atomically (temporary file, then rename) and return the file's sha256."""
    from safetensors.torch import save_file

    tensors, meta = _received_tensors(sub)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    digest = sha256_file(tmp)
    tmp.replace(path)
    return digest


def _read_weights(path: Path, expected_sha256: str | None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise ValueError(f"library weight file {str(path)!r} is missing")
    if expected_sha256 is not None:
        digest = sha256_file(path)
        if digest != expected_sha256:
            raise ValueError(f"library weight file {str(path)!r} is damaged: sha256 {digest[:12]}..., "
                             f"catalog says {expected_sha256[:12]}...")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, RuntimeError) as err:
        raise ValueError(f"library weight file {str(path)!r} is damaged: {err}") from None
    if meta.get("format") != APPLICATION_ID:
        raise ValueError(f"library weight file {str(path)!r} is not an AI library file "
                         f"(format={meta.get('format')!r})")
    return tensors, meta


def _module_from_tensors(tensors, meta, num_classes: int, in_channels: int, arch: str) -> tuple[
        DepthSubModel, dict[str, int], dict[str, torch.Tensor], dict[str, np.ndarray]]:
    depth = check_depth(int(meta["depth"]))
    widths = json.loads(meta["bits"])
    module = device_model(build_model(arch, num_classes, in_channels), depth)
    if meta.get("folded_bn") == "True":  # integer-coded sub-models are sent with BatchNorm folded into the convs
        from core.compress.common import fold_batchnorm

        fold_batchnorm(module)
    state = module.state_dict()
    masks, scales = {}, {}
    for name, width in widths.items():
        if name not in state or name not in tensors:
            raise ValueError(f"library weight file does not match a depth-{depth} {arch}: tensor {name!r}")
        t = tensors[name]
        if width in INT_BITS:
            s = tensors[f"{name}::scales"].float().numpy()
            per = max(1, t.numel() // len(s))
            channel = np.minimum(np.arange(t.numel()) // per, len(s) - 1)
            # Same arithmetic as core.compress.payload.words_to_values, so the weights are bit-identical to the decode.
            value = torch.from_numpy((t.numpy().reshape(-1).astype(np.float32) * s[channel]).reshape(t.shape))
            scales[name] = s
        else:
            value = t.float()
        if tuple(value.shape) != tuple(state[name].shape):
            raise ValueError(f"library weight file: tensor {name!r} has shape {tuple(value.shape)}, "
                             f"expected {tuple(state[name].shape)}")
        state[name].copy_(value.to(state[name].dtype))
        if f"{name}::mask" in tensors:
            masks[name] = tensors[f"{name}::mask"].bool()
    return module.eval(), {k: int(v) for k, v in widths.items()}, masks, scales


# ---------------------------------------------------------------- accuracy under bit errors

class SplitModule(torch.nn.Module):
    """Split inference as one module: the device's stages (names as in the payload), 8-bit features, then the
    root's server stages. Lets the channel Monte Carlo corrupt the downloaded part and score the split result."""

    def __init__(self, device: DepthSubModel, server: torch.nn.Module):
        super().__init__()
        self.stem, self.stages, self.head = device.stem, device.stages, device.head
        self.server = server

    def forward(self, x):
        for_device = self.stem(x)
        for stage in self.stages:
            for_device = stage(for_device)
        return self.server(quantise_features(for_device, FEATURE_BITS))


def _ber_rows(sub: SubModel, root: BackboneNet, data: DataSplits, cells, trials: int, seed: int) -> list[tuple]:
    """(mode, ber, protection, mean, std, trials) for every cell, from core.link.reliability imported at call time."""
    from core.link.reliability import WorkingCopy, accuracy_under_ber  # another engineer's module: optional

    rows = []
    modes = [("exit", sub)]
    if sub.spec.depth < NUM_STAGES:
        split = SplitModule(sub.module, server_model(root, sub.spec.depth))
        modes.append(("split", SubModel(sub.spec, split, sub.payload, sub.masks, sub.bits_map, sub.card)))
    for mode, model in modes:
        working = WorkingCopy(model)  # one private copy per mode, reused over the grid
        for ber, protection in cells:
            res = accuracy_under_ber(model, data, ber, protection, trials=trials, seed=seed, working=working)
            rows.append((mode, float(ber), protection, float(res.mean), float(res.std), int(trials)))
    return rows


def reliability_available() -> tuple[bool, str]:
    """Whether core.link.reliability.accuracy_under_ber can be imported, and why not."""
    try:
        from core.link.reliability import accuracy_under_ber  # noqa: F401
    except ImportError as err:
        return False, f"core.link.reliability.accuracy_under_ber not importable ({err})"
    return True, "core.link.reliability.accuracy_under_ber"


# ---------------------------------------------------------------- the library

@dataclass(frozen=True)
class BuildReport:
    """What one build call did: entries generated, BER cells measured, entries already there, seconds."""

    path: str
    generated: tuple[str, ...]
    skipped: tuple[str, ...]
    ber_cells: int
    ber_source: str
    seconds: float


class Library:
    """An opened AI library: read-only access to the catalog and the weight files (one connection per call)."""

    def __init__(self, folder: Path, meta: dict):
        self.folder = Path(folder)
        self.path = self.folder / CATALOG
        self.meta = dict(meta)
        self.config = LibraryConfig(**{k: tuple(v) if isinstance(v, list) else v
                                       for k, v in json.loads(meta["config"]).items()})
        self.root_card = json.loads(meta["root_card"])
        self.data_identity = json.loads(meta["data"])
        self.seed = int(meta["seed"])

    @property
    def root_sha256(self) -> str:
        return self.meta["root_state_sha256"]

    def _query(self, sql: str, args=()) -> pd.DataFrame:
        try:
            con = _connect(self.path, readonly=True)
            try:
                return pd.read_sql_query(sql, con, params=args)
            finally:
                con.close()
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as err:
            raise _damaged(self.path, err) from None

    def entries(self) -> pd.DataFrame:
        """One row per sub-model: every card field, tier, weight file and its sha256 (``id`` is the entry id)."""
        df = self._query("SELECT * FROM entries ORDER BY id")
        return df

    def ber_table(self) -> pd.DataFrame:
        """Accuracy under bit errors: entry_id, mode (exit or split), ber, protection, mean, std, trials."""
        return self._query("SELECT * FROM accuracy_ber ORDER BY entry_id, mode, protection, ber")

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM entries")["n"].iloc[0])

    def entry(self, entry_id: int) -> dict:
        df = self._query("SELECT * FROM entries WHERE id = ?", (int(entry_id),))
        if df.empty:
            ids = self._query("SELECT id FROM entries")["id"].tolist()
            raise ValueError(f"entry_id={entry_id!r} is not in the library; allowed: {ids}")
        return df.iloc[0].to_dict()

    def _tensors(self, entry_id: int, verify: bool = True):
        row = self.entry(entry_id)
        tensors, meta = _read_weights(self.folder / row["file"], row["file_sha256"] if verify else None)
        return row, tensors, meta

    def load_module(self, entry_id: int, verify: bool = True) -> DepthSubModel:
        """The device model of an entry, as received at BER 0 (safetensors, no pickle; sha256 checked)."""
        row, tensors, meta = self._tensors(entry_id, verify)
        module, _, _, _ = _module_from_tensors(tensors, meta, len(self.root_card["classes"]),
                                               int(self.root_card["input_shape"][0]), self.root_card["arch"])
        return module

    def load_submodel(self, entry_id: int, verify: bool = True) -> SubModel:
        """The entry as a SubModel (module, re-encoded payload, masks, bits, card) for Monte Carlo channels."""
        row, tensors, meta = self._tensors(entry_id, verify)
        module, widths, masks, scales = _module_from_tensors(
            tensors, meta, len(self.root_card["classes"]), int(self.root_card["input_shape"][0]),
            self.root_card["arch"])
        formats = {n: TensorFormat(bits=b, scales=scales.get(n),
                                   mask=None if n not in masks else masks[n].numpy().astype(bool))
                   for n, b in widths.items()}
        payload = encode(transmitted_state(module), formats, json.loads(meta["architecture"]))
        if payload.total_bits != int(row["total_bits"]):
            raise ValueError(f"library entry {entry_id}: re-encoded payload has {payload.total_bits} bits, "
                             f"catalog says {int(row['total_bits'])}")
        return SubModel(_spec_from_row(row), module, payload, masks, widths, _card_from_row(row))

    def verify(self) -> None:
        """Check every weight file against its sha256 (ValueError naming the first damaged one)."""
        for _, row in self.entries().iterrows():
            _read_weights(self.folder / row["file"], row["file_sha256"])


def _spec_from_row(row) -> SubModelSpec:
    return SubModelSpec(depth=int(row["depth"]), keep_ratio=float(row["keep_ratio"]), bits=int(row["bits"]),
                        retrain_steps=int(row["retrain_steps"]))


def _card_from_row(row) -> SubModelCard:
    parts = {p: int(row[f"bits_{p}"]) for p in ("values", "index", "scales", "ranges", "topology", "payload",
                                                 "reliable")}
    parts["total"] = int(row["total_bits"])
    fields = set(SubModelCard.__dataclass_fields__) - {"bits_by_part", "layer_bits", "layer_density"}
    kwargs = {f: row[f] for f in fields}
    for f in ("accuracy_before_retrain", "accuracy_before_qat"):
        if kwargs[f] is None or (isinstance(kwargs[f], float) and math.isnan(kwargs[f])):
            kwargs[f] = None
    return SubModelCard(bits_by_part=parts, layer_bits=json.loads(row["layer_bits"]),
                        layer_density=json.loads(row["layer_density"]), **kwargs)


def open_library(path: str | Path, *, root: BackboneNet | str | Path | None = None,
                 verify_files: bool = False) -> Library:
    """Open a library folder (or its catalog.sqlite); ValueError if it is damaged, foreign or of another root.

    ``root`` (a model or checkpoint path), when given, must be the root model the library was built from.
    ``verify_files`` also checks every weight file's sha256 (reads them all).
    """
    p = Path(path)
    folder = p.parent if p.name == CATALOG else p
    meta = _check_catalog(folder / CATALOG)
    lib = Library(folder, meta)
    if root is not None:
        model = load_checkpoint(root)[0] if isinstance(root, (str, Path)) else root
        digest = state_sha256(model)
        if digest != lib.root_sha256:
            raise ValueError(f"library={str(folder)!r} was built from root model {lib.root_sha256[:12]}..., "
                             f"not from the given root {digest[:12]}...")
    if verify_files:
        lib.verify()
    return lib


# ---------------------------------------------------------------- building

def _load_root(root_path_or_model) -> tuple[BackboneNet, dict, str]:
    if isinstance(root_path_or_model, BackboneNet):
        model = root_path_or_model
        card = {"arch": "resnet18", "classes": [str(i) for i in range(model.num_classes)],
                "input_shape": None, "source": "model object"}
        return model, card, ""
    if isinstance(root_path_or_model, (str, Path)):
        model, card = load_checkpoint(root_path_or_model)
        file_sha = sha256_file(Path(root_path_or_model).with_suffix(".safetensors"))
        return model, asdict(card), file_sha
    raise ValueError(f"root_path_or_model={root_path_or_model!r} must be a BackboneNet or a checkpoint path")


def _init_catalog(path: Path, root: BackboneNet, card: dict, file_sha: str, data: DataSplits,
                  config: LibraryConfig, seed: int) -> None:
    root_sha = state_sha256(root)
    data_id = _data_identity(data)
    if path.exists():
        meta = _check_catalog(path)
        if meta["root_state_sha256"] != root_sha:
            raise ValueError(f"out_dir={str(path.parent)!r} holds a library of another root model "
                             f"({meta['root_state_sha256'][:12]}..., given {root_sha[:12]}...); use another out_dir")
        if json.loads(meta["data"]) != data_id:
            raise ValueError(f"out_dir={str(path.parent)!r} holds a library measured on other data "
                             f"({meta['data']}); use another out_dir")
        if int(meta["seed"]) != seed:
            raise ValueError(f"seed={seed!r} differs from the library's seed {meta['seed']}; allowed: "
                             f"{meta['seed']} (or another out_dir)")
        con = _connect(path)
        with con:
            con.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (config.to_json(),))
        con.close()
        return
    card = dict(card)
    if card.get("input_shape") is None:
        card["input_shape"] = list(data.input_shape)
        card["classes"] = list(data.classes)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = _connect(tmp)
    with con:
        for stmt in _SCHEMA:
            con.execute(stmt)
        con.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("application", APPLICATION_ID), ("schema_version", str(SCHEMA_VERSION)),
            ("root_state_sha256", root_sha), ("root_checkpoint_sha256", file_sha),
            ("root_card", json.dumps(card)), ("data", json.dumps(data_id)), ("config", config.to_json()),
            ("seed", str(seed)), ("created", time.strftime("%Y-%m-%dT%H:%M:%S")),
            ("tier_rule", tier_for_entry.__doc__.split("Rule: ")[1].strip())])
    con.close()
    tmp.replace(path)  # a catalog exists only once its schema and identity are complete


def _retrained_root(root: BackboneNet, module: DepthSubModel) -> BackboneNet:
    """A copy of the root whose first ``depth`` stages and exit are those of a pruned, re-trained sub-model."""
    out = copy.deepcopy(root)
    k = module.depth
    out.stem = copy.deepcopy(module.stem)
    for i in range(k):
        out.stages[i] = copy.deepcopy(module.stages[i])
    out.exits[k - 1] = copy.deepcopy(module.head)
    return out.eval()


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


def build_library(root_path_or_model, data: DataSplits, out_dir: str | Path,
                  config: LibraryConfig | None = None, seed: int = 0, progress: bool = True,
                  on_entry: Callable[[str, int], None] | None = None) -> BuildReport:
    """Build or complete the library in ``out_dir``: generate only entries (and BER cells) that are missing.

    Each entry is saved atomically: weights to a temporary file renamed into place, then its row and its BER
    rows in one transaction. ``on_entry(key, n_done)`` is called after each committed entry (progress hooks,
    tests that interrupt a build). Pure function of (root, data, config, seed).
    """
    from tqdm.auto import tqdm

    config = LibraryConfig() if config is None else config
    if not isinstance(config, LibraryConfig):
        raise ValueError(f"config={config!r} must be a LibraryConfig")
    check_int("seed", seed, 0)
    started = time.perf_counter()
    root, card, file_sha = _load_root(root_path_or_model)
    root.eval()
    if root.num_classes != data.num_classes or root.in_channels != data.input_shape[0]:
        raise ValueError(f"data={data.name!r} ({data.num_classes} classes, {data.input_shape[0]} channels) does "
                         f"not match the root model ({root.num_classes} classes, {root.in_channels} channels)")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for stray in folder.glob("*.tmp"):  # left by an interrupted write: never part of the library
        stray.unlink()
    path = folder / CATALOG
    _init_catalog(path, root, card, file_sha, data, config, seed)
    lib = Library(folder, _check_catalog(path))
    have = lib.entries().set_index("key") if len(lib) else pd.DataFrame()
    ber_have = lib.ber_table()
    can_ber, ber_source = reliability_available() if config.ber_grid and config.protections else (False, "no grid")
    if not can_ber and config.ber_grid and config.protections:
        print(f"accuracy on the BER grid skipped: {ber_source}", file=sys.stderr)
    cells = [(b, p) for b in config.ber_grid for p in config.protections] if can_ber else []

    def missing_cells(entry_id: int, depth: int) -> list:
        mine = ber_have[ber_have.entry_id == entry_id]
        done = {(m, round(b, 15), p) for m, b, p in zip(mine["mode"], mine["ber"], mine["protection"])}
        modes = MODES if depth < NUM_STAGES else MODES[:1]
        return [(b, p) for b, p in cells if any((m, round(b, 15), p) not in done for m in modes)]

    specs = config.specs()
    generated, skipped, ber_count = [], [], 0
    server_macs: dict[int, int] = {}
    bases: dict[tuple[int, float], BackboneNet] = {}
    bar = tqdm(total=len(specs), desc="AI library", unit="entry", disable=not progress)
    con = _connect(path)
    try:
        for spec in specs:
            key = entry_key(spec)
            if key in have.index:
                entry_id = int(have.loc[key, "id"])
                todo = missing_cells(entry_id, int(have.loc[key, "depth"]))
                if todo:  # entry finished earlier, BER cells added since (e.g. reliability landed later)
                    sub = lib.load_submodel(entry_id)
                    rows = [(entry_id, *r) for r in _ber_rows(sub, root, data, todo, config.trials, seed)]
                    with con:
                        con.executemany("INSERT OR REPLACE INTO accuracy_ber VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                    ber_count += len(rows)
                skipped.append(key)
                bar.update(1)
                continue
            bar.set_postfix_str(spec.label)
            t0 = time.perf_counter()
            sub, extra_seconds = _generate(root, data, spec, seed, lib, have, bases)
            if spec.depth not in server_macs:
                feature_shape = tuple(root.features(torch.zeros(1, *data.input_shape), spec.depth).shape[1:])
                server_macs[spec.depth] = count_macs(server_model(root, spec.depth), feature_shape)[0] \
                    if spec.depth < NUM_STAGES else 0
            split_acc = _split_accuracy(sub.module, root, data)
            ber_rows = _ber_rows(sub, root, data, cells, config.trials, seed) if cells else []
            fname = f"{key}.safetensors"
            digest = _write_weights(sub, folder / fname)
            c = sub.card
            parts = c.bits_by_part
            row = {**{f: getattr(c, f) for f in ("technique", "label", "depth", "keep_ratio", "bits", "parameters",
                                                  "nonzero_parameters", "total_bits", "root_bits", "size_pct_of_root",
                                                  "device_macs", "effective_macs", "device_memory_bytes",
                                                  "uplink_bits_per_sample", "accuracy", "accuracy_before_retrain",
                                                  "accuracy_before_qat")},
                   **{f"bits_{p}": int(parts[p]) for p in ("values", "index", "scales", "ranges", "topology",
                                                           "payload", "reliable")},
                   "key": key, "retrain_steps": spec.retrain_steps, "server_macs": server_macs[spec.depth],
                   "split_accuracy": split_acc,
                   "generation_seconds": round(time.perf_counter() - t0 + extra_seconds, 3),
                   "layer_bits": json.dumps(c.layer_bits), "layer_density": json.dumps(c.layer_density),
                   "tier": tier_for_entry(c.technique, c.total_bits), "file": fname, "file_sha256": digest,
                   "seed": seed, "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
            with con:  # the row and its BER cells appear together or not at all
                cur = con.execute(f"INSERT INTO entries ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                  tuple(row.values()))
                con.executemany("INSERT INTO accuracy_ber VALUES (?, ?, ?, ?, ?, ?, ?)",
                                [(cur.lastrowid, *r) for r in ber_rows])
            generated.append(key)
            ber_count += len(ber_rows)
            bar.update(1)
            if on_entry is not None:
                on_entry(key, len(generated))
    finally:
        con.close()
        bar.close()
    if can_ber:
        with _connect(path) as con2:
            con2.execute("INSERT OR REPLACE INTO meta VALUES ('ber_source', ?)", (ber_source,))
        con2.close()
    return BuildReport(str(folder), tuple(generated), tuple(skipped), ber_count,
                       ber_source if cells else f"skipped: {ber_source}", round(time.perf_counter() - started, 2))


def _generate(root, data, spec: SubModelSpec, seed: int, lib: Library, have: pd.DataFrame,
              bases: dict) -> tuple[SubModel, float]:
    """Generate one entry. Pruned entries share one re-training per (depth, keep ratio): the re-trained fp32
    sub-model (from this build, or from the library's fp32 entry) is put back into a root copy and quantised
    without re-training, which is exactly what generate() does after re-training (masks are re-derived from the
    exact zeros and checked). Returns the sub-model and the seconds of shared re-training it used."""
    if spec.keep_ratio >= 1.0 or spec.retrain_steps == 0:
        return generate(root, data, spec, seed), 0.0
    group = (spec.depth, spec.keep_ratio)
    extra = 0.0
    if group not in bases:
        base_spec = SubModelSpec(depth=spec.depth, keep_ratio=spec.keep_ratio, bits=32,
                                 retrain_steps=spec.retrain_steps)
        base_key = entry_key(base_spec)
        if spec.bits == 32:
            sub = generate(root, data, spec, seed)
            bases[group] = (_retrained_root(root, sub.module), sub.masks)
            return sub, 0.0
        t0 = time.perf_counter()
        if base_key in have.index:
            module = lib.load_module(int(have.loc[base_key, "id"]))
            masks = lib.load_submodel(int(have.loc[base_key, "id"])).masks
        else:
            base = generate(root, data, base_spec, seed, evaluate=False)
            module, masks = base.module, base.masks
        bases[group] = (_retrained_root(root, module), masks)
        extra = time.perf_counter() - t0
    base_root, masks = bases[group]
    quick = SubModelSpec(depth=spec.depth, keep_ratio=spec.keep_ratio, bits=spec.bits, retrain_steps=0)
    sub = generate(base_root, data, quick, seed)
    if set(sub.masks) != set(masks) or any(not torch.equal(sub.masks[n], masks[n]) for n in masks):
        sub = generate(root, data, spec, seed)  # a re-trained weight hit exactly zero: do it the long way
        return sub, 0.0
    card = sub.card.__class__(**{**sub.card.__dict__, "accuracy_before_retrain": None})
    return SubModel(spec, sub.module, sub.payload, sub.masks, sub.bits_map, card), extra


# ---------------------------------------------------------------- command line

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.network.library", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build or complete a library (only missing entries are generated)")
    b.add_argument("--out", default="library/digits", help="library folder (default: library/digits)")
    b.add_argument("--checkpoint", default=None, help="root checkpoint (default: the shipped digits model); "
                   "its card names the data set and data_dir")
    b.add_argument("--quick", action="store_true", help="a small library for a smoke test (about a minute)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--retrain-steps", type=int, default=None)
    b.add_argument("--trials", type=int, default=None)
    s = sub.add_parser("show", help="print a library's entries")
    s.add_argument("path")
    args = parser.parse_args(argv)
    try:
        if args.command == "show":
            lib = open_library(args.path)
            cols = ["id", "key", "technique", "tier", "total_bits", "size_pct_of_root", "device_memory_bytes",
                    "accuracy", "split_accuracy"]
            print(lib.entries()[cols].to_string(index=False))
            return 0
        from core.model.data import load_for_card
        from core.model.models import DEFAULT_CHECKPOINT

        config = QUICK_CONFIG if args.quick else LibraryConfig()
        overrides = {k: v for k, v in (("retrain_steps", args.retrain_steps), ("trials", args.trials))
                     if v is not None}
        if overrides:
            config = LibraryConfig(**{**asdict(config), **overrides})
        checkpoint = Path(args.checkpoint) if args.checkpoint else DEFAULT_CHECKPOINT
        card = load_checkpoint(checkpoint)[1]
        data = load_for_card(card)  # the root model's own data and split (its card names the data_dir)
        report = build_library(checkpoint, data, args.out, config, args.seed, progress=True)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{report.path}: {len(report.generated)} generated, {len(report.skipped)} already there, "
          f"{report.ber_cells} BER cells ({report.ber_source}), {report.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
