"""Depth level: split points of the backbone network, the device/server trade-off and confidence early exit."""
from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from core.compress.combine import architecture
from core.compress.common import count_macs, fold_batchnorm, transmitted_state
from core.compress.payload import encode
from core.model.models import NUM_STAGES, BackboneNet, check_depth, device_model, server_model
from core.model.splits import DataSplits
from core.validation import check_int, check_range

# Uplinked features at a split point: unsigned integer codes of 2..8 bits (one code per value, post-ReLU values
# are >= 0), or the float widths 16 (fp16) and 32 (fp32) -- the same vocabulary as a weight's bits. A sample's
# uplink is then exactly numel x bits (its one fp32 scale aside); 1-bit codes would keep only each sample's
# maximum, and other widths have no word format on the link.
FEATURE_CODE_BITS = tuple(range(2, 9))
FEATURE_BITS = FEATURE_CODE_BITS + (16, 32)


def check_feature_bits(bits, name: str = "feature_bits") -> int:
    """Feature width on the uplink: integer codes 2..8, 16 (fp16) or 32 (fp32); ValueError naming it otherwise."""
    if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or int(bits) not in FEATURE_BITS:
        raise ValueError(f"{name}={bits!r} is not allowed: use integer codes 2..8, 16 (fp16) or 32 (fp32)")
    return int(bits)


@dataclass(frozen=True)
class SplitPoint:
    """One split point k: what the device downloads and runs, what goes up the uplink, what the server does."""

    depth: int
    download_bits: int
    device_parameters: int
    device_macs: int
    exit_accuracy: float
    feature_shape: tuple[int, ...]
    uplink_bits_per_sample: int
    server_macs: int
    server_accuracy: float   # device stages + uplinked features (at feature_bits) + server stages + final exit


def quantise_features(f: torch.Tensor, bits: int) -> torch.Tensor:
    """What the server receives: features at fp32, fp16, or b-bit unsigned codes (b = 2..8) scaled per sample by
    its largest value (post-ReLU features are >= 0)."""
    bits = check_feature_bits(bits, "bits")
    if not isinstance(f, torch.Tensor) or f.dim() < 2:
        shape = f" of shape {tuple(f.shape)}" if isinstance(f, torch.Tensor) else ""
        raise ValueError(f"f: expected a batch of features (a tensor N x ...), got {type(f).__name__}{shape}")
    if bits == 32:
        return f
    if bits == 16:
        return f.half().float()
    top = f.flatten(1).amax(dim=1).clamp_min(1e-12).view(-1, *([1] * (f.dim() - 1)))
    levels = (1 << bits) - 1
    return torch.round(f / top * levels) / levels * top


@torch.no_grad()
def split_table(root: BackboneNet, data: DataSplits, feature_bits: int = 8, split: str = "test") -> list[SplitPoint]:
    """Every split point of the root model, measured on a data split."""
    feature_bits = check_feature_bits(feature_bits)
    root.eval()
    shape = data.input_shape
    rows = []
    for k in range(1, NUM_STAGES + 1):
        device, server = device_model(root, k), server_model(root, k)
        dev_macs, _, _ = count_macs(device, shape)
        feature_shape = tuple(root.features(torch.zeros(1, *shape), k).shape[1:])
        srv_macs, _, _ = count_macs(server, feature_shape) if k < NUM_STAGES else (0, 0, 0)
        exit_hits = server_hits = total = 0
        for xb, yb in data.batches(split, 512):
            feats = device.features(xb)
            exit_hits += int((device.head(feats).argmax(1) == yb).sum())
            server_hits += int((server(quantise_features(feats, feature_bits)).argmax(1) == yb).sum())
            total += len(yb)
        payload = encode(transmitted_state(fold_batchnorm(copy.deepcopy(device))), {}, architecture(root, k))
        rows.append(SplitPoint(depth=k, download_bits=payload.total_bits,
                               device_parameters=sum(p.numel() for p in device.parameters()),
                               device_macs=dev_macs, exit_accuracy=exit_hits / total, feature_shape=feature_shape,
                               uplink_bits_per_sample=int(torch.Size(feature_shape).numel()) * feature_bits,
                               server_macs=srv_macs, server_accuracy=server_hits / total))
    return rows


@dataclass(frozen=True)
class EarlyExitResult:
    """Confidence-based early exit at split point k with a softmax-confidence threshold."""

    depth: int
    threshold: float
    accuracy: float
    device_share: float            # samples finished on the device
    mean_uplink_bits: float        # per sample, counting only those sent up
    device_accuracy: float         # accuracy on the samples finished on the device


@dataclass(frozen=True)
class ExitOutcomes:
    """Per test image at split point k: the exit's softmax confidence and answer, and the answer the server gives
    from the uplinked features. Any confidence threshold then costs no further pass over the images (``at``).
    Arrays are read-only (shared by caches)."""

    depth: int
    feature_bits: int
    uplink_bits: int               # features of one sample at feature_bits
    confidence: np.ndarray         # float64, one per image
    local_correct: np.ndarray      # bool: the exit's answer is right
    server_correct: np.ndarray     # bool: the server's answer from the uplinked features is right (exit 4: = local)

    def at(self, threshold: float) -> EarlyExitResult:
        """Finish an image on the device when its confidence reaches ``threshold``, else on the server."""
        check_range("threshold", threshold, 0.0, 1.0)
        confident = self.confidence >= threshold if self.depth < NUM_STAGES else np.ones_like(self.local_correct)
        right = np.where(confident, self.local_correct, self.server_correct)
        on_device = int(confident.sum())
        total = len(right)
        return EarlyExitResult(self.depth, float(threshold), float(right.mean()), on_device / total,
                               (total - on_device) * self.uplink_bits / total,
                               float(self.local_correct[confident].mean()) if on_device else float("nan"))

    def curve(self, thresholds) -> list[EarlyExitResult]:
        return [self.at(t) for t in thresholds]


@torch.no_grad()
def early_exit_outcomes(root: BackboneNet, data: DataSplits, depth: int, feature_bits: int = 8,
                        split: str = "test") -> ExitOutcomes:
    """One pass over a data split: every image's exit confidence, exit answer and server answer at split ``depth``
    (features quantised per sample to ``feature_bits``, as ``quantise_features``)."""
    check_depth(depth)
    feature_bits = check_feature_bits(feature_bits)
    root.eval()
    conf, local_ok, server_ok = [], [], []
    numel = 0
    for xb, yb in data.batches(split, 512):
        feats = root.features(xb, depth)
        numel = feats[0].numel()
        local = root.exits[depth - 1](feats)
        conf.append(torch.softmax(local, 1).amax(1).double())
        local_ok.append(local.argmax(1) == yb)
        if depth < NUM_STAGES:
            f = quantise_features(feats, feature_bits)
            for stage in root.stages[depth:]:
                f = stage(f)
            server_ok.append(root.exits[-1](f).argmax(1) == yb)
        else:
            server_ok.append(local_ok[-1])
    arrays = [torch.cat(a).numpy() for a in (conf, local_ok, server_ok)]
    for a in arrays:
        a.setflags(write=False)
    return ExitOutcomes(depth, feature_bits, 0 if depth == NUM_STAGES else numel * feature_bits, *arrays)


def early_exit(root: BackboneNet, data: DataSplits, depth: int, threshold: float, feature_bits: int = 8,
               split: str = "test") -> EarlyExitResult:
    """Finish a sample on the device when exit ``depth`` is at least ``threshold`` confident, else on the server."""
    check_depth(depth)
    check_range("threshold", threshold, 0.0, 1.0)
    return early_exit_outcomes(root, data, depth, feature_bits, split).at(threshold)


def early_exit_sweep(root: BackboneNet, data: DataSplits, depth: int, thresholds, feature_bits: int = 8):
    check_int("depth", depth, 1, NUM_STAGES)
    return early_exit_outcomes(root, data, depth, feature_bits).curve(thresholds)
