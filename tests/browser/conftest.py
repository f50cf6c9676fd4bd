"""Browser-test harness: the dashboard served by `streamlit run` on a free local port, and headless Chromium.

Plain functions (also used by bench/bench_pages.py) plus the pytest fixtures built on them. The tests skip with a
reason when Debian's chromium or the playwright package is absent; they never download a browser.
Set DASHBOARD_URL to test an app that is already running instead of starting one.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "out" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
VIEWPORT = {"width": 1440, "height": 1000}
# Seconds allowed (polled, never slept): the first run of a page on a cold server generates sub-models (about 90 s
# on 2 idle cores; several minutes when the cores are shared), a rerun computes a few Monte Carlo trials.
COLD_S = float(os.environ.get("BROWSER_COLD_S", "300"))
WARM_S = float(os.environ.get("BROWSER_WARM_S", "120"))

# Streamlit marks its root with the script state ("notRunning" once a run or rerun has finished), elements left
# from a previous run as stale, and elements whose code (a lazily loaded chunk, a component) is still loading
# with skeletons: the page is done when none of these remain.
IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.dataset.testScriptState === 'notRunning'
      && !document.querySelector('[data-testid="stStatusWidget"], [data-stale="true"], [data-testid="stSkeleton"], '
                                 + '[data-testid="stSkeletonElement"], [data-testid="stAppSkeleton"]');
}"""


# ----- the app server -----
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


# Flags for the browser tests' server; the offline test passes none, so that the project's config alone decides.
SERVER_FLAGS = ("--server.address", "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false")


def start_app(log_path: Path, timeout_s: float = 90.0, *, env: dict | None = None, cwd: Path = ROOT,
              flags: tuple[str, ...] = SERVER_FLAGS) -> tuple[subprocess.Popen, str]:
    """Start `streamlit run app/main.py` in ``cwd`` on a free port with ``flags`` (and ``env`` as its whole
    environment when given); return (process, base URL on 127.0.0.1) once healthy."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")
    cmd = [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.port", str(port), *flags]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    deadline = time.monotonic() + timeout_s
    while not healthy(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_app(proc)
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"streamlit did not become healthy at {url} (exit code {proc.returncode}):\n{tail}")
        time.sleep(0.2)  # poll interval, not a wait for readiness
    return proc, url


def stop_app(proc: subprocess.Popen) -> None:
    """End the server and anything it started (its own process group)."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


# ----- the browser -----
def find_chromium() -> str | None:
    return os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def wait_idle(page, timeout_s: float = WARM_S) -> None:
    """Wait until Streamlit has finished the current run: no running script, no status widget, nothing stale."""
    page.wait_for_function(IDLE_JS, timeout=timeout_s * 1000, polling=100)


def nav_links(page) -> list[tuple[str, str]]:
    """(label, href) of every page in the sidebar navigation, in order."""
    return page.evaluate("""() => Array.from(
        document.querySelectorAll('[data-testid="stSidebarNav"] a[data-testid="stSidebarNavLink"]'))
        .map(a => [a.innerText.split('\\n').map(s => s.trim()).filter(Boolean).pop() || '', a.href])""")


def declared_page_titles() -> list[str]:
    """Titles of the st.Page entries in app/main.py: the pages the navigation must at least show."""
    text = (ROOT / "app" / "main.py").read_text()
    return re.findall(r"st\.Page\([^)]*?title\s*=\s*[\"']([^\"']+)[\"']", text, re.S)


def open_page(page, label: str, href: str, timeout_s: float = WARM_S) -> None:
    """Go to a page by its navigation link (same session) and wait until its title shows and its run finished."""
    link = page.locator(f'[data-testid="stSidebarNav"] a[href="{href}"]')
    if link.count():
        link.first.click()
    else:
        page.goto(href)
    heading(page, label).wait_for(timeout=timeout_s * 1000)
    wait_idle(page, timeout_s)


def heading(page, label: str):
    """The page's title: a level-1 heading that starts with the navigation label (e.g. "Guide: ...")."""
    return page.get_by_role("heading", name=re.compile(rf"^\s*{re.escape(label)}", re.I), level=1)


def metrics(page) -> dict[str, str]:
    """Every st.metric on the page: label -> value (with its delta text after ' | ' when there is one)."""
    return page.evaluate("""() => Object.fromEntries(Array.from(
        document.querySelectorAll('[data-testid="stMetric"]')).map(m => {
          const t = s => (m.querySelector(s)?.innerText || '').trim();
          const d = t('[data-testid="stMetricDelta"]');
          return [t('[data-testid="stMetricLabel"]'), t('[data-testid="stMetricValue"]') + (d ? ' | ' + d : '')];
        }))""")


def captions(page, where: str = "") -> list[str]:
    return page.locator(f'{where} [data-testid="stCaptionContainer"]'.strip()).all_inner_texts()


def exception_texts(page) -> list[str]:
    return page.locator('[data-testid="stException"]').all_inner_texts()


def screenshot(page, name: str) -> Path:
    """A screenshot of the whole app: the viewport is stretched to the taller of the main area and the sidebar."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name).strip('-')}.png"
    height = page.evaluate("""() => Math.max(document.documentElement.scrollHeight,
        ...['stMain', 'stSidebarContent'].map(id => document.querySelector(`[data-testid="${id}"]`)?.scrollHeight || 0))""")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(max(height, size["height"]), 8000)})
    try:
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(size)
    return path


def set_slider_to_end(page, label: str, where: str = '[data-testid="stSidebar"]') -> str:
    """Move a (select) slider to its largest value with the keyboard; return the shown value."""
    thumb = page.locator(f'{where} [data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    thumb.focus()
    thumb.press("End")
    return thumb.get_attribute("aria-valuetext") or ""


def choose(page, label: str, option: str, where: str = '[data-testid="stSidebar"]') -> None:
    """Pick an option of a selectbox by the box's label and the option's text."""
    box = page.locator(f'{where} [data-testid="stSelectbox"]').filter(has_text=label)
    box.locator('[role="combobox"], input').first.click()
    page.get_by_role("option", name=option, exact=True).click()


def wait_caption(page, prefix: str, expected: str, timeout_s: float = WARM_S) -> None:
    """Wait until a caption starting with prefix reads prefix + expected."""
    page.wait_for_function(
        """([p, e]) => Array.from(document.querySelectorAll('[data-testid="stCaptionContainer"]'))
              .some(c => c.innerText.trim().startsWith(p + e))""",
        arg=[prefix, expected], timeout=timeout_s * 1000, polling=100)


# ----- fixtures -----
def _missing(reason: str):
    """Skip a browser test for a missing tool, or fail it where the browser is required (CI sets
    REQUIRE_BROWSER=1, so that a browser that could not be installed never hides behind a skip)."""
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and REQUIRE_BROWSER=1", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if not path:
        _missing("no chromium on PATH (Debian: apt-get install chromium, as .ci/run does)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("the playwright package is not installed")
    return path


@pytest.fixture(scope="session")
def app_url(chromium_path, tmp_path_factory) -> str:
    """Base URL of the running dashboard (started here unless DASHBOARD_URL names one)."""
    given = os.environ.get("DASHBOARD_URL")
    if given:
        if not healthy(given.rstrip("/")):
            pytest.fail(f"DASHBOARD_URL={given!r} does not answer /_stcore/health")
        yield given.rstrip("/")
        return
    log = tmp_path_factory.mktemp("streamlit") / "server.log"
    proc, url = start_app(log)
    try:
        yield url
    finally:
        stop_app(proc)


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()
