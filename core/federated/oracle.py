"""A plain FedAvg, for tests only: the independent reference that Flower's run is checked against (the engine
itself always runs on Flower, flower.py)."""
from __future__ import annotations

import numpy as np
import torch

from core.compress.combine import SubModel
from core.federated.config import FederatedConfig
from core.federated.local import Compression, device_data, device_seed, load_version, local_update
from core.federated.partition import partition
from core.model.splits import DataSplits
from core.threads import threads


def fedavg(updates: list[dict], weights: list[float]) -> dict[str, np.ndarray]:
    """Weighted mean of the updates (float64 sums), weights in proportion to ``weights`` (the devices' photos)."""
    if not updates or len(updates) != len(weights):
        raise ValueError(f"updates ({len(updates)}) and weights ({len(weights)}) must be non-empty and as many")
    w = np.asarray(weights, dtype=np.float64)
    if (w <= 0).any():
        raise ValueError(f"weights={list(weights)} must all be positive")
    w = w / w.sum()
    return {k: sum(wi * np.asarray(u[k], dtype=np.float64) for wi, u in zip(w, updates)) for k in updates[0]}


def device_updates(entry: SubModel, data: DataSplits, config: FederatedConfig, seed: int, server_round: int,
                   start: dict) -> list[dict[str, np.ndarray]]:
    """Every device's compressed update of one round from the server model ``start`` (name -> array), computed
    serially in this process with the same shares and seeds as flower.improve (one torch thread, as a device)."""
    compression = Compression.of(entry)
    shares = partition(data.y_train.numpy(), config, seed)
    begin = {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in start.items()}
    out = []
    for device, share in enumerate(shares):
        idx = torch.as_tensor(share)
        mine = device_data(data, data.x_train[idx], data.y_train[idx])
        with threads(1):
            update, _ = local_update(load_version(entry, begin), begin, compression, mine, config,
                                     device_seed(seed, server_round, device))
        out.append({k: v.numpy() for k, v in update.items()})
    return out
