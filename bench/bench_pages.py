"""Benchmark in headless Chromium: warm page-switch render time, and after a BER change on the Live accuracy page
the time to the first accuracy (a first look at a new BER, the stored estimate at a BER measured before), to the
first whole trial, to 5 trials and, for the 4-bit sub-model near and at BER 1e-3, to a 95 % half-width of 2
points (targets: 2 s, 0.5 s, -, 2 s, 3 s).

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

from app.units import ber_short  # noqa: E402
from tests.browser.conftest import (CHROMIUM_ARGS, ROOT, VIEWPORT, find_chromium, healthy,  # noqa: E402
                                    nav_links, open_page, start_app, stop_app, wait_idle)

# None: shown, no target (the first whole trial comes after the first look, which is what the target is about).
# "new BER": no trial at that BER yet (the page shows a first look); "measured BER": the page's BER curve has
# already measured it for this seed (the page shows the stored estimate at once, then goes on).
TARGETS = {"page switch (warm)": 2.0, "first accuracy, slider step to a new BER": 0.5,
           "first accuracy, slider step to a measured BER": 0.5,
           "first whole trial after a slider step": None, "5-trial estimate after a slider step": 2.0,
           "4-bit, new BER typed: first accuracy": 0.5, "4-bit, new BER typed: first whole trial": None,
           "4-bit at BER 1e-3, new seed: first accuracy": 0.5,
           "4-bit at BER 1e-3, new seed: first whole trial": None,
           "4-bit at BER 1e-3, new seed: half-width <= 2 points": 3.0}
NEW_BERS = ("2e-3", "5e-4", "1.5e-3", "7e-4")  # off the curve's grid (core.link.ber.BER_GRID): never measured
ACCURACY = "Accuracy under this link"
# What the accuracy metric of the current run shows, or null while the page still shows another BER's estimate.
# The caption under the metric names the BER it rests on ("... at a bit-error rate of 10⁻³ and ..."), so an
# estimate left over from the previous BER (not yet marked stale by Streamlit) never counts. trials: 0.5 for a
# first look (part of the first download), else the number of finished trials; stopped: the run has stopped.
SHOWN_JS = """
const metric = name => Array.from(document.querySelectorAll('[data-testid="stMetric"]'))
  .find(e => (e.querySelector('[data-testid="stMetricLabel"]')?.innerText || '').trim() === name);
const fresh = e => !!e && !e.closest('[data-stale="true"]');
const shown = (label, ber, extra = '') => {
  const m = metric(label);
  if (!fresh(m)) return null;
  const caption = Array.from(document.querySelectorAll('[data-testid="stCaptionContainer"]'))
    .find(e => fresh(e) && e.innerText.includes('Rests on') && e.innerText.includes('rate of ' + ber + ' and')
               && e.innerText.includes(extra));
  if (!caption) return null;
  const delta = m.querySelector('[data-testid="stMetricDelta"]')?.innerText || '';
  const over = delta.match(/over (\\d+) trial/), half = delta.match(/± ([0-9.]+) points/);
  const trials = delta.includes('first look') ? 0.5 : over ? Number(over[1]) : delta.includes('1 trial of') ? 1 : 0;
  return {trials, half: half ? Number(half[1]) : Infinity, stopped: /Stopped|Paused/.test(caption.innerText)};
};
"""
TRIALS_SHOWN_JS = "([label, n, ber, extra]) => {" + SHOWN_JS + """
  const s = shown(label, ber, extra || '');
  return !!s && (s.trials >= n || s.stopped) ? s : false;
}"""
HALF_WIDTH_JS = "([label, points, ber, extra]) => {" + SHOWN_JS + """
  const s = shown(label, ber, extra || '');
  return !!s && s.half <= points;
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
                seen = page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 0.5, shown], timeout=120_000,
                                              polling=20).json_value()
                first = time.perf_counter() - t0
                page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 1, shown], timeout=120_000, polling=20)
                whole = time.perf_counter() - t0
                page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 5, shown], timeout=120_000, polling=20)
                five = time.perf_counter() - t0  # or stopped sooner (e.g. no bit flipped: nothing can change)
                wait_idle(page)
                kind = "new" if seen["trials"] <= 1 else "measured"  # a stored estimate has >= 3 trials (the curve's)
                figures[f"first accuracy, slider step to a {kind} BER"].append(first)
                figures["first whole trial after a slider step"].append(whole)
                figures["5-trial estimate after a slider step"].append(five)
                print(f"  BER {before} -> {thumb.get_attribute('aria-valuetext')} ({kind}): first accuracy "
                      f"{first:.2f} s, first whole trial {whole:.2f} s, 5 trials (or stopped) {five:.2f} s, whole "
                      f"page {time.perf_counter() - t0:.2f} s")
            box = page.locator('[data-testid="stSidebar"] [data-testid="stTextInput"]').filter(
                has_text="exact value").locator("input")
            for typed in NEW_BERS:  # the 4-bit sub-model (the page's default) at BERs no trial has used yet
                ber_text = ber_short(float(typed))
                box.fill(typed)
                t0 = time.perf_counter()
                box.press("Enter")
                seen = page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 0.5, ber_text], timeout=120_000,
                                              polling=20).json_value()
                first = time.perf_counter() - t0
                page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 1, ber_text], timeout=120_000, polling=20)
                whole = time.perf_counter() - t0
                wait_idle(page)
                # a first look, or (when the browser drew both in one frame) the first whole trial; never a stored
                # estimate, which has at least the curve's 3 trials
                assert seen["trials"] <= 1, f"BER {typed} was measured before: {seen}"
                figures["4-bit, new BER typed: first accuracy"].append(first)
                figures["4-bit, new BER typed: first whole trial"].append(whole)
                print(f"  BER -> {ber_text} (typed, new): first accuracy {first:.2f} s, first whole trial "
                      f"{whole:.2f} s")
            # The 4-bit sub-model at exactly BER 1e-3 with no trial yet: BER 1e-3 set (the page's curve then measures
            # it for the current seed), then a new seed typed: the estimate at 1e-3 starts from nothing.
            box.fill("1e-3")
            box.press("Enter")
            wait_idle(page, cold_s)
            seed_box = page.locator('[data-testid="stNumberInput"]').filter(has_text="Seed").locator("input")
            for _ in range(2):
                seed = random.randrange(1000, 10**6)
                seed_box.fill(str(seed))
                t0 = time.perf_counter()
                seed_box.press("Enter")
                tag = f"seed {seed};"  # the caption names the seed: the previous seed's estimate never counts
                page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 0.5, "10⁻³", tag], timeout=120_000,
                                       polling=20)
                first = time.perf_counter() - t0
                page.wait_for_function(TRIALS_SHOWN_JS, arg=[ACCURACY, 1, "10⁻³", tag], timeout=120_000, polling=20)
                whole = time.perf_counter() - t0
                page.wait_for_function(HALF_WIDTH_JS, arg=[ACCURACY, 2.0, "10⁻³", tag], timeout=120_000,
                                       polling=20)
                narrow = time.perf_counter() - t0
                wait_idle(page, cold_s)  # the new seed's curve is measured too
                figures["4-bit at BER 1e-3, new seed: first accuracy"].append(first)
                figures["4-bit at BER 1e-3, new seed: first whole trial"].append(whole)
                figures["4-bit at BER 1e-3, new seed: half-width <= 2 points"].append(narrow)
                print(f"  BER 10⁻³, new seed {seed}: first accuracy {first:.2f} s, first whole trial {whole:.2f} s, "
                      f"± 2 points {narrow:.2f} s")
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
    print(f"\n{'figure':66s} {'n':>3s} {'median s':>9s} {'max s':>7s} {'target s':>9s}")
    for name, values in figures.items():
        if values:
            med, worst, target = statistics.median(values), max(values), TARGETS[name]
            verdict = "" if target is None else f"{target:9.1f}  {'ok' if worst < target else 'MISSED'}"
            print(f"{name:66s} {len(values):3d} {med:9.2f} {worst:7.2f} {verdict or '        -'}")
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
