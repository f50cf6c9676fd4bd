"""What a federated improvement run is: devices, rounds, local steps, the non-IID split and the update's bits."""
from __future__ import annotations

from dataclasses import dataclass

from core.compress.payload import check_bits
from core.validation import check_bool, check_choice, check_int, check_range

SPLITS = ("dirichlet", "by_class")  # Dirichlet(alpha) class shares per device, or only a few classes per device


@dataclass(frozen=True)
class FederatedConfig:
    """One federated run (with a seed, a function of (config, seed)).

    ``split``: "dirichlet" gives each class's photos to the devices in Dirichlet(``alpha``) shares (small alpha:
    each device sees few classes); "by_class" gives each device only ``classes_per_device`` classes (the classes
    of its place). ``update_bits``: each update tensor is sent as per-channel uniform codes of this width (2..8),
    or as fp16/fp32. ``eval_limit``: test photos scored after each round, a fixed class-balanced draw (None: all; local.scoring_data). ``cpus``: CPUs of the local
    Ray that runs the devices (one device per CPU at a time)."""

    devices: int = 4
    rounds: int = 2
    local_steps: int = 5
    batch_size: int = 32
    lr: float = 0.005
    split: str = "dirichlet"
    alpha: float = 0.5
    classes_per_device: int = 2
    update_bits: int = 8
    augment: bool = True
    eval_limit: int | None = None
    cpus: int = 2

    def __post_init__(self):
        check_int("devices", self.devices, 1, 10_000)
        check_int("rounds", self.rounds, 1, 10_000)
        check_int("local_steps", self.local_steps, 1, 1_000_000)
        check_int("batch_size", self.batch_size, 1, 65_536)
        check_range("lr", self.lr, 0.0, 10.0, lo_open=True)
        check_choice("split", self.split, SPLITS)
        check_range("alpha", self.alpha, 0.0, 1e6, lo_open=True)
        check_int("classes_per_device", self.classes_per_device, 1, 100_000)
        check_bits(self.update_bits, "update_bits")
        check_bool("augment", self.augment)
        if self.eval_limit is not None:
            check_int("eval_limit", self.eval_limit, 1)
        check_int("cpus", self.cpus, 1, 1024)

    @property
    def total_local_steps(self) -> int:
        """SGD steps of all devices together: what the central upper bound trains for on the pooled photos."""
        return self.rounds * self.devices * self.local_steps
