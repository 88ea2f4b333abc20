"""Store rows → what the pages show (plain Python, no streamlit): progress and ETA, the runs
table, frontier points, the best action so far. Every function takes the
:class:`bet.RunRecord` runs that :class:`bet.RunStore` returns (tests build their own)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from bet import METHODS, RunRecord, Status
from bet.report import fmt_seconds  # noqa: F401 (the pages use it from here)
from dashboard.settings import packed_mb, redact

METRICS = ("recall@20", "ndcg@20")
PROGRESS_KINDS = ("phase", "candidate_evaluated", "retrain_finished", "pretrain_finished", "train_progress")


def duration(run: RunRecord, now: float | None = None) -> float | None:
    start = run.started_at
    if start is None:
        return None
    end = run.finished_at or (now or time.time())
    return max(0.0, end - start)


@dataclass(frozen=True)
class Progress:
    phase: str
    fraction: float  # of the whole run, in [0, 1]
    text: str  # "iteration 3 of 10", "step 40 of 1500"…
    eta: float | None  # seconds left in the current phase (None: unknown)


def progress(run: RunRecord, events: Sequence[dict[str, Any]], now: float | None = None) -> Progress:
    """Where a run is and how long its current phase still needs. ``events``: the run's events of
    kinds :data:`PROGRESS_KINDS`. Phase weights for the bar: pretrain 15 %, search 60 %, retrain 25 %."""
    now = now or time.time()
    status, phase = run.status, run.phase or "queued"
    step, total = int(run.step or 0), int(run.total_steps or 0)
    if status == Status.COMPLETED:
        return Progress("done", 1.0, "finished", 0.0)
    if status == Status.QUEUED:
        return Progress("queued", 0.0, "waiting for the runs before it", None)
    phase_t = max((e["t"] for e in events if e["kind"] == "phase"), default=run.started_at or now)
    # a training that went on from its snapshot (bet.checkpoint) did only the steps past it here
    resumed = [e for e in events if e["kind"] == "train_progress" and e.get("resumed_from") and e["t"] >= phase_t]
    base = int(resumed[-1]["resumed_from"]) if resumed and step > int(resumed[-1]["resumed_from"]) else 0
    step_eta = (total - step) * (now - phase_t) / (step - base) if step > base and total and step < total else None
    steps = (f"step {step:,} of {total:,}" + (f" (resumed from step {base:,})" if base else "")) if total else ""
    if run.kind == "baseline":
        frac = step / total if total else 0.0
        return Progress(phase, frac, steps or phase, step_eta)
    cfg = run.config
    iters = int(run.iterations or cfg.get("iterations") or 1)
    top = int(cfg.get("retrain_top") or 1)
    done = [e for e in events if e["kind"] == "candidate_evaluated"]
    if phase == "pretrain":
        frac = 0.15 * (step / total if total else 0.0)
        return Progress(
            phase,
            frac,
            f"full model{', ' + steps if steps else ''} (stops early when validation stalls; ETA is at most)",
            step_eta,
        )
    if phase == "search":
        t = int(run.iteration or len(done))  # iterations evaluated; the one at work is the next
        per_iter = sum(e["seconds"] for e in done) / len(done) if done else None
        eta = (iters - t) * per_iter if per_iter else None
        text = f"iteration {min(t + 1, iters)} of {iters} ({t} evaluated), then retrain the top {top}"
        return Progress(phase, 0.15 + 0.6 * t / iters, text, eta)
    if phase == "retrain":
        k = min(top, max(1, iters))
        rdone = [e for e in events if e["kind"] == "retrain_finished"]
        within = step / total if total else 0.0
        per = sum(e["seconds"] for e in rdone) / len(rdone) if rdone else None
        last = max((e["t"] for e in rdone), default=phase_t)
        eta = max(0.0, (k - len(rdone)) * per - (now - last)) if per else step_eta
        frac = 0.75 + 0.25 * min(1.0, (len(rdone) + within) / k)
        start = "from the pretrained rows" if cfg.get("retrain_from") == "pretrained" else "from scratch"
        return Progress(phase, frac, f"retraining {min(len(rdone) + 1, k)} of {k} {start}, {steps}", eta)
    frac = 0.75 if status.is_final else 0.0
    return Progress(phase, frac, redact(run.error or "") or phase, None)


def runs_frame(runs: Sequence[RunRecord], now: float | None = None) -> pd.DataFrame:
    """One row per run for the runs table (sortable, filterable)."""
    rows = []
    for r in runs:
        cost, n, d_max = r.cost, r.n_rows, r.d_max
        rows.append(
            {
                "run_id": r.run_id,
                "method": r.method,
                "dataset": r.dataset,
                "backbone": r.backbone,
                "sparsity": r.sparsity,
                "budget": r.budget,
                "status": r.status,
                "phase": r.phase,
                "test recall@20": r.metric(),
                "test ndcg@20": r.metric("ndcg@20"),
                "valid recall@20": r.metric(split="valid"),
                "cost": cost,
                "MB": packed_mb(cost, n, d_max) if cost is not None and n else None,
                "duration (s)": duration(r, now),
                "iteration": f"{r.iteration or 0}/{r.iterations or 0}",
                "created": pd.to_datetime(r.created_at, unit="s"),
                "comparison": r.comparison_id,
                "error": redact(r.error).splitlines()[0] if r.error else None,
            }
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


RUN_COLUMNS = [
    "run_id",
    "method",
    "dataset",
    "backbone",
    "sparsity",
    "budget",
    "status",
    "phase",
    "test recall@20",
    "test ndcg@20",
    "valid recall@20",
    "cost",
    "MB",
    "duration (s)",
    "iteration",
    "created",
    "comparison",
    "error",
]


def filter_frame(df: pd.DataFrame, **choices: Any) -> pd.DataFrame:
    """Keep rows whose column is in the chosen values (an empty choice keeps everything);
    ``sparsity=(lo, hi)``, ``min_recall=x`` and ``max_minutes=m`` (0: any) are ranges."""
    out = df
    for col in ("dataset", "backbone", "method", "status"):
        chosen = choices.get(col)
        if chosen:
            out = out[out[col].isin(chosen)]
    if (rng := choices.get("sparsity")) is not None:
        out = out[(out["sparsity"] >= rng[0] - 1e-9) & (out["sparsity"] <= rng[1] + 1e-9)]
    if (minutes := choices.get("max_minutes")) and minutes > 0:
        out = out[out["duration (s)"].fillna(0) <= minutes * 60]
    if (lo := choices.get("min_recall")) and lo > 0:
        out = out[out["test recall@20"].fillna(-1) >= lo]
    return out


def point_fields(r: RunRecord, cost: int | None) -> dict[str, Any]:
    """What every point of a frontier says of its run: who it is and what its table costs (parameters,
    packed MB; None where the cost or the row count is unknown)."""
    n, d_max = r.n_rows, r.d_max
    return {
        "run_id": r.run_id,
        "method": r.method,
        "backbone": r.backbone,
        "dataset": r.dataset,
        "sparsity": r.sparsity,
        "params": cost,
        "MB": packed_mb(cost, n, d_max) if cost is not None and n else None,
    }


def frontier_points(runs: Sequence[RunRecord], metric_key: str = "recall@20") -> pd.DataFrame:
    """Completed runs as frontier points: method, backbone, params kept, MB, the test metric
    (``value``, a read-out) and the validation one (``valid``, what :mod:`dashboard.choices` picks by)."""
    rows = []
    for r in runs:
        value = r.metric(metric_key)
        if r.status != Status.COMPLETED or value is None:
            continue
        cost = r.cost
        table = r.method not in METHODS or METHODS[r.method].table  # pop keeps none
        if not table:
            cost = 0
        cost = cost if cost is not None else r.budget
        point = point_fields(r, cost)
        if point["MB"] is None and not table:
            point["MB"] = 0.0
        rows.append(
            {
                **point,
                "value": value,
                "valid": r.metric(metric_key, "valid"),
                "seconds": duration(r),
                "seed": r.seed,
                "created_at": r.created_at,
            }
        )
    cols = [
        "run_id",
        "method",
        "backbone",
        "dataset",
        "sparsity",
        "params",
        "MB",
        "value",
        "valid",
        "seconds",
        "seed",
        "created_at",
    ]
    return pd.DataFrame(rows, columns=cols)


def fitness_band(actions: Sequence[dict[str, Any]], last: int = 5) -> tuple[int, float, float] | None:
    """How narrow the fitness of the search's latest evaluated actions is: ``(k, lowest, highest)``
    over the ``last`` ones (by iteration); None below 3 (no band to speak of)."""
    fit = [
        a["fitness"]
        for a in sorted(actions, key=lambda a: (a["iteration"], a["action_id"]))
        if a.get("iteration", 0) > 0 and a.get("fitness") is not None and a["fitness"] == a["fitness"]
    ]
    tail = fit[-last:]
    return (len(tail), min(tail), max(tail)) if len(tail) >= 3 else None


def action_rows(actions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Evaluated actions with flattened validation metrics (for CSV/JSON export)."""
    out = []
    for a in actions:
        row = {k: a.get(k) for k in ("action_id", "iteration", "role", "strategy", "cost", "predicted", "fitness")}
        row["seconds"] = a.get("seconds")
        row.update({f"valid {k}": v for k, v in (a.get("metrics") or {}).items()})
        out.append(row)
    return out


SETTINGS = {  # short name → how to read it from a stored config
    "T": lambda c: c.get("iterations"),
    "m": lambda c: c.get("candidates"),
    "finetune": lambda c: (
        c.get("finetune_steps") or (f"{c['finetune_epochs']} ep" if c.get("finetune_epochs") else "auto")
    ),
    "top-k": lambda c: c.get("retrain_top"),
    "pretrain ep": lambda c: (c.get("pretrain") or {}).get("epochs"),
    "retrain ep": lambda c: (c.get("retrain") or {}).get("epochs"),
    "seed": lambda c: c.get("seed"),
}


def settings_of(run: RunRecord) -> dict[str, Any]:
    cfg = run.config
    return {k: f(cfg) for k, f in SETTINGS.items()}


def differing_settings(runs: Sequence[RunRecord]) -> list[str]:
    """Settings that are not the same across ``runs`` (what makes a comparison unfair)."""
    all_settings = [settings_of(r) for r in runs]
    return [k for k in SETTINGS if len({str(s[k]) for s in all_settings}) > 1]
