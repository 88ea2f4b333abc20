"""A run's life from the outside: create it (or resume it), execute it, record it.

A :class:`Job` is created in the *driver* (:mod:`bet.jobs`; it owns the store: run row, resume state), its events
are produced wherever it executes (:func:`job_events`: this process, a thread, a Ray worker —
:func:`bet.search.bet_search` or :func:`bet.baselines.baseline_events`), and the driver records
them (:func:`record`, the store's writer). :func:`run_search` / :func:`run_baseline` do all three
in-process. A run is left ``completed``, ``stopped`` or ``failed`` (with the error) — never
``running`` once its driver returns.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from bet import observed
from bet import store as run_store
from bet.baselines import baseline_events
from bet.config import BaselineConfig, DataSpec, SearchConfig, run_budget
from bet.data import BUILTIN, Dataset
from bet.errors import BetError, DataError, StoreError, shorten
from bet.events import Event, PhaseChanged, RunStarted
from bet.jobs import Job, create_job, create_jobs, data_path, search_method
from bet.load import LoadMeter
from bet.search import Evaluated, bet_search
from bet.store import Listener, RunRecord, RunStore

__all__ = [
    "Job",
    "Listener",
    "check_data",
    "create_job",
    "create_jobs",
    "data_path",
    "job_events",
    "load_population",
    "prepare_resume",
    "record",
    "release",
    "resume_job",
    "run_baseline",
    "run_search",
    "search_method",
]


def load_population(store: RunStore, run_id: str) -> list[Evaluated]:
    """The evaluated actions of a run, as the search's population (contiguous action ids 1..k)."""
    pop = [
        Evaluated(
            a["iteration"],
            a["action_id"],
            a["cost"],
            a["predicted"],
            a["fitness"],
            a["metrics"],
            a["seconds"] or 0.0,
            a["strategy"] or "",
            action=store.action(run_id, a["action_id"]),
        )
        for a in store.actions(run_id)
        if a["role"] == "evaluated"
    ]
    pop.sort(key=lambda e: e.action_id)
    return [e for i, e in enumerate(pop, start=1) if e.action_id == i]


def _stored_data(cfg: SearchConfig, stored: str | None) -> SearchConfig:
    """The config a resumed search loads its data with: the stored absolute path where the
    config's (maybe relative) path now names another file; the fingerprint check decides."""
    if stored is None or cfg.data.dataset in BUILTIN or data_path(cfg.data) == stored:
        return cfg
    if not Path(stored).exists() and Path(cfg.data.dataset).expanduser().exists():
        return cfg  # moved since: what the config names now is checked against the fingerprint
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, dataset=stored))


def resume_job(store: RunStore, run_id: str) -> Job:
    """Take a stored search to continue it: this process claims it atomically (of two resuming
    it at once, one gets a :class:`StoreError` naming the other) — every entry point (CLI,
    dashboard, reproduce) comes here. Give it back with :func:`release` if it cannot start."""
    run = store.get_run(run_id)
    if run.kind != "search":
        raise StoreError(
            f"run {run_id} is a {run.method} run, not a BET search; only BET searches resume "
            "(a baseline trains from scratch: run it again with bet train or bet frontier)"
        )
    try:
        stored = SearchConfig.from_dict(run.config)
    except (KeyError, TypeError, ValueError) as exc:  # a row edited by hand, or from a foreign tool
        raise StoreError(f"run {run_id}: its stored configuration cannot be read ({shorten(str(exc))})") from None
    cfg = _stored_data(stored.validate(), run.data_path)
    shape = (run.n_users, run.n_items) if run.n_users is not None and run.n_items is not None else None
    prior = store.claim_resume(run_id)
    job = Job(run_id, cfg, run.budget, fingerprint=run.data_fingerprint, shape=shape, prior=prior)
    try:
        job.population = load_population(store, run_id)
    except BaseException:
        release(store, job)
        raise
    return job


def release(store: RunStore, job: Job) -> None:
    """Give back a resumed run that could not start (it returns to stopped / failed / interrupted)."""
    if job.prior is not None:
        store.release(job.run_id, job.prior)


def check_data(job: Job, data: Dataset) -> None:
    """Refuse data other than the run was built on: a resumed search would mix two datasets (or
    crash on a size mismatch). Runs stored before fingerprints (schema 3) are checked by their
    row counts only, and otherwise resume with the stored path, as they always did."""
    where = data_path(job.config.data)
    now = f"{data.n_users:,} users × {data.n_items:,} items"
    if job.fingerprint is not None and data.fingerprint != job.fingerprint:
        raise DataError(
            where,
            (
                f"not the data run {job.run_id} was built on (split fingerprint {job.fingerprint} then, "
                f"{data.fingerprint} now, {now}); it changed since: start a new search instead of resuming"
            ),
        )
    if job.shape is not None and job.shape != (data.n_users, data.n_items):
        raise DataError(
            where,
            (
                f"not the data run {job.run_id} was built on ({job.shape[0]:,} users × {job.shape[1]:,} items "
                f"then, {now} now); start a new search instead of resuming"
            ),
        )


def prepare_resume(
    store: RunStore, run_id: str, data: Dataset | None = None, *, load: Callable[[DataSpec], Dataset] | None = None
) -> tuple[Job, Dataset]:
    """:func:`resume_job`, then its data (``data``, or loaded from the stored path by ``load``,
    e.g. a cache of loaded datasets) checked against the run's; a run that cannot start is given
    back untouched. A run row stored without a budget (written by another tool) gets its first
    one here, where its config meets its data."""
    job = resume_job(store, run_id)
    try:
        data = data or (load or DataSpec.load)(job.config.data)
        check_data(job, data)
        if job.budget is None:
            job.budget = run_budget(job.config, data)
    except BaseException:
        release(store, job)
        raise
    return job, data


def job_events(job: Job, data: Dataset | None = None, stop: threading.Event | None = None) -> Iterable[Event]:
    """Execute a job here, yielding its events (a pure function of the job: runs anywhere)."""
    cfg = job.config
    data = data or cfg.data.load()
    check_data(job, data)  # wherever it executes: never a run built on two datasets
    budget = job.budget
    if budget is None:
        raise StoreError(f"run {job.run_id} has no budget: take it with prepare_resume, which computes one")
    if isinstance(cfg, SearchConfig):
        yield RunStarted(job.run_id, cfg.to_dict(), budget, data.n_users, data.n_items)
        yield from bet_search(cfg, data, stop=stop, resume=job.population, budget=budget)
    else:
        yield from baseline_events(cfg, data, stop, budget=budget)


def record(
    store: RunStore,
    job: Job,
    events: Iterable[Event],
    *,
    on_event: Listener | None = None,
    stop: threading.Event | None = None,
) -> RunRecord:
    """Record ``job``'s events in the store (:func:`bet.store.record` under its run id); a run that
    completed teaches the duration estimate what it took, and how busy the machine was meanwhile
    (the load average sampled as its events arrive: :class:`bet.load.LoadMeter`;
    :func:`bet.observed.observe`)."""
    meter = LoadMeter()

    def metered() -> Iterator[Event]:
        for event in events:
            meter.tick(event.phase if isinstance(event, PhaseChanged) else None)
            yield event

    run = run_store.record(store, job.run_id, metered(), on_event=on_event, stop=stop)
    if run.status == run_store.Status.COMPLETED:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, BetError):  # never fails a finished run
            # a resumed search's load was sampled over its last part only, and its finetune and
            # evaluation seconds sum the candidates of every part: its search teaches no speed
            resumed = bool(job.population)
            phases = {p: v for p, v in meter.phase_means().items() if not (resumed and p == "search")}
            observed.observe(store, job.run_id, load=None if resumed else meter.mean, phase_loads=phases)
    return run


def run_search(
    cfg: SearchConfig | None,
    store: RunStore,
    *,
    data: Dataset | None = None,
    stop: threading.Event | None = None,
    on_event: Listener | None = None,
    resume: str | None = None,
    comparison_id: str | None = None,
) -> RunRecord:
    """Run (or resume) a BET search in this process; returns the stored run."""
    if resume is not None:
        job, data = prepare_resume(store, resume, data)
    else:
        assert cfg is not None
        data = data or cfg.validate().data.load()
        job = create_job(store, cfg, data, comparison_id=comparison_id)
    stop = stop or threading.Event()
    return record(store, job, job_events(job, data, stop), on_event=on_event, stop=stop)


def run_baseline(
    cfg: BaselineConfig,
    store: RunStore,
    *,
    data: Dataset | None = None,
    stop: threading.Event | None = None,
    on_event: Listener | None = None,
    comparison_id: str | None = None,
) -> RunRecord:
    data = data or cfg.data.load()
    job = create_job(store, cfg, data, comparison_id=comparison_id)
    stop = stop or threading.Event()
    return record(store, job, job_events(job, data, stop), on_event=on_event, stop=stop)
