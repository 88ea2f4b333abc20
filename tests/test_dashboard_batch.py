"""A page that follows the work (issue 23 §2), without streamlit: which run a page opens on (after the
demo: the story's headline search), where the Live page goes when the run on screen ends while its
batch goes on, how long the whole batch still takes, and the status that names the iteration at
work (as the rankings chart does)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from dashboard_helpers import run_row

from bet import RunRecord, Status
from dashboard import batch, queries


def three_backbones(*statuses: str) -> list[RunRecord]:
    """A batch of LightGCN, NGCF and NCF submitted together (newest first, as the store lists them)."""
    runs = [run_row(run_id=b, backbone=b, comparison_id="cmp-1", status=s, created_at=100.0 + i)
            for i, (b, s) in enumerate(zip(("lightgcn", "ngcf", "ncf"), statuses, strict=True))]  # fmt: skip
    return runs[::-1]


def demo(status: str = "completed") -> list[RunRecord]:
    """The demo's batch, newest first: the live BET search at 0.9 first, references, then shorter
    BET searches at 0.8 and 0.95."""
    order = [("live", "bet", 0.9, "search"), ("full", "full", 0.0, "baseline"), ("su", "su", 0.9, "baseline"),
             ("side8", "bet", 0.8, "search"), ("side95", "bet", 0.95, "search")]  # fmt: skip
    return [run_row(run_id=rid, method=m, sparsity=c, kind=k, comparison_id="demo-1", created_at=10.0 + i,
                    status=status) for i, (rid, m, c, k) in enumerate(order)][::-1]  # fmt: skip


def test_default_run_after_the_demo_is_the_headline_search_not_the_last_one() -> None:
    assert batch.default_run(demo()) == "live"  # not side95, the newest search (c = 0.95)
    assert batch.headline(demo()).run_id == "live"  # type: ignore[union-attr]
    running = [r if r.run_id != "su" else dataclasses.replace(r, status=Status.RUNNING) for r in demo()]
    assert batch.default_run(running) == "live"  # a story batch at work: its headline, the band shows the rest
    others = [run_row(run_id="pop", kind="baseline", method="pop", comparison_id="demo-0"),  # newest first
              run_row(run_id="full", kind="baseline", method="full", comparison_id="demo-0"),
              run_row(run_id="bet", comparison_id="demo-0"), run_row(run_id="old")]  # fmt: skip
    assert batch.default_run(others) == "bet"
    assert batch.default_run([run_row(run_id="su", kind="baseline", method="su"), *others]) == "su"  # alone: itself
    assert batch.default_run([*others, run_row(run_id="now", status="running")]) == "now"
    assert batch.default_run([]) is None


def test_default_run_of_a_backbone_batch_is_the_one_running() -> None:
    assert batch.default_run(three_backbones("completed", "running", "queued")) == "ngcf"
    assert batch.default_run(three_backbones("completed", "completed", "completed")) == "lightgcn"


def test_the_live_page_moves_to_the_run_at_work_when_it_follows_the_batch() -> None:
    runs = three_backbones("completed", "running", "queued")
    shown = next(r for r in runs if r.run_id == "lightgcn")
    go = batch.follow(shown, runs, following=True)
    assert go is not None and (go.action, go.run.run_id) == ("move", "ngcf")
    go = batch.follow(shown, runs, following=False)  # a run picked by hand: offer, do not move
    assert go is not None and (go.action, go.run.run_id) == ("offer", "ngcf")
    between = three_backbones("completed", "completed", "queued")  # NGCF ended, NCF not claimed yet
    go = batch.follow(next(r for r in between if r.run_id == "ngcf"), between, following=True)
    assert go is not None and (go.action, go.run.run_id) == ("move", "ncf")


def test_nothing_to_follow_while_the_run_works_or_once_the_batch_ended() -> None:
    runs = three_backbones("running", "queued", "queued")
    assert batch.follow(runs[-1], runs, following=True) is None  # LightGCN itself still runs
    done = three_backbones("completed", "failed", "completed")
    assert batch.follow(done[0], done, following=True) is None
    assert batch.now_working(three_backbones("completed", "queued", "queued")).run_id == "ngcf"  # type: ignore[union-attr]


def test_a_story_batch_keeps_its_headline_in_view_and_only_offers() -> None:
    runs = [r if r.run_id != "side8" else dataclasses.replace(r, status=Status.RUNNING) for r in demo()]
    runs = [r if r.run_id != "side95" else dataclasses.replace(r, status=Status.QUEUED) for r in runs]
    live = next(r for r in runs if r.run_id == "live")
    go = batch.follow(live, runs, following=True)
    assert go is not None and (go.action, go.run.run_id) == ("offer", "side8")


def plans(**by_id: dict[str, float]) -> Any:
    return lambda r: by_id.get(r.run_id)


def test_left_in_all_covers_the_batch_queued_runs() -> None:
    runs = three_backbones("running", "queued", "queued")
    current = runs[-1]
    plan_of = plans(ngcf={"pretrain": 30.0, "finetune": 50.0}, ncf={"pretrain": 20.0, "retrain": 10.0})
    assert batch.left_in_batch(current, 40.0, runs, plan_of=plan_of) == (150.0, 2, 0)  # 40 + 80 + 30
    assert batch.left_in_batch(current, None, runs, plan_of=plan_of) == (None, 0, 0)
    only_ngcf = plans(ngcf={"finetune": 50.0})
    assert batch.left_in_batch(current, 40.0, runs, plan_of=only_ngcf) == (90.0, 1, 1)  # NCF could not be planned
    assert batch.left_in_batch(current, 40.0, [current], plan_of=plan_of) == (40.0, 0, 0)  # alone


def test_a_queued_run_does_not_pretrain_what_an_earlier_run_caches() -> None:
    runs = demo("queued")
    live = dataclasses.replace(next(r for r in runs if r.run_id == "live"), status=Status.RUNNING)
    runs = [live if r.run_id == "live" else r for r in runs]
    each = {"pretrain": 100.0, "baseline": 2.0}
    total, counted, _ = batch.left_in_batch(live, 10.0, runs, plan_of=lambda r: each)
    assert counted == 4 and total == pytest.approx(10.0 + 4 * 2.0)  # same dataset, backbone, d_max, seed


def test_eta_words_say_what_the_time_covers() -> None:
    fmt = queries.fmt_seconds
    assert batch.eta_words(26.0, 26.0, counted=0, unplanned=0, fmt=fmt) == " · about 26s left in all"
    assert batch.eta_words(26.0, 150.0, counted=2, unplanned=0, fmt=fmt) == (
        " · about 2m 30s left in all (this run and the 2 queued after it in its batch)"
    )
    assert batch.eta_words(26.0, 90.0, counted=1, unplanned=1, fmt=fmt).endswith("in its batch; 1 more not estimated)")
    assert batch.eta_words(None, None, counted=0, unplanned=0, fmt=fmt) == ""


def test_status_names_the_iteration_at_work_as_the_rankings_chart_does() -> None:
    """The run row's ``iteration`` counts evaluated iterations (6); the rankings chart shows the
    latest ranking, iteration 7's, which is the one at work: the status says "iteration 7 of 12"."""
    run = run_row(status="running", phase="search", iteration=6, iterations=12, started_at=900.0)
    evs = [{"kind": "phase", "t": 950.0}] + [{"kind": "candidate_evaluated", "t": 960.0, "seconds": 2.0}] * 6
    p = queries.progress(run, evs, 1000.0)
    assert p.text.startswith("iteration 7 of 12 (6 evaluated)") and p.fraction == pytest.approx(0.15 + 0.6 * 6 / 12)
    last = queries.progress(dataclasses.replace(run, iteration=12), evs, 1000.0)
    assert last.text.startswith("iteration 12 of 12 (12 evaluated)")


def test_fitness_band_of_the_latest_actions() -> None:
    acts = [{"iteration": t, "action_id": t, "fitness": f} for t, f in enumerate([0.5, 0.86, 0.87, 0.871, 0.869], 1)]
    assert queries.fitness_band(acts, last=3) == (3, 0.869, 0.871)
    assert queries.fitness_band(acts[:2]) is None
