"""This process's settings: the device, torch thread counts, and running generators on threads.

Training always runs on one thread: reductions then add up in the same order on every machine,
so a seed fixes a run bit for bit, and a step is not slowed 5–15× when another process holds a
core (measured). The second core goes to independent work instead (candidate prefetch, parallel
retrains, parallel runs: :func:`merge`). Evaluation's dense matmul and the graph propagation's
sparse matmul (``spmm``) split work by output rows, so they give bitwise the same results on one
or two threads (checked in the tests) and use up to two — one while several jobs share the
process. ``BET_TRAIN_THREADS`` / ``BET_EVAL_THREADS`` / ``BET_SPMM_THREADS`` override.

:func:`merge` drives several event generators at once on threads (training releases the GIL
inside torch and scipy, so on a 2-core machine two single-threaded trainings, e.g. the top-k
selective retrains, take about the time of one). The merged stream is yielded from the caller's
thread, so consumers (the store recorder, progress bars) stay single-threaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import torch

from bet.errors import ConfigError
from bet.events import Event

T = TypeVar("T")
U = TypeVar("U")
DEVICES = ("auto", "cpu", "cuda")
_active = 0
_lock = threading.Lock()


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; asking for CUDA without one is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA device here; use --device cpu or auto")
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; choose {', '.join(DEVICES)}")
    return torch.device(device)


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


def _pump(gen: Generator[Event, None, Any], put: Callable[[str, Any], None]) -> None:
    """Drive ``gen`` to its end on this thread, handing over ``("event", ev)`` for each event, then
    ``("done", result)`` or ``("error", exception)`` (for the consuming thread to raise)."""
    try:
        while True:
            put("event", next(gen))
    except StopIteration as done:
        put("done", done.value)
    except BaseException as exc:  # noqa: BLE001 — handed to the consuming thread
        put("error", exc)


def merge(gens: Sequence[Generator[Event, None, T]], workers: int) -> Generator[Event, None, list[T]]:
    """Drive ``gens`` on up to ``workers`` threads; yield their events as they come; return their
    results in order. An exception in one is re-raised here after the others finish."""
    if workers <= 1 or len(gens) <= 1:
        serial: list[T] = []
        for g in gens:
            serial.append((yield from g))
        return serial
    inbox: queue.Queue[tuple[str, int, Any]] = queue.Queue()
    todo: queue.Queue[int] = queue.Queue()
    for i in range(len(gens)):
        todo.put(i)

    def worker() -> None:
        while True:
            try:
                i = todo.get_nowait()
            except queue.Empty:
                return
            _pump(gens[i], lambda kind, payload, i=i: inbox.put((kind, i, payload)))  # type: ignore[misc]

    threads = [threading.Thread(target=worker, name=f"bet-parallel-{k}", daemon=True) for k in range(workers)]
    concurrent(+1)
    for t in threads:
        t.start()
    results: list[Any] = [None] * len(gens)
    pending, error = len(gens), None
    while pending:
        kind, i, payload = inbox.get()
        if kind == "event":
            yield payload
        else:
            pending -= 1
            if kind == "done":
                results[i] = payload
            elif error is None:
                error = payload
    for t in threads:
        t.join()
    concurrent(-1)
    if error is not None:
        raise error
    return results


class Halt(threading.Event):
    """A stop of one's own that also reads as set when ``outer`` (the run's stop) is."""

    def __init__(self, outer: threading.Event | None):
        super().__init__()
        self.outer = outer

    def is_set(self) -> bool:
        return super().is_set() or (self.outer is not None and self.outer.is_set())


def beside(
    gen: Generator[Event, None, T],
    work: Generator[Event, None, U],
    keep: Callable[[U], bool] | None = None,
    halt: threading.Event | None = None,
) -> Generator[Event, None, tuple[T | None, U, float]]:
    """Drive ``gen`` on a helper thread while ``work`` runs on this one: ``work``'s events first,
    then ``gen``'s (held back until ``work`` ends, so the stream reads as if they ran in turn).
    Returns both results and how long ``gen`` ran; an exception in either is raised here (one in
    ``work`` sets ``halt``, ``gen``'s stop). If ``keep(work's result)`` is false, ``halt`` is set
    and ``gen``'s events and result are dropped (None). The helper keeps its own torch thread
    count (per thread under OpenMP)."""
    inbox: queue.Queue[tuple[str, Any, float]] = queue.Queue()  # (kind, payload, when)
    t0 = time.perf_counter()

    def put(kind: str, payload: Any) -> None:
        inbox.put((kind, payload, time.perf_counter()))

    helper = threading.Thread(target=_pump, args=(gen, put), name="bet-beside", daemon=True)
    helper.start()
    try:
        mine = yield from work
    except BaseException:
        if halt is not None:
            halt.set()  # ``gen`` ends at its next check; nothing waits for it
        raise
    kept = keep is None or keep(mine)
    if not kept and halt is not None:
        halt.set()
    while True:
        kind, payload, when = inbox.get()
        if kind == "event":
            if kept:
                yield payload
        elif kind == "error":
            raise payload
        else:
            break
    helper.join()
    return (payload if kept else None), mine, when - t0


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
