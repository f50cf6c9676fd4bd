"""A private, reusable copy of a sub-model that downloads corrupt in place: write what arrived, evaluate, restore.

One deep copy per sub-model (never per trial); a trial writes only the tensors the channel hit and puts the
clean values back afterwards, so a trial costs about one evaluation. The sub-model's own module (possibly a
cached, shared one) is never touched.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from core.compress.payload import Payload, decode
from core.link.bsc import check_payload, corrupt, receive
from core.link.packets import PacketConfig, lose_packets
from core.model.evaluate import EVAL_BATCH, fast_layout
from core.model.splits import DataSplits
from core.validation import check_int

def correctness(module: torch.nn.Module, data: DataSplits, split: str = "test", index=None,
                batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Whether ``module`` classifies each image of ``split`` (or of its positions ``index``) correctly: a bool
    array in the order of ``index`` (of the split without it). The module's train/eval flag is restored."""
    x, y = data.split(split)
    batch_size = check_int("batch_size", batch_size, 1)
    if index is None:
        index = np.arange(len(y))
    index = np.asarray(index, dtype=np.int64)
    if index.size and (index.min() < 0 or index.max() >= len(y)):
        raise ValueError(f"index: positions must lie in [0, {len(y) - 1}] of the {split!r} split")
    out = np.empty(index.size, dtype=bool)
    was_training = module.training
    if was_training:  # a module already in eval mode (e.g. a shared, cached one) is not touched at all
        module.eval()
    try:
        with torch.inference_mode():
            for start in range(0, index.size, batch_size):
                idx = torch.from_numpy(index[start:start + batch_size])
                pred = module(fast_layout(data.normalise(x[idx]))).argmax(1)
                out[start:start + batch_size] = (pred == y[idx]).numpy()
    finally:
        if was_training:
            module.train(True)
    return out


@dataclass(frozen=True)
class Arrival:
    """What one download over the link delivered, before it is written into a working copy."""

    tensors: dict = field(compare=False)  # name -> whole array, or (flat positions, values)
    flips: int                 # bits flipped (BSC view)
    lossy_bits: int            # payload bits exposed to errors
    reliable_bits: int         # bits moved to the reliable channel (UEP, reliable tensors)
    nonfinite: int             # non-finite received values before protection
    replaced: int              # values the protection (or packet loss) zeroed, clamped or replaced
    lost_packets: int = 0
    retransmitted_bits: int = 0


def download(payload: Payload, ber: float, protection: str, rng: np.random.Generator,
             uep_bits: int | None = None, packets: PacketConfig | None = None, fallback: dict | None = None,
             reliable=(), index_reliable: bool = True) -> Arrival:
    """One pass of ``payload`` over the link: bit flips and the receiver's protection, or (with ``packets``)
    the packet view with its retransmissions or lost packets."""
    if packets is None:
        hit = corrupt(payload, ber, rng, protection, uep_bits, reliable, check=False, index_reliable=index_reliable)
        got = receive(payload, hit)
        return Arrival(got.tensors, hit.flips, hit.lossy_bits, hit.reliable_bits, got.nonfinite, got.replaced)
    loss = lose_packets(payload, ber, rng, packets, fallback)
    return Arrival(loss.tensors, 0, payload.payload_bits, 0, 0, loss.replaced, loss.lost_packets,
                   loss.retransmitted_bits)


class WorkingCopy:
    """A private copy of a sub-model's module plus its clean tensors; trials corrupt and restore it in place.

    ``arithmetic="int8"`` (an integer-coded sub-model only, core.link.int8) adds an int8 twin that follows every
    write and restore; ``evaluator`` is then the twin, so clean and corrupted evaluations both run on int8 kernels
    (``calibration``: normalised calibration images for its activation scales, from
    core.link.int8.calibration_images)."""

    def __init__(self, submodel, arithmetic: str = "float", calibration: torch.Tensor | None = None):
        from core.link.int8 import Int8Twin, check_arithmetic

        self.arithmetic = check_arithmetic(arithmetic)
        if arithmetic == "float" and calibration is not None:
            raise ValueError("calibration: only int8 arithmetic uses calibration images")
        payload = getattr(submodel, "payload", None)
        check_payload(payload)
        self.payload: Payload = payload
        # Convolution weights in channels-last memory order, like the images (core.model.evaluate.fast_layout): the
        # CPU kernels then need no re-ordering of the weights on every forward pass. Same outputs to the bit (checked in
        # tests/core/test_working.py), 5-15 % faster per image on the CIFAR root (bench/bench_channel.py).
        self.module = copy.deepcopy(submodel.module).eval().to(memory_format=torch.channels_last)
        for p in self.module.parameters():
            p.requires_grad_(False)
        self._state = self.module.state_dict()
        for r in payload.records:
            if r.name not in self._state:
                raise ValueError(f"payload tensor {r.name!r} is not in the module: payload does not match it")
            if tuple(self._state[r.name].shape) != tuple(r.shape):
                raise ValueError(f"payload tensor {r.name!r} has shape {r.shape}, the module has "
                                 f"{tuple(self._state[r.name].shape)}")
        # Flat numpy views share memory with the module's tensors: writes are cheap and need no autograd. They are
        # in memory order; ``_nhwc`` holds the (O, I, H, W) shape of each channels-last tensor, whose payload
        # (row-major) positions are mapped to memory positions on every write.
        self._flat, self._nhwc = {}, {}
        for r in payload.records:
            tensor = self._state[r.name].detach()
            last = tensor.dim() == 4 and not tensor.is_contiguous() and tensor.is_contiguous(
                memory_format=torch.channels_last)
            if tensor.dtype != torch.float32 or not (tensor.is_contiguous() or last) or tensor.device.type != "cpu":
                raise ValueError(f"module tensor {r.name!r} must be contiguous float32 on the CPU, "
                                 f"not {tensor.dtype} on {tensor.device}")
            if last:
                self._nhwc[r.name] = tuple(tensor.shape)
                tensor = tensor.permute(0, 2, 3, 1)  # a contiguous view of the channels-last memory
            self._flat[r.name] = tensor.numpy().reshape(-1)
            assert np.shares_memory(self._flat[r.name], self._state[r.name].numpy())
        # The clean values (in memory order) are what a device receives at BER 0, decoded from the payload itself.
        self._clean = {n: self._in_memory_order(n, t.numpy().reshape(-1)).copy()
                       for n, t in decode(payload).items()}
        self._dirty: dict = {}   # name -> None (whole tensor) or list of flat position arrays
        self.int8 = None
        self.restore(everything=True)
        if arithmetic == "int8":
            if calibration is None:
                raise ValueError("calibration=None: int8 arithmetic needs calibration images "
                                 "(core.link.int8.calibration_images)")
            self.int8 = Int8Twin(self.module, payload, calibration)

    @property
    def evaluator(self) -> torch.nn.Module:
        """What evaluates the working copy as it is now: the int8 twin, or the float module."""
        return self.module if self.int8 is None else self.int8.model

    def _in_memory_order(self, name: str, values: np.ndarray) -> np.ndarray:
        """A whole tensor's values, given in payload (row-major) order, in the working module's memory order."""
        shape = self._nhwc.get(name)
        return values if shape is None else values.reshape(shape).transpose(0, 2, 3, 1).reshape(-1)

    def _memory_positions(self, name: str, index) -> np.ndarray:
        """Payload (row-major) positions of a tensor -> positions in the working module's memory."""
        shape = self._nhwc.get(name)
        if shape is None:
            return index
        _, ci, h, w = shape
        index = np.asarray(index, dtype=np.int64)
        out_channel, rest = np.divmod(index, ci * h * w)
        in_channel, pixel = np.divmod(rest, h * w)
        return (out_channel * (h * w) + pixel) * ci + in_channel

    def write(self, tensors: dict) -> None:
        """Put received values into the working module: name -> whole array, or (flat positions, values)."""
        for name, update in tensors.items():
            target = self._flat[name]
            if isinstance(update, tuple):
                index, values = update
                index = self._memory_positions(name, index)
                target[index] = values
                if self._dirty.get(name, ()) is not None:
                    self._dirty.setdefault(name, []).append(index)
            else:
                update = update.detach().cpu().numpy() if isinstance(update, torch.Tensor) else update
                target[:] = self._in_memory_order(name, np.asarray(update, dtype=target.dtype).reshape(-1))
                self._dirty[name] = None
        if self.int8 is not None:
            self.int8.sync(tensors)

    def restore(self, everything: bool = False) -> None:
        """Put the clean values back where they were written since the last restore."""
        dirty = dict.fromkeys(self._clean) if everything else self._dirty
        for name, parts in dirty.items():
            target, clean = self._flat[name], self._clean[name]
            if parts is None:
                target[:] = clean
            else:
                for index in parts:
                    target[index] = clean[index]
        self._dirty = {}
        if self.int8 is not None:
            self.int8.restore()

    @property
    def is_clean(self) -> bool:
        return not self._dirty

    def received(self, arrival: Arrival):
        """Context manager: the working module holds ``arrival`` inside the block and is clean again after it."""
        return _Received(self, arrival)


class _Received:
    def __init__(self, working: WorkingCopy, arrival: Arrival):
        self.working, self.arrival, self.seconds = working, arrival, 0.0

    def __enter__(self):
        started = time.perf_counter()
        self.working.write(self.arrival.tensors)
        self.seconds += time.perf_counter() - started
        return self.working.evaluator

    def __exit__(self, *exc):
        started = time.perf_counter()
        self.working.restore()
        self.seconds += time.perf_counter() - started
        return False


__all__ = ["WorkingCopy", "Arrival", "download", "correctness", "EVAL_BATCH"]
