"""Per-layer profile of a sub-model: the share of each layer's weights kept (non-zero) and its bit width."""
from __future__ import annotations

import pandas as pd

from core.compress.common import weight_names


def layer_profile(sub) -> pd.DataFrame:
    """One row per weight tensor of ``sub`` (a SubModel): layer, kept (share of non-zero weights), bits, weights."""
    params = dict(sub.module.named_parameters())
    rows = []
    for name in weight_names(sub.module):
        record = sub.payload.record(name)
        rows.append({"layer": name.removesuffix(".weight"), "kept": float((params[name] != 0).float().mean()),
                     "bits": int(record.bits), "weights": int(params[name].numel())})
    return pd.DataFrame(rows, columns=["layer", "kept", "bits", "weights"])


def catalog_layer_profile(row) -> pd.DataFrame:
    """The same table from an AI-library catalog row (its ``layer_bits`` and ``layer_density`` JSON, recorded
    from the received weights at build time), so no weights need loading; ``weights`` is not recorded there."""
    import json

    bits, density = json.loads(row["layer_bits"]), json.loads(row["layer_density"])
    rows = [{"layer": name.removesuffix(".weight"), "kept": float(kept), "bits": int(bits[name]),
             "weights": None} for name, kept in density.items()]
    return pd.DataFrame(rows, columns=["layer", "kept", "bits", "weights"])
