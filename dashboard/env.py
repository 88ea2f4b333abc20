"""The dashboard's numeric settings from the environment (no streamlit): a value that is not a
number, or out of range, falls back to the default with one warning in the server's log — a typo
in ``BET_DASHBOARD_POLL`` must not take every page down with a traceback."""

from __future__ import annotations

import logging
import math
import os

log = logging.getLogger(__name__)
_warned: set[str] = set()


def number(name: str, default: float, *, low: float, high: float = math.inf) -> float:
    """``os.environ[name]`` as a number in ``[low, high]``; ``default`` when unset or invalid."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # NaN fails too
        if name not in _warned:
            _warned.add(name)
            log.warning("%s=%.40r is not a number in [%g, %g]: using %g", name, text, low, high, default)
        return default
    return value


def integer(name: str, default: int, *, low: int, high: int) -> int:
    return int(number(name, default, low=low, high=high))
