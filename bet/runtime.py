"""Process-level settings: torch thread counts for training and evaluation.

Measured on 2-core machines: a BPR step is no faster with two OpenMP threads and up to 15× slower
when another process holds a core, while the dense full-ranking matmul gains from both cores.
So training runs on one thread and evaluation on up to two (override with ``BET_TRAIN_THREADS`` /
``BET_EVAL_THREADS``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch


def thread_count(kind: str) -> int:
    env = os.environ.get(f"BET_{kind.upper()}_THREADS")
    if env:
        return max(1, int(env))
    return 1 if kind == "train" else max(1, min(2, os.cpu_count() or 1))


@contextmanager
def torch_threads(kind: str) -> Iterator[None]:
    """Run the body with the thread count for ``kind`` (``train`` or ``eval``)."""
    old = torch.get_num_threads()
    torch.set_num_threads(thread_count(kind))
    try:
        yield
    finally:
        torch.set_num_threads(old)
