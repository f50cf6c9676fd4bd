"""Training of the root model (all exits jointly) and the bounded re-training used by pruning and QAT.

Run ``python -m core.model.train --dataset digits --out assets/resnet18_digits`` to produce a checkpoint and its card.
"""
from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from core.model.data import load_dataset
from core.model.evaluate import accuracy, exit_accuracies
from core.model.models import ModelCard, build_model, count_parameters, root_parameter_count, save_checkpoint
from core.model.splits import DataSplits
from core.validation import check_choice, check_int, check_range

PRECISIONS = ("float32", "bfloat16")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run; ``steps`` overrides ``epochs`` when given."""

    epochs: int = 30
    steps: int | None = None
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    augment: bool = True
    exit_weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)
    label_smoothing: float = 0.0
    precision: str = "float32"  # "bfloat16": autocast matmuls and convolutions (AMX/tensor cores), fp32 weights

    def __post_init__(self):
        check_choice("precision", self.precision, PRECISIONS)
        check_int("epochs", self.epochs, 0)
        if self.steps is not None:
            check_int("steps", self.steps, 0)
        check_int("batch_size", self.batch_size, 1)
        check_range("lr", self.lr, 0, None, lo_open=True)


def pick_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def multi_exit_loss(outputs: list[torch.Tensor], labels: torch.Tensor, weights, label_smoothing=0.0):
    return sum(w * nn.functional.cross_entropy(o, labels, label_smoothing=label_smoothing)
               for w, o in zip(weights, outputs) if w)


def fit(model: nn.Module, data: DataSplits, config: TrainConfig, seed: int, *,
        loss_fn: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        after_step: Callable[[nn.Module], None] | None = None, progress: bool = False,
        device: torch.device | None = None, desc: str = "train") -> nn.Module:
    """Train ``model`` in place with SGD and a cosine schedule; ``after_step`` re-applies masks or the like.

    ``loss_fn(model, x, y)`` defaults to the multi-exit loss of a backbone network (or plain CE otherwise).
    """
    check_int("seed", seed, 0)
    device = device or torch.device("cpu")
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # dropout-free models; this only fixes any lazily drawn init in torch itself
    fast = config.precision == "bfloat16"
    model.to(device).train()
    if fast:
        model.to(memory_format=torch.channels_last)
    steps_per_epoch = math.ceil(len(data.y_train) / config.batch_size)
    total = config.steps if config.steps is not None else config.epochs * steps_per_epoch
    if total == 0:
        return model.eval()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=config.lr,
                          momentum=config.momentum, weight_decay=config.weight_decay, nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total, pct_start=0.15)
    if loss_fn is None:
        def loss_fn(m, x, y):
            if hasattr(m, "forward_exits"):
                return multi_exit_loss(m.forward_exits(x), y, config.exit_weights, config.label_smoothing)
            return nn.functional.cross_entropy(m(x), y, label_smoothing=config.label_smoothing)
    bar = tqdm(total=total, desc=desc, disable=not progress, file=sys.stderr)
    step = 0
    while step < total:
        for xb, yb in data.batches("train", config.batch_size, shuffle=True, generator=generator,
                                   augment=config.augment):
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            if fast:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
                loss = loss_fn(model, xb, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if after_step is not None:
                after_step(model)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
            if step >= total:
                break
    bar.close()
    if fast:
        model.to(memory_format=torch.contiguous_format)
    return model.cpu().eval()


def train_root(dataset: str = "digits", *, data_dir=None, epochs: int = 30, seed: int = 0, split_seed: int = 0,
               lr: float = 0.05, batch_size: int = 64, dtype: str = "float16", out: str = "assets/resnet18_digits",
               progress: bool = True, command: str = "", download: bool = False, width: float = 1.0,
               steps: int | None = None, max_train_images: int | None = None, val_fraction: float = 0.1,
               precision: str = "float32"):
    """Train ResNet-18 with exits on a data set and write the checkpoint and its card; returns (model, card).

    ``width`` multiplies the channels (1.0 = torchvision's ResNet-18); ``steps`` stops after that many batches
    and ``max_train_images`` trains on a seeded subset (both for smoke runs); ``val_fraction=0`` trains on the
    whole training split (the validation images used for calibration are then drawn from it).
    """
    config = TrainConfig(epochs=epochs, steps=steps, batch_size=batch_size, lr=lr, precision=precision)
    data = load_dataset(dataset, data_dir, split_seed, download=download, val_fraction=val_fraction,
                        max_train_images=max_train_images)
    torch.manual_seed(seed)
    model = build_model("resnet18", data.num_classes, data.input_shape[0], width)  # seeded initial weights
    device = pick_device()
    started = time.perf_counter()
    fit(model, data, config, seed, progress=progress, device=device, desc=f"train {dataset}")
    seconds = time.perf_counter() - started
    if dtype == "float16":  # report the accuracy of the weights as shipped
        model.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                               for k, v in model.state_dict().items()})
    exits = exit_accuracies(model, data, "test")
    card = ModelCard(arch="resnet18", dataset=dataset, classes=data.classes, input_shape=data.input_shape,
                     mean=data.mean, std=data.std, scale=data.scale, split_seed=split_seed, train_seed=seed,
                     test_accuracy=accuracy(model, data, "test"), exit_test_accuracy=tuple(exits),
                     parameters=count_parameters(model), root_parameters=root_parameter_count(model),
                     dtype=dtype, command=command, epochs=epochs, train_seconds=round(seconds, 1),
                     device=str(device), created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                     width=float(width),
                     extra={"test_samples": len(data.y_test), "train_samples": len(data.y_train),
                            "val_samples": len(data.y_val), "data_source": data.source,
                            "val_from_train": bool(data.extra.get("val_from_train", False)),
                            "steps": steps, "max_train_images": max_train_images, "val_fraction": val_fraction,
                            "precision": precision, "batch_size": batch_size, "lr": lr,
                            "data_dir": None if data_dir is None else str(Path(data_dir).resolve())})
    save_checkpoint(model, card, out)
    return model, card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.model.train", description=__doc__)
    parser.add_argument("--dataset", default="digits", choices=["digits", "cifar10", "cifar100", "folder"])
    parser.add_argument("--data-dir", default=None, help="local copy of the data set (CIFAR or image folder)")
    parser.add_argument("--download", action="store_true", help="let torchvision download CIFAR")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--dtype", default="float16", choices=["float16", "float32"])
    parser.add_argument("--out", default="assets/resnet18_digits", help="checkpoint path without suffix")
    parser.add_argument("--width", type=float, default=1.0,
                        help="channel multiplier (1.0 = torchvision's ResNet-18, 11.17 M parameters)")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many batches (smoke runs)")
    parser.add_argument("--max-train-images", type=int, default=None,
                        help="train on a seeded subset of this many training images (smoke runs)")
    parser.add_argument("--val-fraction", type=float, default=0.1,
                        help="share of the training split held out for validation; 0 trains on all of it")
    parser.add_argument("--precision", default="float32", choices=list(PRECISIONS),
                        help="bfloat16: mixed-precision training (about 2x faster on CPUs with AMX, and on GPUs)")
    args = parser.parse_args(argv)
    command = "python -m core.model.train " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    try:
        _, card = train_root(args.dataset, data_dir=args.data_dir, epochs=args.epochs, seed=args.seed,
                             split_seed=args.split_seed, lr=args.lr, batch_size=args.batch_size, dtype=args.dtype,
                             out=args.out, command=command, download=args.download, width=args.width,
                             steps=args.steps, max_train_images=args.max_train_images,
                             val_fraction=args.val_fraction, precision=args.precision)
    except ValueError as err:
        parser.error(str(err))
    print(f"test accuracy {card.test_accuracy:.4f}; exits {[round(a, 4) for a in card.exit_test_accuracy]}; "
          f"{card.parameters:,} parameters ({card.root_parameters:,} without exits 1-3); "
          f"width {card.width}; {card.train_seconds} s on {card.device}; wrote {args.out}.safetensors and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
