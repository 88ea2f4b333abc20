"""One iteration of the BET search (paper Algorithm 1, the loop body) and the state the phases share.

:func:`iteration` t on m proposed candidates: learn (add t − 1's evaluated actions to the
predictor), rank, select (greedy / random / nearest), finetune from the pretrained weights and
evaluate on validation (r_a = quality / quality(full)). Learning and ranking need no finetuning, so
when the pick is known early they run beside it (:func:`bet.runtime.beside`): a random pick is
known without a ranking; a greedy one is guessed by the predictor that ranked t − 1 (on the
prefetch thread) when a finetuning step is shorter than the learning it would hide — a wrong guess
is dropped and the real pick finetuned. Either way the picks, updates and events are the same.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import scipy.stats as st
import torch

from bet.backbones import Backbone
from bet.budget import Action
from bet.config import SearchConfig
from bet.data import Dataset
from bet.evaluation import evaluate, quality
from bet.events import CandidateEvaluated, CandidatesRanked, Event, Metrics, PredictorUpdated, RunFinished
from bet.predictor import PredictorTrainer, Prepared, take_prepared
from bet.runtime import Halt, beside, default_workers, merge
from bet.sampler import ActionBatch, ActionSampler
from bet.selection import Picks, blind_picks, pick, strategy_for
from bet.status import Status
from bet.train import TrainConfig, train_iter

#: One evaluated action of the population A: the event the search yields for it (frozen).
Evaluated = CandidateEvaluated
#: A finetuned candidate: its validation metrics (None: stopped), seconds finetuning + evaluation, of them evaluation.
Finetuned = tuple[Metrics | None, float, float]
#: Iteration t's candidates, the predictor's inputs for them, and a guess at a greedy pick (or None).
Proposal = tuple[ActionBatch, Prepared, int | None]


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
    upcoming: Future[Proposal] | None = None  # the next iteration's candidates
    pending: list[tuple[Evaluated, Prepared | None]] = field(default_factory=list)  # evaluated, not learned yet
    t_mark: float = 0.0  # when the current iteration began (the last one's accounting ended)
    step_seconds: float = math.inf  # one finetuning step, as last measured
    learn_seconds: float = 0.0  # the predictor's last learning
    fitness_users: np.ndarray | None = None  # the validation users fitness is scored on (None: all)

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

    def worth_guessing(self) -> bool:
        """Begin a guessed pick's finetuning early? Yes if a step, what a wrong guess wastes on the
        way (it stops at the next step), is shorter than the learning it hides (docs/results.md §5)."""
        return self.step_seconds < self.learn_seconds

    def propose(self, t: int) -> Proposal:
        """Iteration ``t``'s m candidates, the predictor's weight-independent inputs for them and, if
        ``t`` picks one greedily and guessing is worth it, the pick of the predictor that ranked t − 1
        (a guess at it; ranking for it only then)."""
        batch = self.sampler.sample(self.cfg.candidates, np.random.default_rng([self.cfg.seed, t]))
        prepared = self.trainer.prepare(batch.user_sizes, batch.item_sizes)
        guess = self.width == 1 and strategy_for(t, self.cfg.selection) == "greedy" and self.worth_guessing()
        return batch, prepared, int(np.argmax(self.trainer.predict_prepared(prepared)[0])) if guess else None

    def draw(self, t: int) -> None:
        """Propose iteration ``t`` on the prefetch thread after t−1's pick: beside finetuning, not ranking."""
        self.upcoming = self.prefetch.submit(self.propose, t) if self.prefetch and t <= self.cfg.iterations else None


def best_embedding(s: SearchState) -> np.ndarray:
    """The best evaluated action so far, embedded by the current predictor (nearest's anchor)."""
    assert not s.pending, "the predictor learns every evaluated action before it ranks"
    j = max(range(len(s.population)), key=lambda k: s.population[k].fitness)  # the first best, as max()
    return s.trainer.embedding_of(j)  # stored pairs are the population, in order


def finetuned(
    s: SearchState, slot: int, action: Action, *, label: str, stop: threading.Event | None
) -> Generator[Event, None, Finetuned]:
    """Finetune ``action`` from the pretrained weights on model ``slot``: its validation metrics
    (None: stopped), the seconds finetuning + evaluation took, and those of the evaluation."""
    t0 = time.perf_counter()
    m = s.slots[slot]
    m.load_state_dict(s.pretrained)
    m.reset_randomness()
    m.set_action(action)
    result = yield from train_iter(m, s.data, s.finetune, seed=s.cfg.seed, phase="finetune", stop=stop, label=label)
    if result.stopped:
        return None, 0.0, 0.0
    t_eval = time.perf_counter()
    s.step_seconds = (t_eval - t0) / max(result.steps, 1)
    valid = evaluate(m, s.data, "valid", users=s.fitness_users)
    done = time.perf_counter()
    return valid, done - t0, done - t_eval


def learned(s: SearchState) -> Generator[Event, None, None]:
    """Learn: add the evaluated actions the predictor has not seen to it, in action order; for
    each, its update loss and the Spearman correlation of predicted and actual fitness so far."""
    t0 = time.perf_counter() if s.pending else None
    while s.pending:
        ev, inputs = s.pending.pop(0)
        loss = s.trainer.add(
            ev.action.user_sizes, ev.action.item_sizes, ev.fitness, rng=s.update_rng(ev.action_id), prepared=inputs
        )
        seen = s.population[: len(s.trainer.targets)]  # the population is in action order
        a, b = [e.predicted for e in seen], [e.fitness for e in seen]
        rho = float(st.spearmanr(a, b).statistic) if len(a) >= 3 and np.ptp(a) > 0 and np.ptp(b) > 0 else None
        yield PredictorUpdated(ev.iteration, loss, rho)
    if t0 is not None:
        s.learn_seconds = time.perf_counter() - t0


def ranked(
    s: SearchState, t: int, batch: ActionBatch, *, prepared: Prepared, picks: Picks | None
) -> Generator[Event, None, tuple[np.ndarray, Picks]]:
    """Learn what is pending, rank iteration ``t``'s candidates, select (unless ``picks`` are made
    already), then draw the next candidates: the predictions and the picks."""
    yield from learned(s)
    predicted, embeddings = s.trainer.predict_prepared(prepared)
    if picks is None:
        picks = pick(
            predicted,
            embeddings,
            np.random.default_rng([s.cfg.seed, t, 2]),
            first=(t - 1) * s.width,
            width=s.width,
            selection=s.cfg.selection,
            anchor=partial(best_embedding, s) if s.population else None,
        )
    yield CandidatesRanked(
        t,
        predicted.tolist(),
        picks[0][0],
        picks[0][1],
        [s.slots[0].cost_for(int(c)) for c in batch.costs],
        batch.user_share.round(4).tolist(),
        also_chosen=[i for i, _ in picks[1:]],
    )
    s.draw(t + 1)  # drawn during the ranking, the next candidates slowed it 2–4× (GIL, cores)
    return predicted, picks


def finetunes(
    s: SearchState, t: int, batch: ActionBatch, *, picks: Picks, todo: list[int], stop: threading.Event | None
) -> Generator[Event, None, tuple[list[Action], list[Finetuned]]]:
    """The picked actions, and the picks ``todo`` (not evaluated yet) finetuned, two at a time."""
    actions = [batch.action(i).check(s.sampler.budget, s.cfg.d_max) for i, _ in picks]
    label, workers = f"{t}/{s.cfg.iterations}", min(s.width, default_workers(s.device.type))
    return actions, (yield from merge([finetuned(s, k, actions[k], label=label, stop=stop) for k in todo], workers))


def iteration(
    s: SearchState, t: int, batch: ActionBatch, *, prepared: Prepared, guess: int | None
) -> Generator[Event, None, bool]:
    """Iteration ``t`` on its proposed candidates: learn (from t − 1) → rank → select → finetune,
    the finetuning begun early beside the rest when the pick is known or ``guess``-ed (a greedy
    pick, guessed when a step is shorter than the learning it hides). False: stopped."""
    width, t_iter = s.width, s.t_mark  # the iteration began when the last one's accounting ended
    ids = [(t - 1) * width + j for j in range(1, width + 1)]
    todo = [k for k in range(width) if ids[k] not in s.stored]
    rng = np.random.default_rng([s.cfg.seed, t, 2])
    blind = blind_picks(len(batch), rng, first=(t - 1) * width, width=width, selection=s.cfg.selection)
    early = blind or ([(guess, "greedy")] if guess is not None else None)
    done = None
    if early is None:
        predicted, picks = yield from ranked(s, t, batch, prepared=prepared, picks=None)
    else:
        halt, ranking = Halt(s.stop), ranked(s, t, batch, prepared=prepared, picks=blind)
        done, (predicted, picks), ft_seconds = yield from beside(
            finetunes(s, t, batch, picks=early, todo=todo, stop=halt), ranking, keep=lambda r: r[1] == early, halt=halt
        )
    if done is None:  # nothing begun early, or a wrong guess (its finetuning was dropped)
        t_ft = time.perf_counter()
        done = yield from finetunes(s, t, batch, picks=picks, todo=todo, stop=s.stop)
        ft_seconds = time.perf_counter() - t_ft
    actions, runs = done
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
                t,
                ids[k],
                s.slots[0].cost_of(actions[k]),
                float(predicted[i]),
                quality(valid) / s.q_full,
                valid,
                s.t_mark - t_iter if width == 1 else secs + overhead,
                strategy,
                overhead=overhead,
                action=actions[k],
                eval_seconds=eval_secs,
            )
            s.pending.append((ev, take_prepared(prepared, i)))
            yield ev
        s.population.append(ev)
    return True
