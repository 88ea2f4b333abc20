"""Runs, the store and the server under hostile or careless use of the dashboard (issue 20),
through streamlit's AppTest and the runner: names from the store rendered as text (never a link,
an image or markup), query-string tricks, bad numbers in the environment, two sessions resuming one
run, a server stop mid-search, the candidate pool's memory checked before Start, and the server's
folders never named on screen."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
from apptest_helpers import TIMEOUT, app, home, no_exceptions, on_screen, page_live, page_script, texts
from dashboard_helpers import ROOT, tiny_config
from streamlit.testing.v1 import AppTest

from bet.errors import StoreError
from bet.store import RunStore

__all__ = ["home"]  # a fixture used by name


def test_names_and_errors_from_the_store_render_as_text(home: Path) -> None:
    """A run recorded by another tool on a file named like markdown, with an error quoting it: the
    pages show the characters, never a link, an image (a request to another host) or a formula."""
    evil = "![x](http://evil.example/a.png)"
    store = RunStore(home / "bet.sqlite")
    rid = store.create_run(kind="search", method="bet", dataset=evil, backbone="lightgcn", sparsity=0.9, seed=0,
                           config=tiny_config().to_dict(), iterations=2)  # fmt: skip
    store.update_run(rid, status="failed", phase="failed", error=f"DataError: line 2: user id '{evil} $x^2$'")
    at = app().run()
    no_exceptions(at)
    for text in texts(at, "subheader", "caption", "error", "warning", "markdown"):
        assert "](" not in text.replace("\\]\\(", ""), text  # every ! [ ] ( ) escaped
        assert "$x" not in text.replace("\\$x", ""), text
    assert any("\\!\\[x\\]" in t for t in texts(at, "subheader"))


def test_the_frontier_hover_shows_names_as_text(home: Path) -> None:
    from dashboard_helpers import fill_store

    from bet.data import load_dataset
    from dashboard import frontier_chart, queries

    store = RunStore(home / "bet.sqlite")
    fill_store(store, load_dataset("gowalla-mini"))
    evil = '<a href="http://evil.example">x</a>'
    rows = [dataclasses.replace(r, dataset=evil) for r in store.list_runs()]  # as recorded by another tool
    fig = frontier_chart.frontier_figure(queries.frontier_points(rows, "recall@20"))
    hovers = " ".join(str(t.hovertext) for t in fig.data)
    assert "&lt;a href" in hovers and "<a href" not in hovers, hovers


@pytest.mark.parametrize("run", ["<img src=x onerror=alert(1)>", "../../etc/passwd", "x" * 5000, "' OR 1=1 --"])
def test_query_string_tricks_select_no_run_and_break_nothing(home: Path, run: str) -> None:
    from dashboard_helpers import add_run

    from bet.data import load_dataset

    rid = add_run(RunStore(home / "bet.sqlite"), load_dataset("gowalla-mini"), valid=0.2, test=0.2, created_at=1e9)
    for name in ("live", "runs", "compare", "frontier"):
        at = AppTest.from_function(page_script, args=(str(ROOT), name), default_timeout=TIMEOUT)
        at.query_params["run"] = run
        at.run()
        no_exceptions(at)
        assert run not in on_screen(at)
    assert rid in on_screen(page_live(rid))


def test_bad_numbers_in_the_dashboards_environment_fall_back_to_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import datasets, env, housekeeping, runner

    for name, value in (("BET_DASHBOARD_DATASETS", "four"), ("BET_DASHBOARD_WORKERS", "-3"),
                        ("BET_UPLOAD_DAYS", "nan"), ("BET_DASHBOARD_POLL", "1e999")):  # fmt: skip
        monkeypatch.setenv(name, value)
    assert datasets.default_limit() == 4 and runner.default_workers() == 1 and housekeeping.upload_days() == 7
    assert env.number("BET_DASHBOARD_POLL", 1.5, low=0.1, high=3600) == 1.5
    monkeypatch.setenv("BET_DASHBOARD_WORKERS", "2")
    assert runner.default_workers() == 2


def test_the_candidate_pool_is_checked_against_memory_before_start(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """10,000 candidates of gowalla-mini's 6,835 rows: two pools of ~5.5 GB; training alone ~28 MB."""
    monkeypatch.setenv("BET_MEMORY_MB", "2000")
    at = app().run()
    no_exceptions(at)
    assert not at.button(key="start").disabled
    at.number_input(key="candidates").set_value(10000).run()
    errors = texts(at, "error")
    assert any("Too big for this server" in e and "candidate pools" in e and "m = 10,000" in e for e in errors), errors
    assert at.button(key="start").disabled
    at.number_input(key="candidates").set_value(100).run()
    assert not texts(at, "error") and not at.button(key="start").disabled


def test_two_sessions_resuming_one_run_queue_it_once(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both press Resume at once (the engine's claim is slowed here so the two overlap): the run is
    queued once and the other session is told it is taken."""
    import threading

    from bet import runs as runs_mod  # the dashboard resumes through bet.runs.prepare_resume
    from dashboard.runner import Runner

    real = runs_mod.resume_job

    def slow(store: RunStore, run_id: str):  # type: ignore[no-untyped-def]
        job = real(store, run_id)
        time.sleep(0.5)
        return job

    monkeypatch.setattr(runs_mod, "resume_job", slow)
    store = RunStore(home / "bet.sqlite")
    run = Runner(store, processes=False)
    try:
        run.submit([tiny_config()])  # occupies the one worker for a few seconds
        rid = store.create_run(kind="search", method="bet", dataset="gowalla-mini", backbone="lightgcn",
                               sparsity=0.9, seed=0, config=tiny_config().to_dict(), iterations=2)  # fmt: skip
        store.update_run(rid, status="stopped", phase="stopped")
        outcomes: list[str] = []

        def press() -> None:  # single-user mode: every session may resume every run
            try:
                outcomes.append(run.resume(rid))
            except StoreError as exc:
                outcomes.append(str(exc))

        threads = [threading.Thread(target=press) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        refused = [o for o in outcomes if o != rid]
        assert outcomes.count(rid) == 1 and len(refused) == 1 and "already" in refused[0], outcomes
        assert run.queued().count(rid) == 1
    finally:
        run.shutdown()


@pytest.mark.parametrize("processes", [False, True], ids=["in-thread", "worker-process"])
def test_a_server_stop_interrupts_the_running_search_and_starts_nothing(home: Path, processes: bool) -> None:
    """What the server does at exit (``atexit``: :meth:`Runner.interrupt_all`), in both run modes;
    tests/test_browser_hostile.py SIGTERMs a real server."""
    from dashboard.runner import Runner

    store = RunStore(home / "bet.sqlite")
    run = Runner(store, processes=processes)
    first, second = run.submit([tiny_config(iterations=50), tiny_config(seed=1)])
    deadline = time.monotonic() + 120
    while not store.actions(first):  # the search has evaluated an action
        assert time.monotonic() < deadline, store.get_run(first)
        time.sleep(0.2)
    assert sorted(run.interrupt_all()) == sorted([first, second])
    time.sleep(1.0)  # nothing that ran on may overwrite it
    got = {r.run_id: r for r in store.list_runs()}
    assert got[first].status == "interrupted" and "server stopped" in got[first].error, got[first]
    assert got[second].status == "interrupted" and got[second].started_at is None, got[second]
    assert run.idle() and run.interrupt_all() == []
    with pytest.raises(RuntimeError):
        run.submit([tiny_config()])  # nothing new starts


def test_messages_name_the_servers_bet_home_as_bet_home(home: Path) -> None:
    from dashboard import settings

    home.mkdir(parents=True, exist_ok=True)
    text = settings.redact(f"no run 'x' in {home}/bet.sqlite; cache {home}/models/ab.pt")
    assert text == "no run 'x' in $BET_HOME/bet.sqlite; cache $BET_HOME/models/ab.pt", text
    at = page_live("no-such-run")  # the store has no runs: the welcome page, no path anywhere
    no_exceptions(at)
    assert str(home) not in on_screen(at)
