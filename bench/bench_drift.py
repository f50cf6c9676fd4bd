"""Benchmark: how soon does a drift detector on the device model's confidence flag a change of situation, and how
often does it cry wolf? ADWIN and Page-Hinkley (river, settings from core.situation.drift.DETECTORS) on streams
with a known change point:

- synthetic: Beta(18, 2) confidences (mean 0.9), then Beta(7, 3) (mean 0.7), over --seeds seeded streams;
- digits: the digits root on clean post-office digits, then on the other test digits under camera noise
  (core.situation.with_sensor_noise, --sigma of the pixel range), where the model's accuracy really falls;
- photos: the CIFAR-10 root on --pool photos of each situation; --photos of one place, then --photos of another
  (road to home: the shipped root's most and least sure class groups); and each place alone, unchanged.

The real streams are run through the model once; --orders random orders of those confidences give the spread.

Run: python bench/bench_drift.py [--seeds 100] [--sigma 0.375] [--pool 1000] [--photos 300] [--orders 20]
     [--threads 1] [--alternatives] [--no-photos]

The measurements quoted beside DETECTORS in core/situation/drift.py come from --alternatives --pool 2000 --orders 30
(about 35 s on 2 busy cores), which also runs the settings the defaults were chosen against.

Prints per stream and detector: the delay (photos seen at the new place before the alarm), false alarms (before the
change, or anywhere in an unchanged place), missed changes, and the detector's time; for the real streams also
accuracy and mean confidence per place and the model's time per photo.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.model.data import load_for_card  # noqa: E402
from core.model.models import ASSETS, load_checkpoint  # noqa: E402
from core.situation.drift import (DETECTORS, BetaStream, DetectorConfig, beta_stream, concatenate,  # noqa: E402
                                  confidence_stream, detect, make_detector)
from core.situation.situations import (CIFAR10_ROOT, DIGITS_ROOT, sample_photos, situations_for,  # noqa: E402
                                       with_sensor_noise)

SEED = 0
# The project's settings of each kind; --alternatives adds the settings its defaults were chosen against.
CONFIGS = {kind: DetectorConfig(kind) for kind in DETECTORS}
ALTERNATIVES = {"adwin d=0.002": DetectorConfig("adwin", delta=0.002),  # river's own significance
                "ph t=3": DetectorConfig("page_hinkley", threshold=3.0)}


def _root(name: str):
    checkpoint = ASSETS / f"{name}.safetensors"
    model, card = load_checkpoint(checkpoint)
    return model, load_for_card(card, checkpoint)


def _one(label: str, confidences: np.ndarray, change_point: int) -> None:
    """Every detector on one stream: its alarms and how long river took."""
    for kind, config in CONFIGS.items():
        start = time.perf_counter()
        result = detect(confidences, config, change_point)
        ms = 1e3 * (time.perf_counter() - start)
        print(f"  {label:14s} {kind:14s} delay {result.delay!s:>4} photos, false alarms {result.false_alarms}, "
              f"alarms {list(result.alarms)[:6]}, {ms:.1f} ms for {result.samples} samples")


def _many(label: str, streams: list[np.ndarray], change_point: int) -> None:
    """Every detector on many streams with the same change point: delays, missed changes, false alarms."""
    for kind, config in CONFIGS.items():
        start = time.perf_counter()
        results = [detect(x, config, change_point) for x in streams]
        ms = 1e3 * (time.perf_counter() - start) / len(streams)
        delays = np.array([r.delay for r in results if r.delay is not None])
        missed = sum(r.delay is None for r in results)
        false = sum(r.false_alarms for r in results)
        spread = (f"delay median {np.median(delays):.0f}, 90th pct {np.percentile(delays, 90):.0f}, max "
                  f"{delays.max()} photos" if len(delays) else "no change detected")
        print(f"  {label:14s} {kind:14s} {spread}; missed {missed}/{len(streams)}; false alarms {false} in "
              f"{sum(r.false_alarms > 0 for r in results)}/{len(streams)} streams; {ms:.1f} ms per stream")


def _quiet(label: str, confidences: np.ndarray) -> None:
    """Every detector on a stream of one unchanged place: every alarm is a false one."""
    for kind, config in CONFIGS.items():
        alarms = len(detect(confidences, config).alarms)
        print(f"  {label:22s} {kind:14s} {alarms} false alarms in {len(confidences)} photos")


def _orders(before: np.ndarray, after: np.ndarray, n_before: int, n_after: int, orders: int) -> list[np.ndarray]:
    """``orders`` streams: n_before of ``before`` then n_after of ``after``, each drawn in its own seeded order."""
    out = []
    for seed in range(orders):
        rng = np.random.default_rng(seed)
        out.append(np.concatenate([rng.choice(before, n_before, replace=False),
                                   rng.choice(after, n_after, replace=False)]))
    return out


def synthetic(seeds: int) -> None:
    config = BetaStream()
    print(f"\nsynthetic: Beta{config.before} then Beta{config.after} from sample {config.change_point} of "
          f"{config.samples}")
    _one("seed 0", beta_stream(config, SEED), config.change_point)
    _many(f"{seeds} seeds", [beta_stream(config, s) for s in range(seeds)], config.change_point)


def digits(sigma: float, orders: int) -> None:
    model, data = _root(DIGITS_ROOT)
    order = sample_photos("post office", data, len(data.y_test), SEED)  # every test digit, in a seeded order
    start = time.perf_counter()
    clean = confidence_stream(model, data, order)
    noisy = confidence_stream(model, with_sensor_noise(data, sigma, SEED), order)
    ms = 1e3 * (time.perf_counter() - start) / (2 * len(order))
    print(f"\ndigits root, post office: clean digits, then digits under sensor noise sigma {sigma} of the range: "
          f"accuracy {clean.accuracy:.3f} -> {noisy.accuracy:.3f}, mean confidence {clean.mean_confidence:.3f} -> "
          f"{noisy.mean_confidence:.3f}; model {ms:.2f} ms per photo")
    half = len(order) // 2
    stream, (change_point,) = concatenate(
        confidence_stream(model, data, order[:half]),
        confidence_stream(model, with_sensor_noise(data, sigma, SEED), order[half:]))
    _one(f"{half} + {len(order) - half}", stream.confidence, change_point)  # the test's stream
    _many(f"{orders} orders", _orders(clean.confidence, noisy.confidence, half, len(order) - half, orders), half)
    _quiet("clean, unchanged", clean.confidence)


def photos(pool: int, n: int, orders: int) -> None:
    model, data = _root(CIFAR10_ROOT)
    start = time.perf_counter()
    streams = {s.name: confidence_stream(model, data, sample_photos(s, data, pool, SEED))
               for s in situations_for(CIFAR10_ROOT)}
    ms = 1e3 * (time.perf_counter() - start) / (pool * len(streams))
    print(f"\nCIFAR-10 root, {pool} photos of each situation (model {ms:.2f} ms per photo):")
    for name, s in streams.items():
        print(f"  {name:22s} accuracy {s.accuracy:.3f}, mean confidence {s.mean_confidence:.3f}")
    print("unchanged place (every alarm is false):")
    for name, s in streams.items():
        _quiet(name, s.confidence)
    for a, b in (("road", "home"), ("road", "park"), ("harbour and airfield", "home"), ("home", "road")):
        print(f"{a} ({n} photos), then {b} ({n} photos):")
        _one("order 0", _orders(streams[a].confidence, streams[b].confidence, n, n, 1)[0], n)
        _many(f"{orders} orders", _orders(streams[a].confidence, streams[b].confidence, n, n, orders), n)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--sigma", type=float, default=0.375)
    parser.add_argument("--pool", type=int, default=1000, help="CIFAR-10 photos run per situation")
    parser.add_argument("--photos", type=int, default=300, help="photos before and after a change of place")
    parser.add_argument("--orders", type=int, default=20, help="random orders of the real streams")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--alternatives", action="store_true",
                        help="also run river's ADWIN significance 0.002 and Page-Hinkley threshold 3")
    parser.add_argument("--no-photos", action="store_true", help="skip the CIFAR-10 stream")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.alternatives:
        CONFIGS.update(ALTERNATIVES)
    for kind, d in DETECTORS.items():
        print(f"{kind}: river {d.factory.__name__.lstrip('_')} {dict(d.defaults)}")
    start = time.perf_counter()
    make_detector(DetectorConfig())
    print(f"importing river.drift: {time.perf_counter() - start:.2f} s (once per process)")
    synthetic(args.seeds)
    digits(args.sigma, args.orders)
    if not args.no_photos:
        photos(args.pool, args.photos, args.orders)


if __name__ == "__main__":
    main()
