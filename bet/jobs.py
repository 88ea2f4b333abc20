"""A run's creation: the :class:`Job` a driver executes, and :func:`create_jobs`, which validates
every config against its data, computes each run's budget once and stores the run rows. Resuming,
executing and recording a job: :mod:`bet.runs`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bet.config import BaselineConfig, DataSpec, SearchConfig, recorded_sparsity, run_budget
from bet.data import BUILTIN, Dataset
from bet.search import Evaluated
from bet.store import RunStore


@dataclass
class Job:
    """One run to execute: its stored id, frozen config, budget (:func:`~bet.config.run_budget`'s,
    computed once when the run was created; None only for a row stored without one, until
    :func:`prepare_resume` meets it with its data), the data it must run on (split fingerprint; a
    run stored before fingerprints: its row counts) and, for a resumed search, its population and
    the run row's state before this process took it (``prior``, to give it back if it cannot start)."""

    run_id: str
    config: SearchConfig | BaselineConfig
    budget: int | None
    population: list[Evaluated] = field(default_factory=list)
    fingerprint: str | None = None
    shape: tuple[int, int] | None = None
    prior: dict[str, Any] | None = None

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


def create_jobs(
    store: RunStore,
    cfgs: Sequence[SearchConfig | BaselineConfig],
    data: Dataset,
    *,
    comparison_id: str | None = None,
    executor: str = "local",
    workers: int = 1,
) -> list[Job]:
    """Validate every config against ``data`` and compute each run's budget
    (:func:`~bet.config.run_budget`, once) before any run is stored — a refused run, or a batch
    with one, stores nothing — then create their run rows, in order."""
    for cfg in cfgs:
        if isinstance(cfg, SearchConfig):
            cfg.validate()
    budgets = [run_budget(cfg, data) for cfg in cfgs]
    return [
        _stored_job(store, cfg, data, budget=budget, comparison_id=comparison_id, executor=executor, workers=workers)
        for cfg, budget in zip(cfgs, budgets, strict=True)
    ]


def create_job(
    store: RunStore,
    cfg: SearchConfig | BaselineConfig,
    data: Dataset,
    *,
    comparison_id: str | None = None,
    executor: str = "local",
    workers: int = 1,
) -> Job:
    """:func:`create_jobs` for one run: validated, its budget computed, its run row created."""
    return create_jobs(store, [cfg], data, comparison_id=comparison_id, executor=executor, workers=workers)[0]


def _stored_job(
    store: RunStore,
    cfg: SearchConfig | BaselineConfig,
    data: Dataset,
    *,
    budget: int,
    comparison_id: str | None,
    executor: str,
    workers: int,
) -> Job:
    if isinstance(cfg, SearchConfig):
        sparsity, kind, method, iterations = cfg.sparsity, "search", search_method(cfg), cfg.iterations
    else:
        sparsity, kind, method, iterations = recorded_sparsity(cfg.method, cfg.sparsity), "baseline", cfg.method, 0
    run_id = store.create_run(
        kind=kind,
        method=method,
        dataset=data.name,
        backbone=cfg.backbone,
        sparsity=sparsity,
        seed=cfg.seed,
        config=cfg.to_dict(),
        budget=budget,
        iterations=iterations,
        comparison_id=comparison_id,
        executor=executor,
        workers=workers,
        n_users=data.n_users,
        n_items=data.n_items,
        data_path=data_path(cfg.data),
        data_fingerprint=data.fingerprint,
    )
    return Job(run_id, cfg, budget, fingerprint=data.fingerprint, shape=(data.n_users, data.n_items))


def data_path(spec: DataSpec) -> str:
    """Where a run's data comes from, independent of the working folder: a built-in's name, or
    the absolute path of the user's file or folder."""
    if spec.dataset in BUILTIN:
        return spec.dataset
    return str(Path(spec.dataset).expanduser().absolute())
