"""This process's settings: the device, and how glibc's heap grows.

Torch thread counts live in :mod:`bet.threads`, running event generators on threads
(:func:`merge`, :func:`beside`) in :mod:`bet.streams`; both are re-exported here.
"""

from __future__ import annotations

import ctypes
import ctypes.util
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
    "limit_heap_growth",
    "merge",
    "resolve_device",
    "thread_count",
    "torch_threads",
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


def limit_heap_growth() -> bool:
    """Ask glibc's malloc for at most two arenas and to map (and so give back) every block of
    4 MiB or more, instead of one arena per thread and a threshold that grows as large tensors are
    freed. Full-width tensors on full Gowalla are 36 MB each, so per-thread arenas kept freed ones
    resident: two parallel retrains peaked at 1.36 GB instead of 1.19 GB (docs/results.md §6). Call
    it once, early, in a process that trains (the CLI, the dashboard). False where there is no
    glibc (macOS, musl) or ``BET_MALLOC=default``: nothing changes there."""
    if os.environ.get("BET_MALLOC") == "default":
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_arena_max, m_mmap_threshold = -8, -3  # <malloc.h>
    return bool(mallopt(m_arena_max, 2)) and bool(mallopt(m_mmap_threshold, 4 << 20))
