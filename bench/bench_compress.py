"""Benchmark: time to generate each kind of sub-model of the default root model and to evaluate one.

Run: python bench/bench_compress.py   (prints a table; figures depend on the machine, 2 cores here)
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from core.compress.combine import SubModelSpec, generate  # noqa: E402
from core.compress.depth import split_table  # noqa: E402
from core.compress.progressive import progressive_family  # noqa: E402
from core.model.data import load_digits  # noqa: E402
from core.model.evaluate import accuracy  # noqa: E402
from core.model.models import load_default  # noqa: E402


def timed(fn, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    t = time.perf_counter()
    root, card = load_default()
    data = load_digits()
    print(f"load default model + digits: {time.perf_counter() - t:.2f} s")
    sec, acc = timed(lambda: accuracy(root, data, "test"))
    print(f"clean evaluation of the root on {len(data.y_test)} test images: {sec * 1000:.0f} ms (acc {acc:.4f})")
    sec, _ = timed(lambda: split_table(root, data), 1)
    print(f"depth-level split table (4 split points, measured): {sec:.2f} s")
    specs = [("depth k=1", SubModelSpec(depth=1)), ("depth k=2", SubModelSpec(depth=2)),
             ("parameter r=0.1, no re-training", SubModelSpec(keep_ratio=0.1, retrain_steps=0)),
             ("parameter r=0.1, 200 re-training steps", SubModelSpec(keep_ratio=0.1, retrain_steps=200)),
             ("bit 8-bit", SubModelSpec(bits=8)), ("bit 4-bit", SubModelSpec(bits=4)),
             ("bit 2-bit + 50 QAT steps", SubModelSpec(bits=2, qat_steps=50)),
             ("bit mixed 3-bit budget (sensitivity)", SubModelSpec(mixed_budget_bits=3 * 11_166_912)),
             ("combined k=3, r=0.25, 4-bit, 50 steps", SubModelSpec(depth=3, keep_ratio=0.25, bits=4,
                                                                     retrain_steps=50))]
    print(f"{'sub-model':42s} {'generate s':>10s} {'eval ms':>8s} {'size %':>7s} {'acc':>7s}")
    for name, spec in specs:
        sec, sub = timed(lambda: generate(root, data, spec, evaluate=False), 1)
        esec, acc = timed(lambda: accuracy(sub.module, data, "test"))
        print(f"{name:42s} {sec:10.2f} {esec * 1000:8.0f} {sub.card.size_pct_of_root:7.2f} {acc:7.4f}")
    sec, fam = timed(lambda: progressive_family(root, data, steps=100), 1)
    print(f"progressive family (4 nested levels, 100 joint steps): {sec:.1f} s")
    print(fam.table().to_string(index=False))


if __name__ == "__main__":
    main()
