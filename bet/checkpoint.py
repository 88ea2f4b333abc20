"""A long training's progress on disk, so that an interrupted one goes on where it was.

Pretraining the full model on the paper's schedule takes 1.5 h on full Gowalla on 2 cores, an SU
or SR training from scratch most of an hour; a closed laptop, a session's end or a Stop used to
throw all of it away. :func:`bet.train.train_iter` given a :class:`Checkpoint` writes a
:class:`Snapshot` at most every :data:`EVERY_S` seconds of training (and when a stop is
requested), and starts from one when it finds it. Resuming computes the same numbers as never
stopping: the weights, Adam's moments, the batch sampler's random state and the batch it had
already drawn ahead, the model's own random streams (NGCF's dropout) and early stopping's best
weights and patience count are all restored. The snapshot is removed when the training ends.

A snapshot is found by its file name only: callers name it after everything that decides the
training (:func:`bet.cache.model_key` and, for a sized model, its sizes), so a file from another
dataset, configuration or seed is never picked up. An unreadable or mismatched file is ignored
(the training starts over) and replaced.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bet.budget import Action
from bet.events import Metrics
from bet.paths import cache_dir

#: Seconds of training between two snapshots (a full-width Yelp2018 LightGCN's is 215 MB: model,
#: Adam's two moments and the best weights so far).
EVERY_S = 300.0
_log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    """Everything :func:`bet.train._train` needs to take the next step exactly as it would have."""

    step: int
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    sampler: Mapping[str, Any]  # the numpy bit generator's state, after drawing ``upcoming``
    upcoming: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # the batch drawn ahead for step + 1
    randomness: dict[str, torch.Tensor]  # the model's own generators (Backbone.random_state)
    best_q: float
    best_valid: Metrics | None
    best_step: int
    best_state: dict[str, torch.Tensor] | None
    bad: int


class Checkpoint:
    """The snapshot file of one training (``path``), written at most every ``every_s`` seconds."""

    def __init__(self, path: Path, *, every_s: float = EVERY_S):
        self.path = path
        self.every_s = every_s
        self._last = time.monotonic()

    @classmethod
    def named(cls, key: str, action: Action | None = None, **kw: Any) -> Checkpoint:
        """The snapshot of the training cached as ``key`` (a :func:`bet.cache.model_key`), for a
        model sized by ``action`` when given, under ``$BET_HOME/checkpoints``."""
        name = key if action is None else f"{key}-{action_digest(action)}"
        return cls(cache_dir("checkpoints") / f"{name}.pt", **kw)

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every_s

    def save(self, snap: Snapshot) -> None:
        """Write ``snap`` atomically (a crash mid-write leaves the previous snapshot); a full disk
        is logged and training goes on without it."""
        self._last = time.monotonic()
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        os.close(fd)
        try:
            torch.save(asdict(snap), tmp)
            os.replace(tmp, self.path)
        except (OSError, RuntimeError) as exc:
            _log.warning("cannot write the training snapshot %s (%s); training goes on without it", self.path, exc)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def load(self) -> Snapshot | None:
        """The stored snapshot, or None when there is none or it cannot be read."""
        if not self.path.exists():
            return None
        try:
            blob = torch.load(self.path, map_location="cpu", weights_only=True)
            snap = Snapshot(**blob)
            snap.upcoming = tuple(snap.upcoming)  # type: ignore[assignment]
        except Exception as exc:  # noqa: BLE001 — any unreadable snapshot: start over
            _log.warning("ignoring the unreadable training snapshot %s (%s)", self.path, exc)
            return None
        return snap

    def saved_step(self) -> int:
        """The step the stored snapshot goes on from (0: none, or unreadable), read without
        loading its tensors (they are memory-mapped, not read: a 215 MB file answers at once)."""
        if not self.path.exists():
            return 0
        try:
            blob = torch.load(self.path, map_location="cpu", weights_only=True, mmap=True)
            return max(0, int(blob["step"]))
        except Exception:  # noqa: BLE001 — what load() would ignore, training starts over from
            return 0

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def prune_snapshots(days: float, *, now: float | None = None) -> list[Path]:
    """Delete the snapshots under ``$BET_HOME/checkpoints`` not written for ``days`` days — a
    training writes its snapshot every few minutes, so these belong to trainings stopped and never
    resumed (100–215 MB each at full size) — and the partial files a killed write left behind (not
    written for a day). Returns what was deleted; a file that cannot be removed is left."""
    now = time.time() if now is None else now
    gone = []
    for path in sorted(cache_dir("checkpoints").iterdir()):
        age = {".pt": days, ".tmp": min(days, 1.0)}.get(path.suffix)
        try:
            if age is not None and path.is_file() and path.stat().st_mtime < now - 86400 * age:
                path.unlink()
                gone.append(path)
        except OSError as exc:
            _log.warning("cannot remove the old training snapshot %s (%s)", path, exc)
    return gone


def action_digest(action: Action) -> str:
    """A short hash of an action's sizes (what a sized training's snapshot is named by)."""
    h = hashlib.sha256()
    for part in (action.user_sizes, action.item_sizes):
        h.update(np.ascontiguousarray(part, dtype=np.int64).tobytes())
        h.update(b"|")
    return h.hexdigest()[:16]


def batch_tensors(batch: tuple[np.ndarray, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    u, p, n = (torch.from_numpy(np.asarray(x, dtype=np.int64).copy()) for x in batch)
    return u, p, n


def batch_arrays(batch: tuple[torch.Tensor, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    u, p, n = (t.numpy() for t in batch)
    return u, p, n
