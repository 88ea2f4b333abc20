"""The steps every command composes: pick a device, pretrain (cached), train a sized model.

Each step is a generator of events whose return value is its result, so the search can
``yield from`` it and the CLI can drive it with a progress bar.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Generator

import torch

from bet import cache
from bet.backbones import Backbone, make_backbone
from bet.budget import D_MAX, Action
from bet.data import Dataset
from bet.errors import ConfigError
from bet.evaluation import evaluate
from bet.events import Event, Metrics
from bet.train import TrainConfig, TrainResult, train_iter

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; asking for CUDA without one is a user error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for, but torch sees no CUDA device here; use --device cpu or auto")
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ConfigError(f"unknown device {device!r}; choose {', '.join(DEVICES)}")
    return torch.device(device)


def pretrain(
    data: Dataset,
    backbone: str,
    cfg: TrainConfig,
    seed: int,
    device: torch.device,
    stop: threading.Event | None = None,
    d_max: int = D_MAX,
    use_cache: bool = True,
) -> Generator[Event, None, tuple[Backbone, Metrics, bool]]:
    """The full-size model (all rows at ``d_max``), from the cache when it was trained before.

    Returns ``(model, validation metrics, came_from_cache)``. A stopped pretraining is not cached.
    """
    model = make_backbone(backbone, data, seed, d_max, device)
    key = cache.model_key(data, backbone, d_max, cfg, seed)
    if use_cache and (meta := cache.load(model, key)) is not None and "valid" in meta:
        model.eval()
        return model, meta["valid"], True
    result = yield from train_iter(model, data, cfg, seed, "pretrain", stop)
    # A stopped pretraining is not validated (a full ranking can take seconds at scale) nor cached.
    valid = result.valid if result.valid is not None or result.stopped else evaluate(model, data, "valid")
    if not result.stopped:
        cache.save(model, key, {"valid": valid, "steps": result.steps, "best_step": result.best_step})
    return model, valid, False  # type: ignore[return-value]


def train_sized(
    data: Dataset,
    backbone: str,
    action: Action | None,
    cfg: TrainConfig,
    seed: int,
    device: torch.device,
    stop: threading.Event | None = None,
    phase: str = "train",
    label: str = "",
    d_max: int = D_MAX,
) -> Generator[Event, None, tuple[Backbone, TrainResult]]:
    """A fresh model with ``action``'s sizes (full size if None), trained from scratch."""
    model = make_backbone(backbone, data, seed, d_max, device)
    if action is not None:
        model.set_action(action)
    t0 = time.perf_counter()
    result = yield from train_iter(model, data, cfg, seed, phase, stop, label)
    if result.valid is None and not result.stopped:  # a stopped training is not validated
        valid = evaluate(model, data, "valid")
        result = TrainResult(result.steps, result.best_step, valid, result.stopped, time.perf_counter() - t0)  # type: ignore[arg-type]
    return model, result
