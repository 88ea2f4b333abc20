"""Running event generators on threads.

:func:`merge` drives several event generators at once on threads (training releases the GIL
inside torch and scipy, so on a 2-core machine two single-threaded trainings, e.g. the top-k
selective retrains, take about the time of one). The merged stream is yielded from the caller's
thread, so consumers (the store recorder, progress bars) stay single-threaded. :func:`beside`
drives one generator on a helper thread while another runs on the caller's.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Generator, Sequence
from typing import Any, TypeVar

from bet.events import Event
from bet.threads import concurrent

T = TypeVar("T")
U = TypeVar("U")


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
    *,
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
