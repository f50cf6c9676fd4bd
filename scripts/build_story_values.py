"""Write the story's measured values for each shipped root (assets/story/<root>.json), so that no Guide step waits.

    python scripts/build_story_values.py [--root resnet18_digits] [--root resnet18_cifar10]

Runs exactly the computations the Guide would run live (app.story.needed_values, app.story_values); the values
are used only while the root file's sha256 matches, and tests/app/test_story_values.py checks them against the
engine.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> int:
    from app import story_values
    from app.story import SEED, STORY_BERS, needed_values
    from core.model.models import SHIPPED_ROOTS
    from core.threads import PROCESS_THREADS, threads

    roots = {path.stem: path for path in SHIPPED_ROOTS.values()}
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", action="append", choices=sorted(roots),
                        help="a shipped root (repeat for several; default: every shipped root)")
    args = parser.parse_args(argv)
    specs, series = needed_values()
    for name in args.root or sorted(roots):
        checkpoint = roots[name]
        started = time.perf_counter()
        with threads(PROCESS_THREADS):
            values = story_values.build(checkpoint, specs, series, STORY_BERS, SEED,
                                        progress=lambda what: print(f"{name}: {what}", flush=True))
        path = story_values.STORY_VALUES / f"{Path(checkpoint).stem}.json"
        story_values.write(values, path)
        print(f"{name}: wrote {path.relative_to(Path(__file__).resolve().parents[1])} "
              f"({path.stat().st_size:,} bytes) in {time.perf_counter() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
