"""What a device does in a round, and what it costs: local training that keeps the entry's compression (pruned
weights stay zero, the forward pass runs on the codes' grid: quantisation-aware, straight-through gradients), the
update compressed with the project's own quantiser and its uplink bits; and the central upper bound."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.compress.combine import SubModel
from core.compress.common import transmitted_state
from core.compress.payload import INT_BITS, SCALE_BITS, check_bits
from core.compress.quantize import fake_quantise, ste_quantise
from core.federated.config import FederatedConfig
from core.model.evaluate import accuracy
from core.model.splits import DataSplits
from core.model.train import TrainConfig, fit
from core.threads import threads
from core.validation import check_int


@dataclass(frozen=True)
class Compression:
    """What must hold for every version of an entry: each tensor's width (its codes' grid) and the pruning masks."""

    widths: dict      # tensor name -> bits as the entry is sent (2..8 codes, 16, 32)
    masks: dict       # tensor name -> bool tensor (False: pruned, stays exactly zero)

    @classmethod
    def of(cls, entry: SubModel) -> "Compression":
        """The entry's compression, read from its payload (the same for a generated entry and a library one)."""
        if not isinstance(entry, SubModel):
            raise ValueError(f"entry={entry!r} must be a SubModel (core.compress.combine.generate or "
                             f"Library.load_submodel), not {type(entry).__name__}")
        widths = {r.name: int(r.bits) for r in entry.payload.records}
        return cls(widths, {k: v.detach().bool().cpu() for k, v in (entry.masks or {}).items()})

    def project(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The downloadable version of ``state``: every tensor on its width's grid (per-channel codes times scales,
        as core.compress.payload sends them), pruned weights exactly zero. A new dict; ``state`` is not changed."""
        out = {}
        for name, value in state.items():
            value = value.detach().float()
            bits = self.widths.get(name, 32)
            if bits != 32:
                value = fake_quantise(value, bits)
            if name in self.masks:
                value = value * self.masks[name].to(value.dtype)
            out[name] = value
        return out

    def quantised_forward_params(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Parameters as the forward pass sees them during quantisation-aware training (straight-through)."""
        return {n: (ste_quantise(p, self.widths[n]) if self.widths.get(n, 32) != 32 else p)
                for n, p in params.items()}

    @torch.no_grad()
    def apply_masks(self, module: nn.Module) -> None:
        params = dict(module.named_parameters())
        for name, mask in self.masks.items():
            params[name].mul_(mask.to(params[name].dtype))


def device_seed(seed: int, server_round: int, device: int) -> int:
    """The seed of one device's training in one round: independent streams, the same for the same run seed."""
    return int(np.random.SeedSequence([int(seed), int(server_round), int(device)]).generate_state(1)[0] >> 1)


def train_kept(module: nn.Module, compression: Compression, data: DataSplits, steps: int, batch_size: int,
               lr: float, augment: bool, seed: int) -> nn.Module:
    """Train ``module`` in place for ``steps`` SGD steps keeping ``compression``: quantised forward with
    straight-through gradients (the codes' grid), pruned weights zeroed after every step."""
    from torch.func import functional_call

    def loss_fn(m, x, y):
        params = compression.quantised_forward_params(dict(m.named_parameters()))
        return nn.functional.cross_entropy(functional_call(m, params, (x,)), y)

    compression.apply_masks(module)
    return fit(module, data, TrainConfig(steps=steps, batch_size=batch_size, lr=lr, augment=augment), seed,
               loss_fn=loss_fn, after_step=compression.apply_masks, desc="device")


def compress_update(delta: dict[str, torch.Tensor], update_bits: int) -> dict[str, torch.Tensor]:
    """What the server receives of an update: each tensor as per-output-channel ``update_bits`` codes times their
    scales (core.compress.quantize.fake_quantise; one scale for a 1-D tensor), or fp16/fp32. Zeros stay zero."""
    check_bits(update_bits, "update_bits")
    return {k: fake_quantise(v.detach().float(), update_bits) for k, v in delta.items()}


def update_uplink_bits(shapes: dict[str, tuple[int, ...]], update_bits: int, masks: dict | None = None) -> int:
    """Bits of one update on the uplink: every entry the server does not already know to be zero (the server holds
    the masks, so pruned weights are not sent and need no index) at ``update_bits``, plus, for integer codes, one
    fp32 scale per output channel (per tensor for a 1-D tensor): SCALE_BITS each."""
    check_bits(update_bits, "update_bits")
    masks = masks or {}
    total = 0
    for name, shape in shapes.items():
        numel = int(np.prod(shape)) if len(shape) else 1
        sent = int(masks[name].sum()) if name in masks else numel
        total += sent * update_bits
        if update_bits in INT_BITS:
            total += (shape[0] if len(shape) > 1 else 1) * SCALE_BITS
    return total


def device_data(meta: DataSplits, x: torch.Tensor, y: torch.Tensor) -> DataSplits:
    """A device's own photos as the training split of a DataSplits (normalisation of the root's data)."""
    return dataclasses.replace(meta, x_train=x, y_train=y)


SCORING_SEED = 0   # the fixed draw of test photos that scores every round (the same for every run)


def scoring_data(data: DataSplits, limit: int | None) -> DataSplits:
    """``data`` with its test split cut to the photos that score a run: all of them (``limit`` None or at least
    their number), else a fixed class-balanced draw of ``limit`` (each class its share, seed SCORING_SEED), in the
    data's order. Never the first ``limit``: the shipped CIFAR-10 test photos are sorted by class, so the first
    1,000 are all airplanes (stop 26's federated figures were scored on those)."""
    n = len(data.y_test)
    if limit is None or limit >= n:
        return data
    check_int("limit", limit, 1)
    labels = data.y_test.numpy()
    rng = np.random.default_rng(SCORING_SEED)
    classes, counts = np.unique(labels, return_counts=True)
    share = limit * counts / n
    quota = np.floor(share).astype(int)
    # the photos left over go one each to the classes with the largest remainders (ties in a seeded order)
    extra = np.lexsort((rng.permutation(len(classes)), -(share - quota)))[:limit - int(quota.sum())]
    quota[extra] += 1
    picked = [rng.permutation(np.flatnonzero(labels == c))[:q] for c, q in zip(classes, quota)]
    idx = torch.as_tensor(np.sort(np.concatenate(picked)))
    return dataclasses.replace(data, x_test=data.x_test[idx], y_test=data.y_test[idx])


def without_photos(data: DataSplits) -> DataSplits:
    """``data`` with no photos in it: its normalisation, classes and shape, cheap to send to every device."""
    return dataclasses.replace(data, x_train=data.x_train[:0], y_train=data.y_train[:0], x_val=data.x_val[:0],
                               y_val=data.y_val[:0], x_test=data.x_test[:0], y_test=data.y_test[:0])


def local_update(module: nn.Module, start: dict[str, torch.Tensor], compression: Compression, data: DataSplits,
                 config: FederatedConfig, seed: int) -> tuple[dict[str, torch.Tensor], int]:
    """One device's round: load ``start`` into ``module`` (a private copy), train ``config.local_steps`` steps
    keeping the compression, and return (the compressed update, its uplink bits)."""
    module.load_state_dict({k: v.clone() for k, v in start.items()}, strict=False)
    train_kept(module, compression, data, config.local_steps, config.batch_size, config.lr, config.augment, seed)
    trained = transmitted_state(module)
    delta = {k: trained[k].detach().float() - start[k].float() for k in start}
    update = compress_update(delta, config.update_bits)
    bits = update_uplink_bits({k: tuple(v.shape) for k, v in update.items()}, config.update_bits, compression.masks)
    return update, bits


def load_version(entry: SubModel, state: dict[str, torch.Tensor]) -> nn.Module:
    """A copy of the entry's device module holding ``state`` (the entry itself is never changed)."""
    import copy

    module = copy.deepcopy(entry.module)
    module.load_state_dict(state, strict=False)
    return module.eval()


def central_curve(entry: SubModel, data: DataSplits, config: FederatedConfig, seed: int,
                  photos: np.ndarray | None = None) -> tuple[float, ...]:
    """The same training done centrally on the pooled photos, the reference (upper bound on average) of the
    federated run: test accuracy
    (on the photos that score the rounds: ``scoring_data``) before training and after each round-equivalent.

    A round-equivalent is ``config.local_steps`` SGD steps of ``config.devices x config.batch_size`` pooled photos
    each (``photos``: indices into the training split, default all of it), at the same learning rate and keeping
    the entry's compression: the same photos per step as a round of all devices together, and the same number of
    steps one after the other. FedAvg with one local step on evenly mixed photos is exactly this; local steps on
    each device's skewed share (client drift) and compressed updates lose against it on average, though a single
    run scored on 500-1,000 test photos can land 1-2 points either side of it by chance. (Stop 26 trained
    ``devices`` times more small steps one after the other instead: on the CIFAR-10 3-bit entry that fell below
    the federated run, 84.5 % against 87.1 %, so it was no bound.)

    Trains on one torch thread, as each device does: on 2 busy cores two threads ran 5.8x slower per step."""
    check_int("seed", seed, 0)
    compression = Compression.of(entry)
    pooled = data if photos is None else device_data(data, data.x_train[torch.as_tensor(photos)],
                                                     data.y_train[torch.as_tensor(photos)])
    module = load_version(entry, transmitted_state(entry.module))
    scored = scoring_data(data, config.eval_limit)
    curve = [accuracy(module, scored, "test")]
    with threads(1):
        for r in range(1, config.rounds + 1):
            train_kept(module, compression, pooled, config.local_steps, config.devices * config.batch_size,
                       config.lr, config.augment, device_seed(seed, r, 1 << 30))
            version = load_version(entry, compression.project(transmitted_state(module)))
            curve.append(accuracy(version, scored, "test"))
    return tuple(curve)


def central_bound(entry: SubModel, data: DataSplits, config: FederatedConfig, seed: int,
                  photos: np.ndarray | None = None) -> float:
    """The central upper bound after all rounds (the last point of ``central_curve``)."""
    return central_curve(entry, data, config, seed, photos)[-1]


def rounds_to_target(curve, target: float) -> int | None:
    """The first round whose accuracy reaches ``target`` (0: the entry as downloaded already does), or None."""
    if not 0.0 <= float(target) <= 1.0:
        raise ValueError(f"target={target!r} must be an accuracy between 0 and 1")
    return next((r for r, acc in enumerate(curve) if acc >= target), None)


def halfway_target(downloaded: float, root: float) -> float:
    """The default target: win back half of what compression cost (halfway from the entry as downloaded to the
    uncompressed root at the same exit)."""
    return downloaded + 0.5 * max(0.0, root - downloaded)
