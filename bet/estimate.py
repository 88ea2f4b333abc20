"""How long a configured run will take on this machine, per phase, from measured times and from
what recent runs took here.

:func:`measure` (:mod:`bet.timings`, re-exported here) times training steps and a validation pass
(on a sample of users, scaled by users) of the backbone on the dataset at three table widths
(``d_max``, half of it and 8 columns) and caches the result per dataset, backbone, device and CPU
count. Step and evaluation time are modelled as piecewise linear in the table's widest row ``w``
(LightGCN computes only ``w`` columns; the other backbones always use ``d_max``); the widths a
search trains at are what searches here trained (:func:`planned_width`). :func:`plan`
turns a configuration into per-phase seconds. The dashboard shows the plan before Start (and
warns above :data:`LONG_RUN`), and its ETA during a run uses the same model.

Two things the measurement cannot know are taken from the runs this machine has completed
(:mod:`bet.observed`, the most recent of the same dataset, backbone, device and ``d_max``):

* **how long early stopping lets a training run** — the median of the observed trainings on the
  same schedule (pretraining; retraining, from scratch or warm-started, at the same sparsity when
  there is one; a reference method); with none observed, :func:`default_epochs`: as many as take
  the learning rate to near its floor on full-size data, else the small-data counts
  :data:`PRETRAIN_EPOCHS`, :data:`TYPICAL_EPOCHS` and :data:`WARM_EPOCHS` (each with its source);
* **how far the measured per-step model is from what runs take** (a measurement on a busy
  machine, what a run does beside its steps): each phase's seconds are scaled by the median, over
  those runs, of what the phase took divided by what the model says for the same work (their own
  steps, evaluations and widths, timed with today's measurement). A phase no run has shown yet
  takes the median of the early-stopped trainings that were shown (pretraining, retraining, the
  references: the same training loop; a search's finetunes run beside the drawing of candidate
  pools and lend nothing).
"""

from __future__ import annotations

from bet import cache
from bet.checkpoint import Checkpoint
from bet.config import BaselineConfig, SearchConfig, run_budget
from bet.data import Dataset
from bet.duration import Seen, pretraining, reference, retraining, steps_left, stop_steps
from bet.events import TIME_PHASES
from bet.methods import METHODS
from bet.paths import cache_dir
from bet.runtime import default_workers, resolve_device
from bet.timings import Timings, cached_timings, measure
from bet.train import TrainConfig
from bet.widths import planned_width, typical_width

__all__ = ["LONG_RUN", "Timings", "cached_timings", "default_epochs", "measure", "plan", "typical_width"]

#: Above this many seconds the dashboard warns before Start.
LONG_RUN = 600.0
#: Epochs pretraining runs before early stopping ends it on small data (see :func:`default_epochs`),
#: when no pretraining of this dataset was observed here. Measured with bench/estimate_accuracy.py:
#: gowalla-mini's full LightGCN stops at 32 epochs (best at 22), its NCF at 22.
PRETRAIN_EPOCHS = 32
#: Epochs a from-scratch training (a retraining, SU/SR/MDE) runs on small data, when none on the
#: same schedule was observed here. Measured the same way on gowalla-mini (LightGCN): retrainings
#: 70, 70, 72, 96, 96, 106 epochs (c = 0.9 and 0.95), SU 58 and 68, SR 82, MDE 70 — median 71 (the
#: earlier guess, 40, made cold estimates 0.62-0.77 of the measured time on an idle machine, issue
#: 23); NCF retrainings 36 and 62.
TYPICAL_EPOCHS = 70
#: Epochs a retraining warm-started from the pretrained rows runs on small data: gowalla-mini 54
#: and 68 (docs/results.md §7).
WARM_EPOCHS = 60
#: Learning-rate decays after which a training on full-size data is planned to have stopped (the
#: rate is then ~5 % of its start, 0.95^60, near the 0.001 floor). Measured on full Gowalla
#: (docs/results.md §7; 53 steps an epoch): warm retrainings with ×0.95 every 50 steps 58, 58, 74
#: and 80 (their cap) epochs — 61, 61, 78, 85 decays —, every 100 steps 98 epochs (52 decays); the
#: c = 0.9 retraining from scratch (every 200) 173 epochs (46 decays); the full model's
#: pretraining (every 200) all of its 300-epoch cap (79 decays, valid R@20 still rising by ~0.0001
#: an epoch at the end) — median 61.
DECAYS = 60


def default_epochs(train: TrainConfig, data: Dataset, fitted: float) -> float:
    """Epochs a training on ``train``'s schedule is planned at when none alike was observed here:
    where its learning rate decays :data:`DECAYS` times within its cap (full-size data, many steps
    an epoch), the decay is what ends it; where it cannot (small data: the rate hardly moves),
    early stopping ends it once the data is fitted, after ``fitted`` epochs (measured on
    gowalla-mini). Until 2026-12-07 the small-data counts were used everywhere, which planned full
    Gowalla's pretraining at 32 epochs of its ~200 (issue 23)."""
    by_decay = DECAYS * train.lr_decay_every / train.steps_per_epoch(data)
    return min(train.epochs, by_decay if by_decay <= train.epochs else fitted)


#: Seconds of predictor work (rank, select, update) per evaluated candidate (measured ~25 ms).
PREDICTOR_SECONDS = 0.03


def plan(
    cfg: SearchConfig | BaselineConfig,
    data: Dataset,
    t: Timings,
    *,
    workers: int | None = None,
    pretrained: bool | None = None,
) -> dict[str, float]:
    """Estimated seconds per phase: ``pretrain`` (0 when the full model is cached, or
    ``pretrained``), ``finetune``, ``evaluation``, ``predictor``, ``retrain`` (top-k on
    ``workers`` threads; default: the config's, else two on a multi-core machine), ``baseline``.
    ``t.observed``: the runs the model learns from (see the module docstring)."""
    workers = workers or default_workers(resolve_device(cfg.device).type)
    seen = Seen(t, data, workers)
    out = dict.fromkeys(TIME_PHASES, 0.0)
    if pretrained is None:
        pretrained = cache.exists(pretrain_key(cfg, data))
    ref = METHODS.get(cfg.method) if isinstance(cfg, BaselineConfig) else None
    if not pretrained and (isinstance(cfg, SearchConfig) or (ref is not None and ref.trains == "pretrain")):
        steps = stop_steps(
            cfg.pretrain,
            data,
            seen.epochs("pretrain", cfg, data, default=default_epochs(cfg.pretrain, data, PRETRAIN_EPOCHS)),
        )
        steps = steps_left(cfg.pretrain, data, steps, done=pretrain_resumes_at(cfg, data))
        out["pretrain"] = seen.scale("pretrain") * pretraining(cfg, data, t, steps=steps)
    if isinstance(cfg, BaselineConfig):
        if ref is None or ref.budgeted:  # a sized table, trained from scratch
            w = seen.width("baseline", cfg.sparsity, baseline_width(cfg, data))
            epochs = seen.epochs(
                "baseline",
                cfg,
                data,
                default=default_epochs(cfg.train, data, TYPICAL_EPOCHS),
                keep=lambda r: r.get("method") == cfg.method,
            )
            steps = steps_left(cfg.train, data, stop_steps(cfg.train, data, epochs), done=baseline_done(cfg, data))
            out["baseline"] = seen.scale("baseline") * reference(cfg, data, t, width=w, steps=steps)
        return out
    evaluated = cfg.iterations * cfg.parallel_candidates
    fw = planned_width("finetune", cfg, data, seen=seen)
    out["finetune"] = seen.scale("finetune") * evaluated * cfg.finetune(data).total_steps(data) * t.step(fw)
    users = 1.0 if cfg.fitness_users is None else cfg.fitness_users  # evaluation time is linear in users
    out["evaluation"] = seen.scale("evaluation") * evaluated * users * t.eval(fw)
    out["predictor"] = evaluated * seen.predictor(PREDICTOR_SECONDS)
    warm = cfg.retrain_from != "scratch"
    epochs = seen.epochs(
        "retrain",
        cfg,
        data,
        default=default_epochs(cfg.retrain, data, WARM_EPOCHS if warm else TYPICAL_EPOCHS),
        sparsity=cfg.sparsity,
        keep=lambda r: r["config"].get("retrain_from", "scratch") == cfg.retrain_from,
    )
    w = planned_width("retrain", cfg, data, seen=seen)
    k = min(cfg.retrain_top, evaluated)
    at_once = min(k, cfg.retrain_workers or workers)
    out["retrain"] = seen.scale("retrain", at_once) * retraining(
        cfg, data, t, width=w, steps=[stop_steps(cfg.retrain, data, epochs)] * k, workers=workers
    )
    return out


def pretrain_key(cfg: SearchConfig | BaselineConfig, data: Dataset) -> str:
    """The cache key of the full model ``cfg`` pretrains (and of its training's snapshot)."""
    return cache.model_key(data, cfg.backbone, d_max=cfg.d_max, cfg=cfg.pretrain, seed=cfg.seed)


def pretrain_resumes_at(cfg: SearchConfig | BaselineConfig, data: Dataset) -> int:
    """The step the full model's pretraining goes on from (its snapshot; 0: from the start)."""
    return Checkpoint.named(pretrain_key(cfg, data)).saved_step()


def baseline_done(cfg: BaselineConfig, data: Dataset) -> int:
    """The step a reference's training goes on from (its snapshot, :mod:`bet.baselines`; 0: none)."""
    folder = cache_dir("checkpoints")
    key = cache.model_key(data, cfg.backbone, d_max=cfg.d_max, cfg=cfg.train, seed=cfg.seed)
    if not any(folder.glob(f"{key}-*.pt")):  # the common case: nothing to draw the action for
        return 0
    from bet.baselines import budget_action

    action = budget_action(
        cfg.method, data, run_budget(cfg, data), seed=cfg.seed, d_max=cfg.d_max, backbone=cfg.backbone
    )
    return Checkpoint.named(key, action).saved_step()


def baseline_width(cfg: BaselineConfig, data: Dataset) -> int:
    """The widest row of a reference's action (SU: every row alike; SR, MDE: drawn), the width its
    LightGCN steps compute; ``d_max`` for the other backbones."""
    if cfg.backbone != "lightgcn":
        return cfg.d_max
    from bet.baselines import budget_action

    budget = run_budget(cfg, data)
    action = budget_action(cfg.method, data, budget, seed=cfg.seed, d_max=cfg.d_max, backbone=cfg.backbone)
    return int(max(action.user_sizes.max(initial=0), action.item_sizes.max(initial=0)))
