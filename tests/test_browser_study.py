"""The recorded full-Gowalla study in a real browser (issue 23 §4): on an empty live store the Live
page offers it beside the one-click demo; one click opens it — the banner says where and when it
ran, the story sentence and the story's frontier are there at once, the Frontier page reads it —
and one click returns to the live store. It reads the study shipped in assets/studies/ (the file a
stakeholder opens). Screenshots go to tests/screenshots/ (gitignored): look at them.

Skipped where /usr/bin/chromium is missing (not under ``CI=true``) or no study is shipped yet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import ROOT, chromium_page, dashboard, nav, require_chromium, wait_traces

SHOTS = ROOT / "tests" / "screenshots"
#: The shipped study (``BET_STUDIES_DIR``: a folder holding another ``gowalla-full`` study, to try the test).
STUDIES = Path(os.environ.get("BET_STUDIES_DIR") or ROOT / "assets" / "studies")
STUDY = STUDIES / "gowalla-full.sqlite"

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.timeout(300)]

require_chromium()
if not STUDY.exists():
    pytest.skip("no shipped study yet (python bench/make_study.py builds it)", allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


@pytest.fixture(autouse=True)
def patient() -> Iterator[None]:
    """Expectations wait up to a minute here (the first page load and the study's charts, on 2 busy
    cores), then playwright's default again for the other browser tests."""
    expect.set_options(timeout=60_000)
    yield
    expect.set_options(timeout=5_000)


def test_recorded_study_opens_in_one_click_beside_the_demo(tmp_path: Path) -> None:
    manifest = json.loads(STUDY.with_suffix(".json").read_text())
    SHOTS.mkdir(parents=True, exist_ok=True)
    with (
        dashboard(tmp_path, BET_STUDIES_DIR=str(STUDIES)) as url,
        sync_playwright() as p,
        chromium_page(p, height=1500) as page,
    ):
        page.goto(url)
        entry = page.locator(".st-key-study-entry")
        expect(entry).to_contain_text(manifest["title"])
        expect(page.locator(".st-key-welcome")).to_contain_text("One-click demo")  # the live demo beside it
        page.screenshot(path=str(SHOTS / "40_study_entry.png"), full_page=True)

        page.locator(f".st-key-study-open-{STUDY.stem} button").click()  # one of the shipped studies
        banner = page.locator(".st-key-study-banner")
        expect(banner).to_contain_text("read-only")
        expect(banner).to_contain_text(manifest["ran_from"])
        expect(page.locator(".st-key-story")).to_contain_text("BET keeps")
        wait_traces(page, "chart-story-frontier", lambda t: sum(n for *_, n in t) >= 2, timeout=60)
        expect(page.locator(".st-key-chart-rankings")).to_be_visible()  # the predictor's rankings
        expect(page.locator(".st-key-chart-sizes")).to_be_visible()  # the size histograms
        expect(page.get_by_role("button", name="Start search")).to_be_disabled()
        page.wait_for_timeout(1500)  # let the charts finish drawing
        page.screenshot(path=str(SHOTS / "41_study_live.png"), full_page=True)

        nav(page, "Frontier")
        expect(page.locator(".st-key-study-banner")).to_contain_text("read-only")
        wait_traces(page, "chart-frontier", lambda t: sum(n for *_, n in t) >= 2, timeout=60)
        alerts = page.get_by_test_id("stAlert").filter(has_text="A recorded study is open: it is read-only")
        expect(alerts).to_have_count(1)  # no sweep from a study: the reason instead
        page.wait_for_timeout(1000)
        page.screenshot(path=str(SHOTS / "42_study_frontier.png"), full_page=True)

        page.locator(".st-key-study-banner").get_by_role("button", name="Back to the live store").click()
        expect(page.locator(".st-key-study-banner")).to_have_count(0)
        nav(page, "Live run")
        expect(page.locator(".st-key-welcome")).to_contain_text("One-click demo")
        expect(page.get_by_role("button", name="Start search")).to_be_enabled()
