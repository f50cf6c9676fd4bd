"""What cache keys are made of: the files behind a root model, its AI library and an area (their identities and
modification times), the sidebar's settings as a tuple, and which sub-model a page means (SubModelRef).

Every cached value is keyed by all of these that it depends on, as plain values; no streamlit here. (The Improve
together page's runs are kept on disk, not in a cache: federated.RunSpec.key names each by all it depends on.)
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.compress.combine import SubModelSpec
from core.model.models import DEFAULT_MODEL_NAME

if TYPE_CHECKING:
    from app.settings import Settings

PROJECT = Path(__file__).resolve().parents[2]
SUB_MODEL_KINDS = ("spec", "library")


def checkpoint_path(model: str = DEFAULT_MODEL_NAME) -> Path:
    """The root model's checkpoint file (KeyError for a name that is not on offer)."""
    from app.settings import model_choices

    return model_choices()[model]


def library_path(model: str = DEFAULT_MODEL_NAME) -> Path:
    """Where a root model's AI library lives: library/<checkpoint name> in the project ($INSITU_LIBRARY for the
    default root). A shipped root's catalog is copied there on first use (core.network.library.shipped)."""
    if model == DEFAULT_MODEL_NAME and os.environ.get("INSITU_LIBRARY"):
        return Path(os.environ["INSITU_LIBRARY"])
    return PROJECT / "library" / checkpoint_path(model).stem


def root_identity(model: str = DEFAULT_MODEL_NAME) -> tuple[str, int, int]:
    """The root model's file as (resolved path, modification time in ns, size): a retrained or replaced
    checkpoint is another root, whatever its display name."""
    path = checkpoint_path(model).resolve()
    stat = path.stat()
    return str(path), stat.st_mtime_ns, stat.st_size


def library_stamp(model: str = DEFAULT_MODEL_NAME) -> float:
    """Modification time of the root model's library catalog (0 without one): part of cache keys of results
    that depend on the library."""
    catalog = library_path(model) / "catalog.sqlite"
    return catalog.stat().st_mtime if catalog.is_file() else 0.0


def library_key(lib) -> str:
    """The cache key of an opened library: its folder, size and catalog version (a library rebuilt while the app
    runs, even with as many entries, gets new selections, profiles and entries)."""
    try:
        stamp = lib.path.stat().st_mtime
    except OSError:  # removed since it was opened
        stamp = 0.0
    return f"{lib.folder}:{len(lib)}:{stamp}"


def area_stamp(path: str) -> float:
    """Modification time of an area file ("" is the default area: 0), so that a replaced file is read again."""
    return Path(path).stat().st_mtime if path else 0.0


def settings_key(s: Settings) -> tuple[tuple[str, str], ...]:
    """The sidebar's settings as a sorted tuple of their query-string values: the key of what depends on them."""
    return tuple(sorted(s.to_query().items()))


@dataclass(frozen=True)
class SubModelRef:
    """Which sub-model a page evaluates: one generated from ``spec`` (seed 0), or the entry ``entry_id`` of the
    library whose library_key is ``lib_key``. Plain values only, so it is a cache key as it is: st.cache_data
    hashes a dataclass by its fields, the trial store and session dicts by Python's hash."""

    kind: str
    spec: SubModelSpec | None = None
    lib_key: str = ""
    entry_id: int = -1

    def __post_init__(self):
        if self.kind not in SUB_MODEL_KINDS:
            raise ValueError(f"kind={self.kind!r} is not one of {SUB_MODEL_KINDS}")
        if self.kind == "spec" and not isinstance(self.spec, SubModelSpec):
            raise ValueError(f"spec={self.spec!r}: a generated sub-model needs a SubModelSpec")
        if self.kind == "library" and (not self.lib_key or self.entry_id < 0):
            raise ValueError(f"lib_key={self.lib_key!r}, entry_id={self.entry_id!r}: a library entry needs both "
                             "(a library_key and an id >= 0)")

    @classmethod
    def generated(cls, spec: SubModelSpec) -> SubModelRef:
        return cls("spec", spec=spec)

    @classmethod
    def library_entry(cls, lib_key: str, entry_id: int) -> SubModelRef:
        return cls("library", lib_key=lib_key, entry_id=int(entry_id))

    @property
    def label(self) -> str:
        """In words, for messages: "library entry 12" or the spec."""
        return f"library entry {self.entry_id}" if self.kind == "library" else f"generated sub-model {self.spec}"


def live_key(ref: SubModelRef, model: str, ber: float, protection: str, seed: int, images: int, packets,
             fallback: SubModelRef | None, arithmetic: str) -> tuple:
    """The key of one live estimate's paired trials: trial j depends only on this and on j."""
    return ("live", root_identity(model), ref, float(ber), protection, int(seed), int(images), packets, fallback,
            arithmetic)
