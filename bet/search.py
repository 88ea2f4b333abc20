"""The BET search (paper Algorithm 1) as a generator of events, in the paper's phases.

:func:`pretrain_phase`: the full model (cached), and the :class:`SearchState` the others share.
:func:`iteration` t = 1..T: propose m candidates, rank them with the predictor, select one (greedy /
random / nearest), finetune it from the pretrained weights and evaluate it on validation
(r_a = quality / quality(full)), learn (update the predictor). :func:`retrain_phase`: the top-k
from scratch; the best on validation is the result, its test metrics are read out (never chosen by).

Randomness is derived per iteration from ``(seed, t)``, and every candidate is finetuned with the
same batch sequence (common random numbers: fitness differences come from the action, not the
batches). So a run resumed from its stored evaluated actions (the predictor rebuilt by replaying
them) continues exactly as the uninterrupted run would have.

Batched BET (``parallel_candidates = q > 1``, beyond the paper) picks q distinct candidates per
iteration (:mod:`bet.selection`), finetunes them two at a time (:func:`bet.runtime.merge`) and adds
them to the predictor in action order (ids 1..T·q; a half-finished iteration is re-ranked alike).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import scipy.stats as st
import torch

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
    RunFinished,
    TablePacked,
)
from bet.predictor import PREDICTORS, PredictorTrainer, Prepared, take_prepared
from bet.retrain import retrain_top
from bet.runtime import default_workers, merge, resolve_device
from bet.sampler import ActionBatch, ActionSampler
from bet.selection import pick
from bet.store import Status
from bet.train import TrainConfig, pretrain, train_iter

#: One evaluated action of the population A: the event the search yields for it (frozen).
Evaluated = CandidateEvaluated


@dataclass(frozen=True)
class SearchResult:
    status: Status  # completed | stopped
    population: list[Evaluated] = field(default_factory=list)
    best_action_id: int | None = None
    best_action: Action | None = None
    valid: Metrics | None = None
    test: Metrics | None = None


@dataclass
class SearchState:
    """What the phases of one search share: models and weights, sampler, predictor, population."""

    cfg: SearchConfig
    data: Dataset
    stop: threading.Event | None
    device: torch.device
    t_start: float
    sampler: ActionSampler
    trainer: PredictorTrainer
    slots: list[Backbone]  # slots[0] is the pretrained model
    pretrained: dict[str, torch.Tensor]
    q_full: float
    finetune: TrainConfig
    population: list[Evaluated]
    stored: dict[int, Evaluated]  # evaluated before an interruption, in the iteration being redone
    prefetch: ThreadPoolExecutor | None = None
    upcoming: Future[tuple[ActionBatch, Prepared]] | None = None  # the next iteration's candidates

    @property
    def width(self) -> int:
        return self.cfg.parallel_candidates

    @property
    def stopped(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def stopped_event(self, reason: str) -> RunFinished:
        return RunFinished(Status.STOPPED, reason, seconds=time.perf_counter() - self.t_start)

    def update_rng(self, action_id: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, action_id, 1])

    def propose(self, t: int) -> tuple[ActionBatch, Prepared]:
        """Iteration ``t``'s m candidates and the predictor's weight-independent inputs for them."""
        batch = self.sampler.sample(self.cfg.candidates, np.random.default_rng([self.cfg.seed, t]))
        return batch, self.trainer.prepare(batch.user_sizes, batch.item_sizes)

    def draw(self, t: int) -> None:
        """Propose iteration ``t`` on the prefetch thread after t−1's pick: beside finetuning, not ranking."""
        self.upcoming = self.prefetch.submit(self.propose, t) if self.prefetch and t <= self.cfg.iterations else None


def pretrain_phase(
    cfg: SearchConfig, data: Dataset, stop: threading.Event | None, resume: list[Evaluated], budget: int
) -> Generator[Event, None, SearchState | None]:
    """The full-size model (cached), and the state the search goes on from (None: stopped). A
    resumed search replays its evaluated actions into the predictor: the same predictor state."""
    t_start = time.perf_counter()
    device = resolve_device(cfg.device)
    action_total = action_budget(cfg.backbone, budget, data.n_rows)
    sampler = ActionSampler.for_data(data, action_total, cfg.d_max, redraws=cfg.redraws)
    yield PhaseChanged("pretrain", f"{cfg.backbone} at full size")
    t0 = time.perf_counter()
    model, full_valid, cached = yield from pretrain(
        data, cfg.backbone, cfg.pretrain, seed=cfg.seed, device=device, stop=stop, d_max=cfg.d_max
    )
    if stop is not None and stop.is_set():
        yield RunFinished(Status.STOPPED, "stopped during pretraining", seconds=time.perf_counter() - t_start)
        return None
    q_full = quality(full_valid)
    yield PretrainFinished(full_valid, q_full, cached, time.perf_counter() - t0)
    linear = cfg.predictor_training == "fit"  # standardised targets need a linear output
    predictor = PREDICTORS[cfg.predictor](data.user_freq, data.item_freq, cfg.d_max, cfg.seed, linear).to(device)
    trainer = PredictorTrainer(predictor, cfg.predictor_updates, cfg.predictor_training)
    width = cfg.parallel_candidates
    done = len(resume) // width  # complete iterations; a partial one is redone, reusing what it stored
    slots = [model] + [make_backbone(cfg.backbone, data, cfg.seed, cfg.d_max, device) for _ in range(width - 1)]
    s = SearchState(
        cfg, data, stop, device, t_start, sampler, trainer, slots,
        pretrained={k: v.detach().clone() for k, v in model.state_dict().items()}, q_full=q_full,
        finetune=cfg.finetune(data), population=resume[: done * width],
        stored={e.action_id: e for e in resume[done * width :]},
    )  # fmt: skip
    for ev in s.population:  # resume: replay the updates in order → the same predictor state
        trainer.add(ev.action.user_sizes, ev.action.item_sizes, ev.fitness, s.update_rng(ev.action_id))
    return s


def bet_search(
    cfg: SearchConfig,
    data: Dataset,
    stop: threading.Event | None = None,
    resume: list[Evaluated] | None = None,
    *,
    budget: int | None = None,
) -> Generator[Event, None, SearchResult]:
    """Run (or continue) one BET search under ``budget`` (the run's; default: ``cfg.sparsity``'s);
    yields events, returns the :class:`SearchResult`."""
    budget = budget if budget is not None else budget_for(cfg.sparsity, data.n_rows, cfg.d_max)
    s = yield from pretrain_phase(cfg, data, stop, list(resume or []), budget)
    if s is None:
        return SearchResult(Status.STOPPED, list(resume or []))
    yield PhaseChanged("search", f"{cfg.iterations} iterations × {cfg.candidates} candidates")
    first = len(s.population) // s.width + 1
    with ThreadPoolExecutor(1, thread_name_prefix="bet-prefetch") as s.prefetch:
        s.draw(first)
        for t in range(first, cfg.iterations + 1):
            if s.stopped:
                yield s.stopped_event(f"stopped before iteration {t}")
                return SearchResult(Status.STOPPED, s.population)
            t_iter = time.perf_counter()
            assert s.upcoming is not None
            if not (yield from iteration(s, t, *s.upcoming.result(), t_iter=t_iter)):
                return SearchResult(Status.STOPPED, s.population)
    return (yield from retrain_phase(s))


def best_embedding(s: SearchState) -> np.ndarray:
    """The best evaluated action so far, embedded by the current predictor (nearest's anchor)."""
    j = max(range(len(s.population)), key=lambda k: s.population[k].fitness)  # the first best, as max()
    return s.trainer.embedding_of(j)  # stored pairs are the population, in order


def finetuned(
    s: SearchState, slot: int, action: Action, label: str
) -> Generator[Event, None, tuple[Metrics | None, float, float]]:
    """Finetune ``action`` from the pretrained weights on model ``slot``: its validation metrics
    (None: stopped), the seconds finetuning + evaluation took, and those of the evaluation."""
    t0 = time.perf_counter()
    m = s.slots[slot]
    m.load_state_dict(s.pretrained)
    m.reset_randomness()
    m.set_action(action)
    result = yield from train_iter(m, s.data, s.finetune, seed=s.cfg.seed, phase="finetune", stop=s.stop, label=label)
    if result.stopped:
        return None, 0.0, 0.0
    t_eval = time.perf_counter()
    valid = evaluate(m, s.data, "valid")
    done = time.perf_counter()
    return valid, done - t0, done - t_eval


def learn(
    s: SearchState, action_id: int, action: Action, fitness: float, predicted: float, inputs: Prepared | None = None
) -> tuple[float, float | None]:
    """Add an evaluated action (``inputs``: its prepared inputs, if known) to the predictor: its update
    loss, and the Spearman correlation of predicted and actual fitness over the population with it."""
    loss = s.trainer.add(action.user_sizes, action.item_sizes, fitness, s.update_rng(action_id), inputs)
    a, b = [e.predicted for e in s.population] + [predicted], [e.fitness for e in s.population] + [fitness]
    return loss, float(st.spearmanr(a, b).statistic) if len(a) >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0 else None


def iteration(
    s: SearchState, t: int, batch: ActionBatch, prepared: Prepared, *, t_iter: float
) -> Generator[Event, None, bool]:
    """Iteration ``t`` on its proposed candidates: rank → select → finetune → learn. False: stopped."""
    cfg, width, model = s.cfg, s.width, s.slots[0]
    predicted, embeddings = s.trainer.predict_prepared(prepared)
    picks = pick(
        predicted, embeddings, np.random.default_rng([cfg.seed, t, 2]), first=(t - 1) * width, width=width,
        selection=cfg.selection, anchor=partial(best_embedding, s) if s.population else None,
    )  # fmt: skip
    yield CandidatesRanked(
        t, predicted.tolist(), picks[0][0], picks[0][1], [model.cost_for(int(c)) for c in batch.costs],
        batch.user_share.round(4).tolist(), also_chosen=[i for i, _ in picks[1:]],
    )  # fmt: skip
    actions = [batch.action(i).check(s.sampler.budget, cfg.d_max) for i, _ in picks]
    ids = [(t - 1) * width + j for j in range(1, width + 1)]
    t_overhead = time.perf_counter() - t_iter
    s.draw(t + 1)  # drawn during the ranking, the next candidates slowed it 2–4× (GIL, cores)
    todo = [k for k in range(width) if ids[k] not in s.stored]
    workers = min(width, default_workers(s.device.type))
    runs = yield from merge([finetuned(s, k, actions[k], f"{t}/{cfg.iterations}") for k in todo], workers)
    if any(valid is None for valid, _, _ in runs):
        yield s.stopped_event(f"stopped while finetuning iteration {t}")
        return False
    new = dict(zip(todo, runs, strict=True))
    t_update = time.perf_counter()
    for k, (i, strategy) in enumerate(picks):  # learn, in action order
        t_k = time.perf_counter()
        if k not in new:
            ev = s.stored[ids[k]]  # evaluated before the interruption: not redone
            loss, held_out = learn(s, ev.action_id, ev.action, ev.fitness, ev.predicted)
        else:
            valid, secs, eval_secs = new[k]
            assert valid is not None
            fitness, guess = quality(valid) / s.q_full, float(predicted[i])
            loss, held_out = learn(s, ids[k], actions[k], fitness, guess, take_prepared(prepared, i))
            ev = Evaluated(
                t, ids[k], model.cost_of(actions[k]), guess, fitness, valid,
                secs + t_overhead / width if width > 1 else t_update - t_iter, strategy,
                overhead=t_overhead / width + time.perf_counter() - t_k, action=actions[k], eval_seconds=eval_secs,
            )  # fmt: skip
            yield ev
        s.population.append(ev)
        yield PredictorUpdated(t, loss, held_out)
    return True


def retrain_phase(s: SearchState) -> Generator[Event, None, SearchResult]:
    """Selective retraining (:mod:`bet.retrain`) once the search's models are freed; the winner's test
    metrics are read out (never chosen by) and its table packed."""
    top = sorted(s.population, key=lambda e: (-e.fitness, e.action_id))[: s.cfg.retrain_top]
    yield PhaseChanged("retrain", f"top {len(top)} from scratch")
    s.slots.clear()
    s.pretrained.clear()
    won = yield from retrain_top(s.cfg, s.data, top, s.device, s.stop)
    if won is None:
        yield s.stopped_event("stopped while retraining")
        return SearchResult(Status.STOPPED, s.population)
    test, model = evaluate(won.model, s.data, "test"), won.model
    if model.table is not None:
        yield TablePacked(won.action.action_id, model.cost, pack_bytes(model.tables()))
    yield RunFinished(
        Status.COMPLETED, best_action_id=won.action.action_id, valid=won.valid, test=test, cost=model.cost,
        seconds=time.perf_counter() - s.t_start,
    )  # fmt: skip
    return SearchResult(Status.COMPLETED, s.population, won.action.action_id, won.action.action, won.valid, test)
