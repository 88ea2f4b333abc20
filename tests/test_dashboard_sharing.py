"""Several people, one server (no browser): runs belong to the session that started them, datasets
load under their own lock into a bounded cache, old unused uploads are deleted, a dead worker
process fails its run."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from dashboard_helpers import tiny_config

from bet.config import DataSpec
from bet.data import Dataset
from bet.store import RunStore
from dashboard import datasets, housekeeping
from dashboard.runner import NOT_YOURS, Runner


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    r = Runner(RunStore(tmp_path / "bet.sqlite"))
    yield r
    r.shutdown(timeout=60)


def wait_for(cond: object, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_session_cannot_stop_or_resume_another_sessions_run(runner: Runner) -> None:
    store = runner.store
    (a,) = runner.submit_search(tiny_config(iterations=50, finetune_steps=400), owner="alice")
    (b,) = runner.submit_search(tiny_config(), owner="alice")
    wait_for(lambda: store.get_run(a).status == "running")
    assert runner.stop(a, "bob") == NOT_YOURS and runner.stop(b, "bob") == NOT_YOURS
    assert runner.mine([a, b], "bob") == [] and runner.mine([a, b], "alice") == [a, b]
    assert runner.queued() == [b] and not runner.stopping(a)
    assert runner.stop(b, None).startswith("removed")  # single-user mode: anyone
    assert runner.stop(a, "alice").startswith("stopping")
    wait_for(lambda: store.get_run(a).status == "stopped")
    with pytest.raises(Exception, match="another session"):
        runner.resume(a, "bob")
    assert runner.resume(a, "alice") == a and runner.owner(a) == "alice"
    assert runner.stop(a, "alice") in ("removed from the queue", "stopping (within one training step)")


def test_a_killed_worker_process_fails_its_run_and_the_next_run_gets_a_new_one(runner: Runner) -> None:
    store = runner.store
    worker = runner.executor.processes[0]
    assert worker is not None
    (a,) = runner.submit_search(tiny_config(iterations=50, finetune_steps=400))
    wait_for(lambda: store.get_run(a).status == "running")
    first = worker.pid
    assert first is not None
    os.kill(first, 9)
    wait_for(lambda: store.get_run(a).status == "failed")
    assert "worker process died" in store.get_run(a).error
    (b,) = runner.submit_search(tiny_config())
    assert runner.wait([b], timeout=120) and store.get_run(b).status == "completed"
    assert worker.pid not in (None, first)


class SlowSpec(DataSpec):
    """A dataset whose load takes as long as the test says (and counts its loads)."""

    loads: ClassVar[dict[str, int]] = {}
    gates: ClassVar[dict[str, threading.Event]] = {}

    def load(self) -> Dataset:  # type: ignore[override]
        SlowSpec.loads[self.dataset] = SlowSpec.loads.get(self.dataset, 0) + 1
        SlowSpec.gates.setdefault(self.dataset, threading.Event()).wait(30)
        return self.dataset  # type: ignore[return-value]  # a stand-in: the cache never looks inside


def test_datasets_load_once_under_their_own_lock_and_the_cache_is_bounded() -> None:
    cache = datasets.DatasetCache(limit=2)
    slow, fast = SlowSpec("slow"), SlowSpec("fast")
    SlowSpec.gates["fast"] = threading.Event()
    SlowSpec.gates["fast"].set()
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get(slow))) for _ in range(3)]
    for t in threads:
        t.start()
    wait_for(lambda: SlowSpec.loads.get("slow") == 1)
    assert cache.get(fast) == "fast"  # not blocked by the slow file being read
    SlowSpec.gates["slow"].set()
    for t in threads:
        t.join(10)
    assert got == ["slow"] * 3 and SlowSpec.loads["slow"] == 1  # three sessions, one load
    SlowSpec.gates["third"] = SlowSpec.gates["fast"]
    cache.get(SlowSpec("third"))
    # fast was loaded first, slow after it: fast is the least recently used, and goes
    assert len(cache) == 2 and fast not in cache and slow in cache


def test_old_uploads_are_deleted_unless_a_run_still_needs_them(tmp_path: Path) -> None:
    old, used, fresh = (tmp_path / h for h in ("aaa", "bbb", "ccc"))
    for folder in (old, used, fresh):
        folder.mkdir()
        (folder / "u.data").write_text("1 2\n")
    week_ago = time.time() - 8 * 86400
    for folder in (old, used):
        os.utime(folder / "u.data", (week_ago, week_ago))
    gone = housekeeping.clean_uploads(tmp_path, [str(used / "u.data")], days=7)
    assert gone == [old] and not old.exists() and used.exists() and fresh.exists()
