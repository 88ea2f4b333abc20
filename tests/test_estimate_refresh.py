"""Issue 23 §1: estimates that learn from the runs. What a completed run took is kept beside the
timings cache (bet.observed) and the plan follows it — the length of early-stopped trainings and
how far the measured per-step model is from what runs take — so a measurement taken on a busy
machine does not stay wrong; the measurement itself times enough steps to be above the noise."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from bet import observed, timings
from bet.config import BaselineConfig, SearchConfig
from bet.data import Dataset
from bet.duration import retraining
from bet.estimate import PRETRAIN_EPOCHS, TYPICAL_EPOCHS, WARM_EPOCHS, Timings, default_epochs, plan
from bet.runs import run_search
from bet.runtime import heap_mode
from bet.store import RunRecord, RunStore, Status
from tests.search_helpers import TINY

FLAT = Timings(8, 128, 0.01, 0.01, 0.1, 0.1)  # every width alike: the arithmetic stays readable
CFG = dataclasses.replace(TINY, sparsity=0.9, iterations=4, candidates=8, finetune_steps=10, retrain_top=1)


def _record(cfg: SearchConfig | BaselineConfig, run_id: str = "r1", **fields: Any) -> dict[str, Any]:
    """An observed run that had the machine alone (``slowdown`` 1) unless ``fields`` say otherwise."""
    rec: dict[str, Any] = {"run_id": run_id, "at": 1.0, "method": "bet", "sparsity": cfg.sparsity,
                           "config": cfg.to_dict(), "seconds": {}, "evaluated": 0, "steps": {}, "width": {},
                           "load": 1.0, "cores": 2, "slowdown": 1.0, "heap": "tuned"}  # fmt: skip
    rec.update(fields)
    return rec


def _seen(*records: dict[str, Any]) -> Timings:
    return dataclasses.replace(FLAT, observed=records)


def test_a_run_that_took_longer_than_the_model_scales_the_next_plan(mini: Dataset) -> None:
    before = plan(CFG, mini, FLAT, pretrained=False)
    model_finetune = 4 * 10 * 0.01
    assert before["finetune"] == pytest.approx(model_finetune)
    full = CFG.retrain.total_steps(mini)  # TINY's cap: what the plan assumes too
    model_retrain = retraining(CFG, mini, FLAT, width=20.0, steps=[full], workers=2)
    rec = _record(
        CFG, seconds={"finetune": 2 * model_finetune, "retrain": 3 * model_retrain},
        evaluated=4, steps={"retrain": [full]}, width={"finetune": 20.0, "retrain": 20.0},
    )  # fmt: skip
    after = plan(CFG, mini, _seen(rec), pretrained=False)
    assert after["finetune"] == pytest.approx(2 * before["finetune"])
    assert after["retrain"] == pytest.approx(3 * before["retrain"])
    # a training no run has shown yet (pretraining) borrows the early-stopped trainings' ratio, not
    # the finetunes' (they run beside the drawing of candidate pools); evaluation borrows nothing
    assert after["pretrain"] == pytest.approx(3 * before["pretrain"])
    assert after["evaluation"] == pytest.approx(before["evaluation"])


def test_a_run_beside_other_work_teaches_what_it_would_take_alone(mini: Dataset) -> None:
    """A run that took 2.5x the model while the load average said 5 on 2 cores took the model's
    time on the machine alone; a record without a load reading (an older one) teaches no speed."""
    before = plan(CFG, mini, FLAT, pretrained=True)
    model_finetune = 4 * 10 * 0.01
    busy = _record(CFG, seconds={"finetune": 2.5 * model_finetune}, evaluated=4, load=5.0, slowdown=2.5)
    assert plan(CFG, mini, _seen(busy), pretrained=True)["finetune"] == pytest.approx(before["finetune"])
    slower = _record(CFG, "r2", seconds={"finetune": 5.0 * model_finetune}, evaluated=4, load=5.0, slowdown=2.5)
    assert plan(CFG, mini, _seen(slower), pretrained=True)["finetune"] == pytest.approx(2 * before["finetune"])
    unknown = _record(CFG, "r3", seconds={"finetune": 9 * model_finetune}, evaluated=4)
    del unknown["slowdown"]
    assert plan(CFG, mini, _seen(unknown), pretrained=True) == before
    # a phase's own load wins over the run's; a resumed run's search has none (its seconds span
    # both parts): only its other phases teach speed
    resumed = dict(unknown, phase_slowdown={"retrain": 1.0})
    assert plan(CFG, mini, _seen(resumed), pretrained=True)["finetune"] == pytest.approx(before["finetune"])
    phased = dict(unknown, phase_slowdown={"search": 9.0})
    assert plan(CFG, mini, _seen(phased), pretrained=True)["finetune"] == pytest.approx(before["finetune"])


def test_a_run_under_another_malloc_setting_teaches_no_speed(mini: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps under the CLI's old ``lean`` heap ran up to 2.3x slower (docs/results.md §7.5): a record
    made under another setting than runs now use, or before records named one, teaches lengths and
    widths but not speed; under the same setting it does."""
    monkeypatch.delenv("BET_MALLOC", raising=False)
    before = plan(CFG, mini, FLAT, pretrained=True)
    model_finetune = 4 * 10 * 0.01
    lean = _record(CFG, seconds={"finetune": 2 * model_finetune}, evaluated=4, heap="lean")
    old = _record(CFG, "r2", seconds={"finetune": 2 * model_finetune}, evaluated=4)
    del old["heap"]
    assert plan(CFG, mini, _seen(lean), pretrained=True) == before
    assert plan(CFG, mini, _seen(old), pretrained=True) == before
    monkeypatch.setenv("BET_MALLOC", "lean")  # runs now use the lean setting: that record is this machine's speed
    assert plan(CFG, mini, _seen(lean), pretrained=True)["finetune"] == pytest.approx(2 * before["finetune"])


def test_early_stopping_lengths_come_from_the_observed_trainings(mini: Dataset) -> None:
    spe = CFG.retrain.steps_per_epoch(mini)
    cfg = dataclasses.replace(
        CFG,
        retrain=dataclasses.replace(CFG.retrain, epochs=300),
        pretrain=dataclasses.replace(CFG.pretrain, epochs=300),
    )
    default = plan(cfg, mini, FLAT, pretrained=False)
    at_9 = _record(cfg, "a", steps={"retrain": [6 * spe], "pretrain": 12 * spe})
    other_sparsity = _record(dataclasses.replace(cfg, sparsity=0.5), "b", steps={"retrain": [30 * spe, 30 * spe]})
    learned = plan(cfg, mini, _seen(at_9, other_sparsity), pretrained=False)
    per_epoch = spe * 0.01 + 0.1 * spe / cfg.retrain.eval_interval(mini)  # steps and validations of one epoch
    # retraining: 6 epochs, observed at this sparsity (the other sparsity's 30 are not used)
    assert learned["retrain"] == pytest.approx(default["retrain"] - (TYPICAL_EPOCHS - 6) * per_epoch)
    assert learned["pretrain"] < default["pretrain"]  # 12 epochs instead of PRETRAIN_EPOCHS
    assert default["pretrain"] > 0 and PRETRAIN_EPOCHS > 12
    # another schedule (a different cap, early stopping the authors' way) learns nothing from them
    authors = dataclasses.replace(cfg, retrain=dataclasses.replace(cfg.retrain, eval_every_steps=2000, patience=3))
    assert (
        plan(authors, mini, _seen(at_9), pretrained=True)["retrain"]
        == plan(authors, mini, FLAT, pretrained=True)["retrain"]
    )


def test_retrained_widths_come_from_runs_that_picked_alike(mini: Dataset) -> None:
    """The predictor's picks retrain wider actions than random picks: a random search's plan takes
    the width random searches retrained at, where there are any."""
    spe = CFG.retrain.steps_per_epoch(mini)
    bet = _record(CFG, "a", steps={"retrain": [6 * spe]}, width={"retrain": 60.0})
    rand = dataclasses.replace(CFG, selection="random")
    rnd = _record(rand, "b", steps={"retrain": [6 * spe]}, width={"retrain": 15.0})
    sloped = Timings(8, 128, 0.01, 0.13, 0.1, 0.1)  # a step's time grows with the width

    def retrain(cfg: SearchConfig, *records: dict[str, Any]) -> float:
        return plan(cfg, mini, dataclasses.replace(sloped, observed=records), pretrained=True)["retrain"]

    narrow = retrain(rand, bet, rnd)
    assert narrow == retrain(rand, rnd)
    assert retrain(CFG, bet, rnd) == pytest.approx(retrain(CFG, bet))
    assert retrain(rand, bet) > narrow  # none alike: any run's width


def test_warm_and_scratch_retrainings_are_learned_apart(mini: Dataset) -> None:
    spe = CFG.retrain.steps_per_epoch(mini)
    cfg = dataclasses.replace(CFG, retrain=dataclasses.replace(CFG.retrain, epochs=300))
    warm = dataclasses.replace(cfg, retrain_from="pretrained")
    rec = _record(cfg, steps={"retrain": [150 * spe]})  # a long from-scratch retraining
    assert plan(warm, mini, _seen(rec), pretrained=True) == plan(warm, mini, FLAT, pretrained=True)
    assert default_epochs(warm.retrain, mini, WARM_EPOCHS) != 150  # the plans would differ had it learned from it


def test_patience_zero_trains_every_step(mini: Dataset) -> None:
    cfg = dataclasses.replace(CFG, retrain=dataclasses.replace(CFG.retrain, epochs=100, patience=0))
    steps = cfg.retrain.total_steps(mini)
    assert plan(cfg, mini, FLAT, pretrained=True)["retrain"] == pytest.approx(steps * 0.01 + 0.1)  # + the test pass


def test_a_record_of_another_version_is_ignored(mini: Dataset) -> None:
    broken = _record(CFG, seconds={"finetune": 99.0}, evaluated=4, config={"not": "a config"})
    assert plan(CFG, mini, _seen(broken), pretrained=True) == plan(CFG, mini, FLAT, pretrained=True)


def test_an_observation_reads_steps_and_widths_from_the_stored_events() -> None:
    run = RunRecord(
        run_id="x",
        kind="search",
        method="bet",
        dataset="d",
        backbone="lightgcn",
        sparsity=0.9,
        seed=0,
        status=Status.COMPLETED,
        created_at=0.0,
        config={"d_max": 128},
    )
    events = [
        {"kind": "train_progress", "phase": "pretrain", "step": 10, "label": ""},
        {"kind": "train_progress", "phase": "pretrain", "step": 20, "label": ""},
        {"kind": "candidate_evaluated", "iteration": 0, "action_id": 0},
        {"kind": "candidate_evaluated", "iteration": 1, "action_id": 1},
        {"kind": "candidate_evaluated", "iteration": 2, "action_id": 2},
        {"kind": "train_progress", "phase": "retrain", "step": 30, "label": "1/2"},
        {"kind": "train_progress", "phase": "retrain", "step": 50, "label": "2/2"},
        {"kind": "train_progress", "phase": "retrain", "step": 40, "label": "1/2"},
        {"kind": "retrain_finished", "action_id": 2},
        {"kind": "retrain_finished", "action_id": 1},
    ]
    widths = {1: 16, 2: 32}
    rec = observation_of(run, events, {"pretrain": 3.0, "finetune": 1.0, "retrain": 0.0}, widths)
    assert rec["steps"] == {"pretrain": 20, "retrain": [40, 50]}
    assert rec["evaluated"] == 2 and rec["width"] == {"finetune": 24.0, "retrain": 24.0}
    assert rec["seconds"] == {"pretrain": 3.0, "finetune": 1.0}  # a phase that took nothing is left out
    ncf = observation_of(dataclasses.replace(run, backbone="ncf"), events, {"finetune": 1.0}, widths)
    assert ncf["width"] == {"finetune": 128.0, "retrain": 128.0}  # NCF computes every column
    full = observation_of(dataclasses.replace(run, method="full"), events[:2], {"baseline": 5.0}, widths)
    assert full["seconds"] == {"pretrain": 5.0}  # a full reference's seconds are its pretraining's
    resumed = [{**ev, "resumed_from": 5} if ev["kind"] == "train_progress" else ev for ev in events[:2]]
    later = observation_of(dataclasses.replace(run, method="full"), resumed, {"baseline": 2.0}, widths)
    assert later["steps"] == {"pretrain": 20} and later["seconds"] == {}  # its length, not its speed


def observation_of(
    run: RunRecord, events: list[dict[str, Any]], seconds: dict[str, float], widths: dict[int, int]
) -> dict[str, Any]:
    return observed.observation(run, events, seconds, width_of=widths.__getitem__)


def test_the_observed_file_keeps_the_most_recent_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BET_HOME", str(tmp_path))
    for i in range(observed.KEEP + 3):
        observed.keep("k", {"run_id": f"r{i}", "at": float(i)})
    observed.keep("k", {"run_id": f"r{observed.KEEP + 2}", "at": 99.0})  # the same run again: replaced
    kept = observed.recent("k")
    assert [r["run_id"] for r in kept] == [f"r{i}" for i in range(3, observed.KEEP + 3)]
    assert kept[-1]["at"] == 99.0 and observed.recent("other") == ()
    (tmp_path / "timings" / "observed.json").write_text("{broken")
    assert observed.recent("k") == ()  # unreadable: nothing learned, no failure
    observed.keep("k", {"run_id": "new"})
    assert [r["run_id"] for r in observed.recent("k")] == ["new"]


def test_a_completed_run_refreshes_what_the_next_estimate_reads(
    mini: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BET_HOME", str(tmp_path))
    monkeypatch.setattr(timings, "EVAL_BLOCKS", 1)
    cfg = dataclasses.replace(TINY, seed=7)
    t = timings.measure(mini, cfg.backbone, torch.device("cpu"), d_max=cfg.d_max)
    assert t.observed == ()
    store = RunStore(tmp_path / "runs.sqlite")
    run = run_search(cfg, store, data=mini)
    again = timings.measure(mini, cfg.backbone, torch.device("cpu"), d_max=cfg.d_max)
    assert again == t  # the measurement is not taken again…
    (rec,) = again.observed  # …but the run it was wrong about is read beside it
    assert rec["run_id"] == run.run_id and rec["evaluated"] == cfg.iterations
    assert rec["steps"]["pretrain"] > 0 and len(rec["steps"]["retrain"]) == cfg.retrain_top
    assert set(rec["seconds"]) >= {"pretrain", "finetune", "evaluation", "retrain"}
    assert rec["load"] > 0 and rec["slowdown"] >= 1.0 and rec["cores"] >= 1  # how busy the machine was meanwhile
    assert rec["heap"] == heap_mode()  # the malloc setting it ran under: another one's record teaches no speed
    assert json.loads((tmp_path / "timings" / "timings.json").read_text())  # the cache holds no observations
    assert "observed" not in next(iter(json.loads((tmp_path / "timings" / "timings.json").read_text()).values()))
    assert plan(cfg, mini, again, pretrained=False) != plan(cfg, mini, t, pretrained=False)
    # a run beside others, or executed elsewhere, says nothing about this machine alone
    store.update_run(run.run_id, workers=2)
    assert observed.record_of(store, run.run_id) is None
    store.update_run(run.run_id, workers=1, executor="ray")
    assert observed.record_of(store, run.run_id) is None


def test_measuring_times_enough_steps_to_be_above_the_noise(
    mini: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BET_HOME", str(tmp_path))
    monkeypatch.setattr(timings, "EVAL_BLOCKS", 1)
    monkeypatch.setattr(timings, "MIN_SECONDS", 0.0)  # enough at once: the fewest steps
    assert timings.measure(mini, "lightgcn", torch.device("cpu")).steps == timings.STEPS
    monkeypatch.setenv("BET_HOME", str(tmp_path / "again"))
    monkeypatch.setattr(timings, "MIN_SECONDS", 1e9)  # never enough: stops at the most
    monkeypatch.setattr(timings, "MAX_STEPS", 6)
    assert timings.measure(mini, "lightgcn", torch.device("cpu")).steps == 6


def test_the_page_caps_an_early_stopped_phases_at_most_eta_by_its_plan() -> None:
    from dashboard.settings import remaining

    planned = {"pretrain": 20.0, "finetune": 50.0, "evaluation": 5.0, "predictor": 1.0, "retrain": 30.0}
    # pretraining's own ETA counts every step of 300 epochs; the plan knows it stops sooner
    assert remaining("pretrain", 500.0, planned) == 20.0 + 56.0 + 30.0
    assert remaining("retrain", 400.0, planned) == 30.0
    assert remaining("search", 80.0, planned) == 80.0 + 30.0  # the search's own ETA is not a bound: kept


def test_retrainings_learn_apart_how_many_ran_at_once(mini: Dataset) -> None:
    full = CFG.retrain.total_steps(mini)  # TINY's cap, what the plan assumes too
    pair = dataclasses.replace(CFG, retrain_top=2)
    alone = _record(CFG, "alone", steps={"retrain": [full]}, width={"retrain": 20.0},
                    seconds={"retrain": 1.5 * retraining(CFG, mini, FLAT, width=20.0, steps=[full], workers=2)})  # fmt: skip
    two = _record(pair, "two", steps={"retrain": [full, full]}, width={"retrain": 20.0},
                  seconds={"retrain": 4 * retraining(pair, mini, FLAT, width=20.0, steps=[full, full], workers=2)})  # fmt: skip
    seen = _seen(alone, two)
    assert plan(CFG, mini, seen, pretrained=True)["retrain"] == pytest.approx(
        1.5 * plan(CFG, mini, FLAT, pretrained=True)["retrain"]
    )
    assert plan(pair, mini, seen, pretrained=True)["retrain"] == pytest.approx(
        4 * plan(pair, mini, FLAT, pretrained=True)["retrain"]
    )
