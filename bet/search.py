"""The BET search (paper Algorithm 1) as a generator of events, in the paper's phases.

:func:`pretrain_phase`: the full model (cached), and the :class:`~bet.iteration.SearchState` the
others share. :func:`bet.iteration.iteration` t = 1..T on m candidates proposed a step ahead:
learn, rank, select (greedy / random / nearest), finetune from the pretrained weights, evaluate
on validation. :func:`retrain_phase`: the top-k from scratch; the best on validation wins, its
test metrics are read out (never chosen by).

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bet.backbones import action_budget, make_backbone
from bet.budget import Action
from bet.config import SearchConfig
from bet.data import Dataset
from bet.evaluation import evaluate, quality, user_sample
from bet.events import Event, Metrics, PhaseChanged, PretrainFinished, RunFinished
from bet.iteration import Evaluated, SearchState, iteration, learned
from bet.predictor import PREDICTORS, PredictorTrainer
from bet.retrain import selective_retraining
from bet.runtime import resolve_device
from bet.sampler import ActionSampler
from bet.status import Status
from bet.train import pretrain

__all__ = ["Evaluated", "SearchResult", "bet_search"]


@dataclass(frozen=True)
class SearchResult:
    status: Status  # completed | stopped
    population: list[Evaluated] = field(default_factory=list)
    best_action_id: int | None = None
    best_action: Action | None = None
    valid: Metrics | None = None
    test: Metrics | None = None


def pretrain_phase(
    cfg: SearchConfig, data: Dataset, *, stop: threading.Event | None, resume: list[Evaluated], budget: int
) -> Generator[Event, None, SearchState | None]:
    """The full-size model (cached), and the state the search goes on from (None: stopped). A
    resumed search replays its evaluated actions into the predictor: the same predictor state."""
    t_start = time.perf_counter()
    device = resolve_device(cfg.device)
    action_total = action_budget(cfg.backbone, budget, n_rows=data.n_rows)
    sampler = ActionSampler.for_data(data, action_total, cfg.d_max, redraws=cfg.redraws)
    yield PhaseChanged("pretrain", f"{cfg.backbone} at full size")
    t0 = time.perf_counter()
    model, full_valid, cached = yield from pretrain(
        data, cfg.backbone, cfg.pretrain, seed=cfg.seed, device=device, stop=stop, d_max=cfg.d_max
    )
    if stop is not None and stop.is_set():
        yield RunFinished(Status.STOPPED, "stopped during pretraining", seconds=time.perf_counter() - t_start)
        return None
    fitness_users = user_sample(data, cfg.fitness_users, cfg.seed)
    # r_a = quality / quality(full) on the same users: the full model's on the fitness sample too
    q_full = quality(full_valid if fitness_users is None else evaluate(model, data, "valid", users=fitness_users))
    yield PretrainFinished(full_valid, quality(full_valid), cached, time.perf_counter() - t0)
    linear = cfg.predictor_training == "fit"  # standardised targets need a linear output
    predictor = PREDICTORS[cfg.predictor](
        data.user_freq, data.item_freq, d_max=cfg.d_max, seed=cfg.seed, linear_output=linear
    ).to(device)
    trainer = PredictorTrainer(predictor, cfg.predictor_updates, cfg.predictor_training)
    width = cfg.parallel_candidates
    done = len(resume) // width  # complete iterations; a partial one is redone, reusing what it stored
    slots = [model] + [
        make_backbone(cfg.backbone, data, seed=cfg.seed, d_max=cfg.d_max, device=device) for _ in range(width - 1)
    ]
    s = SearchState(
        cfg,
        data,
        stop,
        device,
        t_start,
        sampler,
        trainer,
        slots,
        pretrained={k: v.detach().clone() for k, v in model.state_dict().items()},
        q_full=q_full,
        finetune=cfg.finetune(data),
        population=resume[: done * width],
        stored={e.action_id: e for e in resume[done * width :]},
        fitness_users=fitness_users,
    )
    for ev in s.population:  # resume: replay the updates in order → the same predictor state
        trainer.add(ev.action.user_sizes, ev.action.item_sizes, ev.fitness, rng=s.update_rng(ev.action_id))
    return s


def bet_search(
    cfg: SearchConfig,
    data: Dataset,
    *,
    stop: threading.Event | None = None,
    resume: list[Evaluated] | None = None,
    budget: int,
) -> Generator[Event, None, SearchResult]:
    """Run (or continue) one BET search under ``budget`` (the run's:
    :func:`bet.config.run_budget`, computed once where the config met the data); yields events,
    returns the :class:`SearchResult`."""
    s = yield from pretrain_phase(cfg, data, stop=stop, resume=list(resume or []), budget=budget)
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
            batch, prepared, guess = s.upcoming.result()
            if not (yield from iteration(s, t, batch, prepared=prepared, guess=guess)):
                return SearchResult(Status.STOPPED, s.population)
        yield from learned(s)  # the last iteration's
    return (yield from retrain_phase(s))


def retrain_phase(s: SearchState) -> Generator[Event, None, SearchResult]:
    """Selective retraining (:func:`bet.retrain.selective_retraining`) once the search's models are
    freed (the pretrained weights kept only to warm-start from them, ``retrain_from = pretrained``)."""
    s.slots.clear()
    init = dict(s.pretrained) if s.cfg.retrain_from == "pretrained" else None
    s.pretrained.clear()
    done = yield from selective_retraining(
        s.cfg, s.data, s.population, device=s.device, stop=s.stop, t_start=s.t_start, init=init
    )
    if done is None:
        return SearchResult(Status.STOPPED, s.population)
    won, test = done
    return SearchResult(Status.COMPLETED, s.population, won.action.action_id, won.action.action, won.valid, test)
