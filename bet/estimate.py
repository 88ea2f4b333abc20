"""How long a configured run will take on this machine, per phase, from measured times.

:func:`measure` (:mod:`bet.timings`, re-exported here) times a few training steps and a
validation pass (on a sample of users, scaled by users) of the backbone on the dataset at two table
widths (full, and the narrow width typical of the budget) — seconds on full Gowalla, well under
one on gowalla-mini — and caches the result per dataset, backbone, device and CPU count. Step and evaluation time are modelled as linear in the table's widest row ``w``
(LightGCN computes only ``w`` columns; the other backbones always use ``d_max``). :func:`plan`
turns a configuration into per-phase seconds. The dashboard shows the plan before Start (and
warns above :data:`LONG_RUN`), and its ETA during a run uses the same model.

Training lengths that early stopping decides are not known in advance: pretraining and each
retraining are assumed to stop after :data:`TYPICAL_EPOCHS` epochs (measured: gowalla-mini's full
model peaks at ~26 epochs, full Gowalla's at ~30; retrainings stop earlier or later by a factor
of ~2), a retraining warm-started from the pretrained rows after :data:`WARM_EPOCHS`. The estimate is an order of magnitude to plan by, not a promise.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from bet import cache
from bet.budget import budget_for
from bet.config import BaselineConfig, SearchConfig
from bet.data import Dataset
from bet.errors import ConfigError, shorten
from bet.events import TIME_PHASES
from bet.sampler import ActionSampler
from bet.timings import Timings, cached_timings, measure
from bet.train import TrainConfig

__all__ = ["LONG_RUN", "Timings", "cached_timings", "measure", "plan", "typical_width"]

#: Above this many seconds the dashboard warns before Start.
LONG_RUN = 600.0
#: Epochs an early-stopped training is assumed to run (see the module docstring).
TYPICAL_EPOCHS = 40
#: Epochs a retraining warm-started from the pretrained rows runs before early stopping ends it
#: (the ``fast`` preset; measured on full Gowalla, docs/results.md §7).
WARM_EPOCHS = 20
#: Seconds of predictor work (rank, select, update) per evaluated candidate (measured ~25 ms).
PREDICTOR_SECONDS = 0.03


def typical_width(data: Dataset, backbone: str, sparsity: float, d_max: int) -> int:
    """The widest row of a typical sampled action at this sparsity (median over 16 draws); the
    width a LightGCN step computes. Other backbones always compute ``d_max`` columns."""
    if backbone != "lightgcn" or sparsity <= 0:
        return d_max
    key = (data.fingerprint, sparsity, d_max)
    if key not in _WIDTHS:  # the dashboard asks on every rerun: draw once (0.5 s on full Gowalla)
        batch = ActionSampler.for_data(data, budget_for(sparsity, data.n_rows, d_max), d_max).sample(
            16, np.random.default_rng(0)
        )
        _WIDTHS[key] = int(np.median(np.maximum(batch.user_sizes.max(1), batch.item_sizes.max(1))))
    return _WIDTHS[key]


_WIDTHS: dict[tuple[str, float, int], int] = {}


def _early_stopped(cfg: TrainConfig, data: Dataset, t: Timings, width: int, epochs: float = TYPICAL_EPOCHS) -> float:
    spe = cfg.steps_per_epoch(data)
    steps = min(cfg.total_steps(data), epochs * spe)
    evals = steps / cfg.eval_interval(data) if cfg.patience > 0 else 0
    if cfg.eval_users is None:
        return steps * t.step(width) + evals * t.eval(width)
    # early stopping scored on a user sample (linear in users), the result validated once on all
    return steps * t.step(width) + evals * cfg.eval_users * t.eval(width) + t.eval(width)


def plan(cfg: SearchConfig | BaselineConfig, data: Dataset, t: Timings, workers: int = 2) -> dict[str, float]:
    """Estimated seconds per phase: ``pretrain`` (0 when the full model is cached), ``finetune``,
    ``evaluation``, ``predictor``, ``retrain`` (top-k on ``workers`` threads), ``baseline``."""
    out = dict.fromkeys(TIME_PHASES, 0.0)
    full_cached = cache.exists(cache.model_key(data, cfg.backbone, cfg.d_max, cfg.pretrain, cfg.seed))
    if isinstance(cfg, BaselineConfig):
        if cfg.method == "full" and not full_cached:
            out["pretrain"] = _early_stopped(cfg.pretrain, data, t, cfg.d_max)
        elif cfg.method not in ("full", "pop"):
            out["baseline"] = _early_stopped(
                cfg.train, data, t, typical_width(data, cfg.backbone, cfg.sparsity, cfg.d_max)
            )
        return out
    if not full_cached:
        out["pretrain"] = _early_stopped(cfg.pretrain, data, t, cfg.d_max)
    width = typical_width(data, cfg.backbone, cfg.sparsity, cfg.d_max)
    evaluated = cfg.iterations * cfg.parallel_candidates
    out["finetune"] = evaluated * cfg.finetune(data).total_steps(data) * t.step(width)
    users = 1.0 if cfg.fitness_users is None else cfg.fitness_users  # evaluation time is linear in users
    out["evaluation"] = evaluated * users * t.eval(width)
    out["predictor"] = evaluated * PREDICTOR_SECONDS
    # k retrainings on `workers` threads of one process: each step runs on one thread, so two at
    # once take about as long as one (measured ~1.2x on 2 cores); more wait their turn.
    rounds = math.ceil(cfg.retrain_top / max(1, workers))
    epochs = TYPICAL_EPOCHS if cfg.retrain_from == "scratch" else WARM_EPOCHS
    out["retrain"] = rounds * 1.2 * _early_stopped(cfg.retrain, data, t, width, epochs)
    return out


# --- memory: refuse what cannot fit, before anything is trained ---------------------------------


def available_memory() -> int:
    """Bytes BET may use: ``BET_MEMORY_MB`` if set (a shared server's share), else what this
    machine can still hand out without swapping (``MemAvailable``)."""
    text = os.environ.get("BET_MEMORY_MB", "").strip()
    if text:
        try:
            mb = float(text)
        except ValueError:
            mb = float("nan")
        if not 0 < mb < float("inf"):
            raise ConfigError(f"BET_MEMORY_MB must be a positive number of MB, got {shorten(text, 40)}")
        return int(mb * 2**20)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def training_bytes(data: Dataset, d_max: int) -> int:
    """A lower bound on what training a full-width table keeps in memory: the table with its
    gradient, Adam's two moments and LightGCN's propagated layers (8 float32 copies of
    ``rows × d_max``), and the normalised graph (both directions, int32 indices, float32 values)."""
    return data.n_rows * d_max * 4 * 8 + int(data.train.nnz) * 2 * 12


#: Bytes per row of each candidate action while a pool is drawn and prepared: the sampler's working
#: arrays and the int16 sizes (measured peak ~27 on gowalla-mini, 3,000 actions) and the predictor's
#: int64 copy of the sizes (8).
POOL_BYTES_PER_ROW = 40


def pool_bytes(data: Dataset, candidates: int, d_max: int) -> int:
    """One candidate pool of ``m`` actions: per-row sizes and working arrays, plus the predictor's
    set features (DeepSets: float32 counts of ``d_max`` sizes × the rows' frequency groups).
    Measured on gowalla-mini: 693 MB for 3,000 actions; this gives 1,041 MB."""
    groups = len(np.unique(data.user_freq)) + len(np.unique(data.item_freq))
    return candidates * (data.n_rows * POOL_BYTES_PER_ROW + d_max * groups * 4)


def memory_needs(cfg: SearchConfig, data: Dataset, runs: int = 1) -> dict[str, tuple[int, str]]:
    """What each phase of a search holds at once, with what it is for: pretraining a full-width
    table (:func:`training_bytes`); the search's finetune(s) beside the pretrained table and two
    candidate pools (this iteration's and the next, drawn a step ahead); the top-k retrainings,
    two at a time. ``runs``: searches running at once in this process (``frontier --workers``)."""
    train = training_bytes(data, cfg.d_max)
    table = data.n_rows * cfg.d_max * 4
    pools = 2 * pool_bytes(data, cfg.candidates, cfg.d_max)
    rows, at_once = f"{data.n_rows:,} rows", (f" × {runs} runs at once" if runs > 1 else "")
    return {
        "pretrain": (runs * train, f"pretraining on {data.name} ({rows}){at_once}"),
        "search": (runs * (table + cfg.parallel_candidates * train + pools),
                   f"the search (-m {cfg.candidates:,} candidates of {rows}, two pools at a time, "
                   f"-q {cfg.parallel_candidates} finetune(s)){at_once}"),
        "retrain": (runs * min(cfg.retrain_top, cfg.retrain_workers or 2) * train, f"retraining the top {cfg.retrain_top} on {data.name} "
                    f"({rows}, two at a time){at_once}"),
    }  # fmt: skip


def check_memory_needs(cfg: SearchConfig, data: Dataset, runs: int = 1) -> None:
    """Refuse, with the estimate, the first phase of the search that cannot fit."""
    for need, what in memory_needs(cfg, data, runs).values():
        check_memory(need, what)


def check_memory(need: int, what: str) -> None:
    """Refuse, with the estimate, what cannot fit: better now than swapping or an OOM kill later."""
    room = available_memory()
    if need > room:
        raise ConfigError(
            f"{what} needs about {need / 2**30:,.2f} GB, more than the {room / 2**30:,.2f} GB available "
            "(a smaller --d-max or dataset; BET_MEMORY_MB sets what BET may use)"
        )
