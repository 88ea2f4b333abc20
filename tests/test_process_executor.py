"""The process executor without the dashboard: an :class:`~bet.executors.Executor` like the local
one (same jobs, same numbers), whose runs change state only through the store's methods — a
queued run stopped, the runs left when its process stops, queued runs an earlier process left."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_helpers import tiny_config

from bet.data import Dataset
from bet.errors import ConfigError
from bet.executors import LocalExecutor
from bet.executors.process import ProcessExecutor
from bet.frontier import run_frontier
from bet.runs import create_jobs
from bet.store import RunStore


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A BET_HOME of the test's own, set before the executor starts its worker processes."""
    monkeypatch.setenv("BET_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def in_thread(tmp_path: Path, home: Path) -> Iterator[ProcessExecutor]:
    ex = ProcessExecutor(RunStore(tmp_path / "bet.sqlite"), processes=False)
    yield ex
    ex.shutdown(timeout=60)


def results(store: RunStore, rows: list[dict[str, object]]) -> dict[tuple[object, object], object]:
    """What must not depend on where a run executed: its result and its evaluated actions."""
    return {
        (r["method"], r["sparsity"]): (
            r["status"],
            r["budget"],
            r["cost"],
            r["test"],
            r["valid"],
            [(a["iteration"], a["cost"], a["fitness"], a["predicted"]) for a in store.actions(str(r["run_id"]))],
        )
        for r in rows
    }


def test_it_runs_jobs_in_worker_processes_with_the_local_executors_numbers(
    tmp_path: Path, mini: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = tiny_config(iterations=1)
    monkeypatch.setenv("BET_HOME", str(tmp_path / "local"))
    local = RunStore(tmp_path / "local.sqlite")
    expected = results(
        local, run_frontier(local, mini, base, sparsities=[0.9], methods=["bet", "su", "pop"], executor=LocalExecutor())
    )
    monkeypatch.setenv("BET_HOME", str(tmp_path / "process"))  # nothing cached is shared
    store = RunStore(tmp_path / "process.sqlite")
    ex = ProcessExecutor(store)
    try:
        rows = run_frontier(store, mini, base, sparsities=[0.9], methods=["bet", "su", "pop"], executor=ex)
        assert ex.processes[0] is not None and ex.processes[0].alive()  # they ran in its worker process
    finally:
        ex.shutdown(timeout=60)
    assert {r["status"] for r in rows} == {"completed"}
    assert {r.executor for r in store.list_runs()} == {"process"}
    assert results(store, rows) == expected


def test_it_refuses_a_listener_and_another_store(in_thread: ProcessExecutor, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="read them there"):
        in_thread.run(in_thread.store, [], on_event=lambda ev: None)
    with pytest.raises(ConfigError, match="records runs in"):
        in_thread.run(RunStore(tmp_path / "other.sqlite"), [])
    with pytest.raises(ConfigError, match="at least 1"):
        ProcessExecutor(in_thread.store, workers=0)


def test_stopping_a_queued_run_and_the_exit_record_them_through_the_store(
    in_thread: ProcessExecutor, mini: Dataset
) -> None:
    store = in_thread.store
    cfgs = [tiny_config(iterations=50), tiny_config(seed=1), tiny_config(seed=2)]
    jobs = create_jobs(store, cfgs, mini, executor="process")
    first, second, third = in_thread.submit(jobs, mini)
    deadline = time.monotonic() + 120
    while store.get_run(first).status != "running":
        assert time.monotonic() < deadline, store.get_run(first)
        time.sleep(0.1)
    assert in_thread.queued() == [second, third] and in_thread.position(third) == 2
    assert in_thread.stop(third) == "removed from the queue"
    run = store.get_run(third)
    assert (run.status, run.phase, run.error) == ("stopped", "stopped", "stopped before it started")
    assert run.finished_at is not None and not store.events(third)
    assert sorted(in_thread.interrupt_all()) == sorted([first, second])
    got = {r.run_id: r for r in store.list_runs()}
    assert got[first].status == "interrupted" and got[first].phase == "interrupted"
    assert got[first].error.startswith("the process server stopped during this run: resume it")
    assert got[second].error == "the process server stopped before this queued run started"
    assert in_thread.idle() and in_thread.interrupt_all() == []


def test_queued_runs_an_earlier_process_left_become_interrupted(tmp_path: Path, home: Path) -> None:
    store = RunStore(tmp_path / "bet.sqlite")
    cfg = tiny_config(iterations=1).to_dict()
    common = {"kind": "search", "method": "bet", "dataset": "gowalla-mini", "backbone": "lightgcn", "sparsity": 0.9}
    common |= {"seed": 0, "config": cfg, "budget": 87488}
    mine, other = store.create_run(**common, executor="process"), store.create_run(**common, executor="dashboard")
    for rid in (mine, other):
        store.update_run(rid, created_at=1.0)  # queued long before this process started
    ProcessExecutor(store, processes=False).shutdown()
    assert store.get_run(mine).status == "interrupted"
    assert store.get_run(mine).error == "the process stopped before this queued run started"
    assert store.get_run(other).status == "queued"  # another executor's: left alone
