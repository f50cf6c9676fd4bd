"""Benchmark: situation models of the CIFAR-10 root (issue 22). For each CIFAR-10 situation, customise the root
(core.situation.customise, CustomiseConfig's defaults unless told otherwise) on the shipped pack's training photos
of its classes, time it, and compare it with the generic root on the situation's test photos
(core.situation.compare): per exit, the specialised accuracy, the generic root restricted to the situation's
classes (fair) and plain, the paired difference with its 95 % interval, the download sizes (fp32 payloads of the
depth sub-models, and the update a device holding the generic one needs) and the device's multiply-adds.

--noise SIGMA puts the situation behind a noisier camera (core.situation.with_sensor_noise: Gaussian noise of SIGMA
times the pixel range) on its training photos and its test photos alike: photos unlike the root's own, the case
customisation is for. (On the clean pack, the training photos are ones the root was trained on.)

Run: python bench/bench_situations.py [--situation NAME ...] [--fine-tune heads] [--steps N] [--lr X]
     [--photos N] [--seed 0] [--threads 1] [--noise SIGMA] [--save DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model.data import load_for_card  # noqa: E402
from core.model.models import ASSETS, load_checkpoint  # noqa: E402
from core.situation.compare import compare_with_generic  # noqa: E402
from core.situation.customise import FINE_TUNED, CustomiseConfig, customise  # noqa: E402
from core.situation.situations import CIFAR10_ROOT, noisy_camera, situations_for  # noqa: E402


def main(argv=None) -> int:
    names = [s.name for s in situations_for(CIFAR10_ROOT)]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--situation", action="append", choices=names, help="default: every CIFAR-10 situation")
    parser.add_argument("--fine-tune", choices=list(FINE_TUNED), default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--photos", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--noise", type=float, default=None, help="camera noise (share of the pixel range)")
    parser.add_argument("--save", default=None, help="also write each situation model into this folder")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    given = {"fine_tune": args.fine_tune, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
             "photos": args.photos}
    config = replace(CustomiseConfig(), **{k: v for k, v in given.items() if v is not None})
    checkpoint = ASSETS / f"{CIFAR10_ROOT}.safetensors"
    started = time.perf_counter()
    root, card = load_checkpoint(checkpoint)
    data = load_for_card(card, checkpoint)
    if args.noise is not None:
        data = noisy_camera(data, args.noise, args.seed)
    print(f"root {CIFAR10_ROOT}, data {data.name}: {len(data.y_train)} training photos "
          f"({torch.bincount(data.y_train).tolist()} per class), {len(data.y_test)} test photos; loaded in "
          f"{time.perf_counter() - started:.1f} s; camera noise {args.noise or 0}; {config}; seed {args.seed}; "
          f"{args.threads} thread(s)\n")
    for name in args.situation or names:
        started = time.perf_counter()
        model = customise(root, data, name, config, args.seed)
        made = time.perf_counter() - started
        started = time.perf_counter()
        result = compare_with_generic(root, model, data, name)
        compared = time.perf_counter() - started
        c = model.card
        print(f"== {name} ({', '.join(c.classes)}): {c.train_photos} of {c.train_photos_available} training "
              f"photos, {c.config.steps} steps of {c.config.batch_size}, {c.test_photos} test photos; "
              f"customised in {made:.1f} s, compared in {compared:.1f} s")
        print(f"{'exit':>4} {'special':>8} {'restrict':>8} {'plain':>7} {'special-restricted [95% CI]':>29} "
              f"{'verdict':>7} {'special-plain':>13} {'generic Mbit':>12} {'special Mbit':>12} "
              f"{'update Mbit':>11} {'MACs M':>8}")
        for e in result.exits:
            d = e.over_restricted
            print(f"{e.exit:>4} {100 * e.specialised_accuracy:>8.2f} {100 * e.generic_restricted_accuracy:>8.2f} "
                  f"{100 * e.generic_accuracy:>7.2f} {100 * d.mean:>+9.2f} [{100 * d.low:+6.2f}, {100 * d.high:+6.2f}]"
                  f" {e.verdict:>7} {100 * e.over_generic.mean:>+13.2f} {e.generic_bits / 1e6:>12.3f} "
                  f"{e.specialised_bits / 1e6:>12.3f} {e.update_bits / 1e6:>11.3f} "
                  f"{e.specialised_macs / 1e6:>8.2f}")
        print(result.summary())
        if args.save:
            from core.situation.store import save_situation_model

            weights, _ = save_situation_model(model, args.save)
            print(f"wrote {weights} ({weights.stat().st_size:,} bytes)")
        print(flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
