"""The dashboard in a real browser against hostile conditions (issue 20): a page that makes no
request outside the server's own origin (no fonts, icons, CDNs or telemetry from elsewhere), on
every page with charts drawn; and a server stopped (SIGTERM to its process group, as Ctrl-C on
``make run`` or a service manager does) while a search runs: the search is recorded
``interrupted`` (resumable), the queued runs never start, and after a restart the Live page says
which runs can be resumed.

Skipped only where /usr/bin/chromium is missing and ``CI`` is not ``true``; on CI it must run.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from browser_helpers import dashboard, launch, nav, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser"), pytest.mark.timeout(600)]

require_chromium()

from playwright.sync_api import expect, sync_playwright  # noqa: E402

PAGES = ("Frontier", "Backbones", "Why this recall?", "Runs & export", "Live run")
LOCAL_SCHEMES = ("data", "blob", "about")


def outside(urls: list[str], origin: str) -> list[str]:
    """The requests that went anywhere but ``origin`` (data:, blob: and about: stay in the page)."""
    own = urlsplit(origin)
    return [u for u in urls if urlsplit(u).scheme not in LOCAL_SCHEMES and urlsplit(u)[:2] != own[:2]]


def statuses(home: Path) -> dict[str, tuple[str, float | None, str | None]]:
    """Each run's status as stored (not as reported for a dead writer), start time and error."""
    with sqlite3.connect(home / "bet.sqlite") as db:
        rows = db.execute("SELECT run_id, status, started_at, error FROM runs ORDER BY created_at").fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_no_page_requests_anything_outside_the_server(tmp_path: Path) -> None:
    with dashboard(tmp_path, BET_DEMO="smoke") as url, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.set_default_timeout(60_000)
        urls: list[str] = []
        failed: list[str] = []
        page.on("request", lambda r: urls.append(r.url))
        page.on("requestfailed", lambda r: failed.append(r.url))
        page.goto(url)
        page.locator(".st-key-demo button").click()  # the demo's runs: every chart gets data
        story = page.locator(".st-key-story").filter(has_text="14 of 14 runs of this batch completed")
        expect(story.first).to_be_visible(timeout=400_000)
        for name in PAGES:
            nav(page, name)
            page.wait_for_timeout(3000)
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        icon = page.evaluate("() => [...document.querySelectorAll('link[rel~=icon]')].map(l => l.href)")
        browser.close()
    assert len(urls) > 20 and any("/_stcore/" in u for u in urls), urls
    assert icon and not outside(icon, url), icon
    assert not outside(urls, url), sorted(set(outside(urls, url)))
    assert not outside(failed, url), failed


def test_a_server_stop_records_the_run_interrupted_and_starts_nothing(tmp_path: Path) -> None:
    """The full-size demo (a 12-iteration search first, then 10 queued runs): SIGTERM mid-search."""
    with dashboard(tmp_path) as url, sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(url)
        page.locator(".st-key-demo button").click()
        deadline = time.monotonic() + 240
        while True:  # until the search has evaluated an action (so there is something to resume)
            with sqlite3.connect(tmp_path / "bet.sqlite") as db:
                n = db.execute("SELECT COUNT(*) FROM actions").fetchone()[0]
            if n >= 1:
                break
            assert time.monotonic() < deadline, statuses(tmp_path)
            time.sleep(0.5)
        before = statuses(tmp_path)
        browser.close()
    # the context stopped the server: SIGTERM to its process group, as Ctrl-C or systemd would
    runs = statuses(tmp_path)
    search, *rest = runs
    assert before[search][0] == "running" and len(rest) >= 5, before
    assert runs[search][0] == "interrupted" and "server stopped" in (runs[search][2] or ""), runs[search]
    assert all(runs[r][1] is None for r in rest), runs  # nothing queued started during the stop
    assert all(runs[r][0] in ("interrupted", "queued") for r in rest), runs
    assert "failed" not in {s for s, _, _ in runs.values()}, runs
    with dashboard(tmp_path) as url, sync_playwright() as p:  # a restart says what it can resume
        browser = launch(p)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{url}/?run={search}")
        notice = page.locator(".st-key-resumable")
        expect(notice).to_contain_text(search, timeout=120_000)
        expect(notice).to_contain_text("Resume")
        page.locator(".st-key-resume_run button").first.click()
        resumed = page.locator(".st-key-run-status").filter(has_text=re.compile("Status: (running|completed)")).first
        expect(resumed).to_be_visible(timeout=60_000)  # resumed from its stored actions
        browser.close()
    assert statuses(tmp_path)[search][0] != "failed"
