"""Run several event generators at once on threads, merging their events into one stream.

Training releases the GIL inside torch and scipy, so on a 2-core machine two single-threaded
trainings (e.g. the top-k selective retrains) take about the time of one. The merged stream is
yielded from the caller's thread, so consumers (the store recorder, progress bars) stay
single-threaded.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Generator, Sequence
from typing import Any, TypeVar

from bet.events import Event
from bet.runtime import concurrent

T = TypeVar("T")


def default_workers(device_type: str = "cpu") -> int:
    """Two on a multi-core CPU (or a GPU, where small kernels overlap), one otherwise."""
    return 2 if device_type != "cpu" or (os.cpu_count() or 1) >= 2 else 1


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
            try:
                gen = gens[i]
                while True:
                    try:
                        inbox.put(("event", i, next(gen)))
                    except StopIteration as done:
                        inbox.put(("done", i, done.value))
                        break
            except BaseException as exc:  # noqa: BLE001 — handed to the consuming thread
                inbox.put(("error", i, exc))

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
