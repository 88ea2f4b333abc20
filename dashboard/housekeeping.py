"""What the dashboard tidies when its runner starts (no streamlit): queued runs an earlier server
never started are marked ``interrupted``; uploads nobody used for a while are deleted."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from bet import RunStore, StoreError
from dashboard import env

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
    """Runs this dashboard queued in an earlier process that never started: marked
    ``interrupted`` in the store (the store already *reports* a queued run of a dead process
    as interrupted; this persists it), so a search can be resumed from the Live page."""
    started = process_started_at()
    found = []
    try:
        for r in store.list_runs(status="queued", executor=executor):
            if r.created_at < started:
                store.update_run(
                    r.run_id,
                    status="interrupted",
                    phase="interrupted",
                    error="the dashboard stopped before this queued run started",
                )
                found.append(r.run_id)
    except StoreError as exc:
        log.warning("could not check for orphaned queued runs: %s", exc)
    return found


SERVER_STOPPED = "the dashboard server stopped during this run: resume it to continue from its evaluated actions"
SERVER_STOPPED_QUEUED = "the dashboard server stopped before this queued run started"


def record_interrupted(store: RunStore, running: list[str], queued: list[str]) -> list[str]:
    """The server is stopping: record its running and queued runs ``interrupted`` (resumable),
    saying why. Returns the ids recorded."""
    done = []
    for rid, why in [(r, SERVER_STOPPED) for r in running] + [(r, SERVER_STOPPED_QUEUED) for r in queued]:
        try:
            store.update_run(rid, status="interrupted", phase="interrupted", error=why)
            done.append(rid)
        except StoreError as exc:
            log.warning("could not record run %s interrupted: %s", rid, exc)
    return done


def upload_days() -> float:
    """``BET_UPLOAD_DAYS`` (default 7): uploads unused for longer are deleted when the server starts."""
    return env.number("BET_UPLOAD_DAYS", 7, 0, 36500)


def clean_unused_uploads(store: RunStore, folder: Path) -> list[Path]:
    """:func:`clean_uploads` keeping every file a queued, running or interrupted (so resumable after
    a server stop) run of ``store`` needs."""
    keep = ("queued", "running", "interrupted")
    try:
        active = [r.config["data"]["dataset"] for r in store.list_runs() if r.status in keep]
    except (StoreError, KeyError, TypeError):
        return []  # cannot tell which uploads are in use: delete none
    return clean_uploads(folder, active)


def clean_uploads(folder: Path, in_use: Iterable[str], days: float | None = None) -> list[Path]:
    """Delete the upload folders (``folder/<hash>/``) whose files were all last used (saved or
    uploaded again) more than ``days`` ago, except those holding a file of ``in_use`` (the data of
    queued or running runs). Returns what was deleted."""
    cutoff = time.time() - 86400 * (upload_days() if days is None else days)
    keep = {Path(p).resolve().parent for p in in_use}
    gone = []
    for sub in sorted(p for p in folder.glob("*") if p.is_dir()):
        try:
            newest = max((f.stat().st_mtime for f in sub.iterdir()), default=0.0)
        except OSError:
            continue
        if newest < cutoff and sub.resolve() not in keep:
            shutil.rmtree(sub, ignore_errors=True)
            gone.append(sub)
    return gone
