"""Benchmark: on-device customisation (issue 22, paper Sec. 5) on the CIFAR-10 root. For each CIFAR-10 situation,
the generic sub-model the device downloaded (default: the whole root, 32-bit floats) is cut to the situation's
classes and its head fine-tuned on a few of the situation's training photos per class (core.situation.ondevice);
printed: the accuracy on the situation's test photos as downloaded and the gain after 10, 50 and 200 steps, with
the photos taken as shipped (clean) and behind a noisier camera (core.situation.situations.with_sensor_noise,
sigma 0.1 on the device's own photos and on the test photos alike), the on-device time estimate for the smartphone
preset (3 x forward multiply-adds x photos per step x steps at its 32-bit float rate) and the wall time here.

Each gain is the mean over --seeds draws of the device's photos (min to max in brackets); every seed is measured on
the same test photos (all of the situation's, unless --test-photos).

Run: python bench/bench_customise.py [--situation NAME ...] [--photos-per-class 20] [--fine-tune classifier]
     [--depth 4] [--bits 32] [--noise 0.1] [--seeds 3] [--test-photos N] [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.compress.combine import SubModelSpec, generate  # noqa: E402
from core.model.data import load_for_card  # noqa: E402
from core.model.models import ASSETS, load_checkpoint  # noqa: E402
from core.network.dsi import HARDWARE_PRESETS  # noqa: E402
from core.situation.ondevice import (ON_DEVICE_PARTS, TRAINING_MAC_FACTOR, OnDeviceConfig,  # noqa: E402
                                     customise_on_device, cut_head, head_inputs, limit)
from core.situation.situations import (CIFAR10_ROOT, class_labels, noisy_camera, situation_data,  # noqa: E402
                                       situations_for)

STEPS = (10, 50, 200)


def main(argv=None) -> int:
    names = [s.name for s in situations_for(CIFAR10_ROOT)]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--situation", action="append", choices=names, help="default: every CIFAR-10 situation")
    parser.add_argument("--photos-per-class", type=int, default=20)
    parser.add_argument("--fine-tune", choices=list(ON_DEVICE_PARTS), default="classifier")
    parser.add_argument("--depth", type=int, default=4, help="the downloaded sub-model's exit")
    parser.add_argument("--bits", type=int, default=32, help="the downloaded sub-model's bits per weight")
    parser.add_argument("--keep", type=float, default=1.0, help="keep ratio (pruned without re-training)")
    parser.add_argument("--noise", type=float, default=0.1, help="the noisier camera's sigma (share of pixel range)")
    parser.add_argument("--seeds", type=int, default=3, help="draws of the device's photos")
    parser.add_argument("--test-photos", type=int, default=None, help="default: all of the situation's")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    spec = SubModelSpec(depth=args.depth, bits=args.bits, keep_ratio=args.keep, retrain_steps=0)
    config = OnDeviceConfig(photos_per_class=args.photos_per_class, steps=max(STEPS), fine_tune=args.fine_tune,
                            checkpoints=STEPS, test_photos=args.test_photos)
    phone = HARDWARE_PRESETS["smartphone"]
    checkpoint = ASSETS / f"{CIFAR10_ROOT}.safetensors"
    started = time.perf_counter()
    root, card = load_checkpoint(checkpoint)
    clean = load_for_card(card, checkpoint)
    cameras = {"clean": clean, f"noise {args.noise:g}": noisy_camera(clean, args.noise, 0)}
    sub = generate(root, clean, spec, 0, evaluate=False)
    print(f"root {CIFAR10_ROOT}; downloaded sub-model: {spec.label} (not re-trained), {sub.card.device_macs:,} "
          f"multiply-adds per photo; {config}; seeds 0-{args.seeds - 1}; {args.threads} thread(s); loaded in "
          f"{time.perf_counter() - started:.1f} s")
    if limit(spec):
        print(f"note: {limit(spec)}")
    print(f"device time: {TRAINING_MAC_FACTOR} x forward MACs x photos per step x steps at the smartphone's fp32 rate "
          f"({phone.macs_per_s(32) / 1e12:.3f} T multiply-adds/s)\n")
    header = (f"{'situation':<21} {'camera':<10} {'photos':>6} {'test':>5} {'as downl.':>9} "
              + " ".join(f"{'+' + str(s) + ' steps (min..max)':>22}" for s in STEPS)
              + f" {'phone time 10/50/200 steps':>28} {'pass':>6} {'runs':>6}")
    print(header)
    for name in args.situation or names:
        for camera, data in cameras.items():
            task = situation_data(name, data)
            start = cut_head(sub.module, class_labels(name, data))
            t0 = time.perf_counter()
            features = head_inputs(start, task, config.fine_tune, config.test_photos)
            pass_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            runs = [customise_on_device(start, task, config, seed, phone, features) for seed in range(args.seeds)]
            runs_s = time.perf_counter() - t0
            gains = np.array([[r.gain_at(s) for s in STEPS] for r in runs]) * 100
            cells = " ".join(f"{g.mean():+6.1f} ({g.min():+5.1f}..{g.max():+5.1f})".rjust(22) for g in gains.T)
            r = runs[0]
            times = "/".join(f"{r.device_seconds * s / max(STEPS):.2f}" for s in STEPS) + " s"
            print(f"{name:<21} {camera:<10} {r.train_photos:>6} {r.test_photos:>5} {100 * r.accuracy[0]:8.1f}% "
                  f"{cells} {times:>28} {pass_s:5.1f}s {runs_s:5.1f}s", flush=True)
    print(f"\npass: the test photos through the frozen stages once; runs: {args.seeds} customisations of "
          f"{max(STEPS)} steps each, measured at {', '.join(map(str, STEPS))} steps (wall time here). Total "
          f"{time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
