"""Benchmark of accuracy under bit errors against the machine's limit: the FLOP bound is the yardstick.

    python bench/bench_channel.py [--checkpoint PATH] [--ber 1e-3] [--threads N] [--images 128]

Prints, in one run on any root model (default: the shipped default):
  * the fp32 GEMM rate of this machine (GFLOP/s, 1024^3 matmul, best of 5), measured again beside every
    timing that is compared with it (the host's rate moves by +-20 % between minutes);
  * for the fp32 root and its 4-bit sub-model (in float, and with the int8 twin the Live page uses for integer
    codes, core.link.int8): MACs per image, evaluation time per image, its ratio to the fp32 FLOP bound
    (2 x MACs / GEMM rate; int8 kernels can beat it), corruption + decode (+ write + restore, and for int8 the
    re-pack) per trial and its share of a paired trial, and the paired estimator's images per second, time to
    the first estimate and to a 95 % half-width of 2 points;
  * evaluation options: images per forward pass and channels-last images, each against the FLOP bound;
  * int8 kernels: a quantized convolution (torch.ao, fbgemm/onednn) against fp32 on the root's largest layer,
    and the cost of re-packing its weights, which every corrupted download needs; then the product's int8 twin
    of the 4-bit sub-model: speed, the cost of following a download, and the share of photos on which it
    predicts what the fake-quantised model predicts, clean and after real downloads (the stated tolerance).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core.compress.combine import SubModelSpec, generate  # noqa: E402
from core.link.reliability import (EstimateConfig, WorkingCopy, clean_correctness, iter_estimates,  # noqa: E402
                                   paired_trial)
from core.link.int8 import CALIBRATION_IMAGES, calibration_images  # noqa: E402
from core.link.working import EVAL_BATCH, correctness  # noqa: E402
from core.model.data import load_for_card  # noqa: E402
from core.model.models import DEFAULT_CHECKPOINT, load_checkpoint  # noqa: E402

LIVE_FIRST_LOOK_IMAGES = 32  # app.services.LIVE_FIRST_LOOK_IMAGES (the engine never imports the app)


def best(fn, repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def gemm_gflops(n: int = 1024) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n ** 3 / best(lambda: a @ b) / 1e9


def rate_and_time(fn, repeat: int = 5, n: int = 1024) -> tuple[float, float, float]:
    """(GEMM GFLOP/s, seconds of ``fn``, median over rounds of fn's time x that round's GEMM rate): ``repeat``
    rounds alternate a GEMM and ``fn``. The rate of this host moves by up to 2x between minutes (160-310 GFLOP/s
    seen in one run), so the yardstick is measured beside what it judges and the ratio is taken per round."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    gemm, runs = [], []
    a @ b
    fn()
    for _ in range(repeat):
        started = time.perf_counter()
        a @ b
        gemm.append(time.perf_counter() - started)
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    flop = 2 * n ** 3
    return flop / min(gemm) / 1e9, min(runs), float(np.median([r * flop / g for g, r in zip(gemm, runs)]))


def eval_run(module, data, images: int, batch: int, channels_last: bool):
    """One pass over the first ``images`` test images, ``batch`` per forward pass, channels-last images or not
    (the module itself stays as it is, like the product's, whose weights are written in place)."""
    x = data.normalise(data.x_test[:images])
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)

    def run():
        with torch.inference_mode():
            for s in range(0, images, batch):
                module(x[s:s + batch])
    return run


def paired_run(sub, data, ber: float, protection: str, images: int, working, clean) -> dict:
    config = EstimateConfig(images_per_trial=images, target_half_width=0.02, min_trials=3, max_trials=60,
                            time_budget_s=10.0, first_look_images=LIVE_FIRST_LOOK_IMAGES)  # as the Live page
    started = time.perf_counter()
    first = whole = to_target = None
    last = None
    for last in iter_estimates(sub, data, ber, protection, config, 0, working=working, clean=clean):
        if first is None:
            first = time.perf_counter() - started
        if whole is None and not last.first_look:
            whole = time.perf_counter() - started
        if to_target is None and last.half_width <= 0.02:
            to_target = time.perf_counter() - started
    wall = time.perf_counter() - started
    return {"first_s": first, "whole_s": whole, "target_s": to_target, "wall_s": wall,
            "images_per_s": last.images / wall, "result": last}


def int8_kernels(root, data, batch: int) -> list[str]:
    """fp32 conv against a quantized int8 conv on the root's largest 3x3 layer (by MACs), at ``batch`` images."""
    from torch.ao.nn.quantized import Conv2d as QConv2d

    lines = [f"quantized engines on this CPU: {torch.backends.quantized.supported_engines}"]
    convs, shapes = [], {}
    hooks = [m.register_forward_hook(lambda m, i, o: shapes.__setitem__(m, (i[0].shape, o.shape)))
             for m in root.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.inference_mode():
        root(data.normalise(data.x_test[:1]))
    for h in hooks:
        h.remove()
    for m, (i, o) in shapes.items():
        convs.append((o.numel() * m.in_channels * m.kernel_size[0] * m.kernel_size[1] // m.groups, m, i))
    macs, conv, in_shape = max(convs, key=lambda c: c[0])
    x = torch.randn(batch, *in_shape[1:])
    with torch.inference_mode():
        fp32 = best(lambda: conv(x))
    for engine in ("x86", "fbgemm", "onednn"):
        if engine not in torch.backends.quantized.supported_engines:
            continue
        torch.backends.quantized.engine = engine
        q = QConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                    bias=conv.bias is not None)
        scale = conv.weight.detach().abs().amax(dim=(1, 2, 3)).clamp_min(1e-8) / 7  # 4-bit codes in int8
        qw = torch.quantize_per_channel(conv.weight.detach(), scale, torch.zeros_like(scale, dtype=torch.long),
                                        0, torch.qint8)
        q.set_weight_bias(qw, None if conv.bias is None else conv.bias.detach())
        q.scale, q.zero_point = float(x.abs().max() / 127), 0
        qx = torch.quantize_per_tensor(x, float(x.abs().max() / 127), 0, torch.quint8 if engine != "onednn"
                                       else torch.quint8)
        try:
            int8 = best(lambda: q(qx))
            pack = best(lambda: q.set_weight_bias(qw, None if conv.bias is None else conv.bias.detach()))
        except RuntimeError as err:
            lines.append(f"  {engine}: not usable here ({str(err).splitlines()[0][:100]})")
            continue
        lines.append(f"  {engine}: largest conv ({macs / 1e6:.1f} M MACs per image, batch {batch}) fp32 "
                     f"{1e3 * fp32:.2f} ms, int8 {1e3 * int8:.2f} ms ({fp32 / int8:.2f}x), weight re-pack "
                     f"{1e3 * pack:.2f} ms per layer per download")
    return lines


def int8_report(sub, data, ber: float, images: int, trials: int = 3) -> list[str]:
    """The product's int8 twin (core.link.int8) of the 4-bit sub-model against its fake-quantised float model:
    speed, the cost of following a download, and how often the two predict alike, clean and after real downloads
    at ``ber`` (the same received codes in both)."""
    from core.link.reliability import trial_rng
    from core.link.working import download

    started = time.perf_counter()
    twin = WorkingCopy(sub, "int8", calibration_images(data))
    build_s = time.perf_counter() - started
    plain = WorkingCopy(sub)
    index = np.arange(images)
    lines = [f"int8 twin (core.link.int8: oneDNN, activations calibrated on {CALIBRATION_IMAGES} calibration photos, "
             f"weights = the 4-bit codes; built in {build_s:.1f} s):"]
    for batch in (64, 256):
        _, fake_s, _ = rate_and_time(lambda: correctness(plain.module, data, "test", index, batch), 3)
        _, int8_s, _ = rate_and_time(lambda: correctness(twin.evaluator, data, "test", index, batch), 3)
        lines.append(f"  batch {batch:3d}: fake-quantised fp32 {1e3 * fake_s / images:.3f} ms/img, int8 "
                     f"{1e3 * int8_s / images:.3f} ms/img ({fake_s / int8_s:.1f}x faster)")
    y = data.y_test[:images]

    def predict(m):
        x = data.normalise(data.x_test[:images])
        with torch.inference_mode():
            return torch.cat([m(x[s:s + 64]) for s in range(0, images, 64)]).argmax(1)
    for label, rng in [("clean", None)] + [(f"BER {ber:g}, download {i}", trial_rng(5, i)) for i in range(trials)]:
        sync_s = 0.0
        if rng is None:
            fake, q = predict(plain.module), predict(twin.evaluator)
        else:
            arrival = download(sub.payload, ber, "none", rng)
            with plain.received(arrival) as f:
                fake = predict(f)
            started = time.perf_counter()
            with twin.received(arrival) as m:
                sync_s = time.perf_counter() - started
                q = predict(m)
        lines.append(f"  {label}: same prediction on {float((fake == q).float().mean()):.2%} of {images} photos; "
                     f"accuracy fake-quantised {float((fake == y).float().mean()):.2%}, int8 "
                     f"{float((q == y).float().mean()):.2%}"
                     + (f"; write + re-pack {1e3 * sync_s:.1f} ms" if rng else ""))
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="root model (.safetensors + card)")
    parser.add_argument("--ber", type=float, default=1e-3)
    parser.add_argument("--images", type=int, default=128, help="test images per paired trial (the Live page uses 128)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--skip-int8", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    root, card = load_checkpoint(args.checkpoint)
    data = load_for_card(card)
    gflops = gemm_gflops()
    n_test = len(data.y_test)
    print(f"root {Path(args.checkpoint).name} ({card.dataset}, width {getattr(card, 'width', 1.0)}), "
          f"{n_test:,} test images, torch threads {torch.get_num_threads()}, BER {args.ber:g}, "
          f"{EVAL_BATCH} images per forward pass")
    print(f"fp32 GEMM rate: {gflops:.1f} GFLOP/s (each ratio to the FLOP bound is the median over rounds of eval time x the GEMM rate of the same round)")
    header = (f"{'sub-model':8s} {'prot.':8s} {'M MACs/img':>10s} {'GFLOP/s':>7s} {'eval ms/img':>11s} "
              f"{'x FLOP bound':>12s} {'corrupt ms':>10s} {'share':>6s} {'img/s':>7s} {'look s':>6s} "
              f"{'trial s':>7s} {'±2pt s':>7s} {'trials':>6s} {'estimate':>17s}")
    print(header)
    eval_images = min(n_test, 512)
    for label, spec, protections, arithmetic in (("fp32", SubModelSpec(bits=32), ("sanitise", "uep"), "float"),
                                                 ("4-bit", SubModelSpec(bits=4), ("none",), "float"),
                                                 ("4b int8", SubModelSpec(bits=4), ("none",), "int8")):
        sub = generate(root, data, spec, evaluate=False)
        macs = sub.card.device_macs
        working = WorkingCopy(sub, arithmetic, calibration_images(data) if arithmetic == "int8" else None)
        index = np.arange(eval_images)
        rate, seconds, flop_seconds = rate_and_time(lambda: correctness(working.evaluator, data, "test", index))
        per_image = seconds / eval_images  # the product's own path
        ratio = flop_seconds / eval_images / (2 * macs)  # eval time / FLOP bound, the median over rounds
        clean = clean_correctness(working.evaluator, data)
        for protection in protections:
            t = [paired_trial(working, data, clean, args.ber, protection, 99, i, args.images) for i in range(3)]
            corrupt_s = float(np.mean([x.corrupt_seconds for x in t]))
            trial_s = float(np.mean([x.seconds for x in t]))
            run = paired_run(sub, data, args.ber, protection, args.images, working, clean)
            r = run["result"]
            target = "-" if run["target_s"] is None else f"{run['target_s']:.2f}"
            print(f"{label:8s} {protection:8s} {macs / 1e6:10.1f} {rate:7.0f} {1e3 * per_image:11.3f} "
                  f"{ratio:12.2f} {1e3 * corrupt_s:10.1f} {corrupt_s / trial_s:6.1%} "
                  f"{run['images_per_s']:7.0f} {run['first_s']:6.2f} {run['whole_s']:7.2f} {target:>7s} "
                  f"{r.trials:6d} {100 * r.mean:5.1f} ± {100 * r.half_width:4.1f} %")
    print(f"evaluation options (fp32 root, ms per image and x FLOP bound; the product feeds channels_last images, "
          f"batch {EVAL_BATCH}):")
    module = WorkingCopy(generate(root, data, SubModelSpec(bits=32), evaluate=False)).module
    macs = generate(root, data, SubModelSpec(bits=32), evaluate=False).card.device_macs
    for batch in (32, 64, 128, 256):
        cells = []
        for last in (False, True):
            rate, seconds, flop_seconds = rate_and_time(eval_run(module, data, eval_images, batch, last), 3)
            cells.append(f"{'channels_last' if last else 'contiguous'} {1e3 * seconds / eval_images:.3f} "
                         f"({flop_seconds / eval_images / (2 * macs):.2f}x)")
        print(f"  batch {batch:3d}: " + ", ".join(cells))
    check = correctness(module, data, "test", np.arange(min(n_test, 64)))
    assert check.dtype == bool
    if not args.skip_int8:
        print("int8 kernels:")
        for line in int8_kernels(root, data, min(256, eval_images)):
            print(line)
        for line in int8_report(generate(root, data, SubModelSpec(bits=4), evaluate=False), data, args.ber,
                                min(n_test, 2000)):
            print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
