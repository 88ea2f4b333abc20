"""Provisional BET points (plain Python, no streamlit): while a search runs — or retrains its top
actions — the frontier and the story show, at its budget, the best finetuned candidate so far
(the highest fitness) at its **validation** metric. It is not a result: finetuned, not yet retrained,
scored on the validation users the run's fitness uses (half of them under the ``fast`` preset). It
disappears when the run completes and its retrained, exactly read-out point takes its place.

:func:`provisional_points` is a pure function of runs and their ``candidate_evaluated`` events (the
store's dicts), so tests feed it hand-made rows; :func:`read_events` fetches those events.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from bet import RunRecord, RunStore, Status, StoreError
from dashboard.queries import point_fields

#: How the charts and the story name a provisional point.
LABEL = "finetuned, not yet retrained"
#: The event kinds the query reads.
KINDS = ("candidate_evaluated",)
COLUMNS = [
    "run_id",
    "method",
    "backbone",
    "dataset",
    "sparsity",
    "params",
    "MB",
    "valid",
    "fitness",
    "action_id",
    "iteration",
    "iterations",
    "phase",
    "users",
    "created_at",
]


def searching(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """The BET searches still at work (running: searching or retraining), whose best candidate
    so far may stand in for their point."""
    return [r for r in runs if r.kind == "search" and r.status == Status.RUNNING]


def users_phrase(run: RunRecord) -> str:
    """Which validation users the run's fitness (and so a candidate's validation metric) is on."""
    frac = run.config.get("fitness_users")
    if frac is None or frac >= 1:
        return "all validation users"
    if abs(frac - 0.5) < 1e-9:
        return "a fixed half of the validation users"
    return f"a fixed {frac:.0%} of the validation users"


def best_candidate(events: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The evaluated candidate with the highest fitness (the earlier one on a tie); None when
    none has a fitness yet."""
    scored = [
        e
        for e in events
        if e.get("kind", "candidate_evaluated") == "candidate_evaluated" and _number(e.get("fitness")) is not None
    ]
    return max(scored, key=lambda e: (e["fitness"], -int(e.get("action_id") or 0)), default=None)


def provisional_points(
    runs: Sequence[RunRecord], events: Mapping[str, Sequence[Mapping[str, Any]]], metric_key: str = "recall@20"
) -> pd.DataFrame:
    """One row per running BET search with an evaluated candidate: its best candidate so far
    (highest fitness) at its budget (``params``: the candidate's cost, within the budget), with
    ``valid`` its validation ``metric_key``. ``events``: run id → that run's ``candidate_evaluated``
    events (others are ignored). Completed, stopped and failed runs give none: a completed run's own
    point replaces its provisional one."""
    rows = []
    for r in searching(runs):
        best = best_candidate(events.get(r.run_id, ()))
        if best is None:
            continue
        value = _number((best.get("valid") or {}).get(metric_key))
        if value is None:
            continue
        cost = best.get("cost") if best.get("cost") is not None else r.budget
        rows.append(
            {
                **point_fields(r, cost),
                "valid": value,
                "fitness": float(best["fitness"]),
                "action_id": best.get("action_id"),
                "iteration": best.get("iteration"),
                "iterations": r.iterations or r.config.get("iterations"),
                "phase": "retrain" if r.phase == "retrain" else "search",
                "users": users_phrase(r),
                "created_at": r.created_at,
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def read_events(store: RunStore, runs: Sequence[RunRecord]) -> dict[str, list[dict[str, Any]]]:
    """The ``candidate_evaluated`` events of the runs :func:`searching` keeps (raises the store's
    :class:`~bet.errors.StoreError`)."""
    return {r.run_id: store.events(r.run_id, kinds=KINDS) for r in searching(runs)}


def of_runs(store: RunStore, runs: Sequence[RunRecord], metric_key: str = "recall@20") -> pd.DataFrame:
    """:func:`provisional_points` of ``runs`` with their events read from ``store``; none when the
    store cannot be read now (the page's own read of the runs says why)."""
    try:
        return provisional_points(runs, read_events(store, runs), metric_key)
    except StoreError:
        return provisional_points([], {}, metric_key)


def signature(points: pd.DataFrame) -> tuple[tuple[Any, ...], ...]:
    """What a figure drawn with ``points`` depends on (for :mod:`dashboard.memo`)."""
    cols = ["run_id", "action_id", "valid", "phase"]
    return tuple(tuple(row) for row in points[cols].itertuples(index=False)) if len(points) else ()


def hover(p: Any, metric_name: str = "recall@20") -> str:
    """The hover text of one provisional point (a row of :func:`provisional_points`)."""
    doing = (
        "retraining its top actions"
        if p.phase == "retrain"
        else f"searching (iteration {p.iteration} of {p.iterations})"
    )
    mb = "" if p.MB is None or p.MB != p.MB else f"<br>{p.MB:.3f} MB"
    return (
        f"<b>{str(p.method).upper()}</b> {p.backbone} — provisional: {LABEL}<br>run {p.run_id}, still {doing}"
        f"<br>sparsity {p.sparsity:g}<br>params {int(p.params):,}{mb}<br>best finetuned candidate so far "
        f"(action {p.action_id}, fitness {p.fitness:.4f})<br>validation {metric_name} {p.valid:.4f} on {p.users}"
        "<br>not a test read-out; replaced by the retrained result when the run completes"
    )


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out
