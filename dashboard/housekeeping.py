"""What the dashboard tidies when its runner starts (no streamlit): uploads nobody used for a while
are deleted, and the training snapshots (:mod:`bet.checkpoint`) of trainings stopped long ago.
(Queued runs an earlier server never started are its executor's: :mod:`bet.executors.interrupted`.)"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from bet import RunStore, Status, StoreError, prune_snapshots
from dashboard import env

log = logging.getLogger(__name__)


def upload_days() -> float:
    """``BET_UPLOAD_DAYS`` (default 7): uploads unused for longer are deleted when the server starts."""
    return env.number("BET_UPLOAD_DAYS", 7, low=0, high=36500)


def clean_unused_uploads(store: RunStore, folder: Path) -> list[Path]:
    """:func:`clean_uploads` keeping every file a queued, running or interrupted (so resumable after
    a server stop) run of ``store`` needs."""
    keep = (Status.QUEUED, Status.RUNNING, Status.INTERRUPTED)
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


def snapshot_days() -> float:
    """``BET_SNAPSHOT_DAYS`` (default 14): training snapshots not written for longer — trainings
    stopped and not resumed since — are deleted when the server starts (a later resume of such a
    training starts it over)."""
    return env.number("BET_SNAPSHOT_DAYS", 14, low=0, high=36500)


def clean_stale_snapshots() -> list[Path]:
    return prune_snapshots(snapshot_days())
