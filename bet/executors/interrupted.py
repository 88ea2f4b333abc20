"""The runs a process executor leaves unfinished (no UI): at its exit, its running and queued runs
are recorded ``interrupted`` (resumable); at the next start, queued runs an earlier process of the
same executor never started are adopted as ``interrupted`` too. Both through the store's methods."""

from __future__ import annotations

import logging
import os
import time

from bet.errors import StoreError
from bet.status import Status
from bet.store import RunStore

log = logging.getLogger(__name__)
_IMPORTED_AT = time.time()


def process_started_at() -> float:
    """When this process started (wall clock); module import time where /proc is missing."""
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return _IMPORTED_AT


def adopt_orphans(store: RunStore, executor: str) -> list[str]:
    """Runs this executor queued in an earlier process that never started: marked
    ``interrupted`` in the store (the store already *reports* a queued run of a dead process
    as interrupted; this persists it), so a search can be resumed (the dashboard's Live page)."""
    started = process_started_at()
    found = []
    try:
        for r in store.list_runs(status=Status.QUEUED, executor=executor):
            if r.created_at < started:
                store.interrupt(r.run_id, f"the {executor} stopped before this queued run started")
                found.append(r.run_id)
    except StoreError as exc:
        log.warning("could not check for orphaned queued runs: %s", exc)
    return found


def server_stopped(executor: str) -> str:
    """Why a run was running when the executor's process stopped."""
    return f"the {executor} server stopped during this run: resume it to continue from its evaluated actions"


def server_stopped_queued(executor: str) -> str:
    """Why a run was still queued when the executor's process stopped."""
    return f"the {executor} server stopped before this queued run started"


def record_interrupted(store: RunStore, *, running: list[str], queued: list[str], executor: str) -> list[str]:
    """The executor's process is stopping: record its running and queued runs ``interrupted``
    (resumable), saying why. Returns the ids recorded."""
    done = []
    why = [(r, server_stopped(executor)) for r in running] + [(r, server_stopped_queued(executor)) for r in queued]
    for rid, reason in why:
        try:
            store.interrupt(rid, reason)
            done.append(rid)
        except StoreError as exc:
            log.warning("could not record run %s interrupted: %s", rid, exc)
    return done
