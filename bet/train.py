"""Training: the training loop with early stopping on validation, and the two trainings every
command composes (:func:`pretrain`, cached; :func:`train_sized`, from scratch or warm). Either
resumes from a snapshot on disk when given a :class:`~bet.checkpoint.Checkpoint`.

Each is a generator of events whose return value is its result: ``result = yield from
train_iter(...)`` composes inside the search; :func:`fit` drives it to the end for callers that
only want the result. The same seed gives the same run (numpy ``Generator`` for batches, the
model's own torch ``Generator`` for its randomness, one thread).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from bet import cache
from bet.backbones import Backbone, make_backbone
from bet.batches import BPRSampler
from bet.budget import D_MAX, Action
from bet.checkpoint import Checkpoint, Snapshot, batch_arrays, batch_tensors
from bet.data import Dataset
from bet.evaluation import evaluate, quality, user_sample
from bet.events import Event, Metrics, TrainProgress
from bet.runtime import torch_threads


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (defaults: the authors' code, paper §5).

    ``epochs`` is the maximum; an epoch is ``ceil(train interactions / batch_users)`` steps.
    ``steps`` (if set) overrides it with a fixed step count. With ``patience > 0`` validation
    runs every ``eval_every`` epochs (every ``eval_every_steps`` steps if set) and training stops
    after ``patience`` evaluations without a better validation quality (mean of
    Recall/NDCG@5,10,20), restoring the best weights. With ``eval_users`` those evaluations score
    a fixed sample of that fraction of the validation users; the result's validation metrics are
    then computed again on every user. :data:`AUTHORS_EARLY_STOP` is the authors'
    schedule (every 2,000 steps, patience 3), used for Table 1 on the full datasets.
    """

    epochs: int = 300
    steps: int | None = None
    lr: float = 0.03
    lr_decay: float = 0.95
    lr_decay_every: int = 200
    lr_min: float = 0.001
    batch_users: int = 10_000
    eval_every: int = 2
    patience: int = 5
    eval_every_steps: int | None = None
    eval_users: float | None = None  # early stopping scored on this fraction of validation users (None: all)

    def steps_per_epoch(self, data: Dataset) -> int:
        return max(1, math.ceil(data.train.nnz / self.batch_users))

    def total_steps(self, data: Dataset) -> int:
        return self.steps if self.steps is not None else self.epochs * self.steps_per_epoch(data)

    def eval_interval(self, data: Dataset) -> int:
        return self.eval_every_steps or self.eval_every * self.steps_per_epoch(data)

    def lr_at(self, step: int) -> float:
        """Step-wise exponential decay with a floor (``step`` counts from 0)."""
        return max(self.lr * self.lr_decay ** (step // self.lr_decay_every), self.lr_min)


#: The authors' early stopping for pretraining and retraining (their code: validate every 2,000
#: batches, patience 3); ours validates every 2 epochs with patience 5 (README, "Deviations").
AUTHORS_EARLY_STOP = {"eval_every_steps": 2000, "patience": 3}
EARLY_STOP = ("ours", "authors")

#: Finetuning inside the search: fresh Adam, lr 0.03 × 0.98 every 200 steps (paper §4.3).
FINETUNE = TrainConfig(lr_decay=0.98, patience=0)


@dataclass(frozen=True)
class TrainResult:
    steps: int
    best_step: int
    valid: Metrics | None  # best validation metrics (None if never evaluated)
    stopped: bool  # a stop was requested
    seconds: float


def train_iter(
    model: Backbone,
    data: Dataset,
    cfg: TrainConfig,
    *,
    seed: int,
    phase: str = "train",
    stop: threading.Event | None = None,
    label: str = "",
    checkpoint: Checkpoint | None = None,
) -> Generator[TrainProgress, None, TrainResult]:
    """Train ``model`` in place, yielding one event per step; with ``checkpoint``, from its
    snapshot when there is one (the same numbers as never stopping), writing it as it goes."""
    t0 = time.perf_counter()
    if not model.trainable:
        return TrainResult(0, 0, None, False, 0.0)
    with model.training_parameters():
        result = yield from _train(
            model, data, cfg, seed=seed, phase=phase, stop=stop, label=label, t0=t0, checkpoint=checkpoint
        )
    model.eval()
    return result


def _train(
    model: Backbone,
    data: Dataset,
    cfg: TrainConfig,
    *,
    seed: int,
    phase: str,
    stop: threading.Event | None,
    label: str,
    t0: float,
    checkpoint: Checkpoint | None,
) -> Generator[TrainProgress, None, TrainResult]:
    sampler = BPRSampler(data.train, cfg.batch_users, np.random.default_rng(seed))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    total = cfg.total_steps(data)
    every = cfg.eval_interval(data)
    best_q, best_valid, best_step, best_state, bad = -math.inf, None, 0, None, 0
    sample = user_sample(data, cfg.eval_users, seed) if cfg.patience > 0 else None
    step, stopped, resumed_from = 0, False, 0
    snap = checkpoint.load() if checkpoint is not None else None
    if snap is not None and not cache.fits(model, snap.model):
        snap = None  # not this model's (cannot happen for a name that keys everything; never trust it)
    if snap is not None:
        model.load_state_dict(snap.model)
        opt.load_state_dict(snap.optimizer)
        model.set_random_state(snap.randomness)
        sampler.rng.bit_generator.state = snap.sampler
        step, best_q, best_valid, best_step, best_state, bad = (
            snap.step, snap.best_q, snap.best_valid, snap.best_step, snap.best_state, snap.bad
        )  # fmt: skip
        resumed_from = step
    model.train()

    def snapshot(upcoming: Future[tuple[np.ndarray, ...]]) -> Snapshot:
        drawn = batch_tensors(upcoming.result())  # the batch for step + 1, already drawn
        return Snapshot(
            step, model.state_dict(), opt.state_dict(),  # written at once: no copy needed
            sampler.rng.bit_generator.state, drawn, model.random_state(), best_q, best_valid, best_step, best_state, bad,
        )  # fmt: skip

    # Batches are drawn on a helper thread one step ahead (numpy releases the GIL): the same
    # sequence as drawing them inline, for free.
    with ThreadPoolExecutor(1, thread_name_prefix="bet-batches") as prefetch:
        upcoming: Future[tuple[np.ndarray, ...]]
        if snap is not None:
            upcoming = Future()
            upcoming.set_result(batch_arrays(snap.upcoming))
            del snap
        else:
            upcoming = prefetch.submit(sampler.sample)
        while step < total:
            if stop is not None and stop.is_set():
                stopped = True
                if checkpoint is not None and step > 0:
                    checkpoint.save(snapshot(upcoming))  # a stopped training goes on from here next time
                break
            with torch_threads("train"):
                for group in opt.param_groups:
                    group["lr"] = cfg.lr_at(step)
                batch = upcoming.result()
                upcoming = prefetch.submit(sampler.sample)  # the next batch, drawn meanwhile
                u, p, n = (torch.from_numpy(x).to(model.device) for x in batch)
                loss = model.loss(u, p, n)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            step += 1
            valid = None
            if cfg.patience > 0 and (step % every == 0 or step == total):
                model.eval()
                valid = evaluate(model, data, "valid", users=sample)
                model.train()
                q = quality(valid)
                if q > best_q:
                    best_q, best_valid, best_step, bad = q, valid, step, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad += 1
            ending = step >= total or (cfg.patience > 0 and bad >= cfg.patience)
            if checkpoint is not None and not ending and checkpoint.due():
                checkpoint.save(snapshot(upcoming))
            yield TrainProgress(phase, step, total, float(loss.detach()), valid, label, resumed_from)
            if ending:
                break
    if checkpoint is not None and not stopped:
        checkpoint.clear()
    if best_state is not None:
        model.load_state_dict(best_state)
        if sample is not None and not stopped:  # the result's validation is exact, on every user
            model.eval()
            best_valid = evaluate(model, data, "valid")
    return TrainResult(step, best_step, best_valid, stopped, time.perf_counter() - t0)  # type: ignore[arg-type]


def fit(
    model: Backbone,
    data: Dataset,
    cfg: TrainConfig,
    *,
    seed: int,
    on_event: Callable[[TrainProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> TrainResult:
    """Run :func:`train_iter` to the end, passing each event to ``on_event``."""
    gen = train_iter(model, data, cfg, seed=seed, stop=stop)
    while True:
        try:
            ev = next(gen)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if on_event is not None:
            on_event(ev)


def pretrain(
    data: Dataset,
    backbone: str,
    cfg: TrainConfig,
    *,
    seed: int,
    device: torch.device,
    stop: threading.Event | None = None,
    d_max: int = D_MAX,
    use_cache: bool = True,
) -> Generator[Event, None, tuple[Backbone, Metrics, bool]]:
    """The full-size model (all rows at ``d_max``), from the cache when it was trained before.

    Returns ``(model, validation metrics, came_from_cache)``. A stopped pretraining is not cached;
    with the cache, its snapshot is kept and the next pretraining of the same key goes on from it.
    """
    model = make_backbone(backbone, data, seed=seed, d_max=d_max, device=device)
    key = cache.model_key(data, backbone, d_max=d_max, cfg=cfg, seed=seed)
    if use_cache and (meta := cache.load(model, key)) is not None and "valid" in meta:
        model.eval()
        return model, meta["valid"], True
    snapshots = Checkpoint.named(key) if use_cache else None
    result = yield from train_iter(model, data, cfg, seed=seed, phase="pretrain", stop=stop, checkpoint=snapshots)
    # A stopped pretraining is not validated (a full ranking can take seconds at scale) nor cached.
    valid = result.valid if result.valid is not None or result.stopped else evaluate(model, data, "valid")
    if not result.stopped:
        cache.save(model, key, {"valid": valid, "steps": result.steps, "best_step": result.best_step})
    return model, valid, False  # type: ignore[return-value]


def train_sized(
    data: Dataset,
    backbone: str,
    action: Action | None,
    *,
    cfg: TrainConfig,
    seed: int,
    device: torch.device,
    stop: threading.Event | None = None,
    phase: str = "train",
    label: str = "",
    d_max: int = D_MAX,
    init: dict[str, torch.Tensor] | None = None,
    checkpoint: Checkpoint | None = None,
) -> Generator[Event, None, tuple[Backbone, TrainResult]]:
    """A fresh model with ``action``'s sizes (full size if None), trained from scratch — or, with
    ``init`` (the pretrained full model's weights), warm-started from them truncated to the sizes;
    resumed from ``checkpoint``'s snapshot when it has one."""
    model = make_backbone(backbone, data, seed=seed, d_max=d_max, device=device)
    if init is not None:
        model.load_state_dict(init)
        model.reset_randomness()
    if action is not None:
        model.set_action(action)
    t0 = time.perf_counter()
    result = yield from train_iter(
        model, data, cfg, seed=seed, phase=phase, stop=stop, label=label, checkpoint=checkpoint
    )
    if result.valid is None and not result.stopped:  # a stopped training is not validated
        valid = evaluate(model, data, "valid")
        result = TrainResult(result.steps, result.best_step, valid, result.stopped, time.perf_counter() - t0)  # type: ignore[arg-type]
    return model, result
