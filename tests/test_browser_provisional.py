"""Anytime answers in a real browser (issue 21 §2): ``streamlit run dashboard/app.py`` in headless
Debian Chromium over a store that holds a BET search still running (written through the store's
API, deterministic: nothing trains). The Frontier page and the story band show its best candidate so
far as a hollow, separately labelled point ("finetuned, not yet retrained"), the story sentence says
BET has no result yet, and when the run completes its real point replaces the provisional one.
Screenshots go to tests/screenshots/ (gitignored).

Skipped only where /usr/bin/chromium is missing and ``CI`` is not ``true``; on CI it must run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import ROOT, dashboard, launch, nav, require_chromium, wait_traces
from dashboard_helpers import add_run, fill_store, metrics, running_search

from bet.budget import budget_for
from bet.data import load_dataset
from bet.store import RunStore

SHOTS = ROOT / "tests" / "screenshots"
LABEL = "finetuned, not yet retrained"
#: Each trace of a chart: [name, number of points, marker symbol].
SYMBOLS_JS = "el => (el._fullData || []).map(t => [t.name, (t.x && t.x.length) || 0, t.marker && t.marker.symbol])"

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.timeout(300)]

require_chromium()

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bet-home-provisional")


@pytest.fixture(scope="module")
def runs(home: Path) -> dict[str, str]:
    """Completed runs at 0.9 (fill_store), and a batch at 0.95: the full model and SU completed,
    BET still searching with three evaluated candidates (the fittest: validation recall@20 0.205)."""
    store = RunStore(home / "bet.sqlite")
    data = load_dataset("gowalla-mini")
    ids = fill_store(store, data)
    now = time.time()
    add_run(store, data, "full", valid=0.24, test=0.25, created_at=now - 60, comparison_id="batch-1")
    add_run(store, data, "su", valid=0.18, test=0.19, created_at=now - 50, comparison_id="batch-1", sparsity=0.95)
    ids["running"] = running_search(store, data, 0.95, comparison_id="batch-1")
    return ids


@pytest.fixture(scope="module")
def page(home: Path, runs: dict[str, str]) -> Iterator[Page]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with dashboard(home) as url, sync_playwright() as p:
        browser = launch(p)
        pg = browser.new_page(viewport={"width": 1500, "height": 1600})
        pg.set_default_timeout(60_000)
        pg.goto(f"{url}/?run={runs['running']}")
        yield pg
        browser.close()


def test_story_says_bet_has_no_result_yet_and_draws_the_provisional_point(page: Page) -> None:
    story = page.locator(".st-key-story").filter(has_text="BET has no result yet")
    expect(story.first).to_be_visible(timeout=120_000)
    text = story.first.inner_text()
    assert "At 5% of the parameters uniform sizes keep 76% of the full model's recall@20" in text, text
    assert f"its best candidate so far is {LABEL} (validation recall@20 0.2050 on a fixed half" in text, text
    assert "BET keeps" not in text
    got = wait_traces(page, "chart-story-frontier", lambda t: any(LABEL in (n or "") for n, *_ in t), 60, SYMBOLS_JS)
    assert [s for n, _, s in got if LABEL in (n or "")] == ["circle-open"], got
    page.screenshot(path=str(SHOTS / "20_story_provisional.png"))


def test_frontier_shows_the_provisional_point_until_the_run_completes(page: Page, home: Path, runs: dict) -> None:
    nav(page, "Frontier")
    chart = page.locator(".st-key-chart-frontier")
    expect(chart.first).to_contain_text(f"BET: {LABEL} (validation)", timeout=60_000)  # its legend entry
    expect(page.locator(".st-key-frontier-provisional").first).to_contain_text("Hollow points")
    got = wait_traces(page, "chart-frontier", lambda t: any(LABEL in (n or "") for n, *_ in t), 60, SYMBOLS_JS)
    assert [(k, s) for n, k, s in got if LABEL in (n or "")] == [(1, "circle-open")], got
    page.screenshot(path=str(SHOTS / "21_frontier_provisional.png"))

    # the run completes: its retrained point joins the BET line (0.9 and 0.95), the provisional one goes
    store = RunStore(home / "bet.sqlite")
    budget = budget_for(0.95, n_rows=load_dataset("gowalla-mini").n_rows)
    store.update_run(runs["running"], status="completed", phase="done", finished_at=time.time(),
                     result={"valid": metrics(0.2), "test": metrics(0.21), "cost": budget, "best_action_id": 2,
                             "seconds": 60.0})  # fmt: skip
    got = wait_traces(page, "chart-frontier", lambda t: not any(LABEL in (n or "") for n, *_ in t), 60, SYMBOLS_JS)
    assert ["BET", 2, "circle"] in got, got
    expect(chart.first).not_to_contain_text(LABEL)
    page.screenshot(path=str(SHOTS / "22_frontier_completed.png"))


def test_the_setup_defaults_to_fast_on_full_data_and_says_why(page: Page) -> None:
    readout = page.locator(".st-key-preset-readout")
    expect(readout).to_contain_text("Preset paper — the default up to 10,000 rows (gowalla-mini has 6,835)")
    page.locator(".st-key-dataset [role=combobox]").click()
    page.get_by_role("option", name="gowalla", exact=True).click()
    expect(readout).to_contain_text("Preset fast — the default above 10,000 rows (gowalla has 70,839)", timeout=60_000)
    page.get_by_text("Advanced settings (fast preset)").click()
    expect(page.locator(".st-key-iterations input")).to_have_value("20")
    expect(page.locator(".st-key-finetune_epochs input")).to_have_value("4")
    expect(page.locator(".st-key-preset [role=combobox]")).to_have_value("fast")
    page.screenshot(path=str(SHOTS / "23_setup_fast.png"))
