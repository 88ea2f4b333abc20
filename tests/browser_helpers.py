"""The dashboard served on a free port, and headless Debian Chromium, for the browser test and the
watched-vs-CLI benchmark (bench/watch_vs_cli.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]


def require_chromium() -> None:
    """Skip the calling test module when Debian's Chromium is missing, except under ``CI=true``,
    where a missing browser is a failure: the browser tests must run on CI."""
    import pytest

    if CHROMIUM.exists():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {CHROMIUM} is missing: the browser test must run on CI", pytrace=False)
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


@contextmanager
def dashboard(home: Path, **env: str) -> Iterator[str]:
    """``streamlit run dashboard/app.py`` with ``BET_HOME=home`` (and ``env``) on a free localhost
    port; yields its URL. The whole process group (the server and its worker process) is killed at
    the end; the server's output is in ``home/server.log``."""
    port = free_port()
    full_env = {**os.environ, "BET_HOME": str(home), "BET_DASHBOARD_POLL": "1", **env}
    log = open(home / "server.log", "wb")  # noqa: SIM115 — closed in the finally below
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
           "--server.port", str(port), "--server.address", "localhost", "--browser.gatherUsageStats", "false"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start:\n{(home / 'server.log').read_text()}")
            time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def launch(playwright: Any) -> Any:
    """Headless Debian Chromium (never a downloaded browser)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)


@contextmanager
def chromium_page(playwright: Any, height: int = 1700, timeout_ms: int = 60_000) -> Iterator[Any]:
    """A page 1500 px wide in headless Debian Chromium (:func:`launch`), closed at the end."""
    browser = launch(playwright)
    try:
        page = browser.new_page(viewport={"width": 1500, "height": height})
        page.set_default_timeout(timeout_ms)
        yield page
    finally:
        browser.close()


# Plotly keeps the decoded traces on the graph div: [(type, name, number of points), …]
TRACES_JS = """el => (el._fullData || []).map(t => [t.type, t.name,
    (t.x && t.x.length) || (t.y && t.y.length) || 0])"""


def traces(page: Any, key: str, js: str = TRACES_JS) -> list[list[Any]]:
    """What ``js`` reads off each trace of the Plotly chart in the ``key`` container."""
    loc = page.locator(f".st-key-{key} .js-plotly-plot").first
    loc.wait_for()
    return loc.evaluate(js)  # type: ignore[no-any-return]


def wait_traces(page: Any, key: str, ok: Any, timeout: float = 30, js: str = TRACES_JS) -> list[list[Any]]:
    """Poll a chart until ``ok(traces)`` holds (charts re-render as the store is polled)."""
    deadline = time.monotonic() + timeout
    while True:
        got = traces(page, key, js)
        if ok(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{key}: {got}")
        time.sleep(0.5)


def nav(page: Any, name: str) -> None:
    """Open a page of the top navigation by its title."""
    page.locator("[data-testid=stTopNavLink]", has_text=name).first.click()
