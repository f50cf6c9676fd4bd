"""Federated improvement on the CIFAR-10 root (issue 23): a compressed sub-model (3-bit codes by default, which the
shipped catalog lacks; ``--entry KEY`` takes a library entry such as d4-r0.1-b4-s60), 10 devices with non-IID
photos (Dirichlet 0.5), a few rounds on Flower's simulation (local Ray). Prints accuracy per round, uplink bits per
round, wall time, the central upper bound (per round, the devices' local steps with all their photos pooled in each
step), and the rounds each needs to reach the target (default: halfway back from the entry to the root).

    python bench/bench_federated.py [--bits 3 | --entry d4-r0.1-b4-s60] [--rounds 4] [--local-steps 4]

Small local steps and 1,000 test photos per evaluation keep it to a few minutes on 2 shared cores."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.federated.cli import _parser, run  # noqa: E402


def main(argv=None) -> int:
    parser = _parser()
    parser.set_defaults(root="resnet18_cifar10", devices=10, rounds=4, local_steps=4, batch_size=32, lr=0.003,
                        split="dirichlet", alpha=0.5, update_bits=8, eval_limit=1000, cpus=2, central=True,
                        uplink_mbps=50.0)
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--entry" not in argv and "--bits" not in argv:
        argv += ["--bits", "3"]
    out = run(parser.parse_args(argv))
    result = out["result"]
    print(f"\nsummary: root {out['root_accuracy']:.2%}; as downloaded {result.accuracy[0]:.2%}; after "
          f"{len(result.accuracy) - 1} rounds {result.accuracy[-1]:.2%}; central bound {out['central']:.2%}; "
          f"uplink {int(result.uplink_bits.sum()):,} bits in all; wall {result.seconds:.0f} s; target "
          f"{out['target']:.2%} reached after {out['rounds_to_target']} rounds (central: "
          f"{out.get('central_rounds_to_target')})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
