"""Recall-vs-budget frontiers: BET and the baselines at several sparsities, one store.

Every point is an ordinary stored run (grouped by a ``comparison_id``) executed by an
:class:`~bet.executors.Executor`. ``full`` (the uncompressed table) and ``pop`` (no table) do not
depend on the budget and run once. All runs share the cached pretrained model.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from secrets import token_hex
from typing import Any

from bet.config import BaselineConfig, SearchConfig, baseline_config
from bet.data import Dataset
from bet.errors import ConfigError
from bet.executors import Executor, LocalExecutor
from bet.methods import METHODS, frontier_methods, once_methods
from bet.runs import Job, Listener, create_jobs
from bet.store import RunRecord, RunStore

#: The methods a frontier runs (every one but the ablations), in the registry's order.
FRONTIER_METHODS = frontier_methods()


def parse_list(text: str, cast: type = float) -> list[Any]:
    try:
        return [cast(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"expected a comma-separated list, got {text!r}") from None


def frontier_jobs(
    store: RunStore,
    data: Dataset,
    base: SearchConfig,
    *,
    sparsities: Sequence[float],
    methods: Sequence[str] = FRONTIER_METHODS,
    comparison_id: str | None = None,
    executor: str = "local",
    workers: int = 1,
) -> list[Job]:
    """Create one stored run per (method, sparsity) — every budget computed (and so checked)
    before anything is stored."""
    unknown = [m for m in methods if m not in FRONTIER_METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(FRONTIER_METHODS)}")
    if not sparsities and any(METHODS[m].budgeted for m in methods):
        raise ConfigError("give at least one sparsity")
    for c in sparsities:
        dataclasses.replace(base, sparsity=c).validate()
    cid = comparison_id or "cmp-" + token_hex(3)
    cfgs: list[SearchConfig | BaselineConfig] = []
    once = [m for m in once_methods() if m in methods]  # first: full pretrains (and caches) the shared model
    for m in once:
        cfgs.append(baseline_config(base, m))
    # Then the references at every budget (minutes each), then BET (the long runs): a first
    # frontier with every budget arrives early, and BET's points fill it in.
    for m in sorted((m for m in methods if METHODS[m].budgeted), key=lambda m: METHODS[m].kind == "search"):
        for c in sparsities:
            if METHODS[m].kind == "search":
                cfgs.append(dataclasses.replace(base, sparsity=c))
            else:
                cfgs.append(baseline_config(base, m, c))
    return create_jobs(store, cfgs, data, comparison_id=cid, executor=executor, workers=workers)


def frontier_rows(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """One row per run: ``{"method", "sparsity", "budget", "cost", "run_id", "status", "test"}``."""
    rows = []
    for r in runs:
        res = r.result or {}
        rows.append(
            {
                "method": r.method,
                "backbone": r.backbone,
                "sparsity": r.sparsity,
                "budget": r.budget,
                "cost": res.get("cost"),
                "run_id": r.run_id,
                "status": r.status,
                "test": res.get("test"),
                "valid": res.get("valid"),
            }
        )
    return rows


def run_frontier(
    store: RunStore,
    data: Dataset,
    base: SearchConfig,
    *,
    sparsities: Sequence[float],
    methods: Sequence[str] = FRONTIER_METHODS,
    executor: Executor | None = None,
    on_event: Listener | None = None,
    stop: threading.Event | None = None,
) -> list[dict[str, Any]]:
    ex = executor or LocalExecutor()
    jobs = frontier_jobs(
        store, data, base, sparsities=sparsities, methods=methods, executor=ex.name, workers=ex.workers
    )
    return frontier_rows(ex.run(store, jobs, data, on_event=on_event, stop=stop))
