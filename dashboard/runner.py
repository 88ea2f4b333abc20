"""Background runs for the dashboard: a queue and worker threads on the shared engine (no streamlit).

The page submits runs; :class:`Runner` creates their rows in the store at once (status
``queued``, so every tab sees them), then worker threads execute them one after another
(``workers=1`` by default: two trainings on 2 CPU cores are each far slower). Each thread
supervises a worker process (:mod:`dashboard.worker`) that executes the run and writes its events
into the store — pages learn everything from there, and polling them never competes with the
training loop for the server's GIL (``BET_DASHBOARD_PROCESSES=0``: the thread runs it itself). Each
run has its own ``threading.Event``: Stop ends a running search within one training step (the
engine then records it ``stopped``) and takes a queued run out of the queue.

Runs belong to the session that submitted them (``owner``): :meth:`Runner.may_control` says who may
stop or resume one; ``owner=None`` (single-user mode, or a run started elsewhere) lets anyone.

The runner lives as long as the server process (``st.cache_resource``): closing a tab stops
nothing. When the server stops, :meth:`Runner.interrupt_all` records its runs ``interrupted``
(resumable) and starts nothing; after a restart the Live page lists them (:mod:`.housekeeping`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

from bet import Dataset, DataSpec, RunStore
from dashboard import env, housekeeping
from dashboard.datasets import DatasetCache
from dashboard.submitting import EXECUTOR, NOT_YOURS, Submitting
from dashboard.uploads import uploads_dir
from dashboard.worker import Task, Worker, default_processes, execute

log = logging.getLogger(__name__)


def default_workers() -> int:
    """``BET_DASHBOARD_WORKERS`` (default 1: CPU runs go one after another)."""
    return env.integer("BET_DASHBOARD_WORKERS", 1, 1, 64)


class Runner(Submitting):
    """A queue of runs and the worker threads that execute them (thread-safe); its ``submit…`` and
    ``resume`` methods are in :mod:`dashboard.submitting`."""

    def __init__(
        self, store: RunStore, workers: int | None = None, adopt_orphans: bool = True, processes: bool | None = None
    ):
        self.store = store
        self.workers = workers or default_workers()
        self._cond = threading.Condition()
        self._queue: deque[Task] = deque()
        self._active: dict[str, Task] = {}
        self._owners: dict[str, str] = {}  # run_id -> the session that submitted (or resumed) it
        self.datasets = DatasetCache()
        self._closed = False
        self._exiting = threading.Event()  # the server is stopping: runs end interrupted, none starts
        self.failures: dict[str, str] = {}  # run_id -> unexpected error (also recorded on the run)
        if adopt_orphans:  # queued runs of an earlier server: interrupted; old uploads: deleted
            housekeeping.adopt_orphans(self.store, EXECUTOR)
            housekeeping.clean_unused_uploads(self.store, uploads_dir())
        use_processes = default_processes() if processes is None else processes
        self.processes = [Worker() if use_processes else None for _ in range(self.workers)]
        self._threads = [
            threading.Thread(target=self._work, args=(w,), name=f"bet-dashboard-{i}", daemon=True)
            for i, w in enumerate(self.processes)
        ]
        for t in self._threads:
            t.start()

    # -- data ------------------------------------------------------------------------------
    def dataset(self, spec: DataSpec) -> Dataset:
        """Load (once) and split a dataset; raises :class:`~bet.errors.DataError` for bad input."""
        return self.datasets.get(spec)

    # -- queueing (the submitting methods: dashboard.submitting) ------------------------------
    def _enqueue(self, tasks: Sequence[Task], owner: str | None = None) -> list[str]:
        with self._cond:
            if self._closed:
                raise RuntimeError("the runner is shut down")
            for t in tasks:
                if owner is not None:
                    self._owners[t.job.run_id] = owner
                else:
                    self._owners.pop(t.job.run_id, None)
            self._queue.extend(tasks)
            self._cond.notify_all()
        return [t.job.run_id for t in tasks]

    # -- who may control a run -------------------------------------------------------------
    def owner(self, run_id: str) -> str | None:
        with self._cond:
            return self._owners.get(run_id)

    def may_control(self, run_id: str, who: str | None) -> bool:
        """Whether ``who`` may stop or resume the run: its owner, anyone for a run without one (a
        run started elsewhere, or before a restart), everyone when ``who`` is None (single-user)."""
        owner = self.owner(run_id)
        return who is None or owner is None or owner == who

    def mine(self, run_ids: Sequence[str], who: str | None) -> list[str]:
        return [r for r in run_ids if self.may_control(r, who)]

    # -- stopping --------------------------------------------------------------------------
    def stop(self, run_id: str, by: str | None = None) -> str:
        """Stop one run: a queued one leaves the queue (``stopped``), a running one ends within a
        training step — unless ``by`` (a session) may not control it. Returns what happened, for
        the page to show."""
        if not self.may_control(run_id, by):
            return NOT_YOURS
        with self._cond:
            for task in list(self._queue):
                if task.job.run_id == run_id:
                    self._queue.remove(task)
                    self.store.update_run(
                        run_id,
                        status="stopped",
                        phase="stopped",
                        error="stopped before it started",
                        finished_at=time.time(),
                    )
                    return "removed from the queue"
            active = self._active.get(run_id)
        if active is not None:
            active.stop.set()
            return "stopping (within one training step)"
        run = self.store.get_run(run_id)
        if run.status in ("queued", "running"):
            self.store.request_stop(run_id)  # another process runs it: it checks at each heartbeat
            return "asked the process running it to stop it (within one training step)"
        return f"not running ({run.status})"

    def stop_all(self) -> None:
        for run_id in self.queued() + self.running():
            self.stop(run_id)

    # -- state -----------------------------------------------------------------------------
    def queued(self) -> list[str]:
        with self._cond:
            return [t.job.run_id for t in self._queue]

    def running(self) -> list[str]:
        with self._cond:
            return list(self._active)

    def stopping(self, run_id: str) -> bool:
        with self._cond:
            task = self._active.get(run_id)
            return task is not None and task.stop.is_set()

    def position(self, run_id: str) -> int | None:
        """1 for the next run to start, None when not queued here."""
        q = self.queued()
        return q.index(run_id) + 1 if run_id in q else None

    def idle(self) -> bool:
        with self._cond:
            return not self._queue and not self._active

    def wait(self, run_ids: Sequence[str] | None = None, timeout: float = 60.0) -> bool:
        """Block until the given runs (default: all) left the queue and finished; True if they did."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                pending = {t.job.run_id for t in self._queue} | set(self._active)
                if not (pending & set(run_ids) if run_ids is not None else pending):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop everything and join the workers (tests, server exit)."""
        with self._cond:
            self._closed = True
        self.stop_all()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)

    def interrupt_all(self, timeout: float = 10.0) -> list[str]:
        """The server is stopping (registered with ``atexit``): start nothing more, end the running
        runs at once and record them and the queued ones ``interrupted`` — resumable, and listed on
        the Live page after a restart. Returns their ids."""
        with self._cond:
            if self._exiting.is_set():
                return []
            self._exiting.set()
            self._closed = True
            queued = [t.job.run_id for t in self._queue]
            self._queue.clear()
            active = list(self._active.values())
            self._cond.notify_all()
        for task in active:
            task.stop.set()  # in-thread runs (no worker process) end within a training step
        for w in self.processes:
            if w is not None:
                w.kill()
        for t in self._threads:
            t.join(timeout)
        return housekeeping.record_interrupted(self.store, [t.job.run_id for t in active], queued)

    # -- workers ---------------------------------------------------------------------------
    def _work(self, worker: Worker | None) -> None:
        if worker is not None:
            worker.start()  # torch imports while nothing waits for it
        try:
            self._serve(worker)
        finally:
            if worker is not None:
                worker.close()

    def _serve(self, worker: Worker | None) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue or self._exiting.is_set():
                    return
                task = self._queue.popleft()
                self._active[task.job.run_id] = task
            try:
                execute(self.store, task, worker, self._exiting)
            except Exception as exc:  # noqa: BLE001 — record() already stored it on the run as failed
                self.failures[task.job.run_id] = f"{type(exc).__name__}: {exc}"
                log.warning("run %s failed: %s", task.job.run_id, exc)
            finally:
                with self._cond:
                    self._active.pop(task.job.run_id, None)
                    self._cond.notify_all()
