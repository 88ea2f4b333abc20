"""BPR training: sampling, the learning-rate schedule, early stopping, stopping on request, and a
short LightGCN run that clearly beats popularity."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch

import bet.train as train_mod
from bet.backbones import Backbone, make_backbone
from bet.batches import BPRSampler
from bet.data import Dataset
from bet.evaluation import KS, evaluate, evaluate_per_user, quality
from bet.events import TrainProgress
from bet.train import TrainConfig, TrainResult, fit, train_iter

# --- sampling -------------------------------------------------------------------------------


def test_bpr_sampler(mini: Dataset) -> None:
    sampler = BPRSampler(mini.train, 10_000, np.random.default_rng(0))
    train = mini.train.toarray() > 0
    for _ in range(3):
        u, p, n = sampler.sample()
        assert u.shape == p.shape == n.shape == (10_000,)
        assert u.dtype == p.dtype == n.dtype == np.int64
        assert train[u, p].all(), "positives are training items"
        assert not train[u, n].any(), "negatives are never training items"
        assert n.min() >= 0 and n.max() < mini.n_items
    a = BPRSampler(mini.train, 64, np.random.default_rng(3)).sample()
    b = BPRSampler(mini.train, 64, np.random.default_rng(3)).sample()
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_lr_schedule() -> None:
    cfg = TrainConfig(lr=0.03, lr_decay=0.5, lr_decay_every=10, lr_min=0.005)
    assert cfg.lr_at(0) == cfg.lr_at(9) == 0.03
    assert cfg.lr_at(10) == pytest.approx(0.015)
    assert cfg.lr_at(20) == pytest.approx(0.0075)
    assert cfg.lr_at(30) == 0.005  # floor


def test_steps_per_epoch(mini: Dataset) -> None:
    cfg = TrainConfig(epochs=3)
    assert cfg.steps_per_epoch(mini) == -(-mini.train.nnz // 10_000) == 5
    assert cfg.total_steps(mini) == 15
    assert TrainConfig(epochs=3, steps=7).total_steps(mini) == 7


# --- a real short run -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_run(mini: Dataset) -> tuple[Backbone, TrainResult, list[TrainProgress]]:
    model = make_backbone("lightgcn", mini, seed=0)
    events: list[TrainProgress] = []
    cfg = TrainConfig(epochs=6, eval_every=2, patience=3)
    result = fit(model, mini, cfg, seed=0, on_event=events.append)
    return model, result, events


def test_fit_events_and_result(short_run: tuple[Backbone, TrainResult, list[TrainProgress]], mini: Dataset) -> None:
    model, result, events = short_run
    assert result.steps == len(events) == events[-1].step
    assert [e.step for e in events] == list(range(1, result.steps + 1))
    assert all(e.phase == "train" and e.total_steps == 30 and np.isfinite(e.loss) for e in events)
    evaluated = [e for e in events if e.valid is not None]
    assert [e.step for e in evaluated] == list(range(10, result.steps + 1, 10))
    assert not result.stopped and result.seconds > 0
    assert result.valid is not None and 0 < result.best_step <= result.steps
    assert events[-1].loss < events[0].loss
    assert not model.training  # handed back in eval mode


def test_short_lightgcn_run_beats_pop(
    short_run: tuple[Backbone, TrainResult, list[TrainProgress]], mini: Dataset
) -> None:
    model, result, _ = short_run
    test = evaluate(model, mini, "test")
    pop = evaluate(make_backbone("pop", mini), mini, "test")
    assert set(test) == {f"{m}@{k}" for m in ("recall", "ndcg") for k in KS}
    assert 0.05 < pop["recall@20"] < 0.10  # MostPop on mini: about 0.07
    assert test["recall@20"] > 2.0 * pop["recall@20"], (test, pop)
    assert test["ndcg@20"] > 2.0 * pop["ndcg@20"]
    # The best validation metrics are those of the model handed back.
    assert result.valid is not None
    assert evaluate(model, mini, "valid") == pytest.approx(result.valid, rel=1e-6)


def test_evaluate_per_user(short_run: tuple[Backbone, TrainResult, list[TrainProgress]], mini: Dataset) -> None:
    model, _, _ = short_run
    per = evaluate_per_user(model, mini, "test")
    means = evaluate(model, mini, "test")
    has_truth = np.diff(mini.test.indptr) > 0
    for key, vals in per.items():
        assert vals.shape == (mini.n_users,)
        assert np.isnan(vals[~has_truth]).all() and not np.isnan(vals[has_truth]).any()
        assert np.nanmean(vals) == pytest.approx(means[key])
    assert quality(means) == pytest.approx(np.mean(list(means.values())))


def test_fit_is_deterministic(mini: Dataset) -> None:
    cfg = TrainConfig(epochs=1, patience=0)
    a, b = make_backbone("lightgcn", mini, seed=4), make_backbone("lightgcn", mini, seed=4)
    la: list[float] = []
    lb: list[float] = []
    fit(a, mini, cfg, seed=9, on_event=lambda e: la.append(e.loss))
    fit(b, mini, cfg, seed=9, on_event=lambda e: lb.append(e.loss))
    assert la == lb and len(la) == 5
    for (k, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), k


def test_pop_needs_no_training(mini: Dataset) -> None:
    result = fit(make_backbone("pop", mini), mini, TrainConfig(epochs=3), seed=0)
    assert result.steps == 0 and result.valid is None


# --- early stopping restores the best weights -----------------------------------------------


def test_early_stopping_restores_best(mini: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """Scripted validation qualities 0.1, 0.3, 0.2, 0.25, 0.05: the best is the 2nd evaluation;
    patience 3 stops after the 5th; the weights handed back are those of the 2nd."""
    script = [0.1, 0.3, 0.2, 0.25, 0.05, 0.9]
    snapshots: list[dict[str, torch.Tensor]] = []

    def fake_evaluate(
        model: Backbone, data: Dataset, split: str = "valid", ks: Any = KS, users: Any = None
    ) -> dict[str, float]:
        assert split == "valid"
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        q = script[len(snapshots) - 1]
        return {f"{m}@{k}": q for m in ("recall", "ndcg") for k in KS}

    monkeypatch.setattr(train_mod, "evaluate", fake_evaluate)
    model = make_backbone("lightgcn", mini, seed=0)
    cfg = TrainConfig(epochs=40, eval_every=1, patience=3, batch_users=5_000)  # 9 steps per epoch
    every = cfg.steps_per_epoch(mini)
    result = fit(model, mini, cfg, seed=0)
    assert len(snapshots) == 5
    assert result.steps == 5 * every
    assert result.best_step == 2 * every
    assert result.valid is not None and result.valid["recall@20"] == 0.3
    final = model.state_dict()
    for key, value in snapshots[1].items():
        assert torch.equal(final[key], value), key
    assert not torch.equal(final["table.weight"], snapshots[-1]["table.weight"])


# --- stopping on request --------------------------------------------------------------------


def test_stop_event_stops_within_one_step(mini: Dataset) -> None:
    stop = threading.Event()
    model = make_backbone("lightgcn", mini, seed=0)
    gen = train_iter(model, mini, TrainConfig(epochs=50, patience=0), seed=0, stop=stop)
    seen = []
    while True:
        try:
            ev = next(gen)
        except StopIteration as done:
            result: TrainResult = done.value
            break
        seen.append(ev.step)
        if len(seen) == 3:
            stop.set()
    assert seen == [1, 2, 3]  # no step after the one during which the stop was set
    assert result.stopped and result.steps == 3
    assert not model.training


def test_stop_before_start(mini: Dataset) -> None:
    stop = threading.Event()
    stop.set()
    model = make_backbone("lightgcn", mini, seed=0)
    before = model.state_dict()["table.weight"].clone()
    result = fit(model, mini, TrainConfig(epochs=5), seed=0, stop=stop)
    assert result.stopped and result.steps == 0
    assert torch.equal(model.state_dict()["table.weight"], before)


def test_narrow_parameter_training_is_exact(mini: Dataset, monkeypatch: pytest.MonkeyPatch) -> None:
    """LightGCN trains only the table's used columns (an optimiser over w of d_max columns):
    bit for bit the same weights, validations and early stopping as training the whole table."""
    from contextlib import nullcontext

    from bet.baselines import baseline_action

    action = baseline_action("mde", mini, 0.95, seed=0)
    assert max(action.user_sizes.max(), action.item_sizes.max()) < 128
    cfg = TrainConfig(epochs=6, eval_every=1, patience=2)
    runs = []
    for narrow in (True, False):
        model = make_backbone("lightgcn", mini, seed=0)
        model.set_action(action)
        if not narrow:
            monkeypatch.setattr(type(model), "training_parameters", lambda self: nullcontext())
        events: list[TrainProgress] = []
        result = fit(model, mini, cfg, seed=1, on_event=events.append)
        assert model.table is not None and model.table.weight.shape == (mini.n_rows, 128)
        runs.append((model.table.weight.detach().clone(), [e.loss for e in events], result.best_step))
        monkeypatch.undo()
    assert torch.equal(runs[0][0], runs[1][0])
    assert runs[0][1] == runs[1][1] and runs[0][2] == runs[1][2]


def test_step_based_validation_schedule(mini: Dataset) -> None:
    """``eval_every_steps`` (the authors' schedule: every 2,000 steps, patience 3) validates on
    step multiples, not epochs, and leaves pretrained-model cache keys of the default unchanged."""
    import dataclasses

    from bet.cache import model_key
    from bet.config import PRETRAIN
    from bet.train import AUTHORS_EARLY_STOP

    cfg = TrainConfig(epochs=4, eval_every_steps=3, patience=50)
    events: list[TrainProgress] = []
    fit(make_backbone("lightgcn", mini, seed=0), mini, cfg, seed=0, on_event=events.append)
    assert [e.step for e in events if e.valid is not None] == [3, 6, 9, 12, 15, 18, 20]
    authors = dataclasses.replace(PRETRAIN, **AUTHORS_EARLY_STOP)
    assert authors.eval_interval(mini) == 2000 and authors.patience == 3
    assert model_key(mini, "lightgcn", d_max=128, cfg=authors, seed=0) != model_key(
        mini, "lightgcn", d_max=128, cfg=PRETRAIN, seed=0
    )
    # the key the default had before the field existed (commit 8c71c63): cached models stay valid
    assert model_key(mini, "lightgcn", d_max=128, cfg=PRETRAIN, seed=0) == OLD_KEY


OLD_KEY = "gowalla-mini-lightgcn-0fedba9bfe1a4c3a"
