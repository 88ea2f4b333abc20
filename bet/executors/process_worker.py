"""The process executor's worker processes: runs execute in a child process, so that watching
them does not slow them down.

A server that watches runs (the dashboard's: every poll re-reads the store and rebuilds figures in
Python) would share its process — its GIL — with the search's training loop, which made a watched
search 2.4× slower than the same search from the CLI. So each executor thread
(:class:`~bet.executors.process.ProcessExecutor`) supervises one long-lived child process
(:data:`CHILD`, started when the executor starts, so torch is imported before the first job) that
executes one job at a time: it writes the run's events into the store itself (readers find them
there) and answers the thread with one message per job.

Stop: the thread sends the child ``SIGUSR1``, which sets the job's stop event — the engine checks it
at every training step, as in the CLI. A child that dies (killed, out of memory) fails its run with
the exit code; the next job starts a new child. A child whose parent died exits on its own.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bet.data import Dataset
from bet.runs import Job, job_events, record
from bet.runtime import tune_heap_or_warn
from bet.status import Status
from bet.store import RunStore

ROOT = Path(__file__).resolve().parents[2]  # where ``bet`` imports from
#: The child's program (``python -c CHILD FD``): :func:`serve` on the pipe's end. Not ``python -m``:
#: the package ``bet`` imports this module before runpy would run it as ``__main__``.
CHILD = "import sys; from bet.executors.process_worker import serve, Connection; serve(Connection(int(sys.argv[1])))"


class WorkerError(RuntimeError):
    """The job failed in the worker (its run is already recorded ``failed``), or the worker died."""


class Worker:
    """The parent's handle on one worker process (used by one executor thread at a time)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start the child unless it runs (it then imports torch while nothing waits for it)."""
        if self.alive():
            return
        self.close()
        parent, child = multiprocessing.Pipe()
        fd = child.fileno()
        cmd = [sys.executable, "-c", CHILD, str(fd)]
        self._proc = subprocess.Popen(cmd, cwd=ROOT, pass_fds=(fd,), stdin=subprocess.DEVNULL)
        child.close()
        self._conn = parent

    def run(self, store_path: str | Path, job: Job, data: Dataset | None, *, stop: threading.Event) -> None:
        """Execute ``job`` in the child and wait for it; ``stop`` set meanwhile stops it within a
        training step. Raises :class:`WorkerError` when the job failed or the child died."""
        self.start()
        assert self._proc is not None and self._conn is not None
        try:
            self._conn.send((str(store_path), job, data))
        except OSError as exc:
            raise WorkerError(f"could not hand the run to the worker process ({exc})") from None
        signalled = False
        while True:
            if self._conn.poll(0.1):
                try:
                    reply = self._conn.recv()
                except (EOFError, OSError):
                    reply = self._died()
                break
            if stop.is_set() and not signalled:
                self._signal(signal.SIGUSR1)
                signalled = True
            if self._proc.poll() is not None:
                reply = self._died()
                break
        if reply is not None:
            raise WorkerError(reply)

    def _died(self) -> str:
        code = self._proc.wait(5) if self._proc is not None else None
        self.close()
        return f"the worker process died (exit code {code})"

    def _signal(self, sig: int) -> None:
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, sig)

    def kill(self) -> None:
        """End the child at once (its parent is stopping: its run is recorded interrupted)."""
        if self._proc is not None:
            self._signal(signal.SIGKILL)

    def close(self, timeout: float = 5.0) -> None:
        """Ask the child to exit (it finishes nothing: call when idle or after stopping its job)."""
        if self._conn is not None:
            with contextlib.suppress(OSError):
                self._conn.send(None)
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
            self._proc = None


def _exit_when_orphaned(parent: int) -> None:
    """The parent died (its child is re-parented): stop at once, leaving the run ``interrupted``."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


@dataclass
class Task:
    """A queued run: its job, its loaded data (None: the job loads its own), and its own Stop."""

    job: Job
    data: Dataset | None
    stop: threading.Event = field(default_factory=threading.Event)
    submitted_at: float = field(default_factory=time.time)


def execute(store: RunStore, task: Task, worker: Worker | None, *, exiting: threading.Event | None = None) -> None:
    """Run ``task`` in ``worker`` (None: in this thread); raises what the run failed with. A worker
    that dies once ``exiting`` is set was ended by the executor's exit: the run is not failed (the
    executor records it interrupted)."""
    if worker is None:
        record(store, task.job, job_events(task.job, task.data, task.stop), stop=task.stop)
        return
    try:
        worker.run(store.path, task.job, task.data, stop=task.stop)
    except WorkerError as exc:  # a dead worker leaves the run unfinished: record why
        if exiting is not None and exiting.is_set():
            return
        if Status(store.get_run(task.job.run_id).status) in (Status.QUEUED, Status.RUNNING, Status.INTERRUPTED):
            store.finish(task.job.run_id, Status.FAILED, error=str(exc))
        raise


def serve(conn: Connection) -> None:
    """The child's loop: one job per message until ``None`` or the parent closes the pipe."""
    stop = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: stop.set())
    # Ctrl-C in the parent's terminal, or SIGTERM to its process group: the parent decides (it
    # records the run interrupted, resumable, and ends this process: ProcessExecutor.interrupt_all)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    tune_heap_or_warn()  # as the CLI's process: freed tensors reused, not faulted in again every step
    stores: dict[str, RunStore] = {}
    while True:
        stop.clear()  # before receiving: a stop for this job can only come after it was sent
        try:
            msg: Any = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        path, job, data = msg
        store = stores.setdefault(path, RunStore(path))
        try:
            record(store, job, job_events(job, data, stop), stop=stop)
        except BaseException as exc:  # noqa: BLE001 — record() stored it on the run; the parent logs it
            conn.send(f"{type(exc).__name__}: {exc}")
        else:
            conn.send(None)
