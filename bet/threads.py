"""Torch thread counts: training always runs on one thread, evaluation and ``spmm`` on up to two.

Training always runs on one thread: reductions then add up in the same order on every machine,
so a seed fixes a run bit for bit, and a step is not slowed 5–15× when another process holds a
core (measured). The second core goes to independent work instead (candidate prefetch, parallel
retrains, parallel runs: :func:`bet.streams.merge`). Evaluation's dense matmul and the graph
propagation's sparse matmul (``spmm``) split work by output rows, so they give bitwise the same
results on one or two threads (checked in the tests) and use up to two — one while several jobs
share the process. ``BET_TRAIN_THREADS`` / ``BET_EVAL_THREADS`` / ``BET_SPMM_THREADS`` override.
"""

from __future__ import annotations

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


def default_workers(device_type: str = "cpu") -> int:
    """Two on a multi-core CPU (or a GPU, where small kernels overlap), one otherwise."""
    return 2 if device_type != "cpu" or (os.cpu_count() or 1) >= 2 else 1
