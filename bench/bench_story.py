"""Benchmark in headless Chromium: the Guide's story in presenter view, Next by Next, as a lecturer steps through it
on a fresh start (a new server, a new library folder, so nothing is cached): seconds from the key press to the
step's heading, and to the step's chart drawn and the app idle (target: 3 s per step, the issue's slide budget).

Run: python bench/bench_story.py [--root resnet18_cifar10] [--url http://127.0.0.1:8501]
(without --url it starts its own server on the root given, with a fresh library folder).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import story  # noqa: E402
from tests.browser.conftest import CHROMIUM_ARGS, ROOT, find_chromium, start_app, stop_app, wait_idle  # noqa: E402

TARGET_S = 3.0
SLIDE = {"width": 1920, "height": 1080}
CHART_JS = "() => !!document.querySelector('[data-testid=\"stMain\"] .js-plotly-plot .main-svg')"


def walk(url: str, timeout_s: float = 600.0) -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport=SLIDE)
        started = time.perf_counter()
        page.goto(f"{url}/guide?present=1")
        for n, step in enumerate(story.STEPS, start=1):
            heading = page.get_by_role("heading", name=f"{n}. {step.title}", level=2)
            heading.wait_for(timeout=timeout_s * 1000)
            shown = time.perf_counter() - started
            if step.key != "verdicts":
                page.wait_for_function(CHART_JS, timeout=timeout_s * 1000, polling=50)
            wait_idle(page, timeout_s)
            done = time.perf_counter() - started
            rows.append({"step": n, "key": step.key, "heading_s": shown, "content_s": done})
            print(f"step {n:2d} {step.key:<11} heading {shown:6.2f} s, chart and idle {done:6.2f} s "
                  f"{'ok' if done <= TARGET_S else 'OVER ' + str(TARGET_S) + ' s'}", flush=True)
            if n < len(story.STEPS):
                started = time.perf_counter()
                page.locator("body").press("ArrowRight")  # Next
        browser.close()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app (default: start a fresh one)")
    parser.add_argument("--root", default="resnet18_cifar10", help="the default root of the fresh server")
    args = parser.parse_args(argv)
    proc = None
    url = args.url
    if url is None:
        fresh = Path(tempfile.mkdtemp(prefix="bench_story_"))
        env = {**os.environ, "INSITU_DEFAULT_ROOT": args.root, "INSITU_LIBRARY": str(fresh / "library")}
        proc, url = start_app(fresh / "server.log", env=env, cwd=ROOT)
    try:
        rows = walk(url)
    finally:
        if proc is not None:
            stop_app(proc)
    worst = max(rows, key=lambda r: r["content_s"])
    over = [r["step"] for r in rows if r["content_s"] > TARGET_S]
    print(f"\nworst step: {worst['step']} ({worst['key']}) {worst['content_s']:.2f} s; steps over {TARGET_S:g} s: "
          f"{over or 'none'} (the first step includes the server's first page load)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
