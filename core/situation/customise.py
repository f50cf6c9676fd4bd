"""Model customisation (the paper's in-situ step "customise the root to the situation"): a copy of the root whose
exits are cut to the situation's classes and fine-tuned on the situation's own training photos.

Cutting keeps, in every exit's last linear layer, only the rows of the situation's classes (copied from the root),
so before any fine-tuning the situation model answers exactly what the root answers when its answer is restricted
to those classes; fine-tuning then moves only the part that ``CustomiseConfig.fine_tune`` names (every BatchNorm
keeps the root's statistics, so the frozen stages compute exactly the root's features).
"""
from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import asdict, dataclass, fields, replace
from types import MappingProxyType

import numpy as np
import torch
from torch import nn

from core.model.evaluate import exit_accuracies
from core.model.models import NUM_STAGES, BackboneNet
from core.model.splits import DataSplits
from core.model.train import TrainConfig, fit
from core.situation.situations import Situation, class_labels, situation, situation_data
from core.validation import check_bool, check_choice, check_int, check_range


@dataclass(frozen=True)
class FineTunedPart:
    """One choice of what customisation trains: the BackboneNet tensors under ``prefixes`` (the rest is frozen)."""

    name: str
    label: str
    prefixes: tuple[str, ...]
    note: str


FINE_TUNED: MappingProxyType = MappingProxyType({
    "classifiers": FineTunedPart(
        "classifiers", "the exits' linear layers", tuple(f"exits.{k}.fc." for k in range(NUM_STAGES)),
        "only the cut linear layer of every exit (a logistic regression on the root's own exit features): the "
        "smallest update, a few kB"),
    "heads": FineTunedPart(
        "heads", "the exits' heads", ("exits.",),
        "every exit's head (exits 1-3: 3x3 conv, BatchNorm affine, linear; exit 4: its linear layer); the stages "
        "stay the root's, so a device holding a generic depth sub-model needs only the new head"),
    "heads_and_last_stage": FineTunedPart(
        "heads_and_last_stage", "the exits' heads and the last stage", ("exits.", f"stages.{NUM_STAGES - 1}."),
        f"the heads and stage {NUM_STAGES} (which feeds only exit {NUM_STAGES}: exits 1-{NUM_STAGES - 1} are "
        "the same as with heads alone); stage 4 holds most of ResNet-18's parameters"),
})
DTYPES = ("float16", "float32")


@dataclass(frozen=True)
class CustomiseConfig:
    """How a situation model is made from the root.

    ``fine_tune``: a key of FINE_TUNED. ``steps``: SGD steps (0: the cut alone, i.e. the root restricted to the
    situation's classes). ``photos``: training photos of the situation used, balanced over its classes and drawn
    with the seed (None: every training photo of its classes in the data). ``dtype``: precision the fine-tuned
    tensors are kept (and stored) at; the card's accuracies are measured after rounding to it.

    Defaults, measured with bench/bench_situations.py on the CIFAR-10 root (1 busy thread: 25-55 s a situation,
    evaluation included): on the shipped pack, whose training photos the root was itself trained on, fine-tuning
    is level with the root restricted to the situation's classes within about a point at every exit (exit 2 loses
    0.3-1.2); behind a noisier camera (--noise 0.1, photos unlike the root's) it wins 1-17 points at every exit.
    """

    fine_tune: str = "heads"
    steps: int = 100
    batch_size: int = 64
    lr: float = 0.01
    photos: int | None = None
    augment: bool = True
    dtype: str = "float16"

    def __post_init__(self):
        check_choice("fine_tune", self.fine_tune, FINE_TUNED)
        check_int("steps", self.steps, 0)
        check_int("batch_size", self.batch_size, 1)
        check_range("lr", self.lr, 0.0, 10.0, lo_open=True)
        if self.photos is not None:
            check_int("photos", self.photos, 1)
        check_bool("augment", self.augment)
        check_choice("dtype", self.dtype, DTYPES)

    @property
    def part(self) -> FineTunedPart:
        return FINE_TUNED[self.fine_tune]

    @classmethod
    def from_dict(cls, data: dict) -> "CustomiseConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"customise config: unknown fields {unknown}; allowed: {sorted(names)}")
        return cls(**data)


OPTIONAL_CARD_FIELDS = frozenset({"generic_exit_accuracy"})


@dataclass(frozen=True)
class SituationCard:
    """What a situation model is: its situation and classes, the root it was cut from, how it was fine-tuned and
    its accuracy per exit on the situation's test photos (labels as positions in ``classes``)."""

    situation: str
    description: str
    root: str                       # the root's checkpoint name (the situation's ``root``)
    root_state_sha256: str          # fingerprint of the root's tensors (state_sha256): which root exactly
    classes: tuple[str, ...]
    root_labels: tuple[int, ...]    # the classes' labels in the root (the rows the cut heads kept)
    config: CustomiseConfig
    seed: int
    train_photos: int               # training photos used
    train_photos_per_class: tuple[int, ...]
    train_photos_available: int     # training photos of the situation's classes in the data
    data: str                       # the data set's name and source
    test_photos: int
    exit_accuracy: tuple[float, ...]
    parameters: int                 # of the whole situation model (all exits)
    trained_parameters: int         # of the fine-tuned part
    seconds: float                  # customisation time (cut, fine-tuning, evaluation)
    torch_threads: int              # fine-tuning's sums round by thread count: the same seed and count, same bits
    # The generic root's accuracy per exit on the same test photos with its answer restricted to the situation's
    # classes (the cut model before fine-tuning): what ``exit_accuracy`` is compared with. () on older cards.
    generic_exit_accuracy: tuple[float, ...] = ()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SituationCard":
        names = {f.name for f in fields(cls)}
        missing = sorted(names - set(data) - OPTIONAL_CARD_FIELDS)
        if missing:
            raise ValueError(f"situation card: missing fields {missing}")
        kwargs = {k: data[k] for k in names if k in data}
        for key in ("classes", "root_labels", "train_photos_per_class", "exit_accuracy", "generic_exit_accuracy"):
            if key not in kwargs:
                continue
            kwargs[key] = tuple(kwargs[key])
        kwargs["config"] = CustomiseConfig.from_dict(dict(kwargs["config"]))
        return cls(**kwargs)


@dataclass(frozen=True)
class SituationModel:
    """A root customised to a situation: a BackboneNet whose exits answer among the situation's classes only."""

    situation: Situation
    model: BackboneNet
    card: SituationCard


def state_sha256(module: nn.Module) -> str:
    """sha256 of a module's tensors (names, dtypes, shapes and bytes, in name order): the same weights give the
    same text on every machine; used to tell which root a situation model belongs to."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def as_situation(value) -> Situation:
    """A Situation, or the registered one of that name."""
    if isinstance(value, Situation):
        return value
    if isinstance(value, str):
        return situation(value)
    raise ValueError(f"situation={value!r} must be a Situation or the name of one, not {type(value).__name__}")


def check_root(root, data: DataSplits) -> BackboneNet:
    """``root`` must be a BackboneNet over ``data``'s classes."""
    if not isinstance(root, BackboneNet):
        raise ValueError(f"root={type(root).__name__} must be a BackboneNet (a root model with exits)")
    if not isinstance(data, DataSplits):
        raise ValueError(f"data={type(data).__name__} must be a DataSplits (the root's data set)")
    if root.num_classes != data.num_classes:
        raise ValueError(f"root has {root.num_classes} classes but data={data.name!r} has {data.num_classes}: "
                         "give the root's own data set (core.model.data.load_for_card)")
    return root


def cut(root: BackboneNet, labels) -> BackboneNet:
    """A copy of ``root`` whose every exit's last linear layer keeps only the rows of ``labels`` (in that order),
    copied from the root: its answer over those classes is the root's answer restricted to them. The root is never
    changed; the copy's tensors are all its own."""
    labels = [check_int("labels", label, 0, root.num_classes - 1) for label in labels]
    if len(labels) < 2 or len(set(labels)) != len(labels):
        raise ValueError(f"labels={labels} must name at least two different classes of the root")
    model = copy.deepcopy(root)
    rows = torch.tensor(labels)
    for head in model.exits:
        old = head.fc
        new = nn.utils.skip_init(nn.Linear, old.in_features, len(labels))  # no draw from torch's global RNG
        with torch.no_grad():
            new.weight.copy_(old.weight[rows])
            new.bias.copy_(old.bias[rows])
        head.fc = new
    model.num_classes = len(labels)
    for p in model.parameters():
        p.requires_grad_(True)
    return model.eval()


def _trained_names(model: nn.Module, part: FineTunedPart) -> list[str]:
    return [n for n in model.state_dict() if n.startswith(part.prefixes)]


def _training_subset(sdata: DataSplits, photos: int | None, seed: int) -> tuple[DataSplits, tuple[int, ...]]:
    """The situation's training photos, or ``photos`` of them balanced over its classes (seeded)."""
    y = sdata.y_train.numpy()
    n_classes = len(sdata.classes)
    available = np.bincount(y, minlength=n_classes)
    if photos is None:
        return sdata, tuple(int(a) for a in available)
    if photos < n_classes or photos > len(y):
        raise ValueError(f"photos={photos} is outside the allowed range [{n_classes}, {len(y)}]: at least one per "
                         f"class, at most the situation's {len(y)} training photos")
    want = np.full(n_classes, photos // n_classes)
    want[:photos % n_classes] += 1
    if np.any(want > available):
        raise ValueError(f"photos={photos} asks {want.tolist()} per class but the data holds {available.tolist()}")
    rng = np.random.default_rng(seed)
    chosen = np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:want[c]] for c in range(n_classes)]))
    idx = torch.from_numpy(chosen)
    return replace(sdata, x_train=sdata.x_train[idx], y_train=sdata.y_train[idx]), tuple(int(w) for w in want)


class _FrozenStatistics(nn.Module):
    """The model as ``fit`` sees it: training mode never reaches its BatchNorms (they keep the root's running
    statistics: a few hundred photos of two classes would otherwise re-estimate what the frozen stages need)."""

    def __init__(self, model: BackboneNet):
        super().__init__()
        self.model = model

    def train(self, mode: bool = True):
        self.training = mode
        self.model.eval()
        return self

    def forward_exits(self, x):
        return self.model.forward_exits(x)

    def forward(self, x):
        return self.model(x)


def customise(root: BackboneNet, data: DataSplits, situation: Situation | str, config: CustomiseConfig,
              seed: int = 0) -> SituationModel:
    """Customise ``root`` to ``situation``: cut every exit to the situation's classes, fine-tune the part
    ``config.fine_tune`` on the situation's training photos in ``data``, and score each exit on its test photos.
    The root is copied, never changed; the same (root, data, situation, config, seed) give the same weights."""
    started = time.perf_counter()
    check_root(root, data)
    sit = as_situation(situation)
    if not isinstance(config, CustomiseConfig):
        raise ValueError(f"config={config!r} must be a CustomiseConfig, not {type(config).__name__}")
    check_int("seed", seed, 0)
    labels = class_labels(sit, data)
    if len(labels) < 2:
        raise ValueError(f"situation={sit.name!r} has {len(labels)} class: a situation model needs at least two")
    sdata = situation_data(sit, data)
    if len(sdata.y_test) == 0:
        raise ValueError(f"situation={sit.name!r} has no test photos in data={data.name!r}")
    available = len(sdata.y_train)
    train_data, per_class = _training_subset(sdata, config.photos, seed)
    if config.steps and len(train_data.y_train) == 0:
        raise ValueError(f"situation={sit.name!r} has no training photos in data={data.name!r}; use steps=0")
    model = cut(root, labels)
    generic = tuple(exit_accuracies(model, sdata, "test"))  # the root restricted to the classes: the comparison
    part = config.part
    trained = set(_trained_names(model, part))
    for name, p in model.named_parameters():
        p.requires_grad_(name in trained)
    if config.steps:
        fit(_FrozenStatistics(model), train_data,
            TrainConfig(steps=config.steps, batch_size=config.batch_size, lr=config.lr, augment=config.augment),
            seed)
    model.eval()
    if config.dtype == "float16":  # keep exactly what is stored (the root's own tensors are fp16 values already)
        with torch.no_grad():
            state = model.state_dict()
            for name in trained:
                if state[name].is_floating_point():
                    state[name].copy_(state[name].half().float())
    for p in model.parameters():
        p.requires_grad_(True)
    accuracies = tuple(exit_accuracies(model, sdata, "test"))
    card = SituationCard(
        situation=sit.name, description=sit.description, root=sit.root, root_state_sha256=state_sha256(root),
        classes=sit.classes, root_labels=tuple(int(v) for v in labels), config=config, seed=seed,
        train_photos=int(len(train_data.y_train)) if config.steps else 0,
        train_photos_per_class=per_class if config.steps else tuple(0 for _ in labels),
        train_photos_available=int(available), data=f"{data.name} ({data.source})" if data.source else data.name,
        test_photos=int(len(sdata.y_test)), exit_accuracy=accuracies,
        parameters=sum(p.numel() for p in model.parameters()),
        trained_parameters=sum(p.numel() for n, p in model.named_parameters() if n in trained),
        seconds=round(time.perf_counter() - started, 2), torch_threads=torch.get_num_threads(),
        generic_exit_accuracy=generic)
    return SituationModel(sit, model, card)


__all__ = ["CustomiseConfig", "DTYPES", "FINE_TUNED", "FineTunedPart", "SituationCard", "SituationModel",
           "as_situation", "check_root", "customise", "cut", "state_sha256"]
