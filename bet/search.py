"""The BET search (paper Algorithm 1) as a generator of events, in the paper's phases.

:func:`pretrain_phase`: the full model (cached), and the :class:`SearchState` the others share.
:func:`iteration` t = 1..T on m proposed candidates: learn (add t − 1's evaluated actions to the
predictor), rank, select (greedy / random / nearest), finetune from the pretrained weights and
evaluate on validation (r_a = quality / quality(full)). A random pick needs no ranking, so its
finetuning starts first and the learning and ranking run beside it. :func:`retrain_phase`: the
top-k from scratch; the best on validation wins, its test metrics are read out (never chosen by).

Randomness is derived per iteration from ``(seed, t)``, and every candidate is finetuned with the
same batch sequence (common random numbers), so a run resumed from its stored evaluated actions
(the predictor rebuilt by replaying them) continues exactly as the uninterrupted run would have.
Batched BET (``parallel_candidates = q > 1``, beyond the paper) picks q distinct candidates per
iteration (:mod:`bet.selection`), finetunes them two at a time (:func:`bet.runtime.merge`) and adds
them to the predictor in action order (ids 1..T·q; a half-finished iteration is re-ranked alike)."""

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
)
from bet.predictor import PREDICTORS, PredictorTrainer, Prepared, take_prepared
from bet.retrain import selective_retraining
from bet.runtime import beside, default_workers, merge, resolve_device
from bet.sampler import ActionBatch, ActionSampler
from bet.selection import Picks, blind_picks, pick
from bet.store import Status
from bet.train import TrainConfig, pretrain, train_iter

#: One evaluated action of the population A: the event the search yields for it (frozen).
Evaluated = CandidateEvaluated
#: A finetuned candidate: its validation metrics (None: stopped), seconds finetuning + evaluation, of them evaluation.
Finetuned = tuple[Metrics | None, float, float]


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
    pending: list[tuple[Evaluated, Prepared | None]] = field(default_factory=list)  # evaluated, not learned yet
    t_mark: float = 0.0  # when the current iteration began (the last one's accounting ended)

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
        s.t_mark = time.perf_counter()
        for t in range(first, cfg.iterations + 1):
            if s.stopped:
                yield s.stopped_event(f"stopped before iteration {t}")
                return SearchResult(Status.STOPPED, s.population)
            assert s.upcoming is not None
            if not (yield from iteration(s, t, *s.upcoming.result(), t_iter=s.t_mark)):
                return SearchResult(Status.STOPPED, s.population)
        yield from learned(s)  # the last iteration's
    return (yield from retrain_phase(s))


def best_embedding(s: SearchState) -> np.ndarray:
    """The best evaluated action so far, embedded by the current predictor (nearest's anchor)."""
    assert not s.pending, "the predictor learns every evaluated action before it ranks"
    j = max(range(len(s.population)), key=lambda k: s.population[k].fitness)  # the first best, as max()
    return s.trainer.embedding_of(j)  # stored pairs are the population, in order


def finetuned(s: SearchState, slot: int, action: Action, label: str) -> Generator[Event, None, Finetuned]:
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


def learned(s: SearchState) -> Generator[Event, None, None]:
    """Learn: add the evaluated actions the predictor has not seen to it, in action order; for
    each, its update loss and the Spearman correlation of predicted and actual fitness so far."""
    while s.pending:
        ev, inputs = s.pending.pop(0)
        loss = s.trainer.add(ev.action.user_sizes, ev.action.item_sizes, ev.fitness, s.update_rng(ev.action_id), inputs)
        seen = s.population[: len(s.trainer.targets)]  # the population is in action order
        a, b = [e.predicted for e in seen], [e.fitness for e in seen]
        rho = float(st.spearmanr(a, b).statistic) if len(a) >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0 else None
        yield PredictorUpdated(ev.iteration, loss, rho)


def ranked(
    s: SearchState, t: int, batch: ActionBatch, prepared: Prepared, picks: Picks | None
) -> Generator[Event, None, tuple[np.ndarray, Picks]]:
    """Learn what is pending, rank iteration ``t``'s candidates, select (unless ``picks`` are made
    already), then draw the next candidates: the predictions and the picks."""
    yield from learned(s)
    predicted, embeddings = s.trainer.predict_prepared(prepared)
    if picks is None:
        picks = pick(
            predicted, embeddings, np.random.default_rng([s.cfg.seed, t, 2]), first=(t - 1) * s.width,
            width=s.width, selection=s.cfg.selection, anchor=partial(best_embedding, s) if s.population else None,
        )  # fmt: skip
    yield CandidatesRanked(
        t, predicted.tolist(), picks[0][0], picks[0][1], [s.slots[0].cost_for(int(c)) for c in batch.costs],
        batch.user_share.round(4).tolist(), also_chosen=[i for i, _ in picks[1:]],
    )  # fmt: skip
    s.draw(t + 1)  # drawn during the ranking, the next candidates slowed it 2–4× (GIL, cores)
    return predicted, picks


def finetunes(
    s: SearchState, t: int, batch: ActionBatch, picks: Picks, todo: list[int]
) -> Generator[Event, None, tuple[list[Action], list[Finetuned]]]:
    """The picked actions, and the picks ``todo`` (not evaluated yet) finetuned, two at a time."""
    actions = [batch.action(i).check(s.sampler.budget, s.cfg.d_max) for i, _ in picks]
    label, workers = f"{t}/{s.cfg.iterations}", min(s.width, default_workers(s.device.type))
    return actions, (yield from merge([finetuned(s, k, actions[k], label) for k in todo], workers))


def iteration(
    s: SearchState, t: int, batch: ActionBatch, prepared: Prepared, *, t_iter: float
) -> Generator[Event, None, bool]:
    """Iteration ``t`` on its proposed candidates: learn (from t − 1) → rank → select → finetune.
    When every pick is random it needs no prediction: its finetuning starts at once and the
    learning and ranking run beside it (the same picks, updates and events). False: stopped."""
    width = s.width
    ids = [(t - 1) * width + j for j in range(1, width + 1)]
    todo = [k for k in range(width) if ids[k] not in s.stored]
    rng = np.random.default_rng([s.cfg.seed, t, 2])
    blind = blind_picks(len(batch), rng, first=(t - 1) * width, width=width, selection=s.cfg.selection)
    if blind is None:
        predicted, picks = yield from ranked(s, t, batch, prepared, None)
        t_ft = time.perf_counter()
        actions, runs = yield from finetunes(s, t, batch, picks, todo)
        ft_seconds = time.perf_counter() - t_ft
    else:
        ranking = ranked(s, t, batch, prepared, blind)
        (actions, runs), (predicted, picks), ft_seconds = yield from beside(
            finetunes(s, t, batch, blind, todo), ranking
        )
    if any(valid is None for valid, _, _ in runs):
        yield s.stopped_event(f"stopped while finetuning iteration {t}")
        return False
    new = dict(zip(todo, runs, strict=True))
    s.t_mark = time.perf_counter()  # every moment of the loop belongs to one iteration
    overhead = (s.t_mark - t_iter - ft_seconds) / width  # learning, ranking, selection, recording
    for k, (i, strategy) in enumerate(picks):  # in action order
        if k not in new:
            ev = s.stored[ids[k]]  # evaluated before the interruption: not redone
            s.pending.append((ev, None))
        else:
            valid, secs, eval_secs = new[k]
            assert valid is not None
            ev = Evaluated(
                t, ids[k], s.slots[0].cost_of(actions[k]), float(predicted[i]), quality(valid) / s.q_full, valid,
                s.t_mark - t_iter if width == 1 else secs + overhead, strategy, overhead=overhead,
                action=actions[k], eval_seconds=eval_secs,
            )  # fmt: skip
            s.pending.append((ev, take_prepared(prepared, i)))
            yield ev
        s.population.append(ev)
    return True


def retrain_phase(s: SearchState) -> Generator[Event, None, SearchResult]:
    """Selective retraining (:func:`bet.retrain.selective_retraining`) once the search's models are freed."""
    s.slots.clear()
    s.pretrained.clear()
    done = yield from selective_retraining(s.cfg, s.data, s.population, s.device, s.stop, s.t_start)
    if done is None:
        return SearchResult(Status.STOPPED, s.population)
    won, test = done
    return SearchResult(Status.COMPLETED, s.population, won.action.action_id, won.action.action, won.valid, test)
