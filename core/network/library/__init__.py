"""The AI library (paper Sec. 3): pre-generated sub-models of one root model with measured cards, in three tiers.

A library is a folder: ``catalog.sqlite`` (catalog.py: schema, root identity, one row per sub-model, accuracy on
a BER grid with intervals) and one safetensors file per sub-model (weights.py). ``build_library`` (build.py)
generates what is missing, on this machine or a Ray cluster (core.sweep); ``open_library`` (reader.py) reads it.
An entry improved after the build is stored as its next version (versions.py: ``store_version``).
Command line: ``python -m core.network.library build|show|improve`` (cli.py).
"""
from .build import BuildReport, build_library
from .catalog import CATALOG, SCHEMA_VERSION, state_sha256
from .config import LIBRARY_BER_GRID, MODES, QUICK_CONFIG, LibraryConfig, entry_key
from .reader import DamagedEntry, Library, open_library
from .versions import Provenance, VersionReport, compare_table, store_version, version_key
from .weights import sha256_file

__all__ = ["BuildReport", "build_library", "CATALOG", "SCHEMA_VERSION", "state_sha256", "LIBRARY_BER_GRID",
           "MODES", "QUICK_CONFIG", "LibraryConfig", "entry_key", "DamagedEntry", "Library", "open_library",
           "sha256_file", "Provenance", "VersionReport", "compare_table", "store_version", "version_key"]
