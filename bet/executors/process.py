"""The process executor: a queue of jobs and worker threads that execute them in the background,
each in a supervised worker process (:mod:`bet.executors.process_worker`); the dashboard submits
its runs here and watches the store.

The caller creates the runs' rows (status ``queued``, so every reader sees them) and submits their
jobs; worker threads execute them one after another (``workers=1`` by default: two trainings on 2
CPU cores are each far slower). Each thread supervises a worker process that executes the run and
writes its events into the store — readers learn everything from there, and polling it never
competes with the training loop for the caller's GIL (``processes=False``: the thread runs it
itself). Each run has its own ``threading.Event``: :meth:`ProcessExecutor.stop` ends a running
search within one training step (the engine then records it ``stopped``) and takes a queued run
out of the queue. Every change of a run's state goes through the store's methods.

The executor lives as long as its process (the dashboard's server). When that process stops,
:meth:`ProcessExecutor.interrupt_all` records its runs ``interrupted`` (resumable) and starts
nothing; the next executor of the same name adopts the queued runs an earlier process left
(:mod:`bet.executors.interrupted`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

from bet.data import Dataset
from bet.errors import ConfigError
from bet.executors import interrupted
from bet.executors.process_worker import Task, Worker, execute
from bet.runs import Job
from bet.status import ACTIVE, Status
from bet.store import Listener, RunRecord, RunStore

log = logging.getLogger(__name__)


class ProcessExecutor:
    """A queue of jobs and the worker threads that execute them (thread-safe). ``name`` is stored in
    the rows of the runs it executes (their creator's ``executor=``); ``adopt_orphans``: queued runs
    of that name an earlier process left become ``interrupted`` first."""

    def __init__(
        self,
        store: RunStore,
        *,
        name: str = "process",
        workers: int = 1,
        processes: bool = True,
        adopt_orphans: bool = True,
    ):
        if workers < 1:
            raise ConfigError("workers must be at least 1")
        self.store, self.name, self.workers = store, name, workers
        self._cond = threading.Condition()
        self._queue: deque[Task] = deque()
        self._active: dict[str, Task] = {}
        self._closed = False
        self._exiting = threading.Event()  # its process is stopping: runs end interrupted, none starts
        self.failures: dict[str, str] = {}  # run_id -> unexpected error (also recorded on the run)
        if adopt_orphans:  # queued runs of an earlier process: interrupted
            interrupted.adopt_orphans(self.store, self.name)
        self.processes = [Worker() if processes else None for _ in range(self.workers)]
        self._threads = [
            threading.Thread(target=self._work, args=(w,), name=f"bet-{name}-{i}", daemon=True)
            for i, w in enumerate(self.processes)
        ]
        for t in self._threads:
            t.start()

    # -- queueing --------------------------------------------------------------------------
    def submit(self, jobs: Sequence[Job], data: Dataset | None = None) -> list[str]:
        """Queue jobs whose runs are stored (status ``queued``), in order; ``data``: their loaded
        dataset (None: each job loads its own). Returns their run ids."""
        tasks = [Task(j, data) for j in jobs]
        with self._cond:
            if self._closed:
                raise RuntimeError("the runner is shut down")
            self._queue.extend(tasks)
            self._cond.notify_all()
        return [t.job.run_id for t in tasks]

    def run(
        self,
        store: RunStore,
        jobs: Sequence[Job],
        data: Dataset | None = None,
        *,
        on_event: Listener | None = None,
        stop: threading.Event | None = None,
    ) -> list[RunRecord]:
        """:class:`~bet.executors.Executor`'s call: queue ``jobs`` and wait until they ended
        (``stop`` set meanwhile stops them); returns their stored runs. Their events are written to
        the store by the worker processes, not passed to ``on_event``: read them there."""
        if on_event is not None:
            raise ConfigError("the process executor's runs write their events to the store: read them there")
        if store.path != self.store.path:
            raise ConfigError(f"this process executor records runs in {self.store.path}, not in {store.path}")
        ids = self.submit(jobs, data)
        stopped = False
        while not self.wait(ids, timeout=0.5):
            if stop is not None and stop.is_set() and not stopped:
                stopped = True
                for run_id in ids:
                    self.stop(run_id)
        return [self.store.get_run(r) for r in ids]

    # -- stopping --------------------------------------------------------------------------
    def stop(self, run_id: str) -> str:
        """Stop one run: a queued one leaves the queue (``stopped``), a running one ends within a
        training step. Returns what happened, for the page to show."""
        with self._cond:
            for task in list(self._queue):
                if task.job.run_id == run_id:
                    self._queue.remove(task)
                    self.store.finish(run_id, Status.STOPPED, error="stopped before it started")
                    return "removed from the queue"
            active = self._active.get(run_id)
        if active is not None:
            active.stop.set()
            return "stopping (within one training step)"
        run = self.store.get_run(run_id)
        if run.status in ACTIVE:
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
        """Its process is stopping (the dashboard registers this with ``atexit``): start nothing
        more, end the running runs at once and record them and the queued ones ``interrupted`` —
        resumable, and listed as such after a restart. Returns their ids."""
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
        return interrupted.record_interrupted(
            self.store, running=[t.job.run_id for t in active], queued=queued, executor=self.name
        )

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
                execute(self.store, task, worker, exiting=self._exiting)
            except Exception as exc:  # noqa: BLE001 — record() already stored it on the run as failed
                self.failures[task.job.run_id] = f"{type(exc).__name__}: {exc}"
                log.warning("run %s failed: %s", task.job.run_id, exc)
            finally:
                with self._cond:
                    self._active.pop(task.job.run_id, None)
                    self._cond.notify_all()
