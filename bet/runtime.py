"""This process's settings: the device, and how glibc's malloc serves tensors.

Torch thread counts live in :mod:`bet.threads`, running event generators on threads
(:func:`merge`, :func:`beside`) in :mod:`bet.streams`; both are re-exported here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

import torch

from bet.errors import ConfigError
from bet.streams import Halt, beside, merge
from bet.threads import concurrent, default_workers, thread_count, torch_threads

__all__ = [
    "DEVICES",
    "Halt",
    "beside",
    "concurrent",
    "default_workers",
    "heap_mode",
    "merge",
    "planned_heap",
    "resolve_device",
    "thread_count",
    "torch_threads",
    "tune_heap",
    "tune_heap_or_warn",
]

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; asking for CUDA without one is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA device here; use --device cpu or auto")
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; choose {', '.join(DEVICES)}")
    return torch.device(device)


#: glibc ``mallopt`` parameters (<malloc.h>).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8
#: What each ``BET_MALLOC`` setting asks of mallopt (``default``: nothing; see :func:`tune_heap`).
_HEAP_SETTINGS: dict[str, tuple[tuple[int, int], ...]] = {
    "tuned": ((_M_ARENA_MAX, 2), (_M_MMAP_THRESHOLD, 64 << 20), (_M_TRIM_THRESHOLD, 1 << 30)),
    "lean": ((_M_ARENA_MAX, 2), (_M_MMAP_THRESHOLD, 4 << 20)),
    "default": (),
}
#: The heap settings :func:`tune_heap` knows, by ``BET_MALLOC`` value (``tuned`` unless set).
HEAP_MODES = tuple(_HEAP_SETTINGS)
_applied = "default"


def _requested() -> str:
    return os.environ.get("BET_MALLOC") or "tuned"


def planned_heap() -> str:
    """The heap setting runs started here use (``$BET_MALLOC``, else ``tuned``): what the CLI and the
    dashboard's run workers set, so what an estimate plans for."""
    mode = _requested()
    return mode if mode in HEAP_MODES else "default"


def heap_mode() -> str:
    """The heap setting this process runs under: the last :func:`tune_heap` applied, else ``default``."""
    return _applied


def tune_heap(mode: str | None = None) -> bool:
    """Set how glibc's malloc serves this process's tensors. Call it once, early, in a process
    that trains (the CLI, the dashboard's run workers). ``mode`` (default: ``$BET_MALLOC``, else
    ``tuned``):

    * ``tuned`` — two arenas (not one per thread), and blocks up to 64 MiB reused from the heap
      instead of mapped and unmapped, with the heap's top kept up to 1 GiB. A training step on
      full Gowalla allocates tens of 19–36 MB tensors; mapped afresh each step, every page of them
      is faulted in and zeroed by the kernel again — ~95,000 page faults and a third more CPU per
      step, 1.4–2× slower (``bench/malloc_step.py``; docs/results.md §7.5). Costs ~0.25 GB more
      resident per training.
    * ``lean`` — two arenas and every block of 4 MiB or more mapped, so freed ones go back at once:
      the least memory (two parallel full-width trainings peaked at 1.19 GB instead of 1.36 GB),
      at that price in speed. (The CLI's setting until 2026-12-07.)
    * ``default`` — glibc's own (one arena per thread, a threshold that grows to 32 MiB): nothing
      is set.

    False where nothing was set: ``default``, or no glibc (macOS, musl)."""
    global _applied
    mode = mode or _requested()
    if mode not in HEAP_MODES:
        raise ConfigError(f"BET_MALLOC must be one of {', '.join(HEAP_MODES)}, got {mode!r}")
    if not _HEAP_SETTINGS[mode]:
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    done = all(mallopt(param, value) for param, value in _HEAP_SETTINGS[mode])
    if done:
        _applied = mode
    return done


def tune_heap_or_warn() -> bool:
    """:func:`tune_heap` for a process that must start whatever ``BET_MALLOC`` says (the dashboard's
    server and run workers): a value it does not know is logged and glibc's defaults kept."""
    try:
        return tune_heap()
    except ConfigError as exc:
        logging.getLogger(__name__).warning("%s; using glibc's defaults", exc)
        return False
