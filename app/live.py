"""Session-side helpers of the Live accuracy page: a per-session working copy and one corrupted-prediction pass.

Kept out of the view so that the page stays short; no caching here (that lives in app/services.py).
"""
from __future__ import annotations

import numpy as np
import torch

from core.link.channel import corrupt, receive
from core.compress.combine import SubModelSpec
from core.link.reliability import WorkingCopy

LIVE_SPECS: dict[str, SubModelSpec] = {
    "Root model, fp32": SubModelSpec(),
    "Bit level: fp16": SubModelSpec(bits=16),
    "Bit level: 8-bit codes": SubModelSpec(bits=8),
    "Bit level: 4-bit codes": SubModelSpec(bits=4),
    "Bit level: 2-bit codes + 50 QAT steps": SubModelSpec(bits=2, qat_steps=50),
    "Depth level: exit 2": SubModelSpec(depth=2),
    "Parameter level: keep 10 %, re-trained": SubModelSpec(keep_ratio=0.1, retrain_steps=100),
    "Combined: exit 3, keep 25 %, 4-bit": SubModelSpec(depth=3, keep_ratio=0.25, bits=4, retrain_steps=50),
}


def working_copy(session_state, key: tuple, submodel) -> WorkingCopy:
    """One WorkingCopy per session and sub-model: trials corrupt it in place, so sessions never share one."""
    copies = session_state.setdefault("_working_copies", {})
    if key not in copies:
        if len(copies) >= 3:  # bound the memory a session holds
            copies.pop(next(iter(copies)))
        copies[key] = WorkingCopy(submodel)
    return copies[key]


@torch.no_grad()
def corrupted_predictions(working: WorkingCopy, x: torch.Tensor, ber: float, protection: str,
                          seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """(clean predictions, predictions after one download at ``ber``, flipped bits) for a batch of images."""
    clean = working.module(x).argmax(1).numpy()
    hit = corrupt(working.payload, ber, np.random.default_rng([seed, 10_000]), protection)
    got = receive(working.payload, hit)
    working.write(got.tensors)
    try:
        bad = working.module(x).argmax(1).numpy()
    finally:
        working.restore()
    return clean, bad, hit.flips

