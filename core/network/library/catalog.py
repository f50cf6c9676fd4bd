"""The library's catalog: one SQLite file with the schema version, the root model's identity, one row per
sub-model (its card, tier, weight file and sha256), its accuracy on a BER grid per protection, with the
interval of the paired estimator, and the versions of improved sub-models (versions.py). Also the build lock that
keeps two builds of one folder from interleaving.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

import torch

from core.model.splits import DataSplits

SCHEMA_VERSION = 4  # 2: BER cells store the paired estimator's interval (lo, hi) and the images evaluated;
# 3: trials until the interval's target (or a maximum), the spread of single downloads and the ruined count;
# 4: a versions table (improved versions of an entry: parent, version number, provenance; versions.py)
# Schema 3 is read as it is, as a catalog without versions (the shipped catalogs were built with it); storing a
# version turns it into schema 4 in place (migrate_versions). Older ones are rebuilt.
READABLE_SCHEMAS = (3, 4)
APPLICATION_ID = "insitu-ai-library"
CATALOG = "catalog.sqlite"
LOCK = ".build.lock"
BUILD_COMMAND = "python -m core.network.library build --out <folder> --checkpoint <root checkpoint>"

ENTRY_COLUMNS = {
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
BER_COLUMNS = ("entry_id", "mode", "ber", "protection", "mean", "std", "lo", "hi", "trials", "images", "p10", "p90",
               "ruined")
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entries (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    + ", ".join(f"{k} {v}" for k, v in ENTRY_COLUMNS.items()) + ")",
    "CREATE TABLE IF NOT EXISTS accuracy_ber (entry_id INTEGER NOT NULL REFERENCES entries(id) ON DELETE CASCADE, "
    "mode TEXT NOT NULL, ber REAL NOT NULL, protection TEXT NOT NULL, mean REAL NOT NULL, std REAL NOT NULL, "
    "lo REAL NOT NULL, hi REAL NOT NULL, trials INTEGER NOT NULL, images INTEGER NOT NULL, "
    "p10 REAL NOT NULL, p90 REAL NOT NULL, ruined INTEGER NOT NULL, "
    "PRIMARY KEY (entry_id, mode, ber, protection))",
]
VERSIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS versions (entry_id INTEGER PRIMARY KEY REFERENCES entries(id) ON DELETE CASCADE, "
    "parent_key TEXT NOT NULL, base_key TEXT NOT NULL, version INTEGER NOT NULL, method TEXT NOT NULL, "
    "provenance TEXT NOT NULL, created TEXT NOT NULL, UNIQUE (base_key, version))")
VERSION_COLUMNS = ("entry_id", "parent_key", "base_key", "version", "method", "provenance", "created")
SCHEMA.append(VERSIONS_TABLE)
META_KEYS = ("root_state_sha256", "root_card", "data", "config", "seed")


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    else:
        con = sqlite3.connect(str(path), timeout=30)
    con.execute("PRAGMA foreign_keys = ON")
    return con


def damaged(path, why) -> ValueError:
    return ValueError(f"library={str(path)!r} is damaged or not an AI library: {why}")


def check_catalog(path: Path) -> dict:
    """Open a catalog read-only, check integrity, tables, columns and schema version; return its meta.

    Every problem is a ValueError naming the file: missing, zero bytes, not SQLite, another application's
    database, an older schema (rebuild), or meta that does not parse."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"library={str(path.parent)!r} has no {CATALOG}; build it with `{BUILD_COMMAND}`")
    if path.stat().st_size == 0:
        raise damaged(path, "the file is empty (0 bytes); delete it and build the library again")
    try:
        con = connect(path, readonly=True)
        try:
            check = con.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise damaged(path, f"integrity check says {check!r}")
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if "meta" not in tables:
                raise damaged(path, f"tables {sorted(tables)}, expected meta, entries and accuracy_ber")
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            if meta.get("application") != APPLICATION_ID:
                raise damaged(path, f"application={meta.get('application')!r}, expected {APPLICATION_ID!r}")
            version = str(meta.get("schema_version", ""))
            if version not in {str(v) for v in READABLE_SCHEMAS}:
                newer = version.isdigit() and int(version) > SCHEMA_VERSION
                raise ValueError(f"library={str(path)!r} has schema_version={meta.get('schema_version')!r}, "
                                 f"from {'a newer' if newer else 'an older'} version of this program; allowed: "
                                 f"{', '.join(map(str, READABLE_SCHEMAS))}. Build it again into a new folder (or "
                                 "delete this one first).")
            expected = {"entries", "accuracy_ber"} | ({"versions"} if int(version) >= 4 else set())
            if not expected <= tables:
                raise damaged(path, f"tables {sorted(tables)}, expected meta, {', '.join(sorted(expected))}")
            cols = {r[1] for r in con.execute("PRAGMA table_info(entries)")}
            ber_cols = {r[1] for r in con.execute("PRAGMA table_info(accuracy_ber)")}
            missing = (set(ENTRY_COLUMNS) - cols) | (set(BER_COLUMNS) - ber_cols)
            if "versions" in expected:
                missing |= set(VERSION_COLUMNS) - {r[1] for r in con.execute("PRAGMA table_info(versions)")}
            if missing:
                raise damaged(path, f"columns missing: {sorted(missing)}")
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise damaged(path, err) from None
    for key in META_KEYS:
        if key not in meta:
            raise damaged(path, f"meta has no {key!r}")
    try:
        for key in ("root_card", "data", "config"):
            json.loads(meta[key])
    except json.JSONDecodeError as err:
        raise damaged(path, f"meta is not valid JSON: {err}") from None
    return meta


# ---------------------------------------------------------------- identity

def state_sha256(module: torch.nn.Module) -> str:
    """Hash of a model's tensors (names, dtypes, shapes, bytes): the identity of the root model."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


def data_identity(data: DataSplits) -> dict:
    return {"name": data.name, "split_seed": data.split_seed, "classes": list(data.classes),
            "input_shape": list(data.input_shape), "test_samples": int(len(data.y_test))}


def init_catalog(path: Path, root_sha: str, card: dict, file_sha: str, data: DataSplits, config_json: str,
                 seed: int, tier_rule: str) -> None:
    """Create the catalog (schema and identity, atomically), or check that an existing one belongs to this root
    model, data and seed and record the config. Call with the build lock held."""
    data_id = data_identity(data)
    if path.exists():
        meta = check_catalog(path)
        if meta["root_state_sha256"] != root_sha:
            raise ValueError(f"out_dir={str(path.parent)!r} holds a library of another root model "
                             f"({meta['root_state_sha256'][:12]}..., given {root_sha[:12]}...); use another out_dir")
        if json.loads(meta["data"]) != data_id:
            raise ValueError(f"out_dir={str(path.parent)!r} holds a library measured on other data "
                             f"({meta['data']}); use another out_dir")
        if int(meta["seed"]) != seed:
            raise ValueError(f"seed={seed!r} differs from the library's seed {meta['seed']}; allowed: "
                             f"{meta['seed']} (or another out_dir)")
        con = connect(path)
        with con:
            con.execute("INSERT OR REPLACE INTO meta VALUES ('config', ?)", (config_json,))
        con.close()
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    con = connect(tmp)
    with con:
        for stmt in SCHEMA:
            con.execute(stmt)
        con.executemany("INSERT INTO meta VALUES (?, ?)", [
            ("application", APPLICATION_ID), ("schema_version", str(SCHEMA_VERSION)),
            ("root_state_sha256", root_sha), ("root_checkpoint_sha256", file_sha),
            ("root_card", json.dumps(card)), ("data", json.dumps(data_id)), ("config", config_json),
            ("seed", str(seed)), ("created", time.strftime("%Y-%m-%dT%H:%M:%S")), ("tier_rule", tier_rule)])
    con.close()
    tmp.replace(path)  # a catalog exists only once its schema and identity are complete


def migrate_versions(path: Path) -> None:
    """Give a schema-3 catalog the versions table and mark it schema 4, in one transaction (nothing else changes:
    its entries, cells and weight files stay as they are). A catalog of schema 4 is left alone. Call with the
    build lock held."""
    meta = check_catalog(path)
    if meta["schema_version"] == str(SCHEMA_VERSION):
        return
    con = connect(path)
    try:
        with con:
            con.execute(VERSIONS_TABLE)
            con.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    finally:
        con.close()


def build_lock(folder: Path, timeout_s: float = -1):
    """An exclusive lock on a library folder for the length of a build (other processes wait for it)."""
    from filelock import FileLock

    return FileLock(str(Path(folder) / LOCK), timeout=timeout_s)
