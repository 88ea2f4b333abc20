"""Backbones behind one registry. Every one is built as ``cls(data, d_max, device, generator)``."""

from __future__ import annotations

import torch

from bet.backbones.base import Backbone, Scorer
from bet.backbones.lightgcn import LightGCN
from bet.backbones.ncf import NCF
from bet.backbones.ngcf import NGCF
from bet.backbones.pop import Pop
from bet.budget import D_MAX
from bet.data import Dataset
from bet.errors import ConfigError

BACKBONES: dict[str, type[Backbone]] = {
    "lightgcn": LightGCN,
    "ngcf": NGCF,
    "ncf": NCF,
    "pop": Pop,
}

__all__ = ["BACKBONES", "Backbone", "Scorer", "make_backbone"]


def make_backbone(
    name: str, data: Dataset, seed: int = 0, d_max: int = D_MAX, device: str | torch.device = "cpu"
) -> Backbone:
    """A freshly initialised backbone; the same ``seed`` gives the same weights."""
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    # nn.Linear draws its default init from torch's global generator before we re-draw every
    # weight from ``gen``: fork it, so building a model never moves the caller's random state.
    with torch.random.fork_rng(devices=[]):
        model = BACKBONES[name](data, d_max, dev, gen)  # type: ignore[call-arg]
    return model.to(dev)
