"""Reading an AI library: ``open_library`` checks the catalog (and optionally every weight file); ``Library``
answers queries (entries with their versions, BER table) and loads an entry's sub-model from its safetensors file,
sha256 checked."""
from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from core.compress.combine import SubModel, SubModelCard, SubModelSpec
from core.model.models import BackboneNet, DepthSubModel, load_checkpoint

from core.link.reliability import wilson_interval

from .catalog import CATALOG, check_catalog, connect, damaged, state_sha256
from .config import LibraryConfig
from .weights import (file_problem, module_from_tensors, parse_weights, read_weights, sha256_bytes,
                      submodel_from_tensors)


@dataclass(frozen=True)
class DamagedEntry:
    """A catalog entry whose weight file cannot be used, and why."""

    id: int
    key: str
    file: str
    problem: str
    version: int = 1  # > 1: an improved version, which cannot be made again from the root (versions.py)


class Library:
    """An opened AI library: read-only access to the catalog and the weight files (one connection per call)."""

    def __init__(self, folder: Path, meta: dict):
        self.folder = Path(folder)
        self.path = self.folder / CATALOG
        self.meta = dict(meta)
        try:
            self.config = LibraryConfig.from_json(meta["config"])
        except (ValueError, TypeError) as err:
            raise damaged(self.path, f"its config does not parse: {err}") from None
        self.root_card = json.loads(meta["root_card"])
        self.data_identity = json.loads(meta["data"])
        self.seed = int(meta["seed"])
        self.schema = int(meta["schema_version"])

    @property
    def root_sha256(self) -> str:
        return self.meta["root_state_sha256"]

    def _query(self, sql: str, args=()) -> pd.DataFrame:
        try:
            con = connect(self.path, readonly=True)
            try:
                return pd.read_sql_query(sql, con, params=args)
            finally:
                con.close()
        except (sqlite3.DatabaseError, pd.errors.DatabaseError) as err:
            raise damaged(self.path, err) from None

    def _entries_sql(self, where: str = "") -> str:
        if self.schema < 4:  # a catalog of schema 3 has no versions table: every entry is a built one
            return f"SELECT e.*, 1 AS version, '' AS parent, e.key AS base_key FROM entries e {where} ORDER BY e.id"
        return ("SELECT e.*, COALESCE(v.version, 1) AS version, COALESCE(v.parent_key, '') AS parent, "
                "COALESCE(v.base_key, e.key) AS base_key FROM entries e LEFT JOIN versions v ON v.entry_id = e.id "
                f"{where} ORDER BY e.id")

    def entries(self) -> pd.DataFrame:
        """One row per sub-model: every card field, tier, weight file and its sha256 (``id`` is the entry id), and
        its version: ``version`` (1: as built; 2, 3, ...: improved versions, versions.py), ``parent`` (the key of
        the entry a version was improved from; "" for a built entry), ``base_key`` (the built entry it is a version
        of; its own key for a built entry), ``latest`` (no newer version of the same sub-model in the library) and
        ``newer_version`` (the key of the newest version where there is one, else "")."""
        table = self._query(self._entries_sql())
        newest = table.loc[table.groupby("base_key")["version"].idxmax(), ["base_key", "key", "version"]] \
            if len(table) else table[["base_key", "key", "version"]]
        latest = dict(zip(newest["base_key"], newest["version"]))
        latest_key = dict(zip(newest["base_key"], newest["key"]))
        is_latest = table["version"] == table["base_key"].map(latest)
        newer = [("" if ok else latest_key[b]) for ok, b in zip(is_latest, table["base_key"])]
        return table.assign(latest=is_latest.astype(bool), newer_version=newer)

    def versions(self) -> pd.DataFrame:
        """One row per improved version: entry_id, key, label, parent_key, base_key, version, method, created and
        ``provenance`` (a dict: how it was made, versions.Provenance's fields). Empty without versions."""
        columns = ["entry_id", "key", "label", "parent_key", "base_key", "version", "method", "created",
                   "provenance"]
        if self.schema < 4:
            return pd.DataFrame(columns=columns)
        table = self._query("SELECT v.entry_id, e.key, e.label, v.parent_key, v.base_key, v.version, v.method, "
                            "v.created, v.provenance FROM versions v JOIN entries e ON e.id = v.entry_id "
                            "ORDER BY v.base_key, v.version")
        try:
            table["provenance"] = [json.loads(p) for p in table["provenance"]]
        except json.JSONDecodeError as err:
            raise damaged(self.path, f"a version's provenance is not valid JSON: {err}") from None
        return table[columns]

    def ber_table(self) -> pd.DataFrame:
        """Accuracy under bit errors: entry_id, mode (exit or split), ber, protection, mean, std, lo and hi (the
        interval of the paired estimator), trials (downloads) and images evaluated, p10 and p90 (the spread of
        single downloads), ruined (downloads below core.link.reliability.ruin_threshold) with ruin_share and its
        95 % Wilson interval ruin_lo, ruin_hi over the downloads."""
        table = self._query("SELECT * FROM accuracy_ber ORDER BY entry_id, mode, protection, ber")
        bounds = [wilson_interval(int(r), int(n)) for r, n in zip(table.ruined, table.trials)]
        table["ruin_share"] = table.ruined / table.trials.where(table.trials > 0)
        table["ruin_lo"] = [b[0] for b in bounds]
        table["ruin_hi"] = [b[1] for b in bounds]
        return table

    def __len__(self) -> int:
        return int(self._query("SELECT COUNT(*) AS n FROM entries")["n"].iloc[0])

    def entry(self, entry_id: int) -> dict:
        """One entry's row (as ``entries`` gives it, less ``latest`` and ``newer_version``)."""
        df = self._query(self._entries_sql("WHERE e.id = ?"), (int(entry_id),))
        if df.empty:
            ids = self._query("SELECT id FROM entries")["id"].tolist()
            raise ValueError(f"entry_id={entry_id!r} is not in the library; allowed: {ids}")
        return df.iloc[0].to_dict()

    def _tensors(self, entry_id: int, verify: bool = True):
        row = self.entry(entry_id)
        tensors, meta = read_weights(self.folder / row["file"], row["file_sha256"] if verify else None)
        return row, tensors, meta

    def load_module(self, entry_id: int, verify: bool = True) -> DepthSubModel:
        """The device model of an entry, as received at BER 0 (safetensors, no pickle; sha256 checked)."""
        _, tensors, meta = self._tensors(entry_id, verify)
        return module_from_tensors(tensors, meta, self.root_card)[0]

    def load_submodel(self, entry_id: int, verify: bool = True) -> SubModel:
        """The entry as a SubModel (module, re-encoded payload, masks, bits, card) for Monte Carlo channels."""
        row, tensors, meta = self._tensors(entry_id, verify)
        return submodel_from_tensors(tensors, meta, self.root_card, spec_from_row(row), card_from_row(row),
                                     row["total_bits"], row["key"])

    def submodel_from_weights(self, entry_id: int, data: bytes, verify: bool = True) -> SubModel:
        """The entry as a SubModel from the bytes of its weight file held in memory (checked against the catalog's
        sha256 first unless ``verify`` is False: weights regenerated on a CPU that rounds differently, see
        shipped.py), for a weight file that could not be kept on disk."""
        row = self.entry(entry_id)
        digest = sha256_bytes(data)
        if verify and digest != row["file_sha256"]:
            raise ValueError(f"weights of entry {row['key']!r} in memory are damaged: sha256 {digest[:12]}..., "
                             f"catalog says {row['file_sha256'][:12]}...")
        tensors, meta = parse_weights(data, row["file"])
        return submodel_from_tensors(tensors, meta, self.root_card, spec_from_row(row), card_from_row(row),
                                     row["total_bits"], row["key"])

    def damaged_entries(self, include_missing: bool = True) -> list[DamagedEntry]:
        """Every entry whose weight file is missing, truncated, not safetensors or fails its sha256 (reads all).
        ``include_missing=False`` leaves out files not made yet (a shipped catalog: see shipped.py)."""
        out = []
        for _, row in self.entries().iterrows():
            if not include_missing and not (self.folder / row["file"]).exists():
                continue
            problem = file_problem(self.folder / row["file"], row["file_sha256"])
            if problem:
                version = int(row["version"])
                if version > 1:  # never made again by `build`: say what repairs it instead
                    problem += (f" (an improved version of {row['base_key']}: it cannot be made again from the root; "
                                "restore the file or improve the entry again)")
                out.append(DamagedEntry(int(row["id"]), row["key"], row["file"], problem, version))
        return out

    def verify(self) -> None:
        """Check every weight file; ValueError naming every damaged entry (``build`` regenerates them)."""
        bad = self.damaged_entries()
        if bad:
            names = ", ".join(f"{d.key} ({d.file})" for d in bad[:10]) + (" ..." if len(bad) > 10 else "")
            improved = [d.key for d in bad if d.version > 1]
            repair = ("`build` regenerates them" if not improved else
                      f"`build` regenerates the built ones; improved versions ({', '.join(improved[:5])}) cannot be "
                      "made again from the root: restore their files or improve the entries again")
            raise ValueError(f"library={str(self.folder)!r} has {len(bad)} damaged entr"
                             f"{'y' if len(bad) == 1 else 'ies'}: {names}; {repair}. "
                             f"First problem: {bad[0].problem}")


def spec_from_row(row) -> SubModelSpec:
    return SubModelSpec(depth=int(row["depth"]), keep_ratio=float(row["keep_ratio"]), bits=int(row["bits"]),
                        retrain_steps=int(row["retrain_steps"]))


def card_from_row(row) -> SubModelCard:
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
    ``verify_files`` also checks every weight file's sha256 (reads them all) and names the damaged ones.
    """
    p = Path(path)
    folder = p.parent if p.name == CATALOG else p
    lib = Library(folder, check_catalog(folder / CATALOG))
    if root is not None:
        model = load_checkpoint(root)[0] if isinstance(root, (str, Path)) else root
        digest = state_sha256(model)
        if digest != lib.root_sha256:
            raise ValueError(f"library={str(folder)!r} was built from root model {lib.root_sha256[:12]}..., "
                             f"not from the given root {digest[:12]}...")
    if verify_files:
        lib.verify()
    return lib
