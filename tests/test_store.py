"""The SQLite run store: round trips, concurrency, dead writers, migrations, bad files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from bet.budget import Action
from bet.errors import StoreError
from bet.store import RunStore, pack_sizes, unpack_sizes
from bet.store.schema import SCHEMA_VERSION, create_v1, current_version


def new_run(store: RunStore, **kw: object) -> str:
    args: dict = dict(
        kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0, config={"a": 1}
    )
    args.update(kw)
    return store.create_run(**args)


def test_run_event_action_table_round_trip(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = new_run(store, budget=100)
    store.claim(rid)
    assert store.get_run(rid).status == "running"
    s1 = store.add_event(rid, "phase", {"phase": "search"})
    s2 = store.add_event(rid, "candidate_evaluated", {"iteration": 1, "fitness": 0.8})
    assert (s1, s2) == (1, 2)
    assert [e["kind"] for e in store.events(rid)] == ["phase", "candidate_evaluated"]
    assert [e["seq"] for e in store.events(rid, after=1)] == [2]
    assert store.events(rid, kinds=("phase",))[0]["phase"] == "search"
    action = Action.of(np.array([3, 1, 2]), np.array([128, 7]))
    store.add_action(
        rid, 1, action, iteration=1, strategy="greedy", predicted=0.5, fitness=0.7, metrics={"recall@20": 0.2}
    )
    back = store.action(rid, 1)
    assert np.array_equal(back.user_sizes, action.user_sizes) and np.array_equal(back.item_sizes, action.item_sizes)
    row = store.actions(rid)[0]
    assert (row["cost"], row["strategy"], row["metrics"]["recall@20"]) == (141, "greedy", 0.2)
    store.add_table(rid, 1, cost=141, data=b"npzbytes")
    assert store.table(rid) == b"npzbytes"
    store.update_run(rid, status="completed", result={"test": {"recall@20": 0.3}})
    assert store.get_run(rid).result["test"]["recall@20"] == 0.3
    assert [r.run_id for r in store.list_runs(method="bet")] == [rid]
    assert store.list_runs(method="su") == []
    with pytest.raises(StoreError, match="no run"):
        store.get_run("nope")


def test_sizes_are_compressed_and_exact() -> None:
    sizes = np.repeat(np.arange(1, 129, dtype=np.int16), 500)
    dtype, blob = pack_sizes(sizes)
    assert dtype == "uint8" and len(blob) < sizes.nbytes / 20
    assert np.array_equal(unpack_sizes(dtype, blob), sizes)
    big = np.array([1, 300], dtype=np.int16)
    assert np.array_equal(unpack_sizes(*pack_sizes(big)), big)


def test_readers_follow_a_writer_in_another_thread(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    writer = RunStore(path)
    rid = new_run(writer)
    seen: list[int] = []
    reading, done = threading.Event(), threading.Event()

    def read() -> None:
        reader = RunStore(path)
        while not done.is_set():
            seen.append(len(reader.events(rid)))
            reading.set()
            time.sleep(0.001)
        seen.append(len(reader.events(rid)))  # after the writer finished

    t = threading.Thread(target=read)
    t.start()
    assert reading.wait(30), "the reader never read"  # a loaded machine may start it late
    for i in range(200):
        writer.add_event(rid, "phase", {"i": i})
    done.set()
    t.join()
    assert seen == sorted(seen) and seen[0] == 0 and seen[-1] == 200  # monotone: never a half-written state


def test_dead_writer_is_reported_interrupted(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = new_run(store)
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(proc.stdout)
    store.claim(rid)
    store.update_run(rid, pid=dead_pid)
    run = store.get_run(rid)
    assert run.status == "interrupted" and "stopped without finishing" in run.error
    store.update_run(rid, pid=None, heartbeat=time.time())
    store.update_run(rid, pid=__import__("os").getpid())
    assert store.get_run(rid).status == "running"  # this process is alive


def test_old_schema_is_migrated_without_loss(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    create_v1(conn)
    conn.execute(
        "INSERT INTO runs (run_id, kind, method, dataset, backbone, sparsity, seed, config, status, created_at)"
        " VALUES ('r1', 'search', 'bet', 'd', 'lightgcn', 0.9, 0, '{}', 'completed', 1.0)"
    )
    conn.close()
    store = RunStore(path)
    assert current_version(store.conn) == SCHEMA_VERSION
    run = store.get_run("r1")
    assert run.status == "completed" and run.executor == "local" and run.workers == 1
    RunStore(path)  # opening again is a no-op


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    RunStore(path).conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(StoreError, match="newer BET Studio"):
        RunStore(path)


def test_corrupt_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a usable"):
        RunStore(path)
    assert path.read_bytes() == before


def test_locked_store_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = RunStore(path, timeout=0.2)
    rid = new_run(store)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="lock"):
            store.add_event(rid, "phase", {})
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.add_event(rid, "phase", {})  # works again once released


def test_status_filter_uses_the_reported_status(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = new_run(store)
    store.update_run(rid, status="running", pid=2**22 + 12345)  # no such process
    assert [r.run_id for r in store.list_runs(status="interrupted")] == [rid]
    assert store.list_runs(status="running") == []


def test_stop_request_reaches_a_running_search(tmp_path: Path, mini) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    from bet.events import CandidateEvaluated, Event
    from bet.runs import run_search
    from tests.search_helpers import TINY

    path = tmp_path / "s.sqlite"
    other = RunStore(path)  # e.g. the dashboard in another process

    def on_event(ev: Event) -> None:
        if isinstance(ev, CandidateEvaluated) and ev.iteration == 1:
            other.request_stop(other.list_runs()[0].run_id)

    run = run_search(dataclasses.replace(TINY, finetune_steps=20), RunStore(path), data=mini, on_event=on_event)
    assert run.status == "stopped" and 1 <= len(other.actions(run.run_id)) <= 2
