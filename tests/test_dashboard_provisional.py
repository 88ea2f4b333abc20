"""Anytime answers (issue 21 §2) and the setup's presets (§1), without a browser: the provisional
BET point of a running search (a pure query over runs and events), how the frontier draws it, the
story's wording around it, and the form's presets (fast on full data, paper on gowalla-mini)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import fill_store, metrics, run_row, running_search
from streamlit.testing.v1 import AppTest

from bet import FAST_ABOVE_ROWS, preset_settings
from bet.config import DataSpec
from bet.data import load_dataset
from bet.store import RunStore
from dashboard import frontier_chart, presets, provisional, queries, settings, story

HALF = "a fixed half of the validation users"


def evaluated(t: int, fitness: float, r20: float, cost: int = 87000) -> dict[str, Any]:
    return {"kind": "candidate_evaluated", "iteration": t, "action_id": t, "cost": cost, "fitness": fitness,
            "valid": metrics(r20), "seconds": 2.0}  # fmt: skip


def searching_run(rid: str = "s1", sparsity: float = 0.9, fitness_users: float | None = 0.5, **kw: Any) -> dict:
    cfg = {"d_max": 128, "iterations": 20, "retrain_top": 2, "fitness_users": fitness_users}
    fields = {"status": "running", "phase": "search", "result": None, "iteration": 3, "iterations": 20,
              "config": cfg, "finished_at": None, **kw}  # fmt: skip
    return run_row(run_id=rid, sparsity=sparsity, **fields)


EVENTS = [evaluated(1, 0.80, 0.190), evaluated(2, 0.88, 0.205, 86000), evaluated(3, 0.84, 0.210),
          evaluated(4, math.nan, 0.3)]  # fmt: skip


def test_the_provisional_point_is_the_fittest_candidate_at_its_validation_metric() -> None:
    pts = provisional.provisional_points([searching_run()], {"s1": EVENTS})
    assert len(pts) == 1
    p = pts.iloc[0]  # the highest fitness (0.88), not the highest validation recall (0.21), nor a NaN fitness
    assert (p["action_id"], p["params"], p["valid"], p["fitness"]) == (2, 86000, 0.205, 0.88)
    assert p["users"] == HALF and p["phase"] == "search" and p["MB"] > 0
    ndcg = provisional.provisional_points([searching_run()], {"s1": EVENTS}, "ndcg@20")
    assert ndcg.iloc[0]["valid"] == pytest.approx(0.205 * 0.8)
    retraining = provisional.provisional_points([searching_run(phase="retrain")], {"s1": EVENTS})
    assert retraining.iloc[0]["phase"] == "retrain"  # still provisional until the run completes
    paper = provisional.provisional_points([searching_run(fitness_users=None)], {"s1": EVENTS})
    assert paper.iloc[0]["users"] == "all validation users"


def test_no_provisional_point_once_the_run_is_over_or_without_a_candidate() -> None:
    done = run_row(run_id="s1")  # completed: its retrained point replaces the provisional one
    stopped = searching_run("s2", status="stopped")
    baseline = searching_run("s3", kind="baseline", method="su")
    empty = searching_run("s4")
    events = {rid: EVENTS for rid in ("s1", "s2", "s3")} | {"s4": [evaluated(1, math.nan, 0.2)]}
    pts = provisional.provisional_points([done, stopped, baseline, empty], events)
    assert pts.empty and list(pts.columns) == provisional.COLUMNS
    assert provisional.best_candidate([]) is None


def test_the_store_query_reads_the_running_searches_events(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "bet.sqlite")
    data = load_dataset("gowalla-mini")
    ids = fill_store(store, data)
    rid = running_search(store, data, 0.95)
    runs = store.list_runs()
    assert [r.run_id for r in provisional.searching(runs)] == [rid]
    pts = provisional.of_runs(store, runs)
    assert list(pts["run_id"]) == [rid] and pts.iloc[0]["valid"] == 0.205 and pts.iloc[0]["action_id"] == 2
    assert ids["bet"] not in set(pts["run_id"])


def test_frontier_draws_provisional_points_hollow_at_validation_with_their_own_legend() -> None:
    runs = [run_row(run_id="b", sparsity=0.8, budget=174976, result={"valid": metrics(0.22), "test": metrics(0.23),
                                                                     "cost": 174976})]  # fmt: skip
    pending = provisional.provisional_points([searching_run()], {"s1": EVENTS})
    fig = frontier_chart.frontier_figure(queries.frontier_points(runs), pending=pending, log_x=True)
    (prov,) = [t for t in fig.data if "not yet retrained" in (t.name or "")]
    assert prov.name == "BET: finetuned, not yet retrained (validation)"
    assert prov.marker.symbol == "circle-open" and list(prov.y) == [0.205] and list(prov.x) == [86000]
    assert "validation recall@20 0.2050 on " + HALF in prov.hovertext[0] and "not a test read-out" in prov.hovertext[0]
    assert fig.layout.yaxis.title.text == "test recall@20 (hollow: validation)"
    assert list(fig.layout.xaxis.tickvals) == [86000, 174976]  # the axis spans the provisional budget too
    near = provisional.provisional_points([searching_run(sparsity=0.8)], {"s1": [evaluated(1, 0.9, 0.2, 174970)]})
    one = frontier_chart.frontier_figure(queries.frontier_points(runs), pending=near, log_x=True)
    assert list(one.layout.xaxis.tickvals) == [174976]  # a few parameters under the budget: one label
    alone = frontier_chart.frontier_figure(queries.frontier_points([]), pending=pending)
    assert [t.name for t in alone.data] == [prov.name]  # before any run completes
    plain = frontier_chart.frontier_figure(queries.frontier_points(runs))
    assert not any("retrained" in (t.name or "") for t in plain.data) and "hollow" not in plain.layout.yaxis.title.text


def story_run(method: str, sparsity: float, r20: float, rid: str, **kw: Any) -> dict[str, Any]:
    return run_row(
        run_id=rid,
        method=method,
        sparsity=sparsity,
        result={"valid": metrics(r20), "test": metrics(r20), "cost": 1},
        **kw,
    )


def test_the_story_never_presents_a_provisional_point_as_final() -> None:
    runs = [story_run("full", 0.0, 0.25, "f"), story_run("su", 0.9, 0.20, "s"), searching_run("b")]
    pending = provisional.provisional_points(runs, {"b": EVENTS})
    assert story.sentence(runs, 0.9) is None  # without the provisional points: as before
    text = story.sentence(runs, 0.9, pending)
    assert text == (
        "At 10% of the parameters uniform sizes keep 80% of the full model's recall@20; BET has no result yet: "
        f"its best candidate so far is finetuned, not yet retrained (validation recall@20 0.2050 on {HALF})."
    )
    assert "BET keeps" not in text
    no_su = [r for r in runs if r.run_id != "s"]
    assert story.sentence(no_su, 0.9, pending) == (
        "At 10% of the parameters BET has no result yet: its best candidate so far is finetuned, not yet "
        f"retrained (validation recall@20 0.2050 on {HALF})."
    )
    finished = [*runs[:2], story_run("bet", 0.9, 0.225, "b")]  # completed: the real point, the usual sentence
    assert story.sentence(finished, 0.9, provisional.provisional_points(finished, {"b": EVENTS})) == (
        "At 10% of the parameters BET keeps 90% of the full model's recall@20; uniform sizes keep 80%."
    )
    other = [*runs, story_run("su", 0.8, 0.22, "s2")]
    moved = provisional.provisional_points([searching_run("b", sparsity=0.8)], {"b": EVENTS})
    assert story.other_budgets(other, 0.9, moved) == "Other budgets — at 20%: BET still running, uniform 88%"
    assert story.other_budgets(other, 0.9) == "Other budgets — at 20%: BET …, uniform 88%"


def test_presets_fill_the_form_from_the_engine_and_the_config_carries_the_rest() -> None:
    fast = preset_settings("fast")
    assert presets.FORM["fast"]["iterations"] == fast["iterations"] and presets.FORM["fast"]["finetune_epochs"] == 4
    assert presets.FORM["fast"]["pretrain_epochs"] == fast["pretrain"].epochs
    assert list(presets.FORM)[:2] == ["fast", "paper"] and set(presets.ENGINE) == set(presets.FORM)
    assert presets.default_for(FAST_ABOVE_ROWS + 1) == "fast" and presets.default_for(6835) == "paper"
    form = {**presets.FORM["fast"], "iterations": 7}  # the user's edit wins over the preset's 20
    cfg = settings.build_config(DataSpec("gowalla"), "lightgcn", 0.95, preset="fast", **form)
    assert (cfg.preset, cfg.iterations, cfg.finetune_epochs, cfg.retrain_top) == ("fast", 7, 4, 1)
    assert (cfg.fitness_users, cfg.retrain_from, cfg.retrain.eval_users, cfg.pretrain.epochs) == (
        fast["fitness_users"],
        fast["retrain_from"],
        fast["retrain"].eval_users,
        300,
    )
    assert (cfg.retrain.lr_decay_every, cfg.retrain.epochs) == (100, 160)  # the form carries what it does not show
    paper = settings.build_config(DataSpec("gowalla-mini"), "lightgcn", 0.9, **presets.FORM["paper"])
    assert (paper.preset, paper.fitness_users, paper.retrain_from, paper.retrain.eval_users) == (
        "paper",
        None,
        "scratch",
        None,
    )
    assert presets.edited("fast", form) == ["iterations"] and presets.edited("fast", presets.FORM["fast"]) == []


def test_the_readout_says_which_preset_and_why() -> None:
    assert presets.readout("fast", 70839, dataset="gowalla", picked=False, changed=False).startswith(
        "Preset **fast** — the default above 10,000 rows (gowalla has 70,839): multi-fidelity"
    )
    assert presets.readout("paper", 6835, dataset="gowalla-mini", picked=False, changed=False).startswith(
        "Preset **paper** — the default up to 10,000 rows (gowalla-mini has 6,835): the paper's settings"
    )
    picked = presets.readout("fast", 6835, dataset="gowalla-mini", picked=True, changed=True)
    assert "chosen by hand; **paper** is the default up to 10,000 rows" in picked and picked.endswith(
        "Your edits to the advanced settings win over the preset's values."
    )
    assert "kept because you edited its settings; **fast** is the default" in presets.readout(
        "paper", 70839, dataset="gowalla", picked=False, changed=True
    )
    assert presets.title("fast", False) == "Advanced settings (fast preset)"
    assert presets.title("smoke test (seconds)", True) == "Advanced settings (smoke test (seconds) preset, edited)"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BET_HOME", str(tmp_path))
    monkeypatch.setattr(settings, "estimate", lambda cfg, backbones, data, **kw: {"finetune": 60.0})  # no timing here
    return tmp_path


def sidebar_script(root: str) -> None:
    import sys

    sys.path.insert(0, root)
    from dashboard.views import setup

    setup.sidebar()


def caption(at: AppTest, key: str) -> str:
    return " ".join(str(c.value) for c in at.get("caption") if key in str(c.value))


def test_the_setup_follows_the_datasets_default_preset_until_one_is_picked(home: Path) -> None:
    at = AppTest.from_function(sidebar_script, args=(str(Path(__file__).parent.parent),), default_timeout=120).run()
    assert not at.exception and at.selectbox(key="preset").value == "paper"
    assert "Preset **paper** — the default up to 10,000 rows" in caption(at, "Preset")
    assert at.expander[0].label == "Advanced settings (paper preset)"
    at.selectbox(key="dataset").set_value("gowalla").run()  # full Gowalla: fast, its values in the form
    assert not at.exception and at.selectbox(key="preset").value == "fast"
    assert at.number_input(key="iterations").value == 20 and at.number_input(key="retrain_top").value == 1
    assert "Preset **fast** — the default above 10,000 rows (gowalla has 70,839)" in caption(at, "Preset")
    cfg = at.session_state["setup_config"]
    assert (cfg.preset, cfg.fitness_users, cfg.retrain_from) == ("fast", 0.5, "pretrained")
    at.selectbox(key="dataset").set_value("gowalla-mini").run()  # back: paper again
    assert at.selectbox(key="preset").value == "paper" and at.number_input(key="iterations").value == 50
    at.selectbox(key="preset").set_value("fast").run()  # picked by hand: it stays on any dataset
    at.number_input(key="iterations").set_value(9).run()
    at.selectbox(key="dataset").set_value("gowalla").run()
    at.selectbox(key="dataset").set_value("gowalla-mini").run()
    assert at.selectbox(key="preset").value == "fast" and at.number_input(key="iterations").value == 9
    assert at.expander[0].label == "Advanced settings (fast preset, edited)"
    assert "chosen by hand; **paper** is the default" in caption(at, "Preset")
    cfg = at.session_state["setup_config"]
    assert (cfg.preset, cfg.iterations, cfg.fitness_users, cfg.retrain.eval_users) == ("fast", 9, 0.5, 0.5)


def test_the_retrain_progress_says_where_retraining_starts() -> None:
    evs = [{"kind": "phase", "t": 950.0}]
    for start, said in (
        ("pretrained", "retraining 1 of 2 from the pretrained rows"),
        ("scratch", "1 of 2 from scratch"),
    ):
        cfg = {"iterations": 20, "retrain_top": 2, "retrain_from": start}
        run = run_row(status="running", phase="retrain", step=10, total_steps=100, config=cfg)
        assert said in queries.progress(run, evs, 1000.0).text
