"""Benchmark in headless Chromium: the Live accuracy page's first visit on a fresh server (nothing cached, a new
library folder): seconds until a curve is on screen (the AI library's measurement of the sub-model, drawn while
the sub-model is generated; target 3 s) and until the page is done (its own estimate and curve).

Run: python bench/bench_live_first_visit.py [--root resnet18_cifar10]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.conftest import CHROMIUM_ARGS, ROOT, find_chromium, start_app, stop_app, wait_idle  # noqa: E402

CHART_JS = "() => !!document.querySelector('[data-testid=\"stMain\"] .js-plotly-plot .main-svg')"


def main(argv=None) -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="resnet18_cifar10", help="the default root of the fresh server")
    args = parser.parse_args(argv)
    fresh = Path(tempfile.mkdtemp(prefix="bench_live_"))
    env = {**os.environ, "INSITU_DEFAULT_ROOT": args.root, "INSITU_LIBRARY": str(fresh / "library")}
    proc, url = start_app(fresh / "server.log", env=env, cwd=ROOT)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.goto(url)  # the first page loads the root and the library: not part of the Live page's visit
            page.get_by_role("heading", name="Sub-models", level=1).wait_for(timeout=300_000)
            wait_idle(page, 300)
            started = time.perf_counter()
            page.goto(f"{url}/live")
            page.wait_for_function(CHART_JS, timeout=300_000, polling=50)
            curve = time.perf_counter() - started
            wait_idle(page, 300)
            done = time.perf_counter() - started
            browser.close()
    finally:
        stop_app(proc)
    print(f"Live page first visit ({args.root}): first curve on screen {curve:.2f} s (target 3 s), page done "
          f"{done:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
