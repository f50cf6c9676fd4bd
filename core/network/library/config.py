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
class TrialPlan:
    """Paired trials per BER cell: at least ``trials``, more while the 95 % interval's half-width is above
    ``target_half_width``, at most ``max_trials``; a cell with both ruined and intact downloads gets at least
    ``mixed_min_trials`` (core.link.reliability: ruined downloads). ``trials=1``: one trial, no interval."""

    trials: int = 3
    max_trials: int = 20
    mixed_min_trials: int = 10
    target_half_width: float = 0.03

    def __post_init__(self):
        check_int("trials", self.trials, 1)
        check_int("max_trials", self.max_trials, self.trials)
        check_int("mixed_min_trials", self.mixed_min_trials, 1, self.max_trials)
        check_range("target_half_width", self.target_half_width, 0.0, 0.5)

    @classmethod
    def defaults(cls, trials: int, max_trials: int | None, mixed_min_trials: int | None) -> tuple[int, int]:
        """(max_trials, mixed_min_trials) with None read as max(20, trials) and min(10, max_trials)."""
        max_trials = max(20, trials) if max_trials is None else max_trials
        return max_trials, min(10, max_trials) if mixed_min_trials is None else mixed_min_trials

    def more(self, res) -> int:
        """0 when a cell's BerResult ``res`` may stop, else how many trials it should have after the next round:
        twice as many, at least ``mixed_min_trials`` when mixed, at most ``max_trials``."""
        if res.trials >= self.max_trials or (res.trials < 2 and res.trials >= self.trials):
            return 0
        enough = max(self.trials, self.mixed_min_trials if res.mixed else 0)
        if res.trials >= enough and res.half_width <= self.target_half_width:
            return 0
        return min(max(2 * res.trials, enough), self.max_trials)


@dataclass(frozen=True)
class LibraryConfig:
    """Which sub-models a library holds and how they are measured.

    Entries are depths x keep ratios x bit widths (``combinations=True``) or only those that change one of the
    three from the root (``False``); ``pruned_depths`` limits the keep ratios below 1 to those depths. Pruned entries are re-trained ``retrain_steps`` SGD steps once per
    (depth, keep ratio), then quantised to each width. Accuracy under bit errors is measured at each BER of
    ``ber_grid`` for each protection with at least ``trials`` trials of the paired estimator, each on
    ``images_per_trial`` test images drawn afresh (all of them when the split is smaller), and more trials while
    the interval's half-width is above ``target_half_width``, up to ``max_trials``; a cell whose downloads are
    mixed (some ruined, some not: core.link.reliability) gets at least ``mixed_min_trials``. ``split_ber=False``
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
    max_trials: int | None = None        # None: max(20, trials)
    target_half_width: float = 0.03
    mixed_min_trials: int | None = None  # None: min(10, max_trials)
    pruned_depths: tuple[int, ...] | None = None  # depths that get the keep ratios below 1 (None: every depth)

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
        if self.pruned_depths is not None:
            if isinstance(self.pruned_depths, (str, bytes)) or not hasattr(self.pruned_depths, "__iter__"):
                raise ValueError(f"pruned_depths={self.pruned_depths!r} must be a sequence of depths or None")
            pruned = tuple(sorted({check_depth(d) for d in self.pruned_depths}))
            if not set(pruned) <= set(depths):
                raise ValueError(f"pruned_depths={pruned!r} must be among depths={depths!r}")
            object.__setattr__(self, "pruned_depths", pruned)
        for name in ("combinations", "split_ber"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name}={getattr(self, name)!r} must be True or False")
        check_int("retrain_steps", self.retrain_steps, 0)
        check_int("trials", self.trials, 1)
        check_int("images_per_trial", self.images_per_trial, 1)
        for name, value in zip(("max_trials", "mixed_min_trials"),
                               TrialPlan.defaults(self.trials, self.max_trials, self.mixed_min_trials)):
            object.__setattr__(self, name, value)
        self.trial_plan()  # checks the three and the target
        for name, value in (("depths", depths), ("keep_ratios", ratios), ("bits", bits), ("ber_grid", grid),
                            ("protections", prots)):
            object.__setattr__(self, name, value)

    def trial_plan(self) -> "TrialPlan":
        """How many paired trials each BER cell gets (core.network.library.cells.measure_adaptive)."""
        return TrialPlan(self.trials, self.max_trials, self.mixed_min_trials, self.target_half_width)

    def specs(self) -> list[SubModelSpec]:
        """Every sub-model of the library, grouped by (depth, keep ratio) so that one re-training serves all widths."""
        out = []
        for k in self.depths:
            for r in self.keep_ratios:
                for b in self.bits:
                    changed = (k < NUM_STAGES) + (r < 1.0) + (b < 32)
                    if not self.combinations and changed > 1:
                        continue
                    if r < 1.0 and self.pruned_depths is not None and k not in self.pruned_depths:
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
                             images_per_trial=128, max_trials=6, mixed_min_trials=6)


def entry_key(spec: SubModelSpec) -> str:
    """Stable name of a library entry (also its weight file name)."""
    return f"d{spec.depth}-r{spec.keep_ratio:g}-b{spec.bits}-s{spec.retrain_steps}"
