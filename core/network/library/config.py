"""What an AI library holds and how it is measured: ``LibraryConfig`` and the stable name of each entry."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from core.compress.combine import SubModelSpec
from core.compress.payload import check_bits
from core.link.protections import PROTECTION_NAMES, check_protection
from core.model.models import NUM_STAGES, check_depth
from core.validation import check_int, check_range

MODES = ("exit", "split")  # inference at the device's own exit k, or split inference with the server (k < 4)
FEATURE_BITS = 8  # uplinked features at split inference: 8-bit codes per sample (core.compress.depth)
LIBRARY_BER_GRID = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)


@dataclass(frozen=True)
class LibraryConfig:
    """Which sub-models a library holds and how they are measured.

    Entries are depths x keep ratios x bit widths (``combinations=True``) or only those that change one of the
    three from the root (``False``). Pruned entries are re-trained ``retrain_steps`` SGD steps once per
    (depth, keep ratio), then quantised to each width. Accuracy under bit errors is measured at each BER of
    ``ber_grid`` for each protection with ``trials`` trials of the paired estimator, each on
    ``images_per_trial`` test images drawn afresh (all of them when the split is smaller); ``split_ber=False``
    measures split inference at BER 0 only (its cells under BER then read "not measured").
    """

    depths: tuple[int, ...] = (1, 2, 3, 4)
    keep_ratios: tuple[float, ...] = (1.0, 0.5, 0.25)
    bits: tuple[int, ...] = (32, 8, 4)
    combinations: bool = True
    retrain_steps: int = 60
    ber_grid: tuple[float, ...] = LIBRARY_BER_GRID
    protections: tuple[str, ...] = PROTECTION_NAMES
    trials: int = 3
    images_per_trial: int = 256
    split_ber: bool = True  # also measure split inference (device part corrupted, server part clean) under BER

    def __post_init__(self):
        for name in ("depths", "keep_ratios", "bits", "ber_grid", "protections"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)):
                raise ValueError(f"{name}={value!r} must be a sequence")
            try:
                values = tuple(value)
            except TypeError:
                raise ValueError(f"{name}={value!r} must be a sequence") from None
            if not values and name not in ("ber_grid", "protections"):
                raise ValueError(f"{name}={values!r} must not be empty")
            object.__setattr__(self, name, values)
        depths = tuple(sorted({check_depth(d) for d in self.depths}))
        ratios = tuple(sorted({check_range("keep_ratios", r, 0.0, 1.0, lo_open=True) for r in self.keep_ratios},
                              reverse=True))
        bits = tuple(sorted({check_bits(b, "bits") for b in self.bits}, reverse=True))
        grid = tuple(sorted({check_range("ber_grid", b, 0.0, 0.5, lo_open=True) for b in self.ber_grid}))
        prots = tuple(dict.fromkeys(_check_protection(p) for p in self.protections))
        for name in ("combinations", "split_ber"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} must be True or False")
        check_int("retrain_steps", self.retrain_steps, 0)
        check_int("trials", self.trials, 1)
        check_int("images_per_trial", self.images_per_trial, 1)
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

    @classmethod
    def from_json(cls, text: str) -> "LibraryConfig":
        data = json.loads(text)
        names = set(cls.__dataclass_fields__)
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in names})


def _check_protection(name) -> str:
    try:
        return check_protection(name)
    except ValueError as err:
        raise ValueError(f"protections: {err}") from None


QUICK_CONFIG = LibraryConfig(depths=(2, 4), keep_ratios=(1.0, 0.5), bits=(32, 8), retrain_steps=5,
                             ber_grid=(1e-3, 1e-2), protections=("none", "sanitise"), trials=3,
                             images_per_trial=128)


def entry_key(spec: SubModelSpec) -> str:
    """Stable name of a library entry (also its weight file name)."""
    return f"d{spec.depth}-r{spec.keep_ratio:g}-b{spec.bits}-s{spec.retrain_steps}"
