"""Runs on a Ray cluster: one remote task per job, its events streamed back to the driver.

The driver (this process) owns the run store and writes every event; the workers only compute.
What travels: the code (the ``bet`` package, as a Ray ``py_modules`` package, when this module
starts the connection), each distinct dataset once (``ray.put``; the tasks get its reference),
each job (config and, for a resumed search, its population), and back the job's events — a
streaming generator task yields them as they happen, so progress and the store are live.

A task whose worker process or node dies is resubmitted, up to ``max_retries`` times, and the
retry is counted on the run (``retries``): a search continues from the evaluated actions already
stored (the same search as an uninterrupted one, see :mod:`bet.search`), a baseline restarts.
Stopping (the ``stop`` event) cancels the outstanding tasks and records their runs as stopped.

Imported only for ``--executor ray``: nothing on the local path imports ray.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import ray
import ray.exceptions as rex

from bet.config import DataSpec, SearchConfig
from bet.data import Dataset
from bet.errors import BetError, ConfigError
from bet.events import Event, RunFinished
from bet.executors.ray_connection import RayConnection
from bet.executors.ray_tasks import (
    CANCEL_GRACE,
    LOST,
    WorkerLost,
    _client_mode,
    _job_task,
    _job_task_batch,
)
from bet.runs import Job, load_population, record
from bet.store import Listener, RunRecord, RunStore, Status

log = logging.getLogger(__name__)


class RayExecutor(RayConnection):
    """Executes jobs as Ray tasks, at most ``workers`` at a time (default: the cluster's GPUs if
    it has any, else its CPUs); the store stays here and only this process writes it.

    ``address``: None starts a private local Ray (``$RAY_ADDRESS`` wins when set), ``auto`` joins
    the cluster started on this machine, ``host:port`` its GCS, ``ray://host:port`` Ray Client.
    If this process already called ``ray.init``, that connection is used and left open.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, max_retries: int = 3):
        if workers is not None and workers < 1:
            raise ConfigError("--workers must be at least 1")
        if max_retries < 0:
            raise ConfigError("max_retries must be at least 0")
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.max_retries = max_retries
        self.poll = 0.5  # seconds between checks of the stop event while waiting for events
        self._workers = workers
        self._owns_connection = False
        self._gpus = 0
        self._abort = threading.Event()

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        store: RunStore,
        jobs: Sequence[Job],
        data: Dataset | None = None,
        *,
        on_event: Listener | None = None,
        stop: threading.Event | None = None,
    ) -> list[RunRecord]:
        """Execute ``jobs`` on the cluster; returns their stored runs, in job order. A job that
        fails is recorded as failed and the others go on."""
        if not jobs:
            return []
        try:
            self.connect()
        except ConfigError as exc:
            for job in jobs:  # never leave them queued
                with contextlib.suppress(BetError):
                    record(store, job, _raising(exc))
            raise
        self._abort.clear()
        try:
            refs = self._put_data(jobs, data)
            for job in jobs:
                store.update_run(job.run_id, executor=self.name, workers=self.workers)
            with ThreadPoolExecutor(min(self.workers, len(jobs)), thread_name_prefix="bet-ray") as pool:
                futures = [
                    pool.submit(self._one, store, j, refs[j.config.data], on_event=on_event, stop=stop) for j in jobs
                ]
                try:
                    return [f.result() for f in futures]
                except BaseException:  # Ctrl-C twice, or a bug: cancel what runs, then let it propagate
                    self._abort.set()
                    raise
        finally:
            self.close()

    def _put_data(self, jobs: Sequence[Job], data: Dataset | None) -> dict[DataSpec, Any]:
        """One object-store copy per distinct dataset (``data``, when given, serves every job),
        or the error that loading it raised."""
        if data is not None:
            ref = ray.put(data)
            return {j.config.data: ref for j in jobs}
        refs: dict[DataSpec, Any] = {}
        for spec in dict.fromkeys(j.config.data for j in jobs):
            try:
                refs[spec] = ray.put(spec.load())
            except BetError as exc:
                refs[spec] = exc
        return refs

    def _one(
        self, store: RunStore, job: Job, data_ref: Any, *, on_event: Listener | None, stop: threading.Event | None
    ) -> RunRecord:
        try:
            return record(store, job, self._events(store, job, data_ref, stop=stop), on_event=on_event)
        except (BetError, RuntimeError, ValueError, ArithmeticError, rex.RayError):  # recorded on the run
            return store.get_run(job.run_id)

    def _stopping(self, stop: threading.Event | None) -> bool:
        return self._abort.is_set() or (stop is not None and stop.is_set())

    def _events(self, store: RunStore, job: Job, data_ref: Any, *, stop: threading.Event | None) -> Iterator[Event]:
        """The job's events from its task; a lost worker resubmits it (resuming a search)."""
        if isinstance(data_ref, BaseException):
            raise data_ref
        attempt = 0
        while True:
            if self._stopping(stop):
                yield RunFinished(Status.STOPPED, "stopped before it started" if attempt == 0 else "stopped")
                return
            try:
                yield from self._stream(job, data_ref, stop)
                return
            except LOST as exc:
                if self._stopping(stop):
                    yield RunFinished(Status.STOPPED, "stopped (its Ray worker was lost)")
                    return
                attempt += 1
                why = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
                if attempt > self.max_retries:
                    times = f"{attempt} time{'s' if attempt > 1 else ''}"
                    raise WorkerLost(
                        f"gave up after {self.max_retries} retries: its Ray worker was lost {times} (last: {why})"
                    ) from None
                retries = int(store.get_run(job.run_id).retries or 0) + 1
                store.update_run(job.run_id, retries=retries)
                if isinstance(job.config, SearchConfig):
                    job = dataclasses.replace(job, population=load_population(store, job.run_id))
                    log.warning(
                        "%s: Ray worker lost (%s); retry %d resumes after %d evaluated actions",
                        job.run_id,
                        why,
                        attempt,
                        len(job.population),
                    )
                else:
                    job = dataclasses.replace(job, population=[])
                    log.warning("%s: Ray worker lost (%s); retry %d restarts it", job.run_id, why, attempt)

    def _options(self, job: Job) -> dict[str, Any]:
        opts: dict[str, Any] = {"name": f"{job.label} [{job.run_id}]"}
        if self._gpus and job.config.device != "cpu":
            opts["num_gpus"] = 1
        else:
            opts["num_cpus"] = 1
        return opts

    def _stream(self, job: Job, data_ref: Any, stop: threading.Event | None) -> Iterator[Event]:
        if _client_mode():
            yield from self._batch(job, data_ref, stop)
            return
        gen: Any = _job_task.options(**self._options(job)).remote(job, data_ref)  # an ObjectRefGenerator
        while True:
            if self._stopping(stop):
                yield from self._cancel(gen)
                return
            ready, _ = ray.wait([gen], timeout=self.poll)
            if not ready:
                continue
            try:
                ref = next(gen)
            except StopIteration:
                return
            ev = _get(ref)
            yield ev
            if isinstance(ev, RunFinished):  # its last event: whatever happens to the worker now, the run is done
                return

    def _batch(self, job: Job, data_ref: Any, stop: threading.Event | None) -> Iterator[Event]:
        ref = _job_task_batch.options(**self._options(job)).remote(job, data_ref)
        while not ray.wait([ref], timeout=self.poll)[0]:
            if self._stopping(stop):
                ray.cancel(ref, force=True)
                yield RunFinished(Status.STOPPED, "stopped: its Ray task was cancelled")
                return
        yield from _get(ref)

    def _cancel(self, gen: Any) -> Iterator[Event]:
        """Cancel a running task; record what it still sends (an evaluated action is worth keeping)
        until it stops, then the run is stopped."""
        ray.cancel(gen)
        deadline = time.monotonic() + CANCEL_GRACE
        while True:
            ready, _ = ray.wait([gen], timeout=max(0.0, deadline - time.monotonic()))
            if not ready:  # it ignores the interrupt: kill its process
                ray.cancel(gen, force=True)
                break
            try:
                ev = _get(next(gen))
            except StopIteration:
                break
            except (BetError, rex.RayError):  # the cancellation itself, or a failure: either way it stopped
                break
            yield ev
            if isinstance(ev, RunFinished):
                return
        yield RunFinished(Status.STOPPED, "stopped: its Ray task was cancelled")


def _get(ref: Any) -> Any:
    """``ray.get`` with a job's own user error (a :class:`BetError`) unwrapped, so the run records
    its one-line message."""
    try:
        return ray.get(ref)
    except rex.TaskCancelledError:
        raise
    except rex.RayTaskError as exc:
        if isinstance(exc.cause, BetError):
            raise exc.cause from None
        raise


def _raising(exc: BaseException) -> Iterator[Event]:
    raise exc
    yield  # pragma: no cover - makes this a generator
