"""Where independent runs execute: in this process (default), on a Ray cluster
(:mod:`bet.executors.ray_driver`, imported only when asked for), or in the background in worker
processes of this machine (:mod:`bet.executors.process`: a queue one submits to and watches through
the store — the dashboard's).

An executor takes jobs created by the driver (which owns the store), executes their event
streams, and has the driver record them. Jobs are independent: whole searches of a sweep or a
backbone comparison, and baseline runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from bet.data import Dataset
from bet.errors import BetError, ConfigError
from bet.events import Event
from bet.runs import Job, job_events, record
from bet.runtime import concurrent
from bet.store import Listener, RunRecord, RunStore

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str
    workers: int

    def run(
        self,
        store: RunStore,
        jobs: Sequence[Job],
        data: Dataset | None = None,
        *,
        on_event: Listener | None = None,
        stop: threading.Event | None = None,
    ) -> list[RunRecord]: ...


def _watching(events: Iterable[Event], shared: threading.Event | None, own: threading.Event) -> Iterator[Event]:
    """``events``, passing the executor-wide stop on to the job's own stop event (the producer
    checks it between training steps, so once per event is soon enough)."""
    for ev in events:
        if shared is not None and shared.is_set():
            own.set()
        yield ev


class LocalExecutor:
    """Runs jobs in this process: one after another, or on ``workers`` threads (torch and the
    sparse kernels release the GIL; each training uses one thread, so 2 workers fill 2 cores).
    A job that fails is recorded as failed and the others go on."""

    name = "local"

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise ConfigError("--workers must be at least 1")
        self.workers = workers

    def _one(
        self,
        store: RunStore,
        job: Job,
        data: Dataset | None,
        *,
        on_event: Listener | None,
        stop: threading.Event | None,
    ) -> RunRecord:
        own = threading.Event()  # this job's stop: set by the shared one or by a stop request
        if stop is not None and stop.is_set():
            own.set()
        try:
            return record(store, job, _watching(job_events(job, data, own), stop, own), on_event=on_event, stop=own)
        except (BetError, RuntimeError, ValueError, ArithmeticError):  # recorded on the run
            return store.get_run(job.run_id)

    def run(
        self,
        store: RunStore,
        jobs: Sequence[Job],
        data: Dataset | None = None,
        *,
        on_event: Listener | None = None,
        stop: threading.Event | None = None,
    ) -> list[RunRecord]:
        if self.workers == 1 or len(jobs) <= 1:
            return [self._one(store, j, data, on_event=on_event, stop=stop) for j in jobs]
        concurrent(+1)
        try:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="bet-job") as pool:
                futures = [pool.submit(self._one, store, j, data, on_event=on_event, stop=stop) for j in jobs]
                return [f.result() for f in futures]
        finally:
            concurrent(-1)


def make_executor(name: str = "local", workers: int | None = None, address: str | None = None) -> Executor:
    """``local`` (``workers`` threads, default 1) or ``ray`` (default: the cluster's size)."""
    if name == "local":
        return LocalExecutor(workers or 1)
    if name == "ray":
        from bet.executors.ray_driver import RayExecutor  # optional dependency: imported only here

        return RayExecutor(address=address, workers=workers)
    raise ConfigError(f"unknown executor {name!r}; choose {' or '.join(EXECUTORS)}")
