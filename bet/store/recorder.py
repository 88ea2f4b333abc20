"""The store's one writer of a run: its events, recorded as they come.

:func:`record` drives a run's event stream (produced anywhere: this process, a thread, a Ray
worker) into the store under its run id, and leaves the run ``completed``, ``stopped`` or
``failed`` (with the error) — never ``running`` once it returns.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from bet.errors import BetError, StoreError
from bet.events import CandidateEvaluated, Event, PhaseChanged, RunFinished, TablePacked, TrainProgress, to_dict
from bet.status import Status

if TYPE_CHECKING:
    from bet.store import RunStore
    from bet.store.record import RunRecord

Listener = Callable[[Event], None]


class Recorder:
    """Writes events into the store: every event except per-step progress (kept as run-row
    fields, at most a few writes a second; a step that validated or that a resumed training
    began with is kept as an event too), evaluated actions with their sizes, the packed table,
    the final result."""

    def __init__(self, store: RunStore, run_id: str, *, min_interval: float = 0.5, stop: threading.Event | None = None):
        self.store, self.run_id, self.min_interval, self.stop = store, run_id, min_interval, stop
        self._last = 0.0
        self.final: RunFinished | None = None

    def __call__(self, ev: Event) -> None:
        now, store, rid = time.time(), self.store, self.run_id
        if isinstance(ev, TrainProgress):
            # the first step after a resume is kept as an event: the dashboard says where the training
            # went on from and counts its rate (its ETA) from there, not from step 0
            kept = ev.valid is not None or (ev.resumed_from > 0 and ev.step == ev.resumed_from + 1)
            if not kept and now - self._last < self.min_interval and ev.step not in (1, ev.total_steps):
                return
            self._last = now
            store.update_run(rid, step=ev.step, total_steps=ev.total_steps, heartbeat=now)
            if self.stop is not None and not self.stop.is_set() and store.stop_requested(rid):
                self.stop.set()  # another process asked (RunStore.request_stop): stop within a step
            if not kept:
                return
        if isinstance(ev, TablePacked):
            store.add_table(rid, ev.action_id, cost=ev.cost, data=ev.data)
            return
        store.add_event(rid, ev.kind, to_dict(ev))
        if isinstance(ev, PhaseChanged):
            store.update_run(rid, phase=ev.phase, step=0, total_steps=0, heartbeat=now)
        elif isinstance(ev, CandidateEvaluated):
            store.add_action(
                rid,
                ev.action_id,
                ev.action,
                iteration=ev.iteration,
                strategy=ev.strategy,
                role="evaluated" if ev.iteration > 0 else "baseline",
                predicted=ev.predicted,
                fitness=ev.fitness,
                metrics=ev.valid,
                seconds=ev.seconds,
            )
            store.update_run(rid, iteration=ev.iteration, heartbeat=now)
        elif isinstance(ev, RunFinished):
            self.final = ev
            result = {
                "valid": ev.valid,
                "test": ev.test,
                "cost": ev.cost,
                "best_action_id": ev.best_action_id,
                "seconds": ev.seconds,
            }
            store.finish(rid, Status(ev.status), error=ev.reason, result=result)


def record(
    store: RunStore,
    run_id: str,
    events: Iterable[Event],
    *,
    on_event: Listener | None = None,
    stop: threading.Event | None = None,
) -> RunRecord:
    """Drive ``events`` into the store for run ``run_id``; returns the stored run. Any failure is
    recorded on the run (status ``failed`` with the error, or ``stopped`` on Ctrl-C) and
    re-raised, so the run never stays ``running``. ``stop`` (the event the run's producer
    watches) is set when another process asks the store to stop this run."""
    store.claim(run_id)
    recorder = Recorder(store, run_id, stop=stop)
    try:
        for ev in events:
            recorder(ev)
            if on_event is not None:
                on_event(ev)
        if recorder.final is None:
            raise RuntimeError("the run ended without a final event")
    except BaseException as exc:
        msg = str(exc) if isinstance(exc, BetError) else f"{type(exc).__name__}: {exc}"
        status = Status.STOPPED if isinstance(exc, KeyboardInterrupt) else Status.FAILED
        detail = (
            ""
            if isinstance(exc, BetError | KeyboardInterrupt)
            else "\n" + "".join(traceback.format_exception(exc, limit=-8))
        )
        try:
            store.finish(run_id, status, error=msg + detail)
            store.add_event(run_id, "run_finished", {"status": status, "reason": msg})
        except StoreError:
            pass
        raise
    return store.get_run(run_id)
