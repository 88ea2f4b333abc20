"""The per-step duration model of :mod:`bet.estimate` — the seconds of a given amount of work
(training steps, validations, trainings run two at a time) from measured :class:`~bet.timings.Timings`
— and what the runs observed on this machine (:mod:`bet.observed`) say about it: the ratio of
what each phase took to what the model says for the same work, the epochs early stopping let
each kind of training run, the widths retrained, the predictor's seconds per candidate."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bet.config import BaselineConfig, SearchConfig
from bet.data import Dataset
from bet.runtime import planned_heap
from bet.timings import Timings
from bet.train import TrainConfig

#: How much longer each of ``n`` trainings at once takes than alone (retraining two at a time on 2
#: cores: measured ~1.2x; more wait their turn).
PAIRED = {1: 1.0, 2: 1.2}
#: The early-stopped trainings (one training loop, alone on its cores); a training phase no run has
#: shown yet borrows their median ratio. A search's finetunes run beside the drawing of candidate
#: pools (another core) and lend nothing.
TRAINING = ("pretrain", "retrain", "baseline")


def stop_steps(cfg: TrainConfig, data: Dataset, epochs: float) -> float:
    """Steps a training runs: all of them without early stopping, else ``epochs`` (at most all)."""
    total = cfg.total_steps(data)
    return total if cfg.patience <= 0 else min(total, epochs * cfg.steps_per_epoch(data))


def steps_left(cfg: TrainConfig, data: Dataset, steps: float, *, done: int) -> float:
    """Steps still to run of a training expected to run ``steps`` in all, when its snapshot
    (:mod:`bet.checkpoint`) goes on from step ``done``: the rest; once past where it was expected to
    stop, at most what early stopping needs to end it (``patience`` evaluations), within its cap."""
    total = cfg.total_steps(data)
    if done <= 0:
        return steps
    if done < steps or cfg.patience <= 0:
        return max(0.0, min(steps, total) - done)
    return float(min(total - done, cfg.patience * cfg.eval_interval(data)))


def training(cfg: TrainConfig, data: Dataset, t: Timings, *, width: float, steps: float) -> float:
    """Seconds of ``steps`` training steps at ``width`` with the early-stopping validations among
    them (on ``eval_users`` of the users, then the best once on all of them)."""
    if cfg.patience <= 0:
        return steps * t.step(width)
    evals = steps // cfg.eval_interval(data)
    if cfg.eval_users is None:
        return steps * t.step(width) + evals * t.eval(width)
    return steps * t.step(width) + evals * cfg.eval_users * t.eval(width) + t.eval(width)


def parallel(seconds: Sequence[float], workers: int) -> float:
    """Wall seconds of trainings run ``workers`` at a time (:data:`PAIRED`)."""
    n = max(1, min(len(seconds), workers))
    return PAIRED.get(n, 1.0 + 0.2 * (n - 1)) * sum(seconds) / n


def pretraining(cfg: SearchConfig | BaselineConfig, data: Dataset, t: Timings, *, steps: float) -> float:
    """Pretraining ``steps`` at full width, and a search's full model scored on its fitness users."""
    extra = cfg.fitness_users * t.eval(cfg.d_max) if isinstance(cfg, SearchConfig) and cfg.fitness_users else 0.0
    return training(cfg.pretrain, data, t, width=cfg.d_max, steps=steps) + extra


def retraining(
    cfg: SearchConfig, data: Dataset, t: Timings, *, width: float, steps: Sequence[float], workers: int
) -> float:
    """The top-k retrained (``steps`` each), ``workers`` at a time, then the winner's test pass."""
    each = [training(cfg.retrain, data, t, width=width, steps=s) for s in steps]
    return parallel(each, cfg.retrain_workers or workers) + t.eval(width)


def reference(cfg: BaselineConfig, data: Dataset, t: Timings, *, width: float, steps: float) -> float:
    """A reference (SU, SR, MDE) trained ``steps`` from scratch, then its test pass."""
    return training(cfg.train, data, t, width=width, steps=steps) + t.eval(width)


def record_model(rec: dict[str, Any], data: Dataset, t: Timings, *, workers: int) -> dict[str, float]:
    """What the per-step model says a recorded run's phases take for its own work."""
    raw, steps, width = rec["config"], rec.get("steps", {}), rec.get("width", {})
    cfg = (SearchConfig if "iterations" in raw else BaselineConfig).from_dict(raw)
    out: dict[str, float] = {}
    if "pretrain" in steps:
        out["pretrain"] = pretraining(cfg, data, t, steps=steps["pretrain"])
    if isinstance(cfg, SearchConfig) and rec.get("evaluated"):
        n, w = rec["evaluated"], width.get("finetune", cfg.d_max)
        out["finetune"] = n * cfg.finetune(data).total_steps(data) * t.step(w)
        out["evaluation"] = n * (cfg.fitness_users or 1.0) * t.eval(w)
    if isinstance(cfg, SearchConfig) and steps.get("retrain"):
        out["retrain"] = retraining(
            cfg, data, t, width=width.get("retrain", cfg.d_max), steps=steps["retrain"], workers=workers
        )
    if isinstance(cfg, BaselineConfig) and "baseline" in steps:
        out["baseline"] = reference(cfg, data, t, width=width.get("baseline", cfg.d_max), steps=steps["baseline"])
    return out


#: The config field each early-stopped phase trains on.
SCHED = {"pretrain": "pretrain", "retrain": "retrain", "baseline": "train"}


#: The run phase (:class:`bet.events.PhaseChanged`) each timed phase (:data:`bet.events.TIME_PHASES`) is part of.
RUN_PHASE = {"finetune": "search", "evaluation": "search", "predictor": "search"}


def slowdown_of(rec: dict[str, Any], phase: str) -> float | None:
    """How much slower than alone an observed run's ``phase`` ran (its phase's own load, else the
    run's); None where unknown (an older record, or a phase under way when the run was resumed) or
    not this machine's speed now: a record made under another malloc setting than runs now use
    (:func:`bet.runtime.planned_heap`; records from before 2026-12-07 name none — the CLI's steps
    were then up to 2.3× slower, docs/results.md §7.5)."""
    if rec.get("heap") != planned_heap():
        return None
    per = rec.get("phase_slowdown")
    busy = per.get(RUN_PHASE.get(phase, phase)) if isinstance(per, dict) else None
    if busy is None:
        busy = rec.get("slowdown")
    return float(busy) if isinstance(busy, (int, float)) and busy >= 1 else None


class Seen:
    """What the observed runs say: per-phase ratios of seconds taken — on the machine alone: each
    run's seconds divided by the slowdown its load average implies (:mod:`bet.load`) — to the
    model's seconds, the epochs early-stopped trainings ran, the widths retrained, the predictor's
    seconds. A record without a load reading teaches lengths and widths, not speed."""

    def __init__(self, t: Timings, data: Dataset, workers: int):
        self.runs = list(t.observed)
        ratios: dict[str, list[float]] = {}
        for rec in self.runs:
            try:
                model = record_model(rec, data, t, workers=workers)
            except (KeyError, TypeError, ValueError):  # a record of another version: not learnt from
                continue
            for phase, secs in rec.get("seconds", {}).items():
                busy = slowdown_of(rec, phase)
                if busy is not None and model.get(phase, 0.0) > 0:
                    alone = secs / busy / model[phase]  # what it would have taken on the machine alone
                    ratios.setdefault(phase, []).append(alone)
                    if phase == "retrain":  # how many ran at once: two share the cores as no model says
                        n = min(len(rec["steps"]["retrain"]), rec["config"].get("retrain_workers") or workers)
                        ratios.setdefault(f"retrain@{n}", []).append(alone)
        # what a training alone took: two retrainings at once share the cores as no other phase does
        trained = [r for p in (*TRAINING, "retrain@1") if p != "retrain" for r in ratios.get(p, [])]
        self.ratio = {p: statistics.median(v) for p, v in ratios.items()}
        self.training = statistics.median(trained) if trained else 1.0

    def scale(self, phase: str, at_once: int | None = None) -> float:
        """The median ratio observed for ``phase`` (retraining: of as many at once, if observed)."""
        if at_once is not None and f"{phase}@{at_once}" in self.ratio:
            return self.ratio[f"{phase}@{at_once}"]
        if at_once == 1:  # one at a time, none observed so: as the trainings that ran alone
            return self.training
        return self.ratio.get(phase, self.training if phase in (*TRAINING, "finetune") else 1.0)

    def _matching(self, phase: str, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [r for r in self.runs if phase in r.get("steps", {}) and keep(r)]

    def epochs(
        self,
        phase: str,
        cfg: Any,
        data: Dataset,
        *,
        default: float,
        sparsity: float | None = None,
        keep: Callable[[dict[str, Any]], bool] = lambda r: True,
    ) -> float:
        """Median epochs the observed trainings of ``phase`` on ``cfg``'s schedule ran (those at
        ``sparsity`` if any), else ``default``."""
        sched = dataclasses.asdict(getattr(cfg, SCHED[phase]))
        same = self._matching(phase, lambda r: (r.get("config") or {}).get(SCHED[phase]) == sched and keep(r))
        closer = [r for r in same if sparsity is not None and r.get("sparsity") == sparsity] or same
        steps = [s for r in closer for s in np.atleast_1d(r["steps"][phase]).tolist()]
        spe = getattr(cfg, SCHED[phase]).steps_per_epoch(data)
        return statistics.median(steps) / spe if steps else default

    def width(self, phase: str, sparsity: float, default: int, *, selection: str | None = None) -> float:
        """The median width ``phase`` trained at in the runs at ``sparsity`` — of those that picked
        their actions by the same ``selection`` where there are any: the predictor's picks retrain
        wider actions than random ones (full Gowalla at 0.95: 59.5 against 15 columns)."""
        got = [r for r in self.runs if r.get("sparsity") == sparsity and phase in r.get("width", {})]
        alike = [r for r in got if selection is not None and r.get("config", {}).get("selection") == selection]
        widths = [r["width"][phase] for r in alike or got]
        return statistics.median(widths) if widths else default

    def predictor(self, default: float) -> float:
        per = [
            r["seconds"]["predictor"] / r["evaluated"] / (slowdown_of(r, "predictor") or 1.0)
            for r in self.runs
            if r.get("evaluated") and "predictor" in r.get("seconds", {})
        ]
        return statistics.median(per) if per else default
