"""Benchmark in headless Chromium: warm page-switch render time, and after a BER change on the Live accuracy page
the time to the first accuracy and to a 5-trial estimate (targets: under 2 s, 0.5 s and 2 s).

Run: python bench/bench_pages.py [--url http://127.0.0.1:8501]  (without --url it starts its own server)
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.conftest import (CHROMIUM_ARGS, ROOT, VIEWPORT, find_chromium, healthy, metrics,  # noqa: E402
                                    nav_links, open_page, start_app, stop_app, wait_idle)

TARGETS = {"page switch (warm)": 2.0, "first accuracy after a BER change": 0.5,
           "5-trial estimate after a BER change": 2.0,
           "4-bit at BER 1e-3: first accuracy": 0.5, "4-bit at BER 1e-3: 95 % half-width <= 2 points": 3.0}
ACCURACY = "Accuracy under this link"
# The delta of the accuracy metric: "... after N trial(s)" while trials run, "... over N trial(s)" when done.
TRIALS_SHOWN_JS = """([label, n, ber]) => {
  const metric = name => Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
    .find(e => (e.querySelector('[data-testid="stMetricLabel"]')?.innerText || '').trim() === name);
  const fresh = e => !!e && !e.closest('[data-stale="true"]');
  // The new run has shown the new BER (so the old estimate is stale or gone) and a fresh estimate:
  const b = metric('BER / protection');
  if (!fresh(b) || !b.querySelector('[data-testid="stMetricValue"]')?.innerText.includes(ber)) return false;
  const m = metric(label);
  if (!fresh(m)) return false;
  const k = (m.querySelector('[data-testid="stMetricDelta"]')?.innerText || '').match(/(after|over) (\\d+) trial/);
  return !!k && Number(k[2]) >= n;
}"""
# The accuracy metric's delta reads "... (± X points) over N trial(s) ..." once there are two trials.
HALF_WIDTH_JS = """([label, points, ber]) => {
  const metric = name => Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
    .find(e => (e.querySelector('[data-testid="stMetricLabel"]')?.innerText || '').trim() === name);
  const fresh = e => !!e && !e.closest('[data-stale="true"]');
  const b = metric('BER / protection');
  if (!fresh(b) || !b.querySelector('[data-testid="stMetricValue"]')?.innerText.includes(ber)) return false;
  const m = metric(label);
  if (!fresh(m)) return false;
  const k = (m.querySelector('[data-testid="stMetricDelta"]')?.innerText || '').match(/± ([0-9.]+) points/);
  return !!k && Number(k[1]) <= points;
}"""
RUNNING_JS = "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'running'"


def _fresh_seed(page, cold_s: float) -> int:
    """A seed never used before, so that no BER's result is already in the app's cache."""
    seed = random.randrange(1000, 10**6)
    box = page.locator('[data-testid="stNumberInput"]').filter(has_text="Seed").locator("input")
    box.fill(str(seed))
    box.press("Enter")
    page.wait_for_function(RUNNING_JS, timeout=10_000, polling=20)  # ten fresh trials: seconds of running
    wait_idle(page, cold_s)
    return seed


def bench(url: str, chromium: str, switches: int, ber_changes: int, cold_s: float) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    figures: dict[str, list[float]] = {k: [] for k in TARGETS}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport=VIEWPORT)
        t0 = time.perf_counter()
        page.goto(url)
        page.locator('[data-testid="stSidebarNav"]').wait_for(timeout=cold_s * 1000)
        wait_idle(page, cold_s)
        print(f"first load (default page): {time.perf_counter() - t0:.1f} s")
        links = nav_links(page)
        for label, href in links:  # warm every page once
            t0 = time.perf_counter()
            open_page(page, label, href, cold_s)
            print(f"first visit of {label!r}: {time.perf_counter() - t0:.1f} s")
        for _ in range(switches):
            for label, href in links:
                t0 = time.perf_counter()
                open_page(page, label, href)
                figures["page switch (warm)"].append(time.perf_counter() - t0)
        live = dict(links).get("Live accuracy")
        if live is None:
            print("no 'Live accuracy' page: BER-change figures not measured")
        else:
            open_page(page, "Live accuracy", live, cold_s)
            seed = _fresh_seed(page, cold_s)
            print(f"Live accuracy, seed {seed}: BER stepped down from the current value, each one not yet cached")
            thumb = page.locator('[data-testid="stSidebar"] [data-testid="stSlider"]').filter(
                has_text="Bit-error rate (BER)").get_by_role("slider")
            for _ in range(ber_changes):
                thumb.focus()
                before = thumb.get_attribute("aria-valuetext")
                t0 = time.perf_counter()
                thumb.press("ArrowLeft")
                shown = thumb.get_attribute("aria-valuetext")  # '10⁻⁵': the slider and the metric share app.units
                page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 1, shown], timeout=120_000, polling=20)
                first = time.perf_counter() - t0
                page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 5, shown], timeout=120_000, polling=20)
                five = time.perf_counter() - t0
                wait_idle(page)
                figures["first accuracy after a BER change"].append(first)
                figures["5-trial estimate after a BER change"].append(five)
                print(f"  BER {before} -> {thumb.get_attribute('aria-valuetext')}: first accuracy {first:.2f} s, "
                      f"5 trials {five:.2f} s, whole page {time.perf_counter() - t0:.2f} s")
            # The issue-10 target: the 4-bit sub-model (the page's default) at exactly BER 1e-3, typed in the box.
            for attempt in range(2):
                seed = _fresh_seed(page, cold_s)
                box = page.locator('[data-testid="stSidebar"] [data-testid="stTextInput"]').filter(
                    has_text="exact value").locator("input")
                if box.input_value() == "1e-3":  # already there: move away first, so the change below is one
                    box.fill("1e-4")
                    box.press("Enter")
                    wait_idle(page)
                box.fill("1e-3")
                t0 = time.perf_counter()
                box.press("Enter")
                try:
                    page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 1, "10⁻³"], timeout=120_000, polling=20)
                except Exception:
                    print("  no estimate at 10⁻³ shown; the page's metrics:", metrics(page), box.input_value())
                    raise
                first = time.perf_counter() - t0
                page.wait_for_function(HALF_WIDTH_JS, arg=[ACCURACY, 2.0, "10⁻³"], timeout=120_000, polling=20)
                narrow = time.perf_counter() - t0
                wait_idle(page)
                figures["4-bit at BER 1e-3: first accuracy"].append(first)
                figures["4-bit at BER 1e-3: 95 % half-width <= 2 points"].append(narrow)
                print(f"  BER -> 10⁻³ (typed), seed {seed}: first accuracy {first:.2f} s, ± 2 points {narrow:.2f} s")
                box.fill("1e-4")
                box.press("Enter")
                wait_idle(page)
        browser.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", help="a running app (default: start one on a free port)")
    parser.add_argument("--switches", type=int, default=3, help="rounds of visiting every page")
    parser.add_argument("--ber-changes", type=int, default=3)
    parser.add_argument("--cold-timeout", type=float, default=900.0, help="seconds allowed for a first load")
    args = parser.parse_args()
    chromium = find_chromium()
    if not chromium:
        sys.exit("no chromium on PATH (Debian: apt-get install chromium)")
    proc = None
    if args.url:
        url = args.url.rstrip("/")
        if not healthy(url):
            sys.exit(f"{url} does not answer /_stcore/health")
    else:
        proc, url = start_app(ROOT / "out" / "bench_pages_server.log")
    try:
        print(f"app {url}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        figures = bench(url, chromium, args.switches, args.ber_changes, args.cold_timeout)
    finally:
        if proc is not None:
            stop_app(proc)
    print(f"\n{'figure':40s} {'n':>3s} {'median s':>9s} {'max s':>7s} {'target s':>9s}")
    for name, values in figures.items():
        if values:
            med, worst = statistics.median(values), max(values)
            print(f"{name:40s} {len(values):3d} {med:9.2f} {worst:7.2f} {TARGETS[name]:9.1f}"
                  f"  {'ok' if worst < TARGETS[name] else 'MISSED'}")
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
