"""User-facing errors.

Every mistake a user can make (a bad file, an impossible budget, an unknown run) raises a
subclass of :class:`BetError`. The CLI and the dashboard print ``str(error)`` and nothing else:
no traceback for a user's mistake. Anything else escaping is a bug in BET Studio.
"""

from __future__ import annotations

from pathlib import Path

ECHO_LIMIT = 80


def shorten(value: object, limit: int = ECHO_LIMIT, quote: bool = True) -> str:
    """A user's value for a message, cut to ``limit`` characters with an ellipsis, so a 5 MB
    token or a line of someone's secrets file never floods it (strings quoted with ``repr``
    unless ``quote`` is false)."""
    text = repr(value) if quote and isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(text: str) -> str:
    """``text`` on one printable line: control characters (a newline in a file name) escaped,
    undecodable bytes of a file name (surrogates) as ``\\xNN``."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


class BetError(Exception):
    """Base class for errors caused by user input; ``str()`` is the whole message."""


class DataError(BetError):
    """A dataset file that cannot be read: names the file, the line and what was expected."""

    def __init__(self, path: str | Path, problem: str, *, line: int | None = None, expected: str = ""):
        self.path = str(path)
        self.line = line
        self.problem = problem
        self.expected = expected
        shown = printable(self.path)
        shown = shown if len(shown) <= 4 * ECHO_LIMIT else "…" + shown[-4 * ECHO_LIMIT + 1 :]
        where = f"{shown}:{line}" if line is not None else shown
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
