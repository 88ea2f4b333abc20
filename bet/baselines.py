"""Reference actions at the same budget as BET: SU, SR, MDE, and the full table.

* ``su`` — single uniform size: ``floor(B / n)`` for every row, the remainder (less than one
  per row) to the most frequent rows.
* ``sr`` — sizes drawn from a uniform distribution, scaled into the budget.
* ``mde`` — mixed-dimension embeddings (Ginart et al., 2019): size ∝ frequency^α, scaled into
  the budget (α = 0.5, the temperature the feasibility study used).
* ``full`` — ``d_max`` for every row (the uncompressed reference; its cost is the whole table).

All are strict: ``cost <= budget`` and every size in ``[1, d_max]``. :func:`baseline_events` is
a whole reference run (as :func:`bet.search.bet_search` is a whole search).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import numpy as np

from bet import cache
from bet.backbones import action_budget, make_backbone
from bet.budget import D_MAX, Action, allocate, uniform
from bet.checkpoint import Checkpoint
from bet.config import BaselineConfig, run_budget
from bet.data import Dataset
from bet.embedding import pack_bytes
from bet.errors import ConfigError
from bet.evaluation import evaluate
from bet.events import CandidateEvaluated, Event, PhaseChanged, RunFinished, TablePacked
from bet.methods import METHODS, size_kinds
from bet.runtime import resolve_device
from bet.status import Status
from bet.train import pretrain, train_sized

MDE_ALPHA = 0.5


def frequencies(data: Dataset) -> np.ndarray:
    """``(n_users + n_items,)`` training interaction counts in table row order."""
    return np.concatenate([data.user_freq, data.item_freq])


def by_frequency(data: Dataset) -> np.ndarray:
    """Row order by descending frequency (ties by row index)."""
    return np.argsort(-frequencies(data), kind="stable")


def sizes_rule(method: str) -> str | None:
    """How ``method`` sizes the rows (its ``--sizes`` name: ``full``, ``uniform``, ``random``,
    ``frequency``); None: it has no action of its own (BET searches one, ``pop`` keeps no table)."""
    ref = METHODS.get(method)
    return ref.sizes if ref is not None else None


def baseline_action(
    method: str, data: Dataset, sparsity: float, *, seed: int = 0, d_max: int = D_MAX, backbone: str = "lightgcn"
) -> Action:
    """:func:`budget_action` at the budget of the ``method`` run at ``sparsity`` (for read-outs
    that start from a sparsity: its config meets the data in :func:`~bet.config.run_budget`)."""
    if sizes_rule(method) == "full":  # ignores the budget
        return budget_action(method, data, 0, seed=seed, d_max=d_max, backbone=backbone)
    cfg = BaselineConfig(backbone=backbone, method=method, sparsity=sparsity, seed=seed, d_max=d_max)
    return budget_action(method, data, run_budget(cfg, data), seed=seed, d_max=d_max, backbone=backbone)


def budget_action(
    method: str, data: Dataset, budget: int, *, seed: int = 0, d_max: int = D_MAX, backbone: str = "lightgcn"
) -> Action:
    """The ``method`` action (``su``, ``sr``, ``mde`` or ``full``, which ignores the budget) under a
    run's ``budget`` on ``backbone`` (NCF's action gets half: its GMF table is paid from the rest)."""
    nu, ni = data.n_users, data.n_items
    sizes_by = sizes_rule(method)
    if sizes_by == "full":
        return Action.of(np.full(nu, d_max), np.full(ni, d_max))
    if sizes_by not in ("uniform", "random", "frequency"):  # before the budget: pop's is 0
        *known, last = sorted(size_kinds().values(), key=lambda m: not METHODS[m].budgeted)
        raise ConfigError(f"unknown baseline {method!r}; choose {', '.join(known)} or {last}")
    budget = action_budget(backbone, budget, n_rows=nu + ni)
    if sizes_by == "uniform":
        action = uniform(nu, ni, budget=budget, d_max=d_max, order=by_frequency(data))
    elif sizes_by == "random":
        weights = np.random.default_rng(seed).random(nu + ni)
        sizes = allocate(weights, budget, d_max=d_max)
        action = Action.of(sizes[:nu], sizes[nu:])
    else:
        sizes = allocate(frequencies(data).astype(np.float64) ** MDE_ALPHA, budget, d_max=d_max)
        action = Action.of(sizes[:nu], sizes[nu:])
    return action.check(budget, d_max)


def baseline_events(
    cfg: BaselineConfig, data: Dataset, stop: threading.Event | None, *, budget: int
) -> Generator[Event, None, None]:
    """One reference run: ``full`` reuses the (cached) pretrained model, ``pop`` needs no
    training, ``su``/``sr``/``mde`` train from scratch on the selective-retraining schedule under
    ``budget`` (the run's: :func:`bet.config.run_budget`)."""
    t0 = time.perf_counter()
    device = resolve_device(cfg.device)
    yield PhaseChanged("baseline", f"{cfg.method} on {cfg.backbone}")
    action = None
    trains = METHODS[cfg.method].trains if cfg.method in METHODS else "scratch"
    if trains == "pretrain":
        model, valid, _ = yield from pretrain(
            data, cfg.backbone, cfg.pretrain, seed=cfg.seed, device=device, stop=stop, d_max=cfg.d_max
        )
    elif trains == "nothing":
        model = make_backbone("pop", data, seed=cfg.seed, d_max=cfg.d_max, device=device)
        valid = evaluate(model, data, "valid")
    else:
        action = budget_action(cfg.method, data, budget, seed=cfg.seed, d_max=cfg.d_max, backbone=cfg.backbone)
        yield CandidateEvaluated(0, 0, action.cost, float("nan"), float("nan"), {}, 0.0, cfg.method, action=action)
        model, res = yield from train_sized(
            data,
            cfg.backbone,
            action,
            cfg=cfg.train,
            seed=cfg.seed,
            device=device,
            stop=stop,
            label=cfg.method,
            d_max=cfg.d_max,
            checkpoint=Checkpoint.named(
                cache.model_key(data, cfg.backbone, d_max=cfg.d_max, cfg=cfg.train, seed=cfg.seed), action
            ),
        )
        valid = res.valid or {}
    if stop is not None and stop.is_set():
        yield RunFinished(Status.STOPPED, "stopped during training", seconds=time.perf_counter() - t0)
        return
    test = evaluate(model, data, "test")
    if model.table is not None:
        yield TablePacked(0 if action is not None else None, model.cost, pack_bytes(model.tables()))
    yield RunFinished(Status.COMPLETED, valid=valid, test=test, cost=model.cost, seconds=time.perf_counter() - t0)
