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

Batched BET (``parallel_candidates = q > 1``, beyond the paper): each iteration picks q distinct
candidates (see :mod:`bet.selection`), finetunes them on separate model copies, two at a time
(threads: :func:`bet.runtime.merge`), then adds all q to the predictor in action order. Action ids run
1..T·q; a resume from a half-finished iteration re-ranks it identically and reuses what it stored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import scipy.stats as st

from bet.backbones import Backbone, action_budget, make_backbone
from bet.budget import Action, budget_for
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
from bet.predictor import PREDICTORS, PredictorTrainer, Prepared
from bet.runtime import default_workers, merge, resolve_device
from bet.sampler import ActionBatch, ActionSampler
from bet.selection import choose, strategy_for
from bet.store import Status
from bet.train import TrainResult, pretrain, train_iter, train_sized


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
    budget = action_budget(cfg.backbone, budget_for(cfg.sparsity, data.n_rows, cfg.d_max), data.n_rows)
    sampler = ActionSampler.for_data(data, budget, cfg.d_max, redraws=cfg.redraws)
    population: list[Evaluated] = list(resume or [])

    def finished(status: str, reason: str = "") -> SearchResult:
        return SearchResult(status, population)

    yield PhaseChanged("pretrain", f"{cfg.backbone} at full size")
    t0 = time.perf_counter()
    model, full_valid, cached = yield from pretrain(
        data, cfg.backbone, cfg.pretrain, seed=cfg.seed, device=device, stop=stop, d_max=cfg.d_max
    )
    if stop is not None and stop.is_set():
        yield RunFinished(Status.STOPPED, "stopped during pretraining", seconds=time.perf_counter() - t_start)
        return finished(Status.STOPPED)
    q_full = quality(full_valid)
    yield PretrainFinished(full_valid, q_full, cached, time.perf_counter() - t0)
    pretrained = {k: v.detach().clone() for k, v in model.state_dict().items()}

    linear = cfg.predictor_training == "fit"  # standardised targets need a linear output
    predictor = PREDICTORS[cfg.predictor](data.user_freq, data.item_freq, cfg.d_max, cfg.seed, linear).to(device)
    trainer = PredictorTrainer(predictor, cfg.predictor_updates, cfg.predictor_training)
    width = cfg.parallel_candidates
    done = len(population) // width  # complete iterations; a partial one is redone, reusing what it stored
    stored = {e.action_id: e for e in population[done * width :]}
    population = population[: done * width]
    for ev in population:  # resume: replay the updates in order → the same predictor state
        trainer.add(
            ev.action.user_sizes, ev.action.item_sizes, ev.fitness, np.random.default_rng([cfg.seed, ev.action_id, 1])
        )
    finetune = cfg.finetune(data)
    slots = [model] + [make_backbone(cfg.backbone, data, cfg.seed, cfg.d_max, device) for _ in range(width - 1)]

    def finetuned(slot: int, action: Action, label: str) -> Generator[Event, None, tuple[Metrics | None, float, float]]:
        """Finetune ``action`` from the pretrained weights on model ``slot``: its validation
        metrics, the seconds finetuning + evaluation took, and those of the evaluation."""
        t0 = time.perf_counter()
        m = slots[slot]
        m.load_state_dict(pretrained)
        m.reset_randomness()
        m.set_action(action)
        result = yield from train_iter(m, data, finetune, seed=cfg.seed, phase="finetune", stop=stop, label=label)
        if result.stopped:
            return None, 0.0, 0.0
        t_eval = time.perf_counter()
        valid = evaluate(m, data, "valid")
        done = time.perf_counter()
        return valid, done - t0, done - t_eval

    yield PhaseChanged("search", f"{cfg.iterations} iterations × {cfg.candidates} candidates")
    first = done + 1

    def candidates(t: int) -> tuple[ActionBatch, Prepared]:
        # Independent of the predictor's weights, so iteration t+1's candidates are drawn (on the
        # other core) while iteration t finetunes: the loop's own overhead stays small.
        batch = sampler.sample(cfg.candidates, np.random.default_rng([cfg.seed, t]))
        return batch, trainer.prepare(batch.user_sizes, batch.item_sizes)

    with ThreadPoolExecutor(1, thread_name_prefix="bet-prefetch") as prefetch:
        upcoming = prefetch.submit(candidates, first) if first <= cfg.iterations else None
        for t in range(first, cfg.iterations + 1):
            if stop is not None and stop.is_set():
                yield RunFinished(
                    Status.STOPPED, f"stopped before iteration {t}", seconds=time.perf_counter() - t_start
                )
                return finished(Status.STOPPED)
            t_iter = time.perf_counter()
            assert upcoming is not None
            batch, prepared = upcoming.result()
            upcoming = prefetch.submit(candidates, t + 1) if t < cfg.iterations else None
            predicted, embeddings = trainer.predict_prepared(prepared)
            rng = np.random.default_rng([cfg.seed, t, 2])
            # `width` distinct candidates; the j-th follows the selection schedule of action (t-1)·width+j
            picks: list[tuple[int, str]] = []
            for j in range(1, width + 1):
                strategy = strategy_for((t - 1) * width + j, cfg.selection, have_best=bool(population))
                anchor = None
                if strategy == "nearest":
                    top1 = max(population, key=lambda e: e.fitness)
                    anchor = trainer.predict(top1.action.user_sizes[None], top1.action.item_sizes[None])[1][0]
                picks.append((choose(strategy, predicted, rng, embeddings, anchor, [i for i, _ in picks]), strategy))
            idx, strategy = picks[0]
            yield CandidatesRanked(
                t, predicted.tolist(), idx, strategy, [model.cost_for(int(c)) for c in batch.costs], batch.user_share.round(4).tolist(),
                also_chosen=[i for i, _ in picks[1:]],
            )  # fmt: skip
            actions = [batch.action(i).check(sampler.budget, cfg.d_max) for i, _ in picks]
            ids = [(t - 1) * width + j for j in range(1, width + 1)]
            t_overhead = time.perf_counter() - t_iter

            label = f"{t}/{cfg.iterations}"
            todo = [k for k in range(width) if ids[k] not in stored]
            runs = yield from merge(
                [finetuned(k, actions[k], label) for k in todo], min(width, default_workers(device.type))
            )
            if any(valid is None for valid, _, _ in runs):
                yield RunFinished(
                    Status.STOPPED, f"stopped while finetuning iteration {t}", seconds=time.perf_counter() - t_start
                )
                return finished(Status.STOPPED)
            new = dict(zip(todo, runs, strict=True))
            t_update = time.perf_counter()
            for k, (i, strategy) in enumerate(picks):
                t_k = time.perf_counter()
                eval_secs = 0.0
                if k in new:
                    valid, secs, eval_secs = new[k]
                    assert valid is not None
                    ev = Evaluated(ids[k], t, actions[k], quality(valid) / q_full, float(predicted[i]), valid, strategy)
                    ev.seconds = secs + t_overhead / width if width > 1 else t_update - t_iter
                else:
                    ev = stored[ids[k]]  # evaluated before the interruption: not redone
                population.append(ev)
                rng_k = np.random.default_rng([cfg.seed, ev.action_id, 1])
                loss = trainer.add(ev.action.user_sizes, ev.action.item_sizes, ev.fitness, rng_k)
                held_out = _spearman([e.predicted for e in population], [e.fitness for e in population])
                overhead = t_overhead / width + time.perf_counter() - t_k
                if k in new:
                    yield CandidateEvaluated(
                        t, ev.action_id, model.cost_of(ev.action), ev.predicted, ev.fitness, ev.valid, ev.seconds, strategy,
                        overhead, action=ev.action, eval_seconds=eval_secs,
                    )  # fmt: skip
                yield PredictorUpdated(t, loss, held_out)

    top = sorted(population, key=lambda e: (-e.fitness, e.action_id))[: cfg.retrain_top]
    yield PhaseChanged("retrain", f"top {len(top)} from scratch")

    def retrain(rank: int, cand: Evaluated) -> Generator[Event, None, tuple[Backbone, TrainResult]]:
        t0 = time.perf_counter()
        label = f"{rank}/{len(top)}"
        fresh, res = yield from train_sized(
            data,
            cfg.backbone,
            cand.action,
            cfg.retrain,
            seed=cfg.seed,
            device=device,
            stop=stop,
            phase="retrain",
            label=label,
            d_max=cfg.d_max,
        )
        if not res.stopped and res.valid is not None:
            yield RetrainFinished(rank, cand.action_id, res.valid, quality(res.valid), time.perf_counter() - t0)
        return fresh, res

    workers = cfg.retrain_workers or default_workers(device.type)
    results = yield from merge([retrain(r, c) for r, c in enumerate(top, start=1)], workers)
    if any(res.stopped for _, res in results):
        yield RunFinished(Status.STOPPED, "stopped while retraining", seconds=time.perf_counter() - t_start)
        return finished(Status.STOPPED)
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
        yield TablePacked(winner.action_id, model.cost, pack_bytes(model.tables()))
    yield RunFinished(
        Status.COMPLETED, best_action_id=winner.action_id, valid=best_valid, test=test, cost=model.cost,
        seconds=time.perf_counter() - t_start,
    )  # fmt: skip
    return SearchResult(Status.COMPLETED, population, winner.action_id, winner.action, best_valid, test)
