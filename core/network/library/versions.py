"""Versions of a library entry (issue 23): a sub-model improved after the build, e.g. by federated rounds on devices
that keep their photos, is stored as a new version of the same entry: the same depth, keep ratio, bits and size,
its own weights, card, BER cells (measured as the build measures them), provenance and sha256.

A built entry is version 1; its improved versions are ``<key>-v2``, ``<key>-v3``, ... Their weight files (compact,
weights.py) live in the library's ``versions/`` folder, and beside a shipped catalog in
``assets/library/<root>/versions/``: unlike built entries they cannot be made again from the root.
The engine's verb is ``store_version(folder, parent_key, entry, state, provenance, root, data)``; the command is
``python -m core.network.library improve`` (cli.py), which runs the federated rounds and stores the result.
"""
from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core.compress.combine import SubModel, load_received
from core.compress.common import count_macs, transmitted_state
from core.compress.payload import TensorFormat, encode
from core.compress.quantize import scales_for
from core.model.evaluate import accuracy
from core.model.models import NUM_STAGES
from core.model.splits import DataSplits
from core.sweep import SERIAL, Executor, share
from core.validation import check_choice, check_int, check_range

from .catalog import (CATALOG, ENTRY_COLUMNS, build_lock, check_catalog, connect, data_identity, migrate_versions,
                      state_sha256)
from .config import LibraryConfig
from .reader import Library
from .weights import weights_bytes, write_atomic

VERSIONS_DIR = "versions"  # in the library folder (and beside a shipped catalog): one file per improved version
METHOD_FEDERATED = "federated (Flower FedAvg)"
SPLIT_WORDS = {"dirichlet": "Dirichlet", "by_class": "by class"}
IMPROVE_COMMAND = ("python -m core.network.library improve --root <root> --entry <entry key> --devices 4 "
                   "--rounds 2")


def version_key(base_key: str, version: int) -> str:
    """The key of version ``version`` (2, 3, ...) of the built entry ``base_key``."""
    check_int("version", version, 2)
    return f"{base_key}-v{version}"


def version_file(key: str) -> str:
    """A version's weight file, relative to the library folder."""
    return f"{VERSIONS_DIR}/{key}.safetensors"


@dataclass(frozen=True)
class Provenance:
    """How a version was made: the method, the entry it started from, the federated run's settings (devices, rounds,
    local steps, batch, learning rate, update bits, the split of the photos and its alpha or classes per device),
    its seed, Flower's version, the accuracy after each round (index 0: as downloaded) on ``test_images`` test
    photos, each device's photos, the mean uplink bits of one device's update, seconds, and where it ran."""

    method: str
    parent: str
    devices: int
    rounds: int
    local_steps: int
    batch_size: int
    lr: float
    update_bits: int
    split: str
    alpha: float | None
    classes_per_device: int | None
    seed: int
    flwr_version: str
    accuracy_per_round: tuple[float, ...]
    test_images: int
    photos_per_device: tuple[int, ...] = ()
    uplink_bits_per_update: int = 0
    seconds: float = 0.0
    where: str = ""

    def __post_init__(self):
        for name in ("method", "parent", "flwr_version"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name}={getattr(self, name)!r} must be a non-empty text")
        for name in ("devices", "rounds", "local_steps", "batch_size", "update_bits", "test_images"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        check_int("uplink_bits_per_update", self.uplink_bits_per_update, 0)
        check_range("lr", self.lr, 0.0, lo_open=True)
        check_range("seconds", self.seconds, 0.0)
        check_choice("split", self.split, tuple(SPLIT_WORDS))
        if self.alpha is not None:
            check_range("alpha", self.alpha, 0.0, lo_open=True)
        if self.classes_per_device is not None:
            check_int("classes_per_device", self.classes_per_device, 1)
        object.__setattr__(self, "accuracy_per_round", tuple(
            check_range("accuracy_per_round", float(a), 0.0, 1.0) for a in self.accuracy_per_round))
        object.__setattr__(self, "photos_per_device", tuple(
            check_int("photos_per_device", int(p), 0) for p in self.photos_per_device))
        if len(self.accuracy_per_round) != self.rounds + 1:
            raise ValueError(f"accuracy_per_round has {len(self.accuracy_per_round)} values; allowed: rounds + 1 = "
                             f"{self.rounds + 1} (as downloaded, then after each round)")

    @classmethod
    def from_federated(cls, result, parent: str, where: str = "", flwr_version: str | None = None) -> "Provenance":
        """The provenance of ``result`` (core.federated.flower.FederatedResult) run on ``parent``'s sub-model."""
        if flwr_version is None:
            from importlib.metadata import PackageNotFoundError, version

            try:
                flwr_version = version("flwr")
            except PackageNotFoundError:
                flwr_version = "unknown"
        c = result.config
        bits = np.asarray(result.uplink_bits)
        return cls(method=METHOD_FEDERATED, parent=parent, devices=int(c.devices), rounds=int(c.rounds),
                   local_steps=int(c.local_steps), batch_size=int(c.batch_size), lr=float(c.lr),
                   update_bits=int(c.update_bits), split=str(c.split),
                   alpha=float(c.alpha) if c.split == "dirichlet" else None,
                   classes_per_device=int(c.classes_per_device) if c.split == "by_class" else None,
                   seed=int(result.seed), flwr_version=str(flwr_version),
                   accuracy_per_round=tuple(float(a) for a in result.accuracy), test_images=int(result.test_images),
                   photos_per_device=tuple(int(p) for p in result.photos),
                   uplink_bits_per_update=int(round(float(bits.mean()))) if bits.size else 0,
                   seconds=float(result.seconds), where=where)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Provenance":
        names = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})

    def words(self, parent: str | None = None) -> str:
        """In plain words, for pages and the command line; ``parent`` names the entry it started from (default its
        key; a page gives its label)."""
        share = (f"a Dirichlet share (alpha {self.alpha:g}) of the training photos" if self.split == "dirichlet"
                 else f"the training photos of {self.classes_per_device} classes")
        curve = ", ".join(f"{a:.1%}" for a in self.accuracy_per_round)
        photos = (f", {min(self.photos_per_device):,}-{max(self.photos_per_device):,} photos each"
                  if self.photos_per_device else "")
        where = f" {self.where}" if self.where else ""
        averaged = ("averaged on the server, weighted by each device's photos (federated averaging, Flower "
                    f"{self.flwr_version})" if self.method == METHOD_FEDERATED else
                    f"combined by {self.method} (Flower {self.flwr_version})")
        return (f"Improved from {parent or self.parent} by federated learning on {self.devices} devices that keep "
                f"their photos (each holds {share}{photos}): {self.rounds} round{'s' if self.rounds != 1 else ''} of "
                f"{self.local_steps} training steps of {self.batch_size} photos on each device, updates sent as "
                f"{self.update_bits}-bit codes and {averaged}; seed {self.seed}, {self.seconds:.0f} s{where}. "
                f"Accuracy on {self.test_images:,} test photos as downloaded, then after each round: {curve}.")


@dataclass(frozen=True)
class VersionReport:
    """One stored version: its key, entry id, the entry it was improved from and the built entry it is a version of,
    its weight file (path, bytes, sha256), size, clean accuracy beside its parent's (on the whole test split), the
    BER cells measured, and seconds (making the card, measuring the cells, in all)."""

    key: str
    entry_id: int
    parent: str
    base_key: str
    version: int
    file: str
    file_bytes: int
    file_sha256: str
    total_bits: int
    size_pct_of_root: float
    accuracy: float
    parent_accuracy: float
    split_accuracy: float | None
    parent_split_accuracy: float | None
    ber_cells: int
    card_seconds: float
    ber_seconds: float
    seconds: float


def version_submodel(entry: SubModel, state: dict[str, torch.Tensor]) -> SubModel:
    """The sub-model ``entry`` holding ``state`` (tensor name -> values; names it leaves out keep the entry's), kept
    on the entry's compression: pruned weights zero, every tensor on its width's grid with fresh per-channel scales,
    exactly as the device receives it. ``entry`` is never changed; the card is left to the caller (None)."""
    if not isinstance(entry, SubModel):
        raise ValueError(f"entry={entry!r} must be a SubModel (Library.load_submodel or generate)")
    if not isinstance(state, dict) or not state:
        raise ValueError(f"state={type(state).__name__} must be a non-empty dict of tensor name -> tensor")
    module = copy.deepcopy(entry.module)
    sent = transmitted_state(module)
    unknown = sorted(set(state) - set(sent))
    if unknown:
        raise ValueError(f"state has tensors {unknown[:5]} that entry {entry.spec.label!r} does not have; allowed: "
                         f"{sorted(sent)[:5]}...")
    masks = {k: v.detach().bool().cpu() for k, v in (entry.masks or {}).items()}
    merged = {}
    for name, value in sent.items():
        new = torch.as_tensor(state.get(name, value)).detach().float().cpu()
        if tuple(new.shape) != tuple(value.shape):
            raise ValueError(f"state[{name!r}] has shape {tuple(new.shape)}; allowed: {tuple(value.shape)}")
        if name in masks:
            new = new * masks[name].to(new.dtype)  # pruned weights stay exactly zero
        merged[name] = new.to(value.dtype)
    module.load_state_dict(merged, strict=False)
    formats = {}
    for record in entry.payload.records:
        value = merged[record.name]
        mask = masks.get(record.name)
        formats[record.name] = TensorFormat(bits=record.bits, scales=scales_for(value, record.bits),
                                            mask=None if mask is None else mask.numpy().astype(bool))
    payload = encode(transmitted_state(module), formats, entry.payload.architecture)
    if payload.total_bits != entry.payload.total_bits:
        raise ValueError(f"the improved version of {entry.spec.label!r} would take {payload.total_bits} bits, the "
                         f"entry {entry.payload.total_bits}: a version must keep its entry's size")
    load_received(module, payload)
    return SubModel(entry.spec, module, payload, entry.masks, dict(entry.bits_map), None)


def _card_fields(sub: SubModel, parent: dict, root, data: DataSplits) -> dict:
    """The fields of a version's row measured afresh: clean accuracy on the whole test split (and with the server
    finishing), non-zero weights, each layer's kept share and the multiply-adds with pruned weights skipped."""
    from .cells import _split_accuracy

    module = sub.module.eval()
    params = dict(module.named_parameters())
    density = {n: float((params[n] != 0).float().mean()) for n in json.loads(parent["layer_density"]) if n in params}
    effective = count_macs(module, data.input_shape, density)[1]
    return {"accuracy": accuracy(module, data, "test"),
            "split_accuracy": _split_accuracy(module, root, data) if sub.spec.depth < NUM_STAGES else None,
            "nonzero_parameters": int(sum(int((p != 0).sum()) for p in module.parameters())),
            "effective_macs": int(effective), "layer_density": json.dumps(density)}


def store_version(folder: str | Path, parent_key: str, entry: SubModel, state: dict[str, torch.Tensor],
                  provenance: Provenance, root, data: DataSplits, *, executor: Executor | None = None,
                  config: LibraryConfig | None = None, progress=False) -> VersionReport:
    """Store ``state`` as the next version of the library entry ``parent_key`` (a built entry or a version of one):
    its weight file in ``versions/`` (compact, sha256 in the catalog), its card measured afresh, its provenance, and
    its accuracy under bit errors measured as the build measures it (``config``: the library's own by default; the
    cells run on ``executor``, this process by default). ``entry`` is the parent's sub-model as loaded (the
    compression the version keeps). Holds the library's build lock; a schema-3 catalog gets the versions table.
    Returns the VersionReport; ValueError naming the argument for a wrong library, root, data, key or state."""
    from .build import _Bars, _measure_ber

    started = time.perf_counter()
    folder = Path(folder)
    path = folder / CATALOG
    if not isinstance(entry, SubModel):
        raise ValueError(f"entry={entry!r} must be a SubModel (Library.load_submodel or load_entry_noting)")
    if not isinstance(root, torch.nn.Module):
        raise ValueError(f"root={type(root).__name__} must be the library's root model (a BackboneNet)")
    if not isinstance(provenance, Provenance):
        raise ValueError(f"provenance={provenance!r} must be a Provenance")
    if not isinstance(data, DataSplits):
        raise ValueError(f"data={data!r} must be a DataSplits (core.model.data)")
    executor = SERIAL if executor is None else executor
    if not isinstance(executor, Executor):
        raise ValueError(f"executor={executor!r} must be a core.sweep.Executor")
    with build_lock(folder):
        lib = Library(folder, check_catalog(path))
        config = lib.config if config is None else config
        if not isinstance(config, LibraryConfig):
            raise ValueError(f"config={config!r} must be a LibraryConfig")
        if state_sha256(root) != lib.root_sha256:
            raise ValueError(f"root is not the root model of library={str(folder)!r} (sha256 "
                             f"{state_sha256(root)[:12]}..., library {lib.root_sha256[:12]}...)")
        if data_identity(data) != lib.data_identity:
            raise ValueError(f"data={data.name!r} is not the data library={str(folder)!r} was measured on "
                             f"({lib.data_identity})")
        entries = lib.entries()
        rows = entries.set_index("key")
        if parent_key not in rows.index:
            raise ValueError(f"parent_key={parent_key!r} is not in library {folder.name}; allowed: "
                             f"{sorted(rows.index)[:8]}{' ...' if len(rows) > 8 else ''}")
        parent = {**rows.loc[parent_key].to_dict(), "key": parent_key}
        if entry.payload.total_bits != int(parent["total_bits"]) or entry.spec.depth != int(parent["depth"]):
            raise ValueError(f"entry ({entry.spec.label}, {entry.payload.total_bits} bits) is not the sub-model of "
                             f"parent_key={parent_key!r} ({parent['label']}, {int(parent['total_bits'])} bits)")
        base = parent["base_key"]
        number = int(entries.loc[entries["base_key"] == base, "version"].max()) + 1
        key = version_key(base, number)
        t0 = time.perf_counter()
        sub = version_submodel(entry, state)
        measured = _card_fields(sub, parent, root, data)
        card_seconds = time.perf_counter() - t0
        fname = version_file(key)
        (folder / VERSIONS_DIR).mkdir(exist_ok=True)
        blob = weights_bytes(sub, compact=True)
        digest = write_atomic(blob, folder / fname)
        migrate_versions(path)
        parts = sub.payload.bits_by_part()
        row = {k: parent[k] for k in ENTRY_COLUMNS}
        row.update({**measured, "key": key, "label": f"{rows.loc[base, 'label']}, improved (version {number})",
                    "total_bits": int(parts["total"]), **{f"bits_{p}": int(parts[p]) for p in (
                        "values", "index", "scales", "ranges", "topology", "payload", "reliable")},
                    "accuracy_before_retrain": None, "accuracy_before_qat": None,
                    "generation_seconds": round(float(provenance.seconds), 3), "file": fname, "file_sha256": digest,
                    "seed": int(provenance.seed), "created": time.strftime("%Y-%m-%dT%H:%M:%S")})
        row = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
        con = connect(path)
        try:
            with con:  # the row and its version together, or neither (and then no file either)
                cur = con.execute(f"INSERT INTO entries ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                  tuple(_plain(v) for v in row.values()))
                entry_id = int(cur.lastrowid)
                con.execute("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                            (entry_id, parent_key, base, number, provenance.method, provenance.to_json(),
                             row["created"]))
        except BaseException:
            (folder / fname).unlink(missing_ok=True)
            raise
        finally:
            con.close()
        lib = Library(folder, check_catalog(path))
        try:
            lib.load_submodel(entry_id)  # the stored file reads back: sha256, sizes and shapes as the catalog says
        except ValueError:
            _remove(path, entry_id, folder / fname)
            raise
        bars = _Bars(progress)
        t1 = time.perf_counter()
        try:
            shared = share(executor, root=root, data=data, root_card=lib.root_card)
            cells = _measure_ber(path, lib, shared, executor, config, lib.seed, bars, only={entry_id})
        finally:
            bars.close()
        ber_seconds = time.perf_counter() - t1
    return VersionReport(
        key=key, entry_id=entry_id, parent=parent_key, base_key=base, version=number, file=str(folder / fname),
        file_bytes=len(blob), file_sha256=digest, total_bits=int(parts["total"]),
        size_pct_of_root=float(row["size_pct_of_root"]), accuracy=float(measured["accuracy"]),
        parent_accuracy=float(parent["accuracy"]), split_accuracy=measured["split_accuracy"],
        parent_split_accuracy=_or_none(parent.get("split_accuracy")), ber_cells=cells,
        card_seconds=round(card_seconds, 2), ber_seconds=round(ber_seconds, 2),
        seconds=round(time.perf_counter() - started, 2))


def _plain(value):
    """sqlite takes Python numbers, not numpy ones."""
    return value.item() if isinstance(value, np.generic) else value


def _or_none(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _remove(path: Path, entry_id: int, file: Path) -> None:
    con = connect(path)
    try:
        with con:
            con.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
    finally:
        con.close()
    file.unlink(missing_ok=True)


def compare_table(lib: Library, protection: str = "none", mode: str = "exit") -> pd.DataFrame:
    """Every version beside the entry it was improved from: one row per (version, side) with ``pair`` (the version's
    key), ``side`` ("improved from" or "version"), the entry's id, key, label, version, total_bits, size_pct_of_root,
    accuracy, split_accuracy, file_sha256, the provenance in words (on the version's row), and the accuracy under
    bit errors at each BER the library measured (columns ``ber <value>``) for ``protection`` and ``mode``. Empty
    without versions."""
    versions = lib.versions()
    if versions.empty:
        return pd.DataFrame()
    entries = lib.entries().set_index("key")
    cells = lib.ber_table()
    cells = cells[(cells["protection"] == protection) & (cells["mode"] == mode)]
    wide = cells.pivot_table(index="entry_id", columns="ber", values="mean")
    wide.columns = [f"ber {b:g}" for b in wide.columns]
    rows = []
    for v in versions.itertuples():
        for side, key in (("improved from", v.parent_key), ("version", v.key)):
            e = entries.loc[key]
            rows.append({"pair": v.key, "side": side, "id": int(e["id"]), "key": key, "label": e["label"],
                         "version": int(e["version"]),
                         "total_bits": int(e["total_bits"]), "size_pct_of_root": float(e["size_pct_of_root"]),
                         "accuracy": float(e["accuracy"]), "split_accuracy": _or_none(e["split_accuracy"]),
                         "file_sha256": e["file_sha256"],
                         "provenance": (Provenance.from_dict(v.provenance).words(entries.loc[v.parent_key, "label"])
                                        if side == "version" else ""),
                         **{c: (wide.loc[int(e["id"]), c] if int(e["id"]) in wide.index else float("nan"))
                            for c in wide.columns}})
    return pd.DataFrame(rows)
