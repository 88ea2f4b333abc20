"""User-facing errors.

Every mistake a user can make (a bad file, an impossible budget, an unknown run) raises a
subclass of :class:`BetError`. The CLI and the dashboard print ``str(error)`` and nothing else:
no traceback for a user's mistake. Anything else escaping is a bug in BET Studio.
"""

from __future__ import annotations

from pathlib import Path


class BetError(Exception):
    """Base class for errors caused by user input; ``str()`` is the whole message."""


class DataError(BetError):
    """A dataset file that cannot be read: names the file, the line and what was expected."""

    def __init__(self, path: str | Path, problem: str, line: int | None = None, expected: str = ""):
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.expected = expected
        where = f"{self.path}:{line}" if line is not None else self.path
        msg = f"{where}: {problem}"
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)


class BudgetError(BetError):
    """A sparsity that is outside (0, 1) or leaves less than one dimension per row."""


class ConfigError(BetError):
    """An argument or setting that makes no sense (unknown backbone, T < 1, …)."""


class StoreError(BetError):
    """The run store cannot be used (locked, corrupt, unknown run)."""
