"""Root models: ResNet-18 (torchvision topology, CIFAR-style stem) as a backbone network with early exits.

The backbone has four residual stages; an exit (small classifier) follows each of the first three, and the
network's own head is exit 4. Checkpoints are safetensors plus a JSON model card, loaded without pickle; the
shipped roots are named here, and ``core.model.roots`` finds the other checkpoints a user can pick.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from core.validation import check_choice, check_int, check_range

ARCHITECTURES = ("resnet18",)
NUM_STAGES = 4
STAGE_CHANNELS = (64, 128, 256, 512)
EXIT_WIDTH = 128


class ExitHead(nn.Module):
    """Intermediate classifier: 3x3 conv to EXIT_WIDTH channels, BN, ReLU, global pool, linear."""

    def __init__(self, in_channels: int, num_classes: int, width: int = EXIT_WIDTH):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.relu(self.bn(self.conv(x)))), 1))


class FinalHead(nn.Module):
    """The ResNet's own head (global pool + fc), used as the last exit."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(x), 1))


WIDTHS = (0.25, 0.375, 0.5, 0.75, 1.0)  # width multipliers offered by the command line


def stage_channels(width: float) -> tuple[int, ...]:
    """Channels of the four stages at a width multiplier (1.0: torchvision's 64, 128, 256, 512)."""
    check_range("width", width, 0.0625, 2.0)
    return tuple(max(4, int(round(c * width))) for c in STAGE_CHANNELS)


def _stage(in_planes: int, planes: int, stride: int) -> nn.Sequential:
    """Two torchvision BasicBlocks, the first with a 1x1 projection when the shape changes (as layerN)."""
    down = None
    if stride != 1 or in_planes != planes:
        down = nn.Sequential(conv1x1(in_planes, planes, stride), nn.BatchNorm2d(planes))
    return nn.Sequential(BasicBlock(in_planes, planes, stride, down), BasicBlock(planes, planes))


class BackboneNet(nn.Module):
    """ResNet-18 with exits: ``stem`` then ``stages[0..3]``; ``exits[k-1]`` classifies after stage k.

    ``width`` multiplies every stage's channels and the exits' hidden width (1.0 is torchvision's ResNet-18, with
    the same module names and initialisation: Kaiming-normal convolutions, BatchNorm at 1 and 0).
    """

    def __init__(self, num_classes: int, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        check_int("num_classes", num_classes, 2)
        check_int("in_channels", in_channels, 1)
        chans = stage_channels(width)
        # CIFAR-style stem for small inputs: 3x3 stride-1 conv, no max-pool.
        self.stem = nn.Sequential(nn.Conv2d(in_channels, chans[0], 3, 1, 1, bias=False), nn.BatchNorm2d(chans[0]),
                                  nn.ReLU(inplace=True))
        self.stages = nn.ModuleList([_stage(chans[max(0, i - 1)], c, 1 if i == 0 else 2)
                                     for i, c in enumerate(chans)])
        exit_width = max(8, int(round(EXIT_WIDTH * width)))
        heads = [ExitHead(c, num_classes, exit_width) for c in chans[:-1]]
        self.exits = nn.ModuleList(heads + [FinalHead(chans[-1], num_classes)])
        for m in self.modules():  # torchvision's ResNet initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.width = float(width)

    def features(self, x: torch.Tensor, depth: int) -> torch.Tensor:
        """Output of the stem and the first ``depth`` stages (depth 0: the stem alone)."""
        x = self.stem(x)
        for stage in self.stages[:depth]:
            x = stage(x)
        return x

    def forward_exits(self, x: torch.Tensor, depth: int = NUM_STAGES) -> list[torch.Tensor]:
        """Logits of exits 1..depth from one pass through the first ``depth`` stages."""
        x = self.stem(x)
        out = []
        for k in range(depth):
            x = self.stages[k](x)
            out.append(self.exits[k](x))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.exits[-1](self.features(x, NUM_STAGES))


class DepthSubModel(nn.Module):
    """Standalone device model for split point k: stem, stages 1..k and exit k (nothing else is held)."""

    def __init__(self, stem: nn.Module, stages: list[nn.Module], head: nn.Module):
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.head = head

    @property
    def depth(self) -> int:
        return len(self.stages)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ServerModel(nn.Module):
    """The server's part for split point k: stages k+1..4 and the final exit, fed with uplinked features."""

    def __init__(self, stages: list[nn.Module], head: nn.Module):
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.head = head

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            features = stage(features)
        return self.head(features)


def check_depth(depth: int) -> int:
    return check_int("depth", depth, 1, NUM_STAGES)


def device_model(root: BackboneNet, depth: int) -> DepthSubModel:
    """A deep copy of the first ``depth`` stages plus exit ``depth``; the root is never shared or mutated."""
    check_depth(depth)
    import copy

    return _trainable(DepthSubModel(copy.deepcopy(root.stem), [copy.deepcopy(s) for s in root.stages[:depth]],
                                    copy.deepcopy(root.exits[depth - 1])))


def server_model(root: BackboneNet, depth: int) -> ServerModel:
    """A deep copy of the stages after split point ``depth`` and the final exit."""
    check_depth(depth)
    import copy

    return _trainable(ServerModel([copy.deepcopy(s) for s in root.stages[depth:]], copy.deepcopy(root.exits[-1])))


def _trainable(module: nn.Module) -> nn.Module:
    """A copy is the caller's own: gradients on, whatever the (possibly frozen, shared) root had."""
    for p in module.parameters():
        p.requires_grad_(True)
    return module.eval()


def build_model(arch: str, num_classes: int, in_channels: int, width: float = 1.0) -> BackboneNet:
    check_choice("arch", arch, ARCHITECTURES)
    return BackboneNet(num_classes, in_channels, width)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def root_parameter_count(model: BackboneNet) -> int:
    """Parameters of the plain ResNet-18 (stem, stages, final head), without the intermediate exits."""
    return count_parameters(model.stem) + count_parameters(model.stages) + count_parameters(model.exits[-1])


@dataclass(frozen=True)
class ModelCard:
    """What a checkpoint is: data set, classes, normalisation, split seed, measured accuracy, how it was made."""

    arch: str
    dataset: str
    classes: tuple[str, ...]
    input_shape: tuple[int, int, int]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    scale: float
    split_seed: int
    train_seed: int
    test_accuracy: float
    exit_test_accuracy: tuple[float, ...]
    parameters: int
    root_parameters: int
    dtype: str
    command: str
    epochs: int = 0
    train_seconds: float = 0.0
    device: str = "cpu"
    created: str = ""
    width: float = 1.0
    extra: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelCard":
        names = set(cls.__dataclass_fields__)
        missing = [n for n in names if n not in data and cls.__dataclass_fields__[n].default is
                   cls.__dataclass_fields__[n].default_factory]  # fields without default
        if missing:
            raise ValueError(f"model card: missing fields {sorted(missing)}")
        kwargs = {k: v for k, v in data.items() if k in names}
        for key in ("classes", "input_shape", "mean", "std", "exit_test_accuracy"):
            kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


def save_checkpoint(model: BackboneNet, card: ModelCard, path: str | Path) -> tuple[Path, Path]:
    """Write ``path`` (.safetensors, weights at the card's dtype) and ``path`` with .json (the card)."""
    from safetensors.torch import save_file

    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = {"float32": torch.float32, "float16": torch.float16}[check_choice("dtype", card.dtype,
                                                                              ("float32", "float16"))]
    state = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu().contiguous()
        state[name] = tensor.to(dtype) if tensor.is_floating_point() else tensor
    tmp = path.with_suffix(".safetensors.tmp")
    save_file(state, str(tmp), metadata={"arch": card.arch, "dataset": card.dataset})
    tmp.replace(path)  # never leave a half-written checkpoint behind
    path.chmod(0o644)
    card_path = path.with_suffix(".json")
    card_path.with_suffix(".json.tmp").write_text(card.to_json())
    card_path.with_suffix(".json.tmp").replace(card_path)
    return path, card_path


def load_checkpoint(path: str | Path) -> tuple[BackboneNet, ModelCard]:
    """Read a safetensors checkpoint and its JSON card (no pickle); raise ValueError if missing or damaged."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path).with_suffix(".safetensors")
    card_path = path.with_suffix(".json")
    if not path.is_file():
        raise ValueError(f"checkpoint={str(path)!r} does not exist")
    if not card_path.is_file():
        raise ValueError(f"checkpoint={str(path)!r} has no model card {card_path.name}")
    try:
        card = ModelCard.from_dict(json.loads(card_path.read_text()))
    except (json.JSONDecodeError, TypeError, KeyError) as err:
        raise ValueError(f"checkpoint card {str(card_path)!r} is damaged: {err}") from None
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, RuntimeError) as err:
        raise ValueError(f"checkpoint={str(path)!r} is damaged: {err}") from None
    model = build_model(card.arch, len(card.classes), card.input_shape[0], card.width)
    expected = model.state_dict()
    if set(state) != set(expected):
        raise ValueError(f"checkpoint={str(path)!r} does not match {card.arch}: "
                         f"{len(set(expected) ^ set(state))} tensor names differ")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise ValueError(f"checkpoint={str(path)!r}: tensor {name} has shape {tuple(tensor.shape)}, "
                             f"expected {tuple(expected[name].shape)}")
        state[name] = tensor.to(expected[name].dtype)
    model.load_state_dict(state)
    return model.eval(), card


PROJECT = Path(__file__).resolve().parents[2]
ASSETS = PROJECT / "assets"
# Root models shipped in assets/ (display name -> checkpoint); the first is the default. Each was trained by
# ``python -m core.model.train`` (the command is in its card).
SHIPPED_ROOTS = {
    "ResNet-18 (half width) on CIFAR-10 photos": ASSETS / "resnet18_cifar10.safetensors",
    "ResNet-18 on 8x8 digits": ASSETS / "resnet18_digits.safetensors",
}

def _default_model_name() -> str:
    """The first shipped root, unless $INSITU_DEFAULT_ROOT names another shipped root (e.g. the digits root for a
    quick demo or for the fast test suite)."""
    import os

    wanted = os.environ.get("INSITU_DEFAULT_ROOT")
    if not wanted:
        return next(iter(SHIPPED_ROOTS))
    matches = [name for name, path in SHIPPED_ROOTS.items() if wanted in (name, path.stem)]
    if not matches:
        raise ValueError(f"INSITU_DEFAULT_ROOT={wanted[:60]!r} is not a shipped root; allowed: "
                         f"{[p.stem for p in SHIPPED_ROOTS.values()]}")
    return matches[0]


DEFAULT_MODEL_NAME = _default_model_name()
DEFAULT_CHECKPOINT = SHIPPED_ROOTS[DEFAULT_MODEL_NAME]
DIGITS_CHECKPOINT = ASSETS / "resnet18_digits.safetensors"  # the small root that fast tests use
PAPER_ROOT_PARAMETERS = 11_689_512  # torchvision's ResNet-18 (ImageNet head), the paper's "11.69 million"


def load_default() -> tuple[BackboneNet, ModelCard]:
    """The default shipped root model (the first of SHIPPED_ROOTS)."""
    return load_checkpoint(DEFAULT_CHECKPOINT)


def load_digits_root() -> tuple[BackboneNet, ModelCard]:
    """The small shipped root (ResNet-18 on scikit-learn's 8x8 digits): what fast tests use."""
    return load_checkpoint(DIGITS_CHECKPOINT)
