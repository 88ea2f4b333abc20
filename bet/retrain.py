"""Selective retraining (paper §3.5): the top-k evaluated actions trained from scratch (two at a time
on a multi-core CPU, :func:`bet.runtime.merge`); the best on validation — ties to the higher-ranked —
is the search's result. Only the best retrained model so far is kept (memory, docs/results.md §6).

Each retraining writes snapshots (:mod:`bet.checkpoint`), so a search stopped or killed while
retraining goes on from where each model was when it is resumed (the ``fast`` preset's warm
retraining of full Gowalla is ~8 minutes of a ~25-minute run; the paper's top-5 from scratch, hours)."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator
from dataclasses import dataclass

import torch

from bet import cache
from bet.backbones import Backbone
from bet.budget import Action
from bet.checkpoint import Checkpoint
from bet.config import SearchConfig
from bet.data import Dataset
from bet.embedding import pack_bytes
from bet.evaluation import evaluate, quality
from bet.events import CandidateEvaluated, Event, Metrics, PhaseChanged, RetrainFinished, RunFinished, TablePacked
from bet.runtime import default_workers, merge
from bet.status import Status
from bet.train import TrainResult, train_sized


@dataclass(frozen=True)
class Retrained:
    """The winner of the retraining: its evaluated action, its retrained model and validation metrics."""

    action: CandidateEvaluated
    model: Backbone
    valid: Metrics


def retrain_top(
    cfg: SearchConfig,
    data: Dataset,
    top: list[CandidateEvaluated],
    *,
    device: torch.device,
    stop: threading.Event | None,
    init: dict[str, torch.Tensor] | None = None,
) -> Generator[Event, None, Retrained | None]:
    """Retrain ``top`` (ranked, best first) from scratch (or warm-started from ``init``, the
    pretrained weights); the best on validation (None: stopped)."""
    best: list[tuple[float, int, Retrained]] = []
    lock = threading.Lock()

    def retrain(rank: int, cand: CandidateEvaluated) -> Generator[Event, None, TrainResult]:
        t0 = time.perf_counter()
        fresh, res = yield from train_sized(
            data,
            cfg.backbone,
            cand.action,
            cfg=cfg.retrain,
            seed=cfg.seed,
            device=device,
            stop=stop,
            phase="retrain",
            label=f"{rank}/{len(top)}",
            d_max=cfg.d_max,
            init=init,
            checkpoint=retrain_checkpoint(cfg, data, cand.action, warm=init is not None),
        )
        if not res.stopped and res.valid is not None:
            q = quality(res.valid)
            with lock:
                if not best or (q, -rank) > (best[0][0], -best[0][1]):
                    best[:] = [(q, rank, Retrained(cand, fresh, res.valid))]
            yield RetrainFinished(rank, cand.action_id, res.valid, q, time.perf_counter() - t0)
        return res

    workers = cfg.retrain_workers or default_workers(device.type)
    results = yield from merge([retrain(r, c) for r, c in enumerate(top, start=1)], workers)
    return None if any(res.stopped for res in results) else best[0][2]


def retrain_checkpoint(cfg: SearchConfig, data: Dataset, action: Action, *, warm: bool) -> Checkpoint:
    """The snapshot file of one retraining, named after everything that decides it: the data, the
    backbone, the retraining schedule, the seed, the action's sizes and — warm-started — the
    pretrained model it starts from (its own cache key). A retraining from scratch computes what
    an SU/SR training of the same sizes and schedule computes, so it may share that file."""
    key = cache.model_key(data, cfg.backbone, d_max=cfg.d_max, cfg=cfg.retrain, seed=cfg.seed)
    if warm:
        start = cache.model_key(data, cfg.backbone, d_max=cfg.d_max, cfg=cfg.pretrain, seed=cfg.seed)
        key = f"{key}-from-{start.rsplit('-', 1)[1]}"
    return Checkpoint.named(key, action)


def selective_retraining(
    cfg: SearchConfig,
    data: Dataset,
    population: list[CandidateEvaluated],
    *,
    device: torch.device,
    stop: threading.Event | None,
    t_start: float,
    init: dict[str, torch.Tensor] | None = None,
) -> Generator[Event, None, tuple[Retrained, Metrics] | None]:
    """The retrain phase of a search begun at ``t_start``: its top-k retrained, the winner's test
    metrics read out (never chosen by) and its table packed. None: stopped."""
    top = sorted(population, key=lambda e: (-e.fitness, e.action_id))[: cfg.retrain_top]
    yield PhaseChanged("retrain", f"top {len(top)} " + ("from scratch" if init is None else "from the pretrained rows"))
    won = yield from retrain_top(cfg, data, top, device=device, stop=stop, init=init)
    if won is None:
        yield RunFinished(Status.STOPPED, "stopped while retraining", seconds=time.perf_counter() - t_start)
        return None
    test, model = evaluate(won.model, data, "test"), won.model
    if model.table is not None:
        yield TablePacked(won.action.action_id, model.cost, pack_bytes(model.tables()))
    yield RunFinished(
        Status.COMPLETED,
        best_action_id=won.action.action_id,
        valid=won.valid,
        test=test,
        cost=model.cost,
        seconds=time.perf_counter() - t_start,
    )
    return won, test
