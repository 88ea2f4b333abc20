"""A run's status: the words of a run's life (queued → running → completed | stopped | failed;
interrupted: its writer died), beside :mod:`bet.events`. The search and the executors speak them
without importing the store; :mod:`bet.store` stores them (and re-exports them for readers)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """A run's status, as stored (a ``str``: it compares equal to the stored text)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    STOPPED = "stopped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # reported when a run's writer died; stored when its executor stopped

    @property
    def is_final(self) -> bool:
        """Nothing runs it any more (it is neither queued nor running)."""
        return self not in (Status.QUEUED, Status.RUNNING)

    @property
    def is_resumable(self) -> bool:
        """A search in this status can be resumed from its stored evaluated actions."""
        return self in (Status.INTERRUPTED, Status.STOPPED, Status.FAILED)


ACTIVE = tuple(s for s in Status if not s.is_final)
RESUMABLE = tuple(s for s in Status if s.is_resumable)
