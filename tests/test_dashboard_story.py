"""The demo's story without streamlit: what the one-click demo queues (budgets strict, the live BET
search first) and the sentence computed from the runs, every run chosen on validation."""

from __future__ import annotations

from dashboard_helpers import metrics, run_row

from bet.budget import budget_for
from bet.config import BaselineConfig, DataSpec, SearchConfig
from dashboard import story
from dashboard.settings import DEMO


def test_demo_queues_the_live_search_first_then_references_at_every_budget() -> None:
    cfgs = story.demo_configs()
    assert cfgs[0] == DEMO and isinstance(cfgs[0], SearchConfig)
    assert [c.method for c in cfgs[1:3] if isinstance(c, BaselineConfig)] == ["full", "pop"]
    pairs = {(c.method if isinstance(c, BaselineConfig) else "bet", c.sparsity) for c in cfgs[3:]}
    assert pairs == {(m, c) for m in ("su", "sr", "mde", "bet") for c in story.DEMO_SPARSITIES} - {
        ("bet", DEMO.sparsity)
    }
    side = [c for c in cfgs[1:] if isinstance(c, SearchConfig)]
    assert {c.iterations for c in side} == {story.DEMO_SIDE_ITERATIONS} and len(side) == 2
    data = DataSpec(DEMO.data.dataset).load()
    for c in story.DEMO_SPARSITIES:  # every budget is feasible (strict: sizes in [1, d_max], cost ≤ budget)
        assert 0 < budget_for(c, n_rows=data.n_rows, d_max=DEMO.d_max) < data.n_rows * DEMO.d_max


def run(method: str, sparsity: float, valid: float, test: float, rid: str, **kw: object) -> dict[str, object]:
    result = {"valid": metrics(valid), "test": metrics(test), "cost": 1}
    return run_row(run_id=rid, method=method, sparsity=sparsity, result=result, **kw)


def test_sentence_reads_out_test_recall_of_the_runs_chosen_on_validation() -> None:
    runs = [
        run("full", 0.0, 0.24, 0.20, "f"),
        run("bet", 0.9, 0.22, 0.18, "b1"),  # best on validation: quoted
        run("bet", 0.9, 0.21, 0.199, "b2"),  # better on test, worse on validation: not quoted
        run("su", 0.9, 0.20, 0.16, "s"),
        run("bet", 0.8, 0.23, 0.19, "b3"),
        run("su", 0.8, 0.22, 0.15, "s2", status="running"),
    ]
    assert story.sentence(runs, 0.9) == (
        "At 10% of the parameters BET keeps 90% of the full model's recall@20; uniform sizes keep 80%."
    )
    assert story.other_budgets(runs, 0.9) == "Other budgets — at 20%: BET 95%, uniform …"
    partial = [r for r in runs if r.run_id != "s"]  # no SU at 0.9: none is said to be training
    assert story.sentence(partial, 0.9).endswith("no uniform-sizes (SU) run completed at this budget.")  # type: ignore[union-attr]
    waiting = [*partial, run_row(run_id="s3", method="su", sparsity=0.9, status="running", result=None)]
    assert story.sentence(waiting, 0.9).endswith("uniform sizes are still training.")  # type: ignore[union-attr]
    assert story.sentence([r for r in runs if r.method != "full"], 0.9) is None
    assert story.kept([r for r in runs if r.method != "full"]) == []
