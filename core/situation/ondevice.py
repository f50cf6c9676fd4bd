"""On-device customisation (paper Sec. 5, "model customisation"): the device fine-tunes the head of the sub-model it
downloaded on a few photos of its own, labelled, and measures the accuracy it gains on the situation's test photos
after a few step counts; with the size of its change and the time the training takes on the device's hardware.

Only the head trains (the exit's last layer, or the whole exit head): the stages stay as downloaded, so their output
for a photo never changes and is computed once; each step then costs the head alone here. The device's time is
estimated the plain way: training costs TRAINING_MAC_FACTOR (3) times the multiply-adds of the sub-model's forward
pass per photo (forward + two backward products: the gradient of the activations and of the weights, each about a
forward pass), times photos per step, times steps, at the device's 32-bit float rate (gradients need floats).
With the head alone trained the backward pass stops at the head, so the true cost lies between 1x and 3x the
forward pass: 3x is the cautious figure, and the one the project uses wherever on-device time is estimated.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
import torch
from torch import nn

from core.compress.common import count_macs
from core.model.evaluate import EVAL_BATCH, fast_layout
from core.model.models import DepthSubModel
from core.model.splits import DataSplits
from core.network.dsi import HARDWARE_PRESETS, Hardware
from core.threads import threads
from core.validation import check_choice, check_int, check_range

TRAINING_MAC_FACTOR = 3   # training multiply-adds per photo = 3 x the forward pass's (forward + 2 backward products)
TRAINING_BITS = 32        # the device trains in 32-bit floats: priced at its fp32 rate, the update kept at 32 bits
CHECKPOINTS = 5           # step counts measured by default: 0 and this many more, evenly spread up to ``steps``
MAX_STEPS = 100_000
# Keep ratios at or below this, not re-trained, lose the structure of their features. Measured on the CIFAR-10
# root's park (6 classes, chance 16.7 %), the whole root cut to them (84.8 %), its last layer trained 200 steps on 20
# photos per class: keep 2 % goes from 16.8 to 33 %, keep 5 % from 17 to 67 %, keep 10 % from 30 to 79 %, keep 25 %
# from 78 to 84 %; 2-bit codes without quantisation-aware training from 16.5 to 29 %.
LOST_STRUCTURE_KEEP = 0.02


@dataclass(frozen=True)
class OnDevicePart:
    """What the device trains: the module under ``attribute`` of the sub-model's head (the rest is frozen)."""

    name: str
    label: str
    attribute: str   # "fc": the head's last linear layer; "": the whole head
    note: str


ON_DEVICE_PARTS: MappingProxyType = MappingProxyType({
    "classifier": OnDevicePart(
        "classifier", "the exit's last layer", "fc",
        "the exit's last linear layer only (a logistic regression on the sub-model's own features): the smallest "
        "change, a few kB, and the quickest"),
    "head": OnDevicePart(
        "head", "the whole exit head", "",
        "every layer of the exit's head (exits 1-3: a 3x3 convolution and the linear layer; exit 4: its linear "
        "layer); the stages stay as downloaded"),
})


@dataclass(frozen=True)
class OnDeviceConfig:
    """How the device customises its sub-model.

    ``photos_per_class``: the device's own labelled photos of each class of the situation (drawn with the seed from
    the situation's training photos). ``steps``: SGD steps (momentum 0.9, a constant learning rate, so the model
    after s steps is the same whatever ``steps`` is: every point of the curve is a run stopped there).
    ``fine_tune``: a key of ON_DEVICE_PARTS. ``batch_size``: photos per step, at most all the device's photos.
    ``checkpoints``: step counts at which accuracy is measured (0 and ``steps`` are always added; None: 0 and
    CHECKPOINTS evenly spread up to ``steps``). ``test_photos``: measure on that many of the situation's test
    photos (a fixed draw, the same for every run and seed) instead of all (None).
    """

    photos_per_class: int = 20
    steps: int = 50
    fine_tune: str = "classifier"
    batch_size: int = 32
    lr: float = 0.01
    weight_decay: float = 5e-4
    checkpoints: tuple[int, ...] | None = None
    test_photos: int | None = None

    def __post_init__(self):
        check_int("photos_per_class", self.photos_per_class, 1)
        check_int("steps", self.steps, 0, MAX_STEPS)
        check_choice("fine_tune", self.fine_tune, ON_DEVICE_PARTS)
        check_int("batch_size", self.batch_size, 1)
        check_range("lr", self.lr, 0.0, 10.0, lo_open=True)
        check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        if self.checkpoints is not None:
            if isinstance(self.checkpoints, (str, bytes)) or not hasattr(self.checkpoints, "__iter__"):
                raise ValueError(f"checkpoints={self.checkpoints!r} must be a tuple of step counts in "
                                 f"[0, steps={self.steps}], or None")
            for s in self.checkpoints:
                check_int("checkpoints", s, 0, self.steps)
            object.__setattr__(self, "checkpoints", tuple(sorted({int(s) for s in self.checkpoints})))
        if self.test_photos is not None:
            check_int("test_photos", self.test_photos, 1)

    @property
    def part(self) -> OnDevicePart:
        return ON_DEVICE_PARTS[self.fine_tune]

    def step_counts(self) -> tuple[int, ...]:
        """The step counts measured, ascending, 0 and ``steps`` included."""
        given = self.checkpoints if self.checkpoints is not None else tuple(
            int(round(self.steps * i / CHECKPOINTS)) for i in range(CHECKPOINTS + 1))
        return tuple(sorted({0, self.steps, *given}))


@dataclass(frozen=True)
class HeadInputs:
    """The situation's test photos as the trained part sees them: the frozen stages' output, computed once (in the
    evaluation's own batches, so the untrained part answers bit for bit what the whole sub-model answers)."""

    fine_tune: str
    photos: tuple[int, ...]                             # indices into the data's test split
    labels: torch.Tensor = field(compare=False, repr=False)
    inputs: tuple[torch.Tensor, ...] = field(compare=False, repr=False)   # one per evaluation batch
    seconds: float = field(default=0.0, compare=False)

    def __len__(self) -> int:
        return len(self.photos)


@dataclass(frozen=True)
class OnDeviceResult:
    """One on-device customisation: accuracy on the situation's test photos after each step count, what changed
    and what it cost the device."""

    config: OnDeviceConfig
    seed: int
    classes: tuple[str, ...]
    steps: tuple[int, ...]              # the step counts measured (0 first)
    accuracy: tuple[float, ...]         # on the test photos after each of them (0 steps: the sub-model as received)
    test_photos: int
    train_photos: int                   # the device's own labelled photos, in all
    photos_per_step: int
    trained_parameters: int
    update_bits: int                    # the trained part at TRAINING_BITS per parameter: what the device changed
    macs_per_photo: int                 # the sub-model's forward multiply-adds per photo (dense)
    training_macs: int                  # TRAINING_MAC_FACTOR x macs_per_photo x photos_per_step x steps
    hardware: str
    device_macs_per_s: float            # the device's 32-bit float rate
    device_seconds: float               # training_macs / device_macs_per_s
    wall_seconds: float = field(compare=False)   # this run here, the test photos' pass excluded when given
    weights: MappingProxyType = field(compare=False, repr=False)    # the trained part's tensors after the last step

    def accuracy_at(self, steps: int) -> float:
        if steps not in self.steps:
            raise ValueError(f"steps={steps!r} was not measured; measured: {list(self.steps)}")
        return self.accuracy[self.steps.index(steps)]

    def gain_at(self, steps: int) -> float:
        """Accuracy after ``steps`` minus the accuracy of the sub-model as received (0 steps)."""
        return self.accuracy_at(steps) - self.accuracy[0]

    @property
    def gain(self) -> float:
        return self.accuracy[-1] - self.accuracy[0]


def cut_head(module: DepthSubModel, labels) -> DepthSubModel:
    """A copy of a sub-model whose exit keeps only the rows of ``labels`` (in that order) in its last linear layer:
    it answers among those classes what the sub-model answers when its answer is restricted to them. What a device
    does to the sub-model it holds once it knows the classes it sees. The given module is never changed."""
    if not isinstance(module, DepthSubModel):
        raise ValueError(f"module={type(module).__name__} must be a DepthSubModel (a downloaded sub-model)")
    fc = module.head.fc
    labels = [check_int("labels", label, 0, fc.out_features - 1) for label in labels]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"labels={labels} must name at least two different classes of the sub-model's "
                         f"{fc.out_features}")
    out = copy.deepcopy(module)
    rows = torch.tensor(labels)
    new = nn.utils.skip_init(nn.Linear, fc.in_features, len(labels))  # no draw from torch's global RNG
    with torch.no_grad():
        new.weight.copy_(fc.weight[rows])
        new.bias.copy_(fc.bias[rows])
    out.head.fc = new
    for p in out.parameters():
        p.requires_grad_(True)
    return out.eval()


def _module(start) -> DepthSubModel:
    module = getattr(start, "module", start)  # a SubModel or its module
    if not isinstance(module, DepthSubModel):
        raise ValueError(f"start={type(start).__name__} must be a downloaded sub-model (a SubModel or a "
                         "DepthSubModel)")
    return module


def _part(module: DepthSubModel, fine_tune: str) -> nn.Module:
    attribute = ON_DEVICE_PARTS[fine_tune].attribute
    return getattr(module.head, attribute) if attribute else module.head


def _check(module: DepthSubModel, data: DataSplits) -> None:
    if not isinstance(data, DataSplits):
        raise ValueError(f"data={type(data).__name__} must be a DataSplits (the situation's own task)")
    classes = module.head.fc.out_features
    if classes != data.num_classes:
        raise ValueError(f"start answers among {classes} classes but data={data.name!r} has {data.num_classes}: "
                         "cut its head to the situation's classes first (cut_head)")


@torch.no_grad()
def _inputs(module: DepthSubModel, part: nn.Module, data: DataSplits, x: torch.Tensor) -> list[torch.Tensor]:
    """The trained part's input for photos ``x`` (raw), in evaluation batches, from the sub-model as it runs."""
    seen = []
    hook = part.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    was_training = module.training
    module.eval()
    try:
        for start in range(0, len(x), EVAL_BATCH):
            module(fast_layout(data.normalise(x[start:start + EVAL_BATCH])))
    finally:
        hook.remove()
        module.train(was_training)
    return seen


def _test_draw(n_test: int, wanted: int | None) -> np.ndarray:
    """All test photos, or a fixed draw of ``wanted`` of them (seed 0, ascending): the same for every run."""
    if wanted is None or wanted >= n_test:
        return np.arange(n_test)
    return np.sort(np.random.default_rng(0).choice(n_test, size=wanted, replace=False))


def head_inputs(start, data: DataSplits, fine_tune: str = "classifier",
                test_photos: int | None = None) -> HeadInputs:
    """The test photos' inputs of the part ``fine_tune`` of the sub-model ``start`` (whose head answers among
    ``data``'s classes): the expensive, reusable half of customise_on_device (cache it per sub-model and data)."""
    started = time.perf_counter()
    module = _module(start)
    _check(module, data)
    check_choice("fine_tune", fine_tune, ON_DEVICE_PARTS)
    if test_photos is not None:
        check_int("test_photos", test_photos, 1)
    if len(data.y_test) == 0:
        raise ValueError(f"data={data.name!r} has no test photos to measure on")
    idx = _test_draw(len(data.y_test), test_photos)
    sel = torch.from_numpy(idx)
    inputs = _inputs(module, _part(module, fine_tune), data, data.x_test[sel])
    return HeadInputs(fine_tune, tuple(int(i) for i in idx), data.y_test[sel].clone(), tuple(inputs),
                      round(time.perf_counter() - started, 3))


def _device_photos(y: np.ndarray, n_classes: int, per_class: int, seed: int, data: DataSplits) -> np.ndarray:
    """``per_class`` training photos of each class, drawn with ``seed`` (ascending indices)."""
    counts = np.bincount(y, minlength=n_classes)
    fewest = int(np.argmin(counts))
    if per_class > counts[fewest]:
        raise ValueError(f"photos_per_class={per_class} is more than the {counts[fewest]} training photos of class "
                         f"{data.classes[fewest]!r} (the fewest of any class) in data={data.name!r}; allowed: 1 to "
                         f"{counts[fewest]}")
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(y == c))[:per_class] for c in range(n_classes)]
    return np.sort(np.concatenate(chosen))


@torch.no_grad()
def _accuracy(part: nn.Module, features: HeadInputs) -> float:
    hits = sum(int((part(x).argmax(1) == features.labels[i * EVAL_BATCH:(i + 1) * EVAL_BATCH]).sum())
               for i, x in enumerate(features.inputs))
    return hits / len(features)


def _hardware(hardware) -> Hardware:
    if isinstance(hardware, Hardware):
        return hardware
    if isinstance(hardware, str):
        check_choice("hardware", hardware, HARDWARE_PRESETS)
        return HARDWARE_PRESETS[hardware]
    raise ValueError(f"hardware={hardware!r} must be a Hardware or a preset's name "
                     f"({', '.join(HARDWARE_PRESETS)}), not {type(hardware).__name__}")


def training_seconds(macs_per_photo: int, photos_per_step: int, steps: int, hardware) -> float:
    """The device's time to train: TRAINING_MAC_FACTOR x forward MACs per photo x photos per step x steps, at the
    hardware's 32-bit float rate."""
    check_int("macs_per_photo", macs_per_photo, 0)
    check_int("photos_per_step", photos_per_step, 0)
    check_int("steps", steps, 0)
    return TRAINING_MAC_FACTOR * macs_per_photo * photos_per_step * steps / _hardware(hardware).macs_per_s(
        TRAINING_BITS)


def _train(part: nn.Module, train_x: torch.Tensor, train_y: torch.Tensor, features: HeadInputs,
           config: OnDeviceConfig, seed: int) -> list[float]:
    """SGD on ``part`` (in place) with the device's photos; the accuracy on the test photos at each step count."""
    params = list(part.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    n, per_step = len(train_y), min(config.batch_size, len(train_y))
    order, at = torch.randperm(n, generator=generator), 0
    counts = config.step_counts()
    accuracy = [_accuracy(part, features)]
    for step in range(1, config.steps + 1):
        if at + per_step > n:  # a new pass over the device's photos, in a new order
            order, at = torch.randperm(n, generator=generator), 0
        idx = order[at:at + per_step]
        at += per_step
        loss = nn.functional.cross_entropy(part(train_x[idx]), train_y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step in counts:
            accuracy.append(_accuracy(part, features))
    return accuracy


def customise_on_device(start, data: DataSplits, config: OnDeviceConfig, seed: int = 0,
                        hardware: Hardware | str = "smartphone",
                        features: HeadInputs | None = None) -> OnDeviceResult:
    """Fine-tune the part ``config.fine_tune`` of the downloaded sub-model ``start`` (its head cut to the classes of
    ``data``, the situation's own task: core.situation.situations.situation_data) on ``config.photos_per_class``
    of the situation's training photos per class, drawn with ``seed``, and measure the accuracy on its test photos
    after each of ``config.step_counts()``. ``start`` is never changed. ``features`` (from head_inputs with the
    same sub-model, data, part and test photos) skips recomputing the test photos' features. Same arguments and
    seed, same numbers."""
    started = time.perf_counter()
    module = _module(start)
    _check(module, data)
    if not isinstance(config, OnDeviceConfig):
        raise ValueError(f"config={config!r} must be an OnDeviceConfig, not {type(config).__name__}")
    check_int("seed", seed, 0)
    hw = _hardware(hardware)
    if features is None:
        features = head_inputs(module, data, config.fine_tune, config.test_photos)
        started = time.perf_counter()  # the run's own time, as when the features are given
    elif not isinstance(features, HeadInputs):
        raise ValueError(f"features={type(features).__name__} must be HeadInputs (head_inputs) or None")
    elif features.fine_tune != config.fine_tune or \
            features.photos != tuple(int(i) for i in _test_draw(len(data.y_test), config.test_photos)):
        raise ValueError(f"features are of fine_tune={features.fine_tune!r} on {len(features)} test photos; this run "
                         f"needs fine_tune={config.fine_tune!r} on "
                         f"{len(_test_draw(len(data.y_test), config.test_photos))}: make them with head_inputs")
    n_classes = data.num_classes
    chosen = _device_photos(data.y_train.numpy(), n_classes, config.photos_per_class, seed, data)
    sel = torch.from_numpy(chosen)
    part = copy.deepcopy(_part(module, config.fine_tune)).float().eval()  # eval: BatchNorm keeps its statistics
    train_x = torch.cat(_inputs(module, _part(module, config.fine_tune), data, data.x_train[sel]))
    train_y = data.y_train[sel]
    with threads(1):  # a head's steps are small: one thread is quickest on a shared CPU, and the same everywhere
        accuracy = _train(part, train_x, train_y, features, config, seed)
    params = list(part.parameters())
    n, per_step = len(train_y), min(config.batch_size, len(train_y))
    counts = config.step_counts()
    trained = sum(p.numel() for p in params)
    macs = count_macs(module, data.input_shape)[0]
    training_macs = TRAINING_MAC_FACTOR * macs * per_step * config.steps
    weights = MappingProxyType({k: v.detach().clone() for k, v in part.state_dict().items()})
    return OnDeviceResult(
        config=config, seed=seed, classes=tuple(data.classes), steps=counts, accuracy=tuple(accuracy),
        test_photos=len(features), train_photos=n, photos_per_step=per_step, trained_parameters=trained,
        update_bits=trained * TRAINING_BITS, macs_per_photo=int(macs), training_macs=int(training_macs),
        hardware=hw.name, device_macs_per_s=float(hw.macs_per_s(TRAINING_BITS)),
        device_seconds=training_seconds(int(macs), per_step, config.steps, hw),
        wall_seconds=round(time.perf_counter() - started, 3), weights=weights)


def customised(start, result: OnDeviceResult) -> DepthSubModel:
    """A copy of the sub-model ``start`` with the trained part of ``result`` in place (what the device now runs)."""
    module = copy.deepcopy(_module(start))
    _part(module, result.config.fine_tune).load_state_dict(dict(result.weights))
    return module.eval()


def limit(spec) -> str:
    """Where customising the head cannot help a sub-model made by ``spec`` (a SubModelSpec): a plain sentence, or
    "" when it can. The head learns on the stages' features; when those are ruined, it has nothing to learn from."""
    bits = [spec.bits] if spec.bits_map is None else [b for _, b in spec.bits_map]
    if spec.mixed_budget_bits is None and min(bits) <= 2 and spec.qat_steps == 0:
        return ("2-bit codes without quantisation-aware training: rounding every weight to one of four values ruins "
                "the features the stages compute, and training the head on the device cannot repair the stages. "
                "Quantisation-aware training before the download (or 4 bits or more) is what helps.")
    if spec.keep_ratio <= LOST_STRUCTURE_KEEP and spec.retrain_steps == 0:
        return (f"pruned to keep {spec.keep_ratio:.0%} of its weights without re-training: the stages lost the "
                "structure of their features, and training the head on the device cannot rebuild them. "
                "Re-training after pruning (before the download) is what helps.")
    return ""


__all__ = ["CHECKPOINTS", "LOST_STRUCTURE_KEEP", "ON_DEVICE_PARTS", "OnDeviceConfig", "OnDevicePart",
           "OnDeviceResult", "TRAINING_BITS", "TRAINING_MAC_FACTOR", "HeadInputs", "customise_on_device",
           "customised", "cut_head", "limit", "head_inputs", "training_seconds"]
