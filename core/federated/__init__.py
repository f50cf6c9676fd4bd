"""Federated improvement of a downloaded sub-model (paper Sec. 5, issue 23): devices that hold a compressed library
entry train it on their own photos, keeping its compression, and a Flower strategy aggregates their compressed
updates. ``improve(entry, data, FederatedConfig(...), seed)`` (flower.py) runs it on Flower's simulation (Ray)."""
from .config import SPLITS, FederatedConfig

__all__ = ["SPLITS", "FederatedConfig"]
