"""End to end in a real browser: ``streamlit run dashboard/app.py`` driven by Playwright in
headless Debian Chromium. Starts a tiny search from the sidebar and waits for the live charts to
render with data and the run to complete, checks a second run joins the frontier, stops a third
mid-search. Screenshots go to tests/screenshots/ (gitignored).

Skipped only where /usr/bin/chromium is missing and ``CI`` is not ``true``; on CI it must run.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser_helpers import CHROMIUM, ROOT, dashboard, launch

SHOTS = ROOT / "tests" / "screenshots"
ON_CI = os.environ.get("CI") == "true"

pytestmark = [pytest.mark.browser, pytest.mark.timeout(420)]

if not CHROMIUM.exists():
    if ON_CI:
        pytest.fail(f"CI=true but {CHROMIUM} is missing: the browser test must run on CI", pytrace=False)
    pytest.skip(f"{CHROMIUM} not installed", allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

# Plotly keeps the decoded traces on the graph div: [(type, name, number of points), …]
TRACES_JS = """el => (el._fullData || []).map(t => [t.type, t.name,
    (t.x && t.x.length) || (t.y && t.y.length) || 0])"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard on a free port with its own BET_HOME, several users (runs belong to the session
    that started them)."""
    with dashboard(tmp_path_factory.mktemp("bet-home-browser"), BET_DASHBOARD_USERS="multi") as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = launch(p)
        pg = browser.new_page(viewport={"width": 1500, "height": 2200})
        pg.set_default_timeout(30_000)
        pg.goto(server)
        yield pg
        browser.close()


def traces(page: Page, key: str) -> list[list[Any]]:
    loc = page.locator(f".st-key-{key} .js-plotly-plot").first
    loc.wait_for()
    return loc.evaluate(TRACES_JS)


def wait_traces(page: Page, key: str, ok: Any, timeout: float = 30) -> list[list[Any]]:
    """Poll a chart until ``ok(traces)`` holds (charts re-render as the store is polled)."""
    deadline = time.monotonic() + timeout
    while True:
        got = traces(page, key)
        if ok(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{key}: {got}")
        time.sleep(0.5)


def set_number(page: Page, key: str, value: int) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    expect(field).to_have_value(str(value))


def choose(page: Page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} [role=combobox]").click()
    page.get_by_role("option", name=option).click()
    expect(page.locator(f".st-key-{key} [role=combobox]")).to_have_value(option)


def status(page: Page, text: str, sparsity: str, timeout: float = 60) -> None:
    """Wait until the run-status hook of the run at ``sparsity`` shows ``text``. While the page
    reruns, streamlit briefly keeps the previous element next to the new one: match by content."""
    box = page.locator(".st-key-run-status").filter(has_text=f"c={sparsity}").filter(has_text=f"Status: {text}")
    expect(box.first).to_be_visible(timeout=timeout * 1000)


def test_search_live_frontier_and_stop(page: Page, server: str) -> None:
    t0 = time.monotonic()
    expect(page.locator(".st-key-demo button")).to_be_visible(timeout=60_000)  # fresh store: the demo offer
    expect(page.locator(".st-key-budget-readout")).to_contain_text("87,488")
    # a malformed upload: the engine's message (file and line), and nothing can start
    page.locator(".st-key-data_source").get_by_text("upload a file").click()
    page.locator(".st-key-upload input[type=file]").set_input_files(
        files=[{"name": "bad.txt", "mimeType": "text/plain", "buffer": b"1 2\nfoo bar\n3 4\n"}]
    )
    expect(page.locator(".st-key-data-error")).to_contain_text("bad.txt (uploaded):2: user id 'foo' is not an integer")
    expect(page.locator(".st-key-start button")).to_be_disabled()
    page.screenshot(path=str(SHOTS / "00_bad_upload.png"))
    page.locator(".st-key-data_source").get_by_text("built-in").click()
    expect(page.locator(".st-key-budget-readout")).to_contain_text("87,488")

    page.get_by_text("Advanced settings").click()
    choose(page, "preset", "smoke test (seconds)")
    expect(page.locator(".st-key-pretrain_epochs input")).to_have_value("4")
    set_number(page, "iterations", 3)

    # 1: a tiny search at c = 0.9, watched live until completed
    page.locator(".st-key-start button").click()
    status(page, "running", "0.9")
    page.screenshot(path=str(SHOTS / "01_live_running.png"))
    status(page, "completed", "0.9", timeout=150)
    ranks = wait_traces(page, "chart-rankings", lambda t: t and t[0][2] == 10)
    assert ranks[0][:2] == ["bar", "candidates"] and ranks[1][1] == "chosen"
    assert wait_traces(page, "chart-pred-actual", lambda t: sum(n for *_, n in t) == 3)
    sizes = wait_traces(page, "chart-sizes", lambda t: len(t) == 2)
    assert [(s[0], s[1]) for s in sizes] == [("bar", "users"), ("bar", "items")] and sizes[0][2] > 0
    expect(page.locator(".st-key-chart-sizes")).to_contain_text("users (3,175)")  # gowalla-mini's users
    assert traces(page, "chart-fitness")[0][2] == 3
    page.screenshot(path=str(SHOTS / "02_live_completed.png"))

    # 2: a second budget; both runs are points of the BET series on the frontier
    slider = page.locator(".st-key-sparsity input[type=range]")
    slider.focus()
    for _ in range(10):
        slider.press("ArrowLeft")
    expect(page.locator(".st-key-budget-readout")).to_contain_text("174,976")
    page.locator(".st-key-start button").click()
    status(page, "completed", "0.8", timeout=150)
    page.locator("[data-testid=stTopNavLink]", has_text="Frontier").first.click()
    front = wait_traces(page, "chart-frontier", lambda t: any(name == "BET" and n == 2 for _, name, n in t))
    assert any(name == "BET" and n == 2 for _, name, n in front), front
    page.screenshot(path=str(SHOTS / "03_frontier.png"))

    # 3: a long search, stopped mid-search from the Live page
    page.locator("[data-testid=stTopNavLink]", has_text="Live run").first.click()
    set_number(page, "iterations", 40)
    set_number(page, "finetune_steps", 400)
    page.locator(".st-key-start button").click()
    status(page, "running", "0.8")
    progress = page.locator(".st-key-run-progress").filter(has_text="search: iteration")
    expect(progress.first).to_be_visible(timeout=60_000)
    page.locator(".st-key-stop_run button").first.click()
    status(page, "stopped", "0.8", timeout=30)
    expect(page.get_by_text(re.compile(r"stopped (while finetuning|before iteration)"))).to_be_visible()
    expect(page.locator(".st-key-run-status")).to_have_count(1, timeout=30_000)  # the rerun has finished
    expect(page.locator(".st-key-iterations input")).to_have_value("40")  # the session kept its settings
    page.screenshot(path=str(SHOTS / "04_live_stopped.png"))

    for name, shot in (("Why this recall?", "05_why.png"), ("Runs & export", "06_runs.png")):
        page.locator("[data-testid=stTopNavLink]", has_text=name).first.click()
        page.wait_for_timeout(3000)
        expect(page.locator("[data-testid=stException]")).to_have_count(0)
        page.screenshot(path=str(SHOTS / shot))
    assert time.monotonic() - t0 < 240
