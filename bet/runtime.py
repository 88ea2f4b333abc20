"""Process-level settings: torch thread counts for training and evaluation.

Training always runs on one thread: reductions then add up in the same order on every machine,
so a seed fixes a run bit for bit, and a step is not slowed 5–15× when another process holds a
core (measured). The second core goes to independent work instead (candidate prefetch, parallel
retrains, parallel runs). Evaluation's dense matmul and the graph propagation's sparse matmul
(``spmm``) split work by output rows, so they give bitwise the same results on one or two threads
(checked in the tests) and use up to two — one while several jobs share the process.
``BET_TRAIN_THREADS`` / ``BET_EVAL_THREADS`` / ``BET_SPMM_THREADS`` override.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

_active = 0
_lock = threading.Lock()


def concurrent(delta: int) -> None:
    """Note that ``delta`` more (or fewer) trainings now share this process."""
    global _active
    with _lock:
        _active = max(0, _active + delta)


def thread_count(kind: str) -> int:
    env = os.environ.get(f"BET_{kind.upper()}_THREADS")
    if env:
        return max(1, int(env))
    if kind == "train" or _active > 0:
        return 1
    return max(1, min(2, os.cpu_count() or 1))


@contextmanager
def torch_threads(kind: str) -> Iterator[None]:
    """Run the body with the thread count for ``kind`` (``train`` or ``eval``)."""
    old = torch.get_num_threads()
    torch.set_num_threads(thread_count(kind))
    try:
        yield
    finally:
        torch.set_num_threads(old)


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
