"""Named presets: ``paper`` — the paper's settings, bit for bit — and ``fast``, a multi-fidelity
BET for real catalogues on an ordinary CPU (each ingredient's measured effect: docs/results.md §7).

A preset is a set of :class:`~bet.config.SearchConfig` values laid over the paper's defaults;
what a user sets explicitly (a command-line option, a dashboard field) wins over the preset.
``fast``:

* **shorter finetunes** (4 epochs instead of 10, at least 100 steps) and **fewer iterations**
  (T = 20), with fitness scored on a fixed **half of the validation users** (as the authors'
  code does): each evaluated action costs ~40 % of the paper's;
* **warm-started retraining**: the top action continues from the pretrained full model's rows
  truncated to its size (what finetuning starts from) instead of from scratch, with the paper's
  learning-rate decay (×0.95) applied every 100 steps instead of 200, at most 160 epochs,
  early-stopped on half of the validation users with patience 10 evaluations (the paper's 5 stopped
  the 0.95 retraining at 5,194 steps where it was still climbing: patience 10 ran to 8,480 and
  gained +0.7 % validation R@20, docs/results.md §7.7); the winner's validation and test read-outs stay
  exact on every user (SU, SR and MDE train from scratch on the paper's schedule under either
  preset). One slow anneal of the top action measured +3.2 % test R@20 over two fast ones (×0.95
  every 50 steps, ≤ 80 epochs) in the same wall time (docs/results.md §7.6);
* the full model **pretrained on the paper's schedule** (≤ 300 epochs, early stopping), the same
  cached model as ``paper``'s: it is trained once per dataset and backbone and every budget starts
  from it, and a warm start inherits its quality (a 40-epoch cap, used until 2026-12-07, left full
  Gowalla's LightGCN at valid R@20 0.1525 where its early stop reaches ~0.175, and NCF far short).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bet.config import PRETRAIN, RETRAIN, SearchConfig
from bet.errors import ConfigError


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    #: SearchConfig fields set over the paper's defaults; ``pretrain``/``retrain`` take a mapping
    #: of TrainConfig fields to replace.
    settings: Mapping[str, Any]


PAPER = Preset("paper", "the paper's settings (T = 50, 10-epoch finetunes, top 5 retrained from scratch)", {})
FAST = Preset(
    "fast",
    "multi-fidelity: T = 20, 4-epoch finetunes scored on half the users, the top action warm-started",
    {
        "iterations": 20,
        "finetune_epochs": 4,
        "fitness_users": 0.5,
        "retrain_top": 1,
        "retrain_from": "pretrained",
        "retrain": {"eval_users": 0.5, "lr_decay_every": 100, "epochs": 160, "patience": 10},
    },
)
PRESETS: dict[str, Preset] = {p.name: p for p in (PAPER, FAST)}
#: A dataset with more rows (users + items) than this defaults to ``fast`` in the dashboard
#: (gowalla-mini, 6,835 rows, stays ``paper``; full Gowalla has 70,839).
FAST_ABOVE_ROWS = 10_000


def default_preset(n_rows: int) -> str:
    """The preset a dataset of ``n_rows`` rows starts from in the dashboard."""
    return "fast" if n_rows > FAST_ABOVE_ROWS else "paper"


def preset_settings(name: str) -> dict[str, Any]:
    """The preset's SearchConfig values, every one spelled out (the paper's where it sets none)."""
    if name not in PRESETS:
        raise ConfigError(f"--preset must be one of {', '.join(PRESETS)}, got {name!r}")
    values: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(SearchConfig) if f.name in _PRESETTABLE}
    schedules = {"pretrain": PRETRAIN, "retrain": RETRAIN}
    values.update(schedules)
    for key, value in PRESETS[name].settings.items():
        values[key] = dataclasses.replace(schedules[key], **value) if key in schedules else value
    values["preset"] = name
    return values


def apply_preset(cfg: SearchConfig, name: str) -> SearchConfig:
    """``cfg`` with every value the preset ``name`` sets (what it does not set is left as is)."""
    preset_settings(name)  # refuses an unknown name
    changed: dict[str, Any] = {"preset": name}
    for key, value in PRESETS[name].settings.items():
        changed[key] = dataclasses.replace(getattr(cfg, key), **value) if key in ("pretrain", "retrain") else value
    return dataclasses.replace(cfg, **changed)


#: The SearchConfig fields a preset may set.
_PRESETTABLE = (
    "iterations",
    "candidates",
    "finetune_epochs",
    "finetune_steps",
    "retrain_top",
    "fitness_users",
    "retrain_from",
    "preset",
)
