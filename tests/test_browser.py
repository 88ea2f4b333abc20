"""End to end in a real browser: ``streamlit run dashboard/app.py`` driven by Playwright in
headless Debian Chromium, several users (``BET_DASHBOARD_USERS=multi``). The one-click demo (at the
smoke-test scale, ``BET_DEMO=smoke``: the same runs in seconds) tells its story; the BET run's
report downloads; a tiny search from the sidebar renders its live charts and completes; a second
run joins the frontier; a second browser session sees a third run but cannot stop it, the session
that started it stops it mid-search. Screenshots go to tests/screenshots/ (gitignored).

Skipped only where /usr/bin/chromium is missing and ``CI`` is not ``true``; on CI it must run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from browser_helpers import ROOT, dashboard, launch, nav, require_chromium, traces, wait_traces

SHOTS = ROOT / "tests" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.timeout(600)]

require_chromium()

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

#: An element as the latest script run drew it: while the page reruns, Streamlit keeps the previous
#: one next to it (stale, or retained across a fragment's rerun) until the run has finished.
FRESH = '.st-key-{}:not([data-stale="true"]):not([data-retained="true"])'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The dashboard on a free port with its own BET_HOME, several users (runs belong to the session
    that started them)."""
    home = tmp_path_factory.mktemp("bet-home-browser")
    with dashboard(home, BET_DASHBOARD_USERS="multi", BET_DEMO="smoke") as url:
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


def set_number(page: Page, key: str, value: int) -> None:
    field = page.locator(f".st-key-{key} input")
    field.fill(str(value))
    field.press("Enter")
    expect(field).to_have_value(str(value))


def choose(page: Page, key: str, option: str) -> None:
    page.locator(f".st-key-{key} [role=combobox]").click()
    page.get_by_role("option", name=option).click()
    expect(page.locator(f".st-key-{key} [role=combobox]")).to_have_value(option)


def set_sparsity(page: Page, steps: int, budget: str) -> None:
    """Move the sparsity slider by ``steps`` hundredths; the readout then shows ``budget``."""
    slider = page.locator(".st-key-sparsity input[type=range]")
    slider.focus()
    for _ in range(abs(steps)):
        slider.press("ArrowRight" if steps > 0 else "ArrowLeft")
    expect(page.locator(".st-key-budget-readout")).to_contain_text(budget)


def status(page: Page, text: str, sparsity: str, timeout: float = 60) -> None:
    """Wait until the run-status hook of the run at ``sparsity`` shows ``text``. While the page
    reruns, streamlit briefly keeps the previous element next to the new one: match by content."""
    box = page.locator(".st-key-run-status").filter(has_text=f"c={sparsity}").filter(has_text=f"Status: {text}")
    expect(box.first).to_be_visible(timeout=timeout * 1000)


def test_demo_tells_the_story_and_its_report_downloads(page: Page, server: str) -> None:
    expect(page.locator(".st-key-demo button")).to_be_visible(timeout=180_000)  # fresh store: the demo offer
    page.locator(".st-key-demo button").click()
    status(
        page, "running", "0.9", timeout=240
    )  # the live views open on the BET search (the worker may still import torch)
    page.screenshot(path=str(SHOTS / "00_demo_live.png"))
    story = page.locator(".st-key-story").filter(has_text="14 of 14 runs of this batch completed")
    expect(story.first).to_be_visible(timeout=400_000)  # seconds when idle; minutes on a busy 2-core VM
    text = story.first.inner_text()
    assert re.search(r"At 10% of the parameters BET keeps \d+% of the full model's recall@20; uniform sizes keep "
                     r"\d+%\.", text), text  # fmt: skip
    assert re.search(r"at 20%: BET \d+%, uniform \d+% · at 5%: BET \d+%, uniform \d+%", text), text
    want = {"BET": 3, "SU (uniform)": 3, "SR (random)": 3}  # the frontier filled: three budgets each
    front = wait_traces(page, "chart-story-frontier", lambda t: want.items() <= {n: k for _, n, k in t}.items())
    assert {"full size (lightgcn)", "popularity (lightgcn)"} <= {name for _, name, _ in front}
    page.screenshot(path=str(SHOTS / "01_demo_story.png"))

    status(page, "completed", "0.9")
    # a fresh load of the run's page: no copy of the button left from the reruns of the demo
    page.goto(f"{server}/?run={page.evaluate('new URLSearchParams(location.search).get(`run`)')}")
    status(page, "completed", "0.9")
    with page.expect_download() as info:
        page.locator(FRESH.format("dl_report")).get_by_role("button", name="Download report").click()
    path = info.value.path()
    html = path.read_text()
    run_id = info.value.suggested_filename.removesuffix("-report.html")
    assert html.startswith("<!DOCTYPE html>") and run_id in html and "<svg" in html
    assert not [bad for bad in ("<script", "http://", "https://", "src=") if bad in html.lower()]  # opens offline


def test_search_live_and_frontier(page: Page) -> None:
    expect(page.locator(".st-key-budget-readout")).to_contain_text("87,488")
    # a malformed upload: the engine's message (file and line), and nothing can start
    page.locator(".st-key-data_source").get_by_text("upload a file").click()
    page.locator(".st-key-upload input[type=file]").set_input_files(
        files=[{"name": "bad.txt", "mimeType": "text/plain", "buffer": b"1 2\nfoo bar\n3 4\n"}]
    )
    expect(page.locator(".st-key-data-error")).to_contain_text("bad.txt (uploaded):2: column 1 is not a non-negative")
    expect(page.locator(".st-key-start button")).to_be_disabled()
    page.screenshot(path=str(SHOTS / "02_bad_upload.png"))
    page.locator(".st-key-data_source").get_by_text("built-in").click()
    expect(page.locator(".st-key-budget-readout")).to_contain_text("87,488")

    page.get_by_text("Advanced settings (paper preset)").click()
    choose(page, "preset", "smoke test (seconds)")
    expect(page.locator(".st-key-pretrain_epochs input")).to_have_value("4")
    set_number(page, "iterations", 3)

    # 1: a tiny search at c = 0.91, watched live until completed
    set_sparsity(page, 1, "78,739")
    page.locator(".st-key-start button").click()
    status(page, "running", "0.91")
    page.screenshot(path=str(SHOTS / "03_live_running.png"))
    status(page, "completed", "0.91", timeout=150)
    ranks = wait_traces(page, "chart-rankings", lambda t: t and t[0][2] == 10)
    assert ranks[0][:2] == ["bar", "candidates"] and ranks[1][1] == "chosen"
    assert wait_traces(page, "chart-pred-actual", lambda t: sum(n for *_, n in t) == 3)
    sizes = wait_traces(page, "chart-sizes", lambda t: len(t) == 2)
    assert [(s[0], s[1]) for s in sizes] == [("bar", "users"), ("bar", "items")] and sizes[0][2] > 0
    expect(page.locator(".st-key-chart-sizes")).to_contain_text("users (3,175)")  # gowalla-mini's users
    assert traces(page, "chart-fitness")[0][2] == 3
    page.screenshot(path=str(SHOTS / "04_live_completed.png"))

    # 2: a second budget (0.85); with the demo's 0.8, 0.9 and 0.95 the BET line has 5 points
    set_sparsity(page, -6, "131,232")
    page.locator(".st-key-start button").click()
    status(page, "completed", "0.85", timeout=150)
    nav(page, "Frontier")
    front = wait_traces(page, "chart-frontier", lambda t: any(name == "BET" and n == 5 for _, name, n in t))
    assert any(name == "BET" and n == 5 for _, name, n in front), front
    page.screenshot(path=str(SHOTS / "05_frontier.png"))


def test_two_sessions_one_cannot_stop_the_others_run(page: Page, server: str) -> None:
    """Session A starts a long search; session B (another browser context) sees it running but has
    no Stop, neither on the Live page nor in the sidebar; A stops it mid-search."""
    nav(page, "Live run")
    set_number(page, "iterations", 40)
    set_number(page, "finetune_steps", 400)
    page.locator(".st-key-start button").click()
    status(page, "running", "0.85")
    progress = page.locator(".st-key-run-progress").filter(has_text="search: iteration")
    expect(progress.first).to_be_visible(timeout=60_000)
    expect(page.locator(".st-key-stop_running button")).to_be_visible()
    run_id = page.evaluate("new URLSearchParams(location.search).get('run')")

    other = page.context.browser.new_context(viewport={"width": 1500, "height": 1400}).new_page()  # type: ignore[union-attr]
    other.goto(f"{server}/?run={run_id}")
    status(other, "running", "0.85")
    expect(other.get_by_text("Started in another session: you can watch it, not stop it.")).to_be_visible()
    expect(other.locator(".st-key-stop_run button")).to_have_count(0)
    expect(other.locator(".st-key-queue")).to_contain_text("1 of them started in other sessions")
    expect(other.locator(".st-key-stop_running button")).to_have_count(0)
    other.screenshot(path=str(SHOTS / "06_other_session.png"))
    other.context.close()

    page.locator(".st-key-stop_run button").first.click()
    status(page, "stopped", "0.85", timeout=30)
    expect(page.get_by_text(re.compile(r"stopped (while finetuning|before iteration)"))).to_be_visible()
    expect(page.locator(".st-key-run-status")).to_have_count(1, timeout=30_000)  # the rerun has finished
    expect(page.locator(".st-key-iterations input")).to_have_value("40")  # the session kept its settings
    expect(page.locator(".st-key-stop_running button")).to_have_count(0, timeout=10_000)  # the queue is live
    page.screenshot(path=str(SHOTS / "07_live_stopped.png"))

    for name, shot in (("Why this recall?", "08_why.png"), ("Runs & export", "09_runs.png")):
        nav(page, name)
        page.wait_for_timeout(3000)
        expect(page.locator("[data-testid=stException]")).to_have_count(0)
        page.screenshot(path=str(SHOTS / shot))
