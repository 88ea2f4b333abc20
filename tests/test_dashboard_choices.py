"""Every choice the dashboard makes between runs is made on validation; test is only read out
(issue 10 B.2). No streamlit, no training: hand-made store rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
import pytest
from dashboard_helpers import run_row

from dashboard import choices, frontier_chart, queries


def result(valid: float, test: float, cost: int = 87488) -> dict[str, object]:
    return {"valid": {"recall@20": valid}, "test": {"recall@20": test}, "cost": cost}


def by_name(fig: go.Figure) -> dict[str, Any]:
    return {t.name: t for t in fig.data}


def test_the_better_on_test_run_loses_when_it_is_worse_on_validation() -> None:
    lucky = run_row(run_id="lucky", result=result(valid=0.18, test=0.25), created_at=2.0)  # best on test, newer
    sound = run_row(run_id="sound", result=result(valid=0.21, test=0.22), created_at=1.0)
    full_lucky = run_row(run_id="fl", kind="baseline", method="full", sparsity=0.0, budget=874880,
                         result=result(valid=0.20, test=0.30, cost=874880))  # fmt: skip
    full_sound = run_row(run_id="fs", kind="baseline", method="full", sparsity=0.0, budget=874880,
                         result=result(valid=0.24, test=0.245, cost=874880))  # fmt: skip
    runs = [lucky, sound, full_lucky, full_sound]
    fig = frontier_chart.frontier_figure(queries.frontier_points(runs))
    line = by_name(fig)["BET"]
    assert list(line.customdata) == ["sound"] and list(line.y) == [0.22]  # test read out for the valid-best run
    assert "chosen on valid recall@20 0.2100" in line.hovertext[0]
    assert list(by_name(fig)["BET (other runs)"].customdata) == ["lucky"]  # still visible, faint, off the line
    full = by_name(fig)["full size (lightgcn)"]
    assert list(full.y) == [0.245, 0.245] and list(full.customdata) == ["fs", "fs"]
    # the Backbones page shows the same run for lightgcn at this budget
    group = choices.comparison_groups(runs)[("gowalla-mini", 0.9)]
    assert group["lightgcn"].run_id == "sound"
    assert choices.comparison_groups(list(reversed(runs)))[("gowalla-mini", 0.9)]["lightgcn"].run_id == "sound"


def test_several_seeds_at_a_budget_are_a_mean_with_a_std_error_bar() -> None:
    runs = [  # seed 0 ran twice: its run better on validation counts, not the one better on test
        run_row(run_id="s0a", seed=0, result=result(valid=0.10, test=0.30)),
        run_row(run_id="s0b", seed=0, result=result(valid=0.20, test=0.20)),
        run_row(run_id="s1", seed=1, result=result(valid=0.23, test=0.22)),
        run_row(run_id="s2", seed=2, result=result(valid=0.22, test=0.24)),
        run_row(run_id="one", seed=0, sparsity=0.8, budget=174976, result=result(0.25, 0.26, cost=174976)),
    ]  # fmt: skip
    line, others = choices.frontier_line(queries.frontier_points(runs), "params")
    assert list(line["params"]) == [87488, 174976] and list(line["n_seeds"]) == [3, 1]
    assert line["value"].iloc[0] == pytest.approx(0.22) and line["std"].iloc[0] == pytest.approx(0.02)
    assert line["run_id"].iloc[0] == "s1"  # a click opens the seed best on validation
    assert np.isnan(line["std"].iloc[1]) and set(others["run_id"]) == {"s0a", "s0b", "s1", "s2"}
    fig = frontier_chart.frontier_figure(queries.frontier_points(runs))
    bet = by_name(fig)["BET"]
    assert list(bet.error_y.array) == [pytest.approx(0.02), 0.0]
    assert "mean over 3 seeds" in bet.hovertext[0] and "± 0.0200" in bet.hovertext[0]


def test_one_budget_alone_gets_a_padded_x_axis() -> None:
    runs = [run_row(run_id="b", budget=33600, result=result(0.2, 0.2, cost=33600))]
    fig = frontier_chart.frontier_figure(queries.frontier_points(runs))
    assert tuple(fig.layout.xaxis.range) == (0.0, pytest.approx(33600 * 1.08))
    fig = frontier_chart.frontier_figure(queries.frontier_points(runs), log_x=True)
    lo, hi = fig.layout.xaxis.range
    assert 10**lo == pytest.approx(16800) and 10**hi == pytest.approx(67200)
    assert frontier_chart.x_range(queries.frontier_points([])["params"]) == (0.0, 1.0)
