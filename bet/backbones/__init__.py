"""Backbones behind one registry. Every one is built as ``cls(data, d_max, device, generator=generator)``."""

from __future__ import annotations

import torch

from bet.backbones.base import Backbone, Scorer
from bet.backbones.lightgcn import LightGCN
from bet.backbones.ncf import NCF
from bet.backbones.ngcf import NGCF
from bet.backbones.pop import Pop
from bet.budget import D_MAX
from bet.data import Dataset
from bet.errors import BudgetError, ConfigError

BACKBONES: dict[str, type[Backbone]] = {
    "lightgcn": LightGCN,
    "ngcf": NGCF,
    "ncf": NCF,
    "pop": Pop,
}

__all__ = ["BACKBONES", "Backbone", "Scorer", "action_budget", "make_backbone"]


def action_budget(backbone: str, budget: int, *, n_rows: int, d_min: int = 1) -> int:
    """The parameters an action may spend on ``backbone`` under ``budget``: all of it, except
    for NCF, whose GMF table is paid from the other half (:attr:`Backbone.action_share`).
    Raises :class:`BudgetError` when that leaves less than ``d_min`` per row."""
    share = BACKBONES[backbone].action_share if backbone in BACKBONES else 1
    out = budget // share
    if out < d_min * n_rows:
        raise BudgetError(
            f"a budget of {budget:,} parameters is infeasible for {backbone}: it keeps {share} embeddings per "
            f"row, so it needs at least {share * d_min * n_rows:,} ({share * d_min} per row for {n_rows:,} rows); "
            "choose a lower sparsity"
        )
    return out


def make_backbone(
    name: str, data: Dataset, *, seed: int = 0, d_max: int = D_MAX, device: str | torch.device = "cpu"
) -> Backbone:
    """A freshly initialised backbone; the same ``seed`` gives the same weights."""
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    # nn.Linear draws its default init from torch's global generator before we re-draw every
    # weight from ``gen``: fork it, so building a model never moves the caller's random state.
    with torch.random.fork_rng(devices=[]):
        model = BACKBONES[name](data, d_max, dev, generator=gen)  # type: ignore[call-arg]
    return model.to(dev)
