"""The dashboard's client of the engine's process executor (no streamlit).

The page submits runs; :class:`Runner` creates their rows in the store at once (status
``queued``, so every tab sees them) and hands their jobs to a :class:`bet.ProcessExecutor`, which
executes them one after another in worker processes that write their events into the store —
pages learn everything from there. Nothing here runs a job: the queue, the worker threads and
processes, Stop and the exit are the executor's.

What is the dashboard's: runs belong to the session that submitted them (``owner``):
:meth:`Runner.may_control` says who may stop or resume one; ``owner=None`` (single-user mode, or a
run started elsewhere) lets anyone. The settings come from the server's environment
(``BET_DASHBOARD_WORKERS``, ``BET_DASHBOARD_PROCESSES``), and old uploads are deleted when it starts.

The runner lives as long as the server process (``st.cache_resource``): closing a tab stops
nothing. When the server stops, :meth:`Runner.interrupt_all` records its runs ``interrupted``
(resumable) and starts nothing; after a restart the Live page lists them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence

from bet import Dataset, DataSpec, Job, ProcessExecutor, RunStore
from dashboard import env, housekeeping
from dashboard.datasets import DatasetCache
from dashboard.submitting import EXECUTOR, NOT_YOURS, Submitting
from dashboard.uploads import uploads_dir


def default_workers() -> int:
    """``BET_DASHBOARD_WORKERS`` (default 1: CPU runs go one after another)."""
    return env.integer("BET_DASHBOARD_WORKERS", 1, low=1, high=64)


def default_processes() -> bool:
    """``BET_DASHBOARD_PROCESSES`` (default 1: runs execute in worker processes)."""
    return os.environ.get("BET_DASHBOARD_PROCESSES", "1").strip() not in ("0", "false", "no")


class Runner(Submitting):
    """The server's executor, and who owns which of its runs (thread-safe); its ``submit…`` and
    ``resume`` methods are in :mod:`dashboard.submitting`."""

    def __init__(
        self, store: RunStore, *, workers: int | None = None, adopt_orphans: bool = True, processes: bool | None = None
    ):
        self.store = store
        self.datasets = DatasetCache()
        self._lock = threading.Lock()
        self._owners: dict[str, str] = {}  # run_id -> the session that submitted (or resumed) it
        self.executor = ProcessExecutor(
            store,
            name=EXECUTOR,
            workers=workers or default_workers(),
            processes=default_processes() if processes is None else processes,
            adopt_orphans=adopt_orphans,  # queued runs of an earlier server: interrupted
        )
        if adopt_orphans:  # old uploads and snapshots of long-abandoned trainings: deleted
            housekeeping.clean_unused_uploads(self.store, uploads_dir())
            housekeeping.clean_stale_snapshots()

    # -- data ------------------------------------------------------------------------------
    def dataset(self, spec: DataSpec) -> Dataset:
        """Load (once) and split a dataset; raises :class:`~bet.errors.DataError` for bad input."""
        return self.datasets.get(spec)

    # -- queueing (the submitting methods: dashboard.submitting) ------------------------------
    def _enqueue(self, jobs: Sequence[Job], data: Dataset, owner: str | None = None) -> list[str]:
        with self._lock:
            for j in jobs:
                if owner is not None:
                    self._owners[j.run_id] = owner
                else:
                    self._owners.pop(j.run_id, None)
        return self.executor.submit(jobs, data)

    # -- who may control a run -------------------------------------------------------------
    def owner(self, run_id: str) -> str | None:
        with self._lock:
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
        """Stop one run (:meth:`bet.ProcessExecutor.stop`) — unless ``by`` (a session) may not
        control it. Returns what happened, for the page to show."""
        if not self.may_control(run_id, by):
            return NOT_YOURS
        return self.executor.stop(run_id)

    def stop_all(self) -> None:
        self.executor.stop_all()

    def interrupt_all(self, timeout: float = 10.0) -> list[str]:
        """The server is stopping (registered with ``atexit``): :meth:`bet.ProcessExecutor.interrupt_all`."""
        return self.executor.interrupt_all(timeout)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop everything and join the executor's workers (tests)."""
        self.executor.shutdown(timeout)

    # -- what the pages show ---------------------------------------------------------------
    def queued(self) -> list[str]:
        return self.executor.queued()

    def running(self) -> list[str]:
        return self.executor.running()

    def stopping(self, run_id: str) -> bool:
        return self.executor.stopping(run_id)

    def position(self, run_id: str) -> int | None:
        """1 for the next run to start, None when not queued here."""
        return self.executor.position(run_id)

    def idle(self) -> bool:
        return self.executor.idle()

    def wait(self, run_ids: Sequence[str] | None = None, timeout: float = 60.0) -> bool:
        """Block until the given runs (default: all) left the queue and finished; True if they did."""
        return self.executor.wait(run_ids, timeout)
