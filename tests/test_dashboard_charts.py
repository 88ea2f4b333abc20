"""The dashboard's chart builders and the row → view logic behind them (no streamlit, no training)."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from dashboard_helpers import action_rows, ranked_event, run_row

from bet import SearchConfig, best_action
from bet import report as explain
from bet.budget import Action
from bet.data import Dataset
from dashboard import charts, choices, frontier_chart, queries, settings
from dashboard.charts import METHOD_COLORS, STRATEGY_COLORS


def test_ranking_sorts_candidates_and_marks_the_chosen_one() -> None:
    ev = ranked_event(iteration=3, m=8, chosen=5, strategy="random")
    fig = charts.ranking_figure(ev)
    bars, star = fig.data
    pred = np.array(ev["predicted"])
    assert list(bars.y) == sorted(pred, reverse=True)
    rank = int(np.flatnonzero(np.argsort(-pred, kind="stable") == 5)[0]) + 1
    assert list(star.x) == [rank] and star.y[0] == pytest.approx(pred[5])
    assert star.text[0] == "chosen (random)"
    colored = [i for i, c in enumerate(bars.marker.color) if c == STRATEGY_COLORS["random"]]
    assert colored == [rank - 1]
    assert "Iteration 3" in fig.layout.title.text and "8 candidates" in fig.layout.title.text


def test_predicted_vs_actual_one_series_per_strategy() -> None:
    acts = action_rows(4)
    fig = charts.predicted_vs_actual_figure(acts)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"greedy", "random", "nearest"}
    assert list(by_name["greedy"].x) == [0.6, pytest.approx(0.9)]
    assert list(by_name["greedy"].y) == [0.80, 0.85]


def test_spearman_and_fitness_curves() -> None:
    updates = [{"iteration": t, "loss": 1.0 / t, "spearman": None if t < 3 else 0.1 * t} for t in range(1, 5)]
    fig = charts.spearman_figure(updates)
    rho, loss = fig.data
    assert list(rho.x) == [1, 2, 3, 4] and list(rho.y)[2:] == [pytest.approx(0.3), pytest.approx(0.4)]
    assert list(loss.y) == [1.0, 0.5, pytest.approx(1 / 3), 0.25]
    fit = charts.fitness_figure(action_rows(4))
    evaluated, best = fit.data
    assert list(evaluated.y) == [0.80, 0.86, 0.83, 0.85]
    assert list(best.y) == [0.80, 0.86, 0.86, 0.86]


def test_size_histograms_users_and_items_with_uniform_marked() -> None:
    users, items = np.array([1, 2, 2, 40]), np.array([5, 5, 6])
    fig = charts.size_histogram_figure(users, items, uniform=4.5, d_max=128)
    hu, hi = fig.data
    assert (list(hu.x), list(hu.y)) == ([1, 2, 40], [1, 2, 1])  # rows per size, counted
    assert (list(hi.x), list(hi.y)) == ([5, 6], [2, 1])
    assert hu.xaxis == "x" and hi.xaxis == "x2"
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(lines) == 2 and all(s.x0 == 4.5 for s in lines)
    assert "users (4)" in [a.text for a in fig.layout.annotations]


def test_size_vs_frequency_subsamples_big_tables() -> None:
    n = charts.MAX_POINTS + 500
    sizes, freq = np.arange(n) % 128 + 1, np.arange(n)
    fig = charts.size_frequency_figure(
        user_sizes=sizes, user_freq=freq, item_sizes=np.array([3, 4]), item_freq=np.array([10, 20])
    )
    users, items = fig.data
    assert len(users.x) == charts.MAX_POINTS
    assert list(items.x) == [11, 21] and list(items.y) == [3, 4]
    assert fig.layout.xaxis.type == "log"


def _points() -> pd.DataFrame:
    runs = [
        run_row(run_id="b9", sparsity=0.9, budget=87488, result={"test": {"recall@20": 0.22, "ndcg@20": 0.17},
                                                                  "cost": 87488}),
        run_row(run_id="b8", sparsity=0.8, budget=174976, result={"test": {"recall@20": 0.23, "ndcg@20": 0.18},
                                                                   "cost": 174976}),
        run_row(run_id="s9", kind="baseline", method="su", result={"test": {"recall@20": 0.2}, "cost": 87488}),
        run_row(run_id="f", kind="baseline", method="full", sparsity=0.0, budget=874880,
                result={"test": {"recall@20": 0.245}, "cost": 874880}),
        run_row(run_id="p", kind="baseline", method="pop", sparsity=1.0, budget=0,
                result={"test": {"recall@20": 0.07}}),
        run_row(run_id="q", status="running", result=None),
    ]  # fmt: skip
    return queries.frontier_points(runs)


def test_frontier_series_per_method_with_full_line_and_pop_floor() -> None:
    points = _points()
    assert set(points["run_id"]) == {"b9", "b8", "s9", "f", "p"}  # the running one is not a point
    fig = frontier_chart.frontier_figure(points, x="params", metric_name="recall@20")
    names = [t.name for t in fig.data]
    bet = fig.data[names.index("BET")]
    assert list(bet.x) == [87488, 174976] and list(bet.y) == [0.22, 0.23]  # sorted by x
    assert list(bet.customdata) == ["b9", "b8"] and "run b9" in bet.hovertext[0]
    su = fig.data[names.index("SU (uniform)")]
    assert list(su.y) == [0.2] and su.marker.color == METHOD_COLORS["su"]
    full = fig.data[names.index("full size (lightgcn)")]
    assert full.line.dash == "dash" and list(full.y) == [0.245, 0.245] and full.x[1] >= 874880
    pop = fig.data[names.index("popularity (lightgcn)")]
    assert pop.line.dash == "dot" and list(pop.y) == [0.07, 0.07]


def test_frontier_keeps_backbones_apart_and_joins_the_best_run_per_budget() -> None:
    res = {"valid": {"recall@20": 0.2}, "test": {"recall@20": 0.2}, "cost": 87488}
    runs = [
        run_row(run_id="l1", result=res),
        run_row(run_id="l2", result={**res, "valid": {"recall@20": 0.24}, "test": {"recall@20": 0.25}}),
        run_row(run_id="n1", backbone="ncf", result={**res, "test": {"recall@20": 0.1}}),
    ]  # fmt: skip
    fig = frontier_chart.frontier_figure(queries.frontier_points(runs))
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["BET · lightgcn"].customdata) == ["l2"] and list(by_name["BET · lightgcn"].y) == [0.25]
    assert list(by_name["BET · lightgcn (other runs)"].customdata) == ["l1"]
    assert list(by_name["BET · ncf"].y) == [0.1]


def test_frontier_in_megabytes_and_by_backbone() -> None:
    points = _points()
    mb = points.set_index("run_id")["MB"]
    assert mb["b9"] == pytest.approx((87488 * 4 + 6835) / 1e6)
    assert mb["p"] == 0.0
    fig = frontier_chart.frontier_figure(points, x="MB", metric_name="recall@20", color_by="backbone", log_x=True)
    assert fig.data[0].name == "lightgcn · BET" and fig.layout.xaxis.type == "log"
    assert list(fig.data[0].x) == sorted(fig.data[0].x)
    # a log axis is labelled at the budgets shown, not with bare minor digits ("5, 100k, 2, 5, 1M")
    assert list(fig.layout.xaxis.tickvals) == sorted(set(points["MB"]) - {0.0})  # pop's 0 MB has no place on a log axis
    assert list(fig.layout.xaxis.ticktext) == ["0.36", "0.71", "3.5"]
    fig = frontier_chart.frontier_figure(points, x="params", metric_name="recall@20", log_x=True)
    assert list(fig.layout.xaxis.tickvals) == [87488, 174976, 874880]
    assert list(fig.layout.xaxis.ticktext) == ["87k", "175k", "875k"]  # not "87.488k"


def test_backbone_bars_allocation_and_share_charts() -> None:
    rows = pd.DataFrame([{"backbone": "lightgcn", "recall_20": 0.22, "ndcg_20": 0.17},
                         {"backbone": "ncf", "recall_20": 0.15, "ndcg_20": 0.11}])  # fmt: skip
    fig = charts.backbone_metrics_figure(rows)
    assert [t.name for t in fig.data] == ["lightgcn", "ncf"] and list(fig.data[1].y) == [0.15, 0.11]
    alloc = {"BET (best)": (np.array([9.0, 3.0]), np.array([20.0, 1.0])), "SU (uniform)": (np.ones(2), np.ones(2))}
    fig = charts.allocation_figure(alloc)
    assert len(fig.data) == 4 and list(fig.data[1].y) == [20.0, 1.0] and fig.data[0].line.color == METHOD_COLORS["bet"]
    df = pd.DataFrame([{"action_id": 1, "iteration": 1, "strategy": "greedy", "fitness": 0.8, "user share": 0.3,
                        "item head share": 0.6}])  # fmt: skip
    fig = charts.share_fitness_figure(df)
    assert list(fig.data[0].x) == [0.3] and list(fig.data[0].y) == [0.8]
    pool = charts.pool_figure(ranked_event(2, 6, 1))
    assert len(pool.data[0].x) == 6 and pool.data[1].name == "chosen"


def test_progress_phases_and_eta() -> None:
    now = 1000.0
    run = run_row(status="running", phase="search", iteration=2, iterations=4, started_at=900.0)
    evs = [{"kind": "phase", "t": 950.0}, {"kind": "candidate_evaluated", "t": 960.0, "seconds": 4.0},
           {"kind": "candidate_evaluated", "t": 965.0, "seconds": 6.0}]  # fmt: skip
    p = queries.progress(run, evs, now)
    assert p.phase == "search" and "iteration 3 of 4 (2 evaluated)" in p.text  # at work on the 3rd
    assert p.eta == pytest.approx(10.0) and p.fraction == pytest.approx(0.15 + 0.6 * 0.5)
    pre = queries.progress(run_row(status="running", phase="pretrain", step=50, total_steps=200), evs[:1], now)
    assert pre.fraction == pytest.approx(0.15 * 0.25) and pre.eta == pytest.approx(150 * 50 / 50)
    assert queries.progress(run_row(status="queued", phase=None), [], now).phase == "queued"
    assert queries.progress(run_row(), [], now).fraction == 1.0
    assert queries.fmt_seconds(75) == "1m 15s" and queries.fmt_seconds(None) == "–"


def test_a_resumed_training_says_so_and_its_eta_counts_from_where_it_went_on() -> None:
    """Resumed at step 3,600 of 23,700, 50 s ago, now at 3,700: 100 steps in 50 s, so 20,000 steps
    left take 10,000 s (not 270 s, as counting all 3,700 steps as this process's would say)."""
    run = run_row(status="running", phase="pretrain", step=3_700, total_steps=23_700)
    evs = [{"kind": "phase", "t": 950.0}, {"kind": "train_progress", "t": 951.0, "step": 3_601, "resumed_from": 3_600}]
    p = queries.progress(run, evs, 1000.0)
    assert "step 3,700 of 23,700 (resumed from step 3,600)" in p.text and p.eta == pytest.approx(10_000.0)
    earlier = [{**evs[1], "t": 900.0}]  # a resume before this phase began says nothing about it
    assert queries.progress(run, [evs[0], *earlier], 1000.0).eta == pytest.approx(20_000 * 50 / 3_700)


def test_runs_frame_and_filters() -> None:
    runs = [
        run_row(run_id="a"),
        run_row(run_id="b", backbone="ncf", status="failed", result=None, error="boom\nx", started_at=None),
        run_row(run_id="c", sparsity=0.95, budget=43744),
    ]
    df = queries.runs_frame(runs, now=time_now())
    assert list(df["run_id"]) == ["a", "b", "c"] and df.loc[1, "error"] == "boom"
    assert df.loc[0, "test recall@20"] == pytest.approx(0.22) and df.loc[0, "duration (s)"] == pytest.approx(80.0)
    assert list(queries.filter_frame(df, backbone=["ncf"])["run_id"]) == ["b"]
    assert list(queries.filter_frame(df, status=["completed"], sparsity=(0.9, 0.92))["run_id"]) == ["a"]
    assert list(queries.filter_frame(df, min_recall=0.1)["run_id"]) == ["a", "c"]
    assert list(queries.filter_frame(df, max_minutes=1.0)["run_id"]) == ["b"]  # a and c took 80 s; b never started


def time_now() -> float:
    return time.time()


def test_best_action_comparison_groups_and_export_rows() -> None:
    acts = action_rows(4)
    assert best_action(acts)["action_id"] == 2  # type: ignore[index]  # fittest while running
    assert best_action(acts, run_row(result={"best_action_id": 3}))["action_id"] == 3  # type: ignore[index]
    rows = queries.action_rows(acts)
    assert rows[0]["valid recall@20"] == pytest.approx(0.201) and rows[0]["strategy"] == "greedy"
    runs = [run_row(run_id="x", backbone="ncf"), run_row(run_id="y", backbone="lightgcn"),
            run_row(run_id="z", backbone="lightgcn", status="running", result=None, created_at=1e12)]  # fmt: skip
    groups = choices.comparison_groups(runs)
    assert {b: r.run_id for b, r in groups[("gowalla-mini", 0.9)].items()} == {"ncf": "x", "lightgcn": "y"}


def test_budget_readout_and_form_parsing(mini: Dataset) -> None:
    r = settings.readout(SearchConfig(sparsity=0.9, d_max=128), mini)
    assert r.budget == 87488 and r.full_params == 874880 and mini.n_rows == 6835
    assert r.packed_mb == pytest.approx((87488 * 4 + 6835) / 1e6) and r.avg_dim == pytest.approx(87488 / 6835)
    assert "87,488" in r.text() and "0.36 MB" in r.text()
    with pytest.raises(Exception, match="infeasible"):
        settings.readout(SearchConfig(sparsity=0.99, d_max=16), mini)
    with pytest.raises(Exception, match="infeasible for ncf"):  # every backbone the form starts on
        settings.readout(SearchConfig(sparsity=0.995, d_max=256), mini, ["lightgcn", "ncf"])
    assert settings.parse_sparsities("0.9, 0.8 0.9;0.95") == [0.8, 0.9, 0.95]
    with pytest.raises(ValueError, match="not a number"):
        settings.parse_sparsities("0.9, abc")
    with pytest.raises(ValueError, match="outside"):
        settings.parse_sparsities("1.5")


def test_explain_features_and_narrative() -> None:
    freq = np.array([100, 50, 10, 5, 1])
    sizes = np.array([40, 20, 4, 2, 1])
    assert explain.head_share(sizes, freq) == pytest.approx(40 / 67)
    assert list(explain.allocation_by_bin(sizes, freq, 5)) == [40, 20, 4, 2, 1]
    f = explain.features(Action.of(sizes, np.array([8, 8])), freq, np.array([3, 1]))
    assert f["user share"] == pytest.approx(67 / 83) and f["item head share"] == pytest.approx(0.5)
    df = pd.DataFrame({"fitness": [0.9, 0.8, 0.7, 0.6], "user share": [0.2, 0.3, 0.4, 0.5],
                       "user head share": [0.6, 0.5, 0.4, 0.3], "item head share": [0.5, 0.5, 0.4, 0.4]})  # fmt: skip
    text = explain.narrative(f, {"user share": 0.47}, df, full_recall=0.24, best_recall=0.21, kept_fraction=0.1)
    assert "88%" in text[0] and "10%" in text[0]
    assert "users 81%" in text[1] and "47%" in text[1]
    assert any("fittest quarter gave the user share 20% vs 50%" in s for s in text)
