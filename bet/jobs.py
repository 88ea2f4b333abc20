"""Runs bound to the store: a BET search or a baseline, recorded event by event.

A :class:`Job` is created in the *driver* (it owns the store: run row, resume state), its events
are produced wherever it executes (:func:`job_events`: this process, a thread, a Ray worker),
and the driver records them (:func:`record`). :func:`run_search` / :func:`run_baseline` do all
three in-process. A run is left ``completed``, ``stopped`` or ``failed`` (with the error) — never
``running`` once its driver returns.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass, field
from typing import Any

from bet.backbones import BACKBONES, action_budget, make_backbone
from bet.baselines import baseline_action
from bet.budget import budget_for
from bet.config import BaselineConfig, SearchConfig
from bet.data import Dataset
from bet.embedding import pack_bytes
from bet.errors import BetError, StoreError
from bet.evaluation import evaluate
from bet.events import (
    CandidateEvaluated,
    Event,
    PhaseChanged,
    RunFinished,
    RunStarted,
    TablePacked,
    TrainProgress,
    to_dict,
)  # fmt: skip
from bet.pipeline import pretrain, resolve_device, train_sized
from bet.search import Evaluated, bet_search
from bet.store import RESUMABLE, RunStore

Listener = Callable[[Event], None]


@dataclass
class Job:
    """One run to execute: its stored id, frozen config and (for a resumed search) population."""

    run_id: str
    config: SearchConfig | BaselineConfig
    population: list[Evaluated] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return "search" if isinstance(self.config, SearchConfig) else "baseline"

    @property
    def label(self) -> str:
        c = self.config
        method = "bet" if isinstance(c, SearchConfig) else c.method
        return f"{method} {c.backbone} c={c.sparsity}"


def search_method(cfg: SearchConfig) -> str:
    """``bet``, or ``bet-`` + what differs from it (``bet-random``, ``bet-simple``, ``bet-paper``, ``bet-q4``)."""
    parts = [
        "random" if cfg.selection == "random" else "",
        "simple" if cfg.predictor == "simple" else "",
        "paper" if cfg.predictor_training == "paper" else "",
        f"q{cfg.parallel_candidates}" if cfg.parallel_candidates > 1 else "",
    ]
    return "-".join(["bet", *filter(None, parts)])


def load_population(store: RunStore, run_id: str) -> list[Evaluated]:
    """The evaluated actions of a run, as the search's population (contiguous action ids 1..k)."""
    pop = [
        Evaluated(a["action_id"], a["iteration"], store.action(run_id, a["action_id"]), a["fitness"],
                  a["predicted"], a["metrics"], a["strategy"] or "", a["seconds"] or 0.0)
        for a in store.actions(run_id) if a["role"] == "evaluated"
    ]  # fmt: skip
    pop.sort(key=lambda e: e.action_id)
    return [e for i, e in enumerate(pop, start=1) if e.action_id == i]


def create_job(
    store: RunStore,
    cfg: SearchConfig | BaselineConfig,
    data: Dataset,
    comparison_id: str | None = None,
    executor: str = "local",
    workers: int = 1,
) -> Job:
    """Validate ``cfg`` against ``data`` (budget feasibility first: a refused run is never stored)
    and create its run row."""
    if isinstance(cfg, SearchConfig):
        cfg.validate()
        sparsity, kind, method, iterations = cfg.sparsity, "search", search_method(cfg), cfg.iterations
    else:
        sparsity = 0.0 if cfg.method == "full" else cfg.sparsity
        kind, method, iterations = "baseline", cfg.method, 0
    budget = budget_for(sparsity, data.n_rows, cfg.d_max) if method != "pop" else 0
    if method == "full":  # the uncompressed model: every table at d_max (NCF has two)
        budget *= BACKBONES[cfg.backbone].action_share
    elif method != "pop":
        action_budget(cfg.backbone, budget, data.n_rows)  # NCF keeps two embeddings per row: feasible?
    run_id = store.create_run(
        kind=kind, method=method, dataset=data.name, backbone=cfg.backbone,
        sparsity=1.0 if method == "pop" else sparsity, seed=cfg.seed, config=cfg.to_dict(), budget=budget,
        iterations=iterations, comparison_id=comparison_id, executor=executor, workers=workers,
        n_users=data.n_users, n_items=data.n_items,
    )  # fmt: skip
    return Job(run_id, cfg)


def resume_job(store: RunStore, run_id: str) -> Job:
    run = store.get_run(run_id)
    if run["kind"] != "search":
        raise StoreError(f"run {run_id} is a {run['method']} baseline, not a search; only searches resume")
    if run["status"] not in RESUMABLE:
        raise StoreError(f"run {run_id} is {run['status']}; only {', '.join(RESUMABLE)} runs can be resumed")
    return Job(run_id, SearchConfig.from_dict(run["config"]).validate(), load_population(store, run_id))


def baseline_events(cfg: BaselineConfig, data: Dataset, stop: threading.Event | None) -> Generator[Event, None, None]:
    """One reference run: ``full`` reuses the (cached) pretrained model, ``pop`` needs no
    training, ``su``/``sr``/``mde`` train from scratch on the selective-retraining schedule."""
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    yield PhaseChanged("baseline", f"{cfg.method} on {cfg.backbone}")
    action = None
    if cfg.method == "full":
        model, valid, _ = yield from pretrain(data, cfg.backbone, cfg.pretrain, cfg.seed, device, stop, cfg.d_max)
    elif cfg.method == "pop":
        model = make_backbone("pop", data, cfg.seed, cfg.d_max, device)
        valid = evaluate(model, data, "valid")
    else:
        action = baseline_action(cfg.method, data, cfg.sparsity, cfg.seed, cfg.d_max, backbone=cfg.backbone)
        yield CandidateEvaluated(0, 0, action.cost, float("nan"), float("nan"), {}, 0.0, cfg.method, action=action)
        model, res = yield from train_sized(
            data, cfg.backbone, action, cfg.train, cfg.seed, device, stop, "train", cfg.method, cfg.d_max
        )
        valid = res.valid or {}
    if stop is not None and stop.is_set():
        yield RunFinished("stopped", "stopped during training", seconds=time.perf_counter() - t0)
        return
    test = evaluate(model, data, "test")
    if model.table is not None:
        yield TablePacked(0 if action is not None else None, model.cost, pack_bytes(model.tables()))
    yield RunFinished("completed", valid=valid, test=test, cost=model.cost, seconds=time.perf_counter() - t0)


def job_events(job: Job, data: Dataset | None = None, stop: threading.Event | None = None) -> Iterable[Event]:
    """Execute a job here, yielding its events (a pure function of the job: runs anywhere)."""
    cfg = job.config
    data = data or cfg.data.load()
    if isinstance(cfg, SearchConfig):
        budget = budget_for(cfg.sparsity, data.n_rows, cfg.d_max)
        yield RunStarted(job.run_id, cfg.to_dict(), budget, data.n_users, data.n_items)
        yield from bet_search(cfg, data, stop, job.population)
    else:
        yield from baseline_events(cfg, data, stop)


class Recorder:
    """Writes events into the store: every event except per-step progress (kept as run-row
    fields, at most a few writes a second), evaluated actions with their sizes, the packed table,
    the final result."""

    def __init__(self, store: RunStore, run_id: str, min_interval: float = 0.5, stop: threading.Event | None = None):
        self.store, self.run_id, self.min_interval, self.stop = store, run_id, min_interval, stop
        self._last = 0.0
        self.final: RunFinished | None = None

    def __call__(self, ev: Event) -> None:
        now, store, rid = time.time(), self.store, self.run_id
        if isinstance(ev, TrainProgress):
            if ev.valid is None and now - self._last < self.min_interval and ev.step not in (1, ev.total_steps):
                return
            self._last = now
            store.update_run(rid, step=ev.step, total_steps=ev.total_steps, heartbeat=now)
            if self.stop is not None and not self.stop.is_set() and store.stop_requested(rid):
                self.stop.set()  # another process asked (RunStore.request_stop): stop within a step
            if ev.valid is None:
                return
        if isinstance(ev, TablePacked):
            store.add_table(rid, ev.action_id, ev.cost, ev.data)
            return
        store.add_event(rid, ev.kind, to_dict(ev))
        if isinstance(ev, PhaseChanged):
            store.update_run(rid, phase=ev.phase, step=0, total_steps=0, heartbeat=now)
        elif isinstance(ev, CandidateEvaluated):
            store.add_action(
                rid, ev.action_id, ev.action, iteration=ev.iteration, strategy=ev.strategy,
                role="evaluated" if ev.iteration > 0 else "baseline",
                predicted=ev.predicted, fitness=ev.fitness, metrics=ev.valid, seconds=ev.seconds,
            )  # fmt: skip
            store.update_run(rid, iteration=ev.iteration, heartbeat=now)
        elif isinstance(ev, RunFinished):
            self.final = ev
            result = {"valid": ev.valid, "test": ev.test, "cost": ev.cost, "best_action_id": ev.best_action_id,
                      "seconds": ev.seconds}  # fmt: skip
            store.update_run(
                rid, status=ev.status, error=ev.reason if ev.status != "completed" else None, result=result,
                finished_at=now, heartbeat=now, phase="done" if ev.status == "completed" else ev.status,
            )  # fmt: skip


def record(
    store: RunStore,
    job: Job,
    events: Iterable[Event],
    on_event: Listener | None = None,
    stop: threading.Event | None = None,
) -> dict[str, Any]:
    """Drive ``events`` into the store for ``job``; returns the stored run. Any failure is
    recorded on the run (status ``failed`` with the error, or ``stopped`` on Ctrl-C) and
    re-raised, so the run never stays ``running``. ``stop`` (the event the job's producer
    watches) is set when another process asks the store to stop this run."""
    store.claim(job.run_id)
    recorder = Recorder(store, job.run_id, stop=stop)
    try:
        for ev in events:
            recorder(ev)
            if on_event is not None:
                on_event(ev)
        if recorder.final is None:
            raise RuntimeError("the run ended without a final event")
    except BaseException as exc:
        msg = str(exc) if isinstance(exc, BetError) else f"{type(exc).__name__}: {exc}"
        status = "stopped" if isinstance(exc, KeyboardInterrupt) else "failed"
        detail = (
            ""
            if isinstance(exc, BetError | KeyboardInterrupt)
            else "\n" + "".join(traceback.format_exception(exc, limit=-8))
        )
        try:
            store.update_run(job.run_id, status=status, error=msg + detail, finished_at=time.time(), phase=status)
            store.add_event(job.run_id, "run_finished", {"status": status, "reason": msg})
        except StoreError:
            pass
        raise
    return store.get_run(job.run_id)


def run_search(
    cfg: SearchConfig | None,
    store: RunStore,
    *,
    data: Dataset | None = None,
    stop: threading.Event | None = None,
    on_event: Listener | None = None,
    resume: str | None = None,
    comparison_id: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) a BET search in this process; returns the stored run."""
    if resume is not None:
        job = resume_job(store, resume)
        data = data or job.config.data.load()
    else:
        assert cfg is not None
        data = data or cfg.validate().data.load()
        job = create_job(store, cfg, data, comparison_id)
    stop = stop or threading.Event()
    return record(store, job, job_events(job, data, stop), on_event, stop)


def run_baseline(
    cfg: BaselineConfig,
    store: RunStore,
    *,
    data: Dataset | None = None,
    stop: threading.Event | None = None,
    on_event: Listener | None = None,
    comparison_id: str | None = None,
) -> dict[str, Any]:
    data = data or cfg.data.load()
    job = create_job(store, cfg, data, comparison_id)
    stop = stop or threading.Event()
    return record(store, job, job_events(job, data, stop), on_event, stop)
