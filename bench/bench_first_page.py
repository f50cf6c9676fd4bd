"""Benchmark: a fresh clone's first page in headless Chromium (issue 9's target: the four technique cards for the
default root within 15 s of the first page load on 2 cores, with no build step).

It clones this repository's HEAD into a temporary folder (so nothing built here, no library/ or runs/, is there),
starts `streamlit run app/main.py` in it, opens the first page and times: server start until healthy, first page
load until the four technique cards ("What the network would download") show, and a second load in a new tab.

Run: python bench/bench_first_page.py [--keep]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.browser.conftest import CHROMIUM_ARGS, VIEWPORT, find_chromium, start_app, stop_app  # noqa: E402

PROJECT = Path(__file__).resolve().parents[1]
TARGET_S = 15.0
# A technique card holds the "Expected accuracy" metric, or says that nothing fits; four cards = all four techniques.
CARDS_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.dataset.testScriptState !== 'notRunning') return false;
  const labels = Array.from(document.querySelectorAll('[data-testid="stMetricLabel"]'))
      .filter(e => !e.closest('[data-stale="true"]')).map(e => e.innerText.trim());
  const ok = labels.filter(t => t.startsWith('Expected accuracy')).length;
  const none = Array.from(document.querySelectorAll('[data-testid="stAlert"]'))
      .filter(e => e.innerText.includes('Nothing fits')).length;
  return ok + none >= 4;
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone")
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args()
    chromium = find_chromium()
    if not chromium:
        sys.exit("no chromium on PATH (Debian: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="insitu-clone-"))
    clone = tmp / "repo"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True)
    head = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    print(f"fresh clone of {head} in {clone}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSITU_")}
    t0 = time.perf_counter()
    try:
        proc, url = start_app(tmp / "server.log", 120, env=env, cwd=clone)
    except RuntimeError as err:
        sys.exit(f"server did not start: {err}")
    try:
        print(f"server healthy after {time.perf_counter() - t0:.1f} s")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
            for name in ("first page load (cold server)", "second load (new tab, warm caches)"):
                page = browser.new_page(viewport=VIEWPORT)
                t1 = time.perf_counter()
                page.goto(url)
                page.wait_for_function(CARDS_JS, timeout=args.timeout * 1000, polling=50)
                took = time.perf_counter() - t1
                builds = page.get_by_text("Build the AI library").count() + page.get_by_role(
                    "button", name="Build").count()
                print(f"{name}: four technique cards after {took:.1f} s (target {TARGET_S:.0f} s: "
                      f"{'ok' if took <= TARGET_S else 'MISSED'}); build buttons on the page: {builds}")
                page.close()
            browser.close()
    finally:
        stop_app(proc)
        if not args.keep:
            subprocess.run(["rm", "-rf", str(tmp)])
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
