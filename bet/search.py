"""The BET search (paper Algorithm 1) as a generator of events.

pretrain the full model (cached) → for t = 1..T: sample m candidates, rank them with the
predictor, pick one (greedy / random / nearest), finetune it from the pretrained weights, evaluate
on validation, r_a = quality / quality(full), update the predictor → selective retraining of the
top-k from scratch → the best on validation is the result; its test metrics are reported (test is
never used to choose anything).

Randomness is derived per iteration from ``(seed, t)``, and every candidate is finetuned with the
same batch sequence (common random numbers: differences in fitness come from the action, not from
the batches). So a run resumed from its stored evaluated actions — the predictor rebuilt by
replaying them — continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.stats as st
import torch

from bet.backbones import Backbone
from bet.budget import Action
from bet.config import SearchConfig
from bet.data import Dataset
from bet.embedding import pack_bytes
from bet.evaluation import evaluate, quality
from bet.events import (
    CandidateEvaluated,
    CandidatesRanked,
    Event,
    Metrics,
    PhaseChanged,
    PredictorUpdated,
    PretrainFinished,
    RetrainFinished,
    RunFinished,
    TablePacked,
)  # fmt: skip
from bet.parallel import default_workers, merge
from bet.pipeline import pretrain, resolve_device, train_sized
from bet.predictor import PREDICTORS, PredictorTrainer
from bet.sampler import ActionBatch, ActionSampler
from bet.selection import choose, strategy_for
from bet.train import TrainResult, train_iter


@dataclass
class Evaluated:
    """One finetuned-and-evaluated action of the population A."""

    action_id: int
    iteration: int
    action: Action
    fitness: float
    predicted: float
    valid: Metrics
    strategy: str
    seconds: float = 0.0


@dataclass
class SearchResult:
    status: str  # completed | stopped
    population: list[Evaluated] = field(default_factory=list)
    best_action_id: int | None = None
    best_action: Action | None = None
    valid: Metrics | None = None
    test: Metrics | None = None


def _spearman(a: list[float], b: list[float]) -> float | None:
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(st.spearmanr(a, b).statistic)


def bet_search(
    cfg: SearchConfig,
    data: Dataset,
    stop: threading.Event | None = None,
    resume: list[Evaluated] | None = None,
) -> Generator[Event, None, SearchResult]:
    """Run (or continue) one BET search; yields events, returns the :class:`SearchResult`."""
    t_start = time.perf_counter()
    device = resolve_device(cfg.device)
    sampler = ActionSampler.for_data(data, cfg.sparsity, cfg.d_max)
    population: list[Evaluated] = list(resume or [])

    def finished(status: str, reason: str = "") -> SearchResult:
        return SearchResult(status, population)

    yield PhaseChanged("pretrain", f"{cfg.backbone} at full size")
    t0 = time.perf_counter()
    model, full_valid, cached = yield from pretrain(data, cfg.backbone, cfg.pretrain, cfg.seed, device, stop, cfg.d_max)
    if stop is not None and stop.is_set():
        yield RunFinished("stopped", "stopped during pretraining", seconds=time.perf_counter() - t_start)
        return finished("stopped")
    q_full = quality(full_valid)
    yield PretrainFinished(full_valid, q_full, cached, time.perf_counter() - t0)
    pretrained = {k: v.detach().clone() for k, v in model.state_dict().items()}

    linear = cfg.predictor_training == "fit"  # standardised targets need a linear output
    predictor = PREDICTORS[cfg.predictor](data.user_freq, data.item_freq, cfg.d_max, cfg.seed, linear).to(device)
    trainer = PredictorTrainer(predictor, cfg.predictor_updates, cfg.predictor_training)
    for ev in population:  # resume: replay the updates in order → the same predictor state
        trainer.add(
            ev.action.user_sizes, ev.action.item_sizes, ev.fitness, np.random.default_rng([cfg.seed, ev.iteration, 1])
        )
    finetune = cfg.finetune(data)

    yield PhaseChanged("search", f"{cfg.iterations} iterations × {cfg.candidates} candidates")
    first = len(population) + 1

    def candidates(t: int) -> tuple[ActionBatch, torch.Tensor]:
        # Independent of the predictor's weights, so iteration t+1's candidates are drawn (on the
        # other core) while iteration t finetunes: the loop's own overhead stays small.
        batch = sampler.sample(cfg.candidates, np.random.default_rng([cfg.seed, t]))
        return batch, trainer.prepare(batch.user_sizes, batch.item_sizes)

    with ThreadPoolExecutor(1, thread_name_prefix="bet-prefetch") as prefetch:
        upcoming = prefetch.submit(candidates, first) if first <= cfg.iterations else None
        for t in range(first, cfg.iterations + 1):
            if stop is not None and stop.is_set():
                yield RunFinished("stopped", f"stopped before iteration {t}", seconds=time.perf_counter() - t_start)
                return finished("stopped")
            t_iter = time.perf_counter()
            assert upcoming is not None
            batch, prepared = upcoming.result()
            upcoming = prefetch.submit(candidates, t + 1) if t < cfg.iterations else None
            predicted, embeddings = trainer.predict_prepared(prepared)
            rng = np.random.default_rng([cfg.seed, t, 2])
            strategy = strategy_for(t, cfg.selection, have_best=bool(population))
            anchor = None
            if strategy == "nearest":
                top1 = max(population, key=lambda e: e.fitness)
                anchor = trainer.predict(top1.action.user_sizes[None], top1.action.item_sizes[None])[1][0]
            idx = choose(strategy, predicted, rng, embeddings, anchor)
            yield CandidatesRanked(
                t, predicted.tolist(), idx, strategy, batch.costs.tolist(), batch.user_share.round(4).tolist()
            )
            action = batch.action(idx).check(sampler.budget, cfg.d_max)
            t_overhead = time.perf_counter() - t_iter

            model.load_state_dict(pretrained)
            model.set_action(action)
            result = yield from train_iter(model, data, finetune, cfg.seed, "finetune", stop, f"{t}/{cfg.iterations}")
            if result.stopped:
                yield RunFinished(
                    "stopped", f"stopped while finetuning iteration {t}", seconds=time.perf_counter() - t_start
                )
                return finished("stopped")
            valid = evaluate(model, data, "valid")
            fitness = quality(valid) / q_full
            t_update = time.perf_counter()
            ev = Evaluated(t, t, action, fitness, float(predicted[idx]), valid, strategy, t_update - t_iter)
            population.append(ev)
            loss = trainer.add(action.user_sizes, action.item_sizes, fitness, np.random.default_rng([cfg.seed, t, 1]))
            held_out = _spearman([e.predicted for e in population], [e.fitness for e in population])
            overhead = t_overhead + time.perf_counter() - t_update
            yield CandidateEvaluated(
                t, t, action.cost, ev.predicted, fitness, valid, ev.seconds, strategy, overhead, action=action
            )
            yield PredictorUpdated(t, loss, held_out)

    top = sorted(population, key=lambda e: (-e.fitness, e.action_id))[: cfg.retrain_top]
    yield PhaseChanged("retrain", f"top {len(top)} from scratch")

    def retrain(rank: int, cand: Evaluated) -> Generator[Event, None, tuple[Backbone, TrainResult]]:
        t0 = time.perf_counter()
        label = f"{rank}/{len(top)}"
        fresh, res = yield from train_sized(
            data, cfg.backbone, cand.action, cfg.retrain, cfg.seed, device, stop, "retrain", label, cfg.d_max
        )
        if not res.stopped and res.valid is not None:
            yield RetrainFinished(rank, cand.action_id, res.valid, quality(res.valid), time.perf_counter() - t0)
        return fresh, res

    workers = cfg.retrain_workers or default_workers(device.type)
    results = yield from merge([retrain(r, c) for r, c in enumerate(top, start=1)], workers)
    if any(res.stopped for _, res in results):
        yield RunFinished("stopped", "stopped while retraining", seconds=time.perf_counter() - t_start)
        return finished("stopped")
    best: tuple[float, Evaluated, Backbone, Metrics] | None = None
    for cand, (fresh, res) in zip(top, results, strict=True):  # ties go to the higher-ranked action
        assert res.valid is not None
        q = quality(res.valid)
        if best is None or q > best[0]:
            best = (q, cand, fresh, res.valid)
    assert best is not None
    _, winner, model, best_valid = best
    test = evaluate(model, data, "test")
    if model.table is not None:
        yield TablePacked(winner.action_id, winner.action.cost, pack_bytes(model.table))
    yield RunFinished(
        "completed", best_action_id=winner.action_id, valid=best_valid, test=test, cost=winner.action.cost,
        seconds=time.perf_counter() - t_start,
    )  # fmt: skip
    return SearchResult("completed", population, winner.action_id, winner.action, best_valid, test)
