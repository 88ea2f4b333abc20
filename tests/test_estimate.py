"""Duration estimates (issue 9 §5): measured per machine, cached, split by phase, and aware of a
cached pretrained model."""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import pytest
import torch

from bet import cache
from bet.data import Dataset
from bet.estimate import Timings, measure, plan, typical_width
from bet.train import pretrain
from tests.search_helpers import TINY


def test_measure_is_cached_and_piecewise_linear_in_width(mini: Dataset) -> None:
    t = measure(mini, "lightgcn", torch.device("cpu"))
    assert t.step_narrow > 0 and t.step_wide > 0 and t.eval_narrow > 0 and t.eval_wide > 0
    assert t.step_mid > 0 and t.eval_mid > 0 and (t.narrow, t.mid, t.wide) == (8, 64, 128)
    assert measure(mini, "lightgcn", torch.device("cpu")) == t  # read back, not measured again
    for w, step in ((t.narrow, t.step_narrow), (t.mid, t.step_mid), (t.wide, t.step_wide)):
        assert t.step(w) == pytest.approx(step)  # through every measured width
    for lo, hi in ((t.step_narrow, t.step_mid), (t.step_mid, t.step_wide)):
        between = t.step(t.narrow + 28) if lo == t.step_narrow else t.step(t.mid + 32)
        assert min(lo, hi) <= between <= max(lo, hi)
    two = Timings(8, 128, 1.0, 3.0, 1.0, 1.0)  # measured at two widths (an older cache): the line
    assert two.step(68) == pytest.approx(2.0)
    three = Timings(8, 128, 1.0, 3.0, 1.0, 1.0, mid=64, step_mid=1.5, eval_mid=1.0)
    assert three.step(36) == pytest.approx(1.25) and three.step(96) == pytest.approx(2.25)


def test_typical_width_shrinks_with_the_budget(mini: Dataset) -> None:
    def at(c: float, backbone: str = "lightgcn") -> int:
        return typical_width(dataclasses.replace(TINY, backbone=backbone, sparsity=c, d_max=128), mini)

    assert at(0.99) < at(0.8) <= 128
    assert at(0.95, "ngcf") == 128  # mixes columns: always full width


def test_plan_by_phase_knows_the_cached_model(mini: Dataset) -> None:
    cfg = dataclasses.replace(TINY, seed=123)  # a seed no other test pretrains
    t = Timings(8, 128, 0.01, 0.05, 0.1, 0.2)
    before = plan(cfg, mini, t)
    assert before["pretrain"] > 0 and before["finetune"] > 0 and before["retrain"] > 0
    steps = cfg.iterations * cfg.finetune(mini).total_steps(mini)
    assert before["finetune"] >= steps * 0.01
    gen = pretrain(mini, cfg.backbone, cfg.pretrain, seed=cfg.seed, device=torch.device("cpu"))
    for _ in gen:
        pass
    after = plan(cfg, mini, t)
    assert after["pretrain"] == 0 and after["finetune"] == before["finetune"]


def test_remaining_adds_the_phases_still_to_come() -> None:
    from dashboard.settings import remaining

    planned = {"pretrain": 100.0, "finetune": 50.0, "evaluation": 5.0, "predictor": 1.0, "retrain": 30.0}
    assert remaining("pretrain", 40.0, planned) == 40.0 + 56.0 + 30.0
    assert remaining("search", None, planned) == 56.0 + 30.0  # no own ETA yet: its planned length
    assert remaining("retrain", 12.0, planned) == 12.0
    assert remaining("baseline", 7.0, planned) == 7.0  # not a search phase: its own ETA only


def test_plan_of_the_fast_preset_samples_users_and_warm_starts(mini: Dataset) -> None:
    from bet.estimate import TYPICAL_EPOCHS, WARM_EPOCHS, default_epochs
    from bet.presets import apply_preset

    t = Timings(8, 128, 0.01, 0.05, 0.1, 0.2)
    paper = dataclasses.replace(TINY, seed=124, retrain=dataclasses.replace(TINY.retrain, epochs=300))
    fast = dataclasses.replace(apply_preset(paper, "fast"), iterations=paper.iterations, retrain_top=paper.retrain_top)
    fast = dataclasses.replace(fast, retrain=dataclasses.replace(fast.retrain, epochs=300))  # the same cap: not reached
    p, f = plan(paper, mini, t), plan(fast, mini, t)
    assert f["evaluation"] == p["evaluation"] * 0.5  # fitness on half the users: linear in users
    assert 0 < f["retrain"] < p["retrain"]  # on small data: fitted sooner than from scratch
    assert default_epochs(fast.retrain, mini, WARM_EPOCHS) == WARM_EPOCHS < TYPICAL_EPOCHS


def test_full_size_trainings_are_planned_by_their_decay_schedule(mini: Dataset) -> None:
    """On full-size data a training ends when its learning rate has decayed ~60 times (full
    Gowalla, 53 steps an epoch: warm ×0.95 every 50 steps ran 58-80 epochs, every 100 ran 98; from
    scratch every 200, 173), within the schedule's cap; on small data, where the rate hardly
    moves in the cap, after the epochs measured there."""
    from types import SimpleNamespace

    from bet.config import PRETRAIN, RETRAIN
    from bet.estimate import DECAYS, PRETRAIN_EPOCHS, TYPICAL_EPOCHS, WARM_EPOCHS, default_epochs
    from bet.presets import preset_settings

    gowalla: Any = SimpleNamespace(train=SimpleNamespace(nnz=529_000))  # 53 steps an epoch
    every50 = dataclasses.replace(RETRAIN, lr_decay_every=50, epochs=80)
    assert default_epochs(every50, gowalla, WARM_EPOCHS) == pytest.approx(DECAYS * 50 / 53)  # 57
    fast = preset_settings("fast")["retrain"]
    assert default_epochs(fast, gowalla, WARM_EPOCHS) == pytest.approx(DECAYS * 100 / 53)  # 113
    assert default_epochs(RETRAIN, gowalla, TYPICAL_EPOCHS) == pytest.approx(DECAYS * 200 / 53)  # 226
    assert default_epochs(dataclasses.replace(fast, epochs=40), gowalla, WARM_EPOCHS) == 40  # its cap
    assert default_epochs(PRETRAIN, mini, PRETRAIN_EPOCHS) == PRETRAIN_EPOCHS  # small data: fitted first
    assert default_epochs(dataclasses.replace(RETRAIN, epochs=20), mini, TYPICAL_EPOCHS) == 20


def test_the_cli_says_why_a_retraining_ended_and_what_to_try(capsys: pytest.CaptureFixture[str]) -> None:
    from bet.cli.common import SearchProgress
    from bet.events import RetrainFinished, TrainProgress

    progress = SearchProgress(2)
    progress(TrainProgress("retrain", 360, 1500, 0.5, label="1/1"))
    progress(RetrainFinished(1, 3, {"recall@20": 0.1}, 0.1, 1.0))
    err = capsys.readouterr().err
    assert "after 360 of at most 1,500 steps (early stopping: validation stopped improving)" in err


def test_the_cli_gives_a_provisional_answer_before_retraining(capsys: pytest.CaptureFixture[str]) -> None:
    from bet.cli.common import SearchProgress
    from bet.events import CandidateEvaluated, PhaseChanged

    progress = SearchProgress(2)
    progress(PhaseChanged("search", "2 iterations"))
    for i, (fit, r20) in enumerate([(0.7, 0.11), (0.8, 0.12)], start=1):
        progress(CandidateEvaluated(i, i, 10, 0.5, fit, {"recall@20": r20}, 1.0, "greedy"))
    progress(PhaseChanged("retrain", "top 1"))
    err = capsys.readouterr().err
    assert "provisional: the best finetuned candidate has valid R@20 0.1200 (finetuned, not yet retrained)" in err


def test_a_training_that_goes_on_from_its_snapshot_is_planned_for_what_it_has_left(mini: Dataset) -> None:
    """A pretraining or reference training resumed from its snapshot (bet.checkpoint) has only the
    rest to run: the plan (the CLI's and the dashboard's) counts that, not the whole training."""
    from bet.baselines import budget_action
    from bet.checkpoint import Checkpoint
    from bet.config import baseline_config, run_budget
    from bet.duration import steps_left
    from bet.train import TrainConfig

    cfg = TrainConfig(steps=5_000, eval_every_steps=50, patience=5)
    assert steps_left(cfg, mini, 1_000.0, done=0) == 1_000.0
    assert steps_left(cfg, mini, 1_000.0, done=400) == 600.0
    assert steps_left(cfg, mini, 1_000.0, done=1_200) == 5 * 50  # past the expected stop: patience evaluations
    assert steps_left(cfg, mini, 1_000.0, done=4_900) == 100  # ...within the cap
    assert steps_left(dataclasses.replace(cfg, patience=0), mini, 5_000.0, done=10) == 4_990  # no early stop

    search = dataclasses.replace(TINY, seed=126)  # a seed no other test trains
    t = Timings(8, 128, 0.01, 0.05, 0.1, 0.2)
    whole = plan(search, mini, t)["pretrain"]
    halt = threading.Event()
    gen = pretrain(mini, search.backbone, search.pretrain, seed=search.seed, device=torch.device("cpu"), stop=halt)
    for ev in gen:
        if getattr(ev, "step", 0) == 6:
            halt.set()
    assert 0 < plan(search, mini, t)["pretrain"] < whole

    su = baseline_config(search, "su")
    before = plan(su, mini, t)["baseline"]
    action = budget_action("su", mini, run_budget(su, mini), seed=su.seed, d_max=su.d_max, backbone=su.backbone)
    key = cache.model_key(mini, su.backbone, d_max=su.d_max, cfg=su.train, seed=su.seed)
    snap = Checkpoint.named(key, action)
    done = int(su.train.total_steps(mini) // 2)
    torch.save({"step": done}, snap.path)
    try:
        assert plan(su, mini, t)["baseline"] < before
    finally:
        snap.clear()
    assert plan(su, mini, t)["baseline"] == before
