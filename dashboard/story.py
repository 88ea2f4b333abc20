"""The demo's story, without streamlit: which runs the one-click demo queues, and the plain sentence
computed from them ("at 10 % of the parameters BET keeps N % of the full model's recall@20;
uniform sizes keep M %").

Every run the sentence quotes is chosen on **validation** recall@20 (:func:`dashboard.choices.valid_rank`);
the percentages are their test recall@20 read out, relative to the full model's. Only completed runs
count as results: a running search's best candidate so far (:mod:`dashboard.provisional`) is quoted,
where no completed BET run exists at the budget, as what it is — finetuned, not yet retrained, at its
validation recall@20 — never as a share of the full model's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from bet import (
    METHODS,
    BaselineConfig,
    RunRecord,
    SearchConfig,
    Status,
    baseline_config,
    budgeted_methods,
    once_methods,
)
from dashboard.choices import valid_rank
from dashboard.provisional import LABEL
from dashboard.settings import DEMO

#: The budgets of the demo's frontier: the live BET run's (DEMO.sparsity) first, then the others.
DEMO_SPARSITIES = (DEMO.sparsity, 0.8, 0.95)
#: BET at the other budgets: shorter searches (the live one keeps DEMO's iterations).
DEMO_SIDE_ITERATIONS = min(5, DEMO.iterations)
#: The references at each budget (each trains from scratch in ~2 s on gowalla-mini).
DEMO_METHODS = budgeted_methods("baseline")
#: The sentence's methods: BET and uniform sizes (SU), as shares of the full model's recall.
BET, SU, FULL = METHODS["bet"].name, METHODS["su"].name, METHODS["full"].name


def demo_configs() -> list[SearchConfig | BaselineConfig]:
    """The demo's runs in the order they execute: the live BET search first (it pretrains and caches
    the full model the others reuse), the full and popularity references, SU/SR/MDE at the live
    budget (the sentence's numbers), then the other budgets' references and shorter BET searches."""
    live, others = DEMO_SPARSITIES[0], DEMO_SPARSITIES[1:]
    cfgs: list[SearchConfig | BaselineConfig] = [DEMO, *(baseline_config(DEMO, m) for m in once_methods())]
    cfgs += [baseline_config(DEMO, m, live) for m in DEMO_METHODS]
    cfgs += [baseline_config(DEMO, m, c) for c in others for m in DEMO_METHODS]
    cfgs += [dataclasses.replace(DEMO, sparsity=c, iterations=DEMO_SIDE_ITERATIONS) for c in others]
    return cfgs


@dataclass(frozen=True)
class Kept:
    """At one budget: the share of the full model's test recall@20 each method keeps."""

    sparsity: float
    bet: float | None
    su: float | None

    @property
    def kept_params(self) -> str:
        return f"{1 - self.sparsity:.0%}"


def _best(runs: Sequence[RunRecord], method: str, sparsity: float | None = None) -> RunRecord | None:
    """The completed run of ``method`` (at ``sparsity``) best on validation recall@20."""
    pool = [
        r
        for r in runs
        if r.method == method
        and r.status == Status.COMPLETED
        and r.metric() is not None
        and (sparsity is None or abs(r.sparsity - sparsity) < 1e-6)
    ]
    return max(pool, key=valid_rank, default=None)


def kept(runs: Sequence[RunRecord]) -> list[Kept]:
    """Per budget with a completed BET or SU run, the share of the full model's test recall@20
    that BET and SU keep (None: not run yet); [] until the full model has finished."""
    full = _best(runs, FULL)
    base = full.metric() if full is not None else None
    if not base:
        return []
    out = []
    for c in sorted({round(r.sparsity, 4) for r in runs if r.method in (BET, SU)}):
        shares = []
        for method in (BET, SU):
            run = _best(runs, method, c)
            value = run.metric() if run is not None else None
            shares.append(None if value is None else value / base)
        if any(s is not None for s in shares):
            out.append(Kept(c, *shares))
    return out


def _pct(share: float | None) -> str:
    return "…" if share is None else f"{share:.0%}"


def _pending_at(pending: pd.DataFrame | None, sparsity: float) -> pd.Series | None:
    """The provisional BET point at ``sparsity`` best on validation (None: none)."""
    if pending is None or pending.empty:
        return None
    at = pending[(pending["method"] == BET) & ((pending["sparsity"] - sparsity).abs() < 1e-6)]
    return None if at.empty else at.sort_values("valid", ascending=False, kind="stable").iloc[0]


def _no_su(runs: Sequence[RunRecord], sparsity: float) -> str:
    """Why the sentence quotes no uniform sizes: one is at work at this budget, or none completed
    (a recorded study without them: never "still training" when nothing trains)."""
    at_work = any(r.method == SU and not r.status.is_final and abs(r.sparsity - sparsity) < 1e-6 for r in runs)
    return "uniform sizes are still training" if at_work else "no uniform-sizes (SU) run completed at this budget"


def sentence(runs: Sequence[RunRecord], sparsity: float, pending: pd.DataFrame | None = None) -> str | None:
    """The demo's headline at ``sparsity``: None until the full model and BET there have finished,
    unless a search there is still at work (``pending``: :func:`dashboard.provisional.provisional_points`
    of the runs' running searches) — then the sentence says that BET has no result yet and quotes its
    best candidate so far for what it is (finetuned, not yet retrained, validation recall@20)."""
    at = next((k for k in kept(runs) if abs(k.sparsity - sparsity) < 1e-6), None)
    kept_params = f"{1 - sparsity:.0%}"
    if at is not None and at.bet is not None:
        su = _no_su(runs, sparsity) if at.su is None else f"uniform sizes keep {_pct(at.su)}"
        return f"At {kept_params} of the parameters BET keeps {_pct(at.bet)} of the full model's recall@20; {su}."
    p = _pending_at(pending, sparsity)
    if p is None:
        return None
    bet = (
        f"BET has no result yet: its best candidate so far is {LABEL} (validation recall@20 {p['valid']:.4f} "
        f"on {p['users']})"
    )
    if at is not None and at.su is not None:
        return (
            f"At {kept_params} of the parameters uniform sizes keep {_pct(at.su)} of the full model's recall@20; {bet}."
        )
    return f"At {kept_params} of the parameters {bet}."


def other_budgets(runs: Sequence[RunRecord], sparsity: float, pending: pd.DataFrame | None = None) -> str | None:
    """The same read-out at the other budgets, one short line (None when there are none yet); a
    budget whose BET search is still at work says so instead of quoting its provisional point."""

    def bet(k: Kept) -> str:
        return "still running" if k.bet is None and _pending_at(pending, k.sparsity) is not None else _pct(k.bet)

    parts = [
        f"at {k.kept_params}: BET {bet(k)}, uniform {_pct(k.su)}"
        for k in kept(runs)
        if abs(k.sparsity - sparsity) >= 1e-6
    ]
    return ("Other budgets — " + " · ".join(parts)) if parts else None
