"""Shared helpers for the dashboard tests: tiny search settings, hand-made store rows, and a store
filled with plausible runs without training anything."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from bet.baselines import baseline_action
from bet.budget import budget_for
from bet.config import DataSpec, SearchConfig
from bet.data import Dataset
from bet.store import RunRecord, RunStore

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10", "recall@20", "ndcg@20")


def tiny_config(**changes: Any) -> SearchConfig:
    """gowalla-mini, 2 iterations × 10 candidates, 10 finetune steps, top 1 retrained, a 4-epoch
    pretrain/retrain (≈ 20 steps): a whole search in a few seconds on 2 CPU cores."""
    base = SearchConfig()
    cfg = dataclasses.replace(
        base, data=DataSpec("gowalla-mini"), iterations=2, candidates=10, finetune_steps=10, retrain_top=1,
        device="cpu", pretrain=dataclasses.replace(base.pretrain, epochs=4),
        retrain=dataclasses.replace(base.retrain, epochs=4),
    )  # fmt: skip
    return dataclasses.replace(cfg, **changes)


def metrics(r20: float) -> dict[str, float]:
    return {k: r20 * (0.5 if "@5" in k else 0.75 if "@10" in k else 1.0) * (0.8 if "ndcg" in k else 1.0)
            for k in METRICS}  # fmt: skip


def run_row(**changes: Any) -> RunRecord:
    """A run as :meth:`RunStore.get_run` hands it out (``changes``: its columns, as stored)."""
    now = time.time()
    row: dict[str, Any] = {
        "run_id": "r1", "kind": "search", "method": "bet", "comparison_id": None, "dataset": "gowalla-mini",
        "backbone": "lightgcn", "sparsity": 0.9, "budget": 87488, "seed": 0,
        "config": {"d_max": 128, "iterations": 4, "retrain_top": 2, "data": {"dataset": "gowalla-mini"}},
        "status": "completed", "error": None, "phase": "done", "iteration": 4, "iterations": 4, "step": 0,
        "total_steps": 0, "created_at": now - 100, "started_at": now - 90, "finished_at": now - 10,
        "heartbeat": now - 10, "executor": "dashboard", "workers": 1,
        "result": {"valid": metrics(0.21), "test": metrics(0.22), "cost": 87488, "best_action_id": 2,
                   "seconds": 80.0},
    }  # fmt: skip
    row.update(changes)
    return RunRecord.of(row)


def ranked_event(iteration: int = 3, m: int = 8, chosen: int = 5, strategy: str = "greedy") -> dict[str, Any]:
    rng = np.random.default_rng(iteration)
    return {
        "kind": "candidates_ranked", "iteration": iteration, "predicted": rng.random(m).round(4).tolist(),
        "chosen": chosen, "strategy": strategy, "costs": [87488] * m, "user_shares": rng.random(m).round(3).tolist(),
    }  # fmt: skip


def action_rows(n: int = 4) -> list[dict[str, Any]]:
    strategies = ["greedy", "random", "nearest", "greedy"]
    return [
        {"run_id": "r1", "action_id": t, "iteration": t, "role": "evaluated", "strategy": strategies[(t - 1) % 4],
         "cost": 87488, "predicted": 0.5 + 0.1 * t, "fitness": [0.80, 0.86, 0.83, 0.85][(t - 1) % 4],
         "metrics": metrics(0.2 + 0.001 * t), "seconds": 2.0 + t}
        for t in range(1, n + 1)
    ]  # fmt: skip


def fill_store(store: RunStore, data: Dataset, sparsity: float = 0.9) -> dict[str, str]:
    """Write a completed BET search (3 evaluated actions, events, a packed-table stand-in), the full,
    pop and SU baselines at its budget, and a failed run — all through the store's public writers."""
    cfg = tiny_config(iterations=3, sparsity=sparsity)
    budget = budget_for(sparsity, n_rows=data.n_rows)
    ids: dict[str, str] = {}
    now = time.time()
    rid = store.create_run(kind="search", method="bet", dataset=data.name, backbone="lightgcn", sparsity=sparsity,
                           seed=0, config=cfg.to_dict(), budget=budget, iterations=3, executor="dashboard")  # fmt: skip
    ids["bet"] = rid
    store.add_event(rid, "run_started", {"run_id": rid, "budget": budget, "n_users": data.n_users,
                                         "n_items": data.n_items, "config": {}})  # fmt: skip
    store.add_event(rid, "phase", {"phase": "pretrain", "detail": ""})
    store.add_event(rid, "pretrain_finished", {"valid": metrics(0.24), "quality": 0.2, "cached": False,
                                               "seconds": 12.0})  # fmt: skip
    store.add_event(rid, "phase", {"phase": "search", "detail": ""})
    for t, method in enumerate(("su", "mde", "sr"), start=1):
        action = baseline_action(method, data, sparsity, seed=t)
        ranked = ranked_event(t, 10, t, ["greedy", "random", "nearest"][t - 1])
        store.add_event(rid, "candidates_ranked", ranked)
        fit, r20 = [0.80, 0.88, 0.84][t - 1], [0.19, 0.21, 0.2][t - 1]
        store.add_event(rid, "candidate_evaluated", {"iteration": t, "action_id": t, "cost": action.cost,
                                                     "predicted": 0.5, "fitness": fit, "valid": metrics(r20),
                                                     "seconds": 3.0, "strategy": ranked["strategy"]})  # fmt: skip
        store.add_action(rid, t, action, iteration=t, strategy=ranked["strategy"], predicted=0.4 + 0.1 * t,
                         fitness=fit, metrics=metrics(r20), seconds=3.0)  # fmt: skip
        store.add_event(rid, "predictor_updated", {"iteration": t, "loss": 0.1 / t, "spearman": None if t < 3 else 0.5})
    store.add_event(rid, "phase", {"phase": "retrain", "detail": ""})
    store.add_event(rid, "retrain_finished", {"rank": 1, "action_id": 2, "valid": metrics(0.215), "quality": 0.2,
                                              "seconds": 9.0})  # fmt: skip
    store.add_table(rid, 2, cost=budget, data=b"PK-not-a-real-table")
    result = {"valid": metrics(0.215), "test": metrics(0.225), "cost": budget, "best_action_id": 2, "seconds": 40.0}
    store.update_run(rid, status="completed", phase="done", iteration=3, result=result, started_at=now - 50,
                     finished_at=now - 10)  # fmt: skip
    for method, r20 in (("full", 0.245), ("pop", 0.07), ("su", 0.2)):
        c = 0.0 if method == "full" else 1.0 if method == "pop" else sparsity
        b = data.n_rows * 128 if method == "full" else 0 if method == "pop" else budget
        bid = store.create_run(kind="baseline", method=method, dataset=data.name, backbone="lightgcn", sparsity=c,
                               seed=0, config=cfg.to_dict(), budget=b, executor="dashboard")  # fmt: skip
        if method == "su":
            store.add_action(bid, 0, baseline_action("su", data, sparsity), iteration=0, role="baseline")
        store.update_run(bid, status="completed", phase="done", started_at=now - 9, finished_at=now - 5,
                         result={"valid": metrics(r20), "test": metrics(r20), "cost": b, "seconds": 4.0})  # fmt: skip
        ids[method] = bid
    fid = store.create_run(kind="search", method="bet", dataset=data.name, backbone="ncf", sparsity=sparsity, seed=0,
                           config=cfg.to_dict(), budget=budget, iterations=3, executor="dashboard")  # fmt: skip
    store.update_run(fid, status="failed", phase="failed", error="ConfigError: something went wrong\ntraceback…",
                     started_at=now - 4, finished_at=now - 3)  # fmt: skip
    ids["failed"] = fid
    return ids


def add_run(store: RunStore, data: Dataset, method: str = "bet", *, valid: float, test: float,
            created_at: float, comparison_id: str | None = None, sparsity: float = 0.9) -> str:  # fmt: skip
    """A completed run with the given recall@20s (and ``created_at``); a BET search gets one
    evaluated action (the SU sizes) as its result, ``full`` and ``pop`` their references' budgets."""
    c = {"full": 0.0, "pop": 1.0}.get(method, sparsity)
    budget = (
        data.n_rows * 128 if method == "full" else 0 if method == "pop" else budget_for(sparsity, n_rows=data.n_rows)
    )
    cfg = tiny_config(sparsity=sparsity).to_dict()
    kind = "search" if method == "bet" else "baseline"
    rid = store.create_run(kind=kind, method=method, dataset=data.name, backbone="lightgcn", sparsity=c, seed=0,
                           config=cfg, budget=budget, iterations=1, comparison_id=comparison_id)  # fmt: skip
    result: dict[str, Any] = {"valid": metrics(valid), "test": metrics(test), "cost": budget, "seconds": 1.0}
    if method == "bet":
        store.add_action(rid, 1, baseline_action("su", data, sparsity), iteration=1, strategy="greedy",
                         predicted=0.5, fitness=valid / 0.25, metrics=metrics(valid), seconds=1.0)  # fmt: skip
        result["best_action_id"] = 1
    store.update_run(rid, status="completed", phase="done", iteration=1, result=result, created_at=created_at,
                     started_at=created_at + 1, finished_at=created_at + 5)  # fmt: skip
    return rid


def running_search(store: RunStore, data: Dataset, sparsity: float = 0.95, *,
                   candidates: tuple[tuple[float, float], ...] = ((0.80, 0.19), (0.88, 0.205), (0.84, 0.21)),
                   fitness_users: float | None = 0.5, phase: str = "search",
                   comparison_id: str | None = None) -> str:  # fmt: skip
    """A BET search stored as running in this process (its pid is alive, so it reads as running,
    not interrupted), with one ``candidate_evaluated`` event per ``(fitness, validation recall@20)``
    of ``candidates`` (costs within the budget) and, with ``phase="retrain"``, its retraining begun."""
    cfg = tiny_config(iterations=20, sparsity=sparsity, fitness_users=fitness_users)
    budget = budget_for(sparsity, n_rows=data.n_rows)
    rid = store.create_run(kind="search", method="bet", dataset=data.name, backbone="lightgcn", sparsity=sparsity,
                           seed=0, config=cfg.to_dict(), budget=budget, iterations=20, executor="cli",
                           comparison_id=comparison_id, n_users=data.n_users, n_items=data.n_items)  # fmt: skip
    store.update_run(rid, status="running", phase="search", started_at=time.time() - 30, heartbeat=time.time())
    store.add_event(rid, "phase", {"phase": "search", "detail": ""})
    for t, (fitness, r20) in enumerate(candidates, start=1):
        store.add_event(rid, "candidate_evaluated", {"iteration": t, "action_id": t, "cost": budget - t,
                                                     "predicted": 0.5, "fitness": fitness, "valid": metrics(r20),
                                                     "seconds": 3.0, "strategy": "greedy"})  # fmt: skip
    store.update_run(rid, iteration=len(candidates))
    if phase == "retrain":
        store.add_event(rid, "phase", {"phase": "retrain", "detail": ""})
        store.update_run(rid, phase="retrain")
    return rid
