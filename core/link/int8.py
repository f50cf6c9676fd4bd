"""Integer arithmetic for integer-coded sub-models: an int8 twin of a working copy, as a device's integer kernels
would run it.

A sub-model whose convolution and linear weights all travel as integer codes (2..8 bits, one scale per output
channel; core.compress.payload) can run on int8 kernels: every weight is its own code (a qint8 value) times its
channel's scale, exactly. The activations between layers are 8-bit too (quint8, one scale and zero point per
tensor, from the smallest and largest value seen), calibrated once on 512 of the data set's calibration photos
(``DataSplits.x_val``, never the test split). This is the one place where the twin differs from the
fake-quantised float model, so its predictions can differ on a few images: bench/bench_channel.py measures how
many on the CIFAR root, clean and after downloads; tests/core/test_int8.py requires the same prediction on
>= 98.5 % of the digits test images (the stated tolerance). The twin is built with torch.ao's FX graph
quantisation for the oneDNN engine, whose int8 kernels run 4-6x faster than float on this CPU.

After a download the working copy writes the received values into its float module; ``Int8Twin.sync`` then
quantises the written layers with their payload scales (received codes stay exactly their codes) and re-packs
them; ``restore`` puts the clean packed weights back without re-packing. Estimates made with the twin are
estimates of the int8 network's accuracy, clean accuracy included: the paired estimator is unchanged, only the
arithmetic differs (core.link.reliability).
"""
from __future__ import annotations

import copy
import time
import warnings

import numpy as np
import torch

from core.compress.payload import Payload
from core.validation import check_int

ENGINE = "onednn"  # the x86 and fbgemm engines ran 1.5-4x slower at 64 images per pass on this CPU (one run)
CALIBRATION_IMAGES = 512
ARITHMETICS = ("float", "int8")


def calibration_images(data, images: int = CALIBRATION_IMAGES) -> torch.Tensor:
    """The normalised calibration photos an int8 twin's activation scales come from: the first ``images`` of the
    data set's (a DataSplits) calibration split ``x_val``, never test images."""
    return data.normalise(data.x_val[:check_int("images", images, 2)])


def check_arithmetic(arithmetic: str) -> str:
    if arithmetic not in ARITHMETICS:
        raise ValueError(f"arithmetic={arithmetic!r} is not allowed: use one of {list(ARITHMETICS)}")
    return arithmetic


def int8_problem(payload: Payload, module: torch.nn.Module) -> str:
    """Why ``module`` with this payload cannot run as an int8 twin ("" when it can): the engine must exist on this
    machine and every convolution and linear weight must travel as integer codes of at most 8 bits."""
    if ENGINE not in torch.backends.quantized.supported_engines:
        return f"this PyTorch build has no {ENGINE} int8 engine"
    records = {r.name: r for r in payload.records}
    for name, layer in module.named_modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            record = records.get(f"{name}.weight")
            if record is None or record.is_float or record.scales is None:
                sent = "not in the payload" if record is None else f"sent as {record.bits}-bit floats"
                return f"layer {name!r}: its weights are {sent} (integer codes of at most 8 bits are needed)"
    return ""


def _packed(layer):
    """(owner, attribute) holding a quantized layer's packed weights: a conv keeps them itself, a linear layer in
    its LinearPackedParams."""
    if hasattr(layer, "_packed_params") and isinstance(layer._packed_params, torch.nn.Module):
        return layer._packed_params, "_packed_params"
    return layer, "_packed_params"


class Int8Twin:
    """The int8 network of an integer-coded float module (module docstring): ``model`` evaluates;
    ``sync(tensors)`` follows a write of those tensors into the float module; ``restore()`` returns to the clean
    weights."""

    def __init__(self, module: torch.nn.Module, payload: Payload, calibration: torch.Tensor):
        problem = int8_problem(payload, module)
        if problem:
            raise ValueError(f"module: cannot run with int8 kernels: {problem}")
        if not isinstance(calibration, torch.Tensor) or calibration.dim() < 2 or len(calibration) < 2:
            raise ValueError("calibration: need a batch of at least 2 normalised images (the data set's x_val)")
        from torch.ao.quantization import QConfig, QConfigMapping
        from torch.ao.quantization.observer import MinMaxObserver, PerChannelMinMaxObserver
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        started = time.perf_counter()
        torch.backends.quantized.engine = ENGINE
        qconfig = QConfig(activation=MinMaxObserver.with_args(reduce_range=False),
                          weight=PerChannelMinMaxObserver.with_args(dtype=torch.qint8,
                                                                    qscheme=torch.per_channel_symmetric))
        source = copy.deepcopy(module).eval().to(memory_format=torch.contiguous_format)
        with warnings.catch_warnings():  # torch.ao's FX quantisation announces its move to torchao
            warnings.simplefilter("ignore")
            prepared = prepare_fx(source, QConfigMapping().set_global(qconfig), (calibration[:2],))
            with torch.inference_mode():
                for s in range(0, len(calibration), 64):
                    prepared(calibration[s:s + 64])
            self.model = convert_fx(prepared).eval()
        quantized = dict(self.model.named_modules())
        records = {r.name: r for r in payload.records}
        self._float = dict(module.named_modules())
        # layer name -> (quantized layer, scales (float64), zero points, clean codes, current codes); codes are
        # int8 in payload (row-major) order, so a download's (positions, values) update touches only its positions
        self._layers = {}
        for name, layer in module.named_modules():
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
                if name not in quantized or not hasattr(quantized[name], "set_weight_bias"):
                    raise ValueError(f"module: layer {name!r} did not become an int8 layer")
                scales = np.asarray(records[f"{name}.weight"].scales, dtype=np.float64)
                scales = torch.from_numpy(np.where(scales > 0, scales, 1.0))  # a zero scale: an all-zero channel
                codes = self._codes(layer.weight.detach().contiguous().numpy(), scales.numpy())
                self._layers[name] = (quantized[name], scales, torch.zeros(len(scales), dtype=torch.long),
                                      codes, codes.clone())
        self._by_tensor = {f"{name}.{part}": (name, part) for name in self._layers for part in ("weight", "bias")}
        self._clean = {}
        for name in self._layers:
            self._pack(name)
            owner, attr = _packed(self._layers[name][0])
            self._clean[name] = getattr(owner, attr)
        self._dirty: set[str] = set()
        self.build_seconds = time.perf_counter() - started

    @staticmethod
    def _codes(values: np.ndarray, scales: np.ndarray, channel: np.ndarray | None = None) -> torch.Tensor:
        """int8 codes of float ``values`` (a whole weight, or the values at flat positions of output ``channel``):
        value / scale rounded; an integer-coded value comes back as its code exactly. Values beyond the int8
        range saturate, as on integer hardware (only values from elsewhere, e.g. a fallback model, can be)."""
        per = scales.reshape(-1, *([1] * (values.ndim - 1))) if channel is None else scales[channel]
        return torch.from_numpy(np.ascontiguousarray(np.clip(np.rint(values / per), -128, 127), dtype=np.int8))

    def _pack(self, name: str) -> None:
        """Pack layer ``name``'s current codes (with its payload scales) and its float module's bias."""
        layer, scales, zeros, _, codes = self._layers[name]
        q = torch._make_per_channel_quantized_tensor(codes, scales, zeros, 0)
        bias = self._float[name].bias
        layer.set_weight_bias(q, None if bias is None else bias.detach().clone())

    def sync(self, tensors: dict) -> float:
        """Follow a write of ``tensors`` (name -> whole array, or (flat row-major positions, values); as given to
        WorkingCopy.write) into the float module: update the codes the write touched and re-pack every layer
        owning a written tensor; other tensors (of layers outside the twin) are ignored. Returns the seconds."""
        started = time.perf_counter()
        layers = set()
        for tensor, update in tensors.items():
            if tensor not in self._by_tensor:
                continue
            name, part = self._by_tensor[tensor]
            layers.add(name)
            if part == "bias":  # biases stay float in int8 kernels: _pack reads the float module's
                continue
            _, scales, _, _, codes = self._layers[name]
            flat = codes.view(-1)
            if isinstance(update, tuple):
                index, values = update
                index = np.asarray(index, dtype=np.int64)
                channel = index // (flat.numel() // codes.shape[0])
                flat[torch.from_numpy(index)] = self._codes(np.asarray(values, dtype=np.float32), scales.numpy(),
                                                            channel)
            else:
                if isinstance(update, torch.Tensor):
                    update = update.detach().cpu().contiguous().numpy()
                update = np.asarray(update)
                flat[:] = self._codes(update.reshape(codes.shape).astype(np.float32), scales.numpy()).view(-1)
        for name in sorted(layers):
            self._pack(name)
        self._dirty |= layers
        return time.perf_counter() - started

    def restore(self) -> None:
        """Put the clean codes and packed weights back in every re-packed layer (no re-packing)."""
        for name in self._dirty:
            layer, _, _, clean, codes = self._layers[name]
            codes.copy_(clean)
            owner, attr = _packed(layer)
            setattr(owner, attr, self._clean[name])
        self._dirty = set()

    def kernel_weights(self) -> dict[str, torch.Tensor]:
        """Layer name -> its weights as the int8 kernels hold them now (code x scale, as float)."""
        return {name: layer.weight().dequantize() for name, (layer, *_) in self._layers.items()}

    @property
    def is_clean(self) -> bool:
        return not self._dirty


__all__ = ["Int8Twin", "int8_problem", "calibration_images", "check_arithmetic", "ARITHMETICS", "ENGINE",
           "CALIBRATION_IMAGES"]
