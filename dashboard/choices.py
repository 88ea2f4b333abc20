"""Every choice the dashboard makes between runs, made on validation — never on test (plain Python,
no streamlit).

Which run a frontier line joins at a budget, which reference line is drawn, which run the Backbones
page shows: all decided by the validation metric. Test metrics are only read out for the runs chosen
here. Where several seeds ran the same method and backbone at the same budget, the frontier shows
their mean ± std (error bars) instead of choosing one of them.
"""

from __future__ import annotations

import math

import pandas as pd

from bet import METHODS, RunRecord, Status

BET = METHODS["bet"].name


def valid_rank(run: RunRecord, metric_key: str = "recall@20") -> tuple[bool, float, float]:
    """Sort key of a run (higher is preferred): completed first, then the better validation
    metric, then the newer run. Test metrics take no part."""
    value = run.metric(metric_key, "valid")
    return (run.status == Status.COMPLETED, -math.inf if value is None else value, run.created_at or 0.0)


def _by_valid(g: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``g`` (frontier points) best on validation first; ties: the newer run first."""
    key = g.assign(_v=g["valid"].astype(float).fillna(-math.inf), _t=g["created_at"].astype(float).fillna(0.0))
    return g.loc[key.sort_values(["_v", "_t"], ascending=False, kind="stable").index]


def best_on_valid(points: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Per group of ``by``: the point with the best validation metric (the newer on a tie)."""
    if points.empty:
        return points
    return _by_valid(points).drop_duplicates(subset=by, keep="first")


def frontier_line(g: pd.DataFrame, x: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One method × backbone's frontier points (:func:`dashboard.queries.frontier_points`) →
    ``(line, others)``. At each ``x``: per seed, the run with the best validation metric; with one
    seed the line shows that run's test value; with several, the mean of the chosen runs' test
    values with ``std`` (sample standard deviation) as the error bar and ``n_seeds`` > 1.
    ``others``: the points not drawn on the line (every seed's run where the line is a mean)."""
    line_rows, drawn = [], set()
    for _, at in g.groupby(x, sort=True):
        per_seed = best_on_valid(at.assign(_seed=at["seed"].fillna(-1)), ["_seed"]).drop(columns="_seed")
        top = per_seed.iloc[0].to_dict()  # the best on validation: its run opens on a click
        n = len(per_seed)
        top.update(n_seeds=n, std=float(per_seed["value"].std(ddof=1)) if n > 1 else math.nan)
        if n > 1:
            top.update(value=float(per_seed["value"].mean()), valid=float(per_seed["valid"].mean()))
        else:
            drawn.add(top["run_id"])
        line_rows.append(top)
    line = pd.DataFrame(line_rows, columns=[*g.columns, "n_seeds", "std"])
    return line, g[~g["run_id"].isin(drawn)]


def comparison_groups(runs: list[RunRecord]) -> dict[tuple[str, float], dict[str, RunRecord]]:
    """(dataset, sparsity) → backbone → the BET run to show there: a completed one before an
    unfinished one, then the best on validation recall@20, then the newest (:func:`valid_rank`)."""
    out: dict[tuple[str, float], dict[str, RunRecord]] = {}
    for r in runs:
        if r.method != BET:
            continue
        slot = out.setdefault((r.dataset, round(r.sparsity, 4)), {})
        cur = slot.get(r.backbone)
        if cur is None or valid_rank(r) > valid_rank(cur):
            slot[r.backbone] = r
    return out
