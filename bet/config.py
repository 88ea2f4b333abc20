"""Frozen run configurations, built at the edge (CLI, dashboard) and saved with every run."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from bet.backbones import BACKBONES
from bet.budget import D_MAX
from bet.data import Dataset, load_dataset
from bet.errors import ConfigError
from bet.predictor import PREDICTORS, TRAINING_MODES
from bet.selection import SELECTIONS
from bet.train import TrainConfig

#: Selective retraining and the SU/SR/MDE baselines: from scratch, early stopping on validation.
RETRAIN = TrainConfig(epochs=300, eval_every=2, patience=5)
#: Pretraining the full-size model (also the ``full`` reference of every frontier).
PRETRAIN = TrainConfig(epochs=300, eval_every=2, patience=5)
#: Fewest finetune steps per candidate when ``--finetune-steps`` is not given (see README,
#: "Deviations": on small datasets 10 epochs are too few steps to rank actions).
MIN_FINETUNE_STEPS = 100


@dataclass(frozen=True)
class DataSpec:
    dataset: str = "gowalla-mini"
    split: str = "paper"
    split_seed: int = 42
    fmt: str = "auto"
    min_rating: float | None = None

    def load(self) -> Dataset:
        return load_dataset(self.dataset, self.split, self.split_seed, self.fmt, self.min_rating)


@dataclass(frozen=True)
class SearchConfig:
    """Everything that decides a BET search (paper defaults; see ``python -m bet search -h``)."""

    data: DataSpec = field(default_factory=DataSpec)
    backbone: str = "lightgcn"
    sparsity: float = 0.9
    iterations: int = 50
    candidates: int = 100
    finetune_epochs: int | None = None  # None: 15 for NGCF, 10 otherwise
    finetune_steps: int | None = None  # None: max(epochs × steps/epoch, MIN_FINETUNE_STEPS)
    retrain_top: int = 5
    selection: str = "bet"
    predictor: str = "deepsets"
    predictor_training: str = "fit"  # fit (ours, measured better) | paper (N=2 single-pair steps)
    predictor_updates: int | None = None  # None: 10 for fit, 2 for paper
    seed: int = 0
    device: str = "auto"
    d_max: int = D_MAX
    pretrain: TrainConfig = PRETRAIN
    retrain: TrainConfig = RETRAIN
    redraws: int = 0  # sampler: 0 clips a side over d_max; k > 0 redraws its family/β up to k times (authors)
    parallel_candidates: int = 1  # batched BET: q candidates finetuned at once per iteration (1: the paper)
    retrain_workers: int | None = None  # None: 2 on a multi-core CPU or a GPU

    def validate(self) -> SearchConfig:
        if self.backbone not in BACKBONES or self.backbone == "pop":
            raise ConfigError(
                f"cannot search embedding sizes for backbone {self.backbone!r}; choose lightgcn, ngcf or ncf"
            )
        if not (isinstance(self.sparsity, (int, float)) and 0 < self.sparsity < 1) or math.isnan(self.sparsity):
            raise ConfigError(f"--sparsity must be in (0, 1), got {self.sparsity}")
        for name, low in (
            ("iterations", 1),
            ("candidates", 1),
            ("retrain_top", 1),
            ("parallel_candidates", 1),
            ("redraws", 0),
        ):
            if getattr(self, name) < low:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least {low}, got {getattr(self, name)}")
        if self.d_max < 1:
            raise ConfigError(f"--d-max must be at least 1, got {self.d_max}")
        if self.predictor_training not in TRAINING_MODES:
            raise ConfigError(f"--predictor-training must be one of {', '.join(TRAINING_MODES)}")
        if self.predictor_updates is not None and self.predictor_updates < 0:
            raise ConfigError("predictor updates must be at least 0")
        if self.pretrain.epochs < 1 or self.retrain.epochs < 1:
            raise ConfigError("--pretrain-epochs and --retrain-epochs must be at least 1")
        for name in ("finetune_epochs", "finetune_steps"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if self.selection not in SELECTIONS:
            raise ConfigError(f"--selection must be one of {', '.join(SELECTIONS)}")
        if self.predictor not in PREDICTORS:
            raise ConfigError(f"--predictor must be one of {', '.join(PREDICTORS)}")
        if self.parallel_candidates > self.candidates:
            raise ConfigError(
                f"--parallel-candidates ({self.parallel_candidates}) cannot exceed --candidates ({self.candidates})"
            )
        return self

    def finetune(self, data: Dataset) -> TrainConfig:
        """The per-candidate finetune schedule (fresh Adam, lr 0.03 × 0.98 / 200 steps)."""
        from bet.train import FINETUNE

        epochs = self.finetune_epochs or BACKBONES[self.backbone].finetune_epochs
        steps = self.finetune_steps or max(epochs * FINETUNE.steps_per_epoch(data), MIN_FINETUNE_STEPS)
        return dataclasses.replace(FINETUNE, steps=steps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> SearchConfig:
        d = dict(d)
        d["data"] = DataSpec(**d["data"])
        d["pretrain"] = TrainConfig(**d["pretrain"])
        d["retrain"] = TrainConfig(**d["retrain"])
        known = {f.name for f in dataclasses.fields(SearchConfig)}
        return SearchConfig(**{k: v for k, v in d.items() if k in known})


#: The references without a budget, and the sparsity their run rows record: ``full`` removes
#: nothing (every row at d_max), ``pop`` keeps no table at all. Their budgets: :func:`bet.runs.run_budget`.
NO_BUDGET = {"full": 0.0, "pop": 1.0}


@dataclass(frozen=True)
class BaselineConfig:
    """A reference run at the same budget: ``su``, ``sr``, ``mde``, ``full`` or ``pop``."""

    data: DataSpec = field(default_factory=DataSpec)
    backbone: str = "lightgcn"
    method: str = "su"
    sparsity: float = 0.9
    seed: int = 0
    device: str = "auto"
    d_max: int = D_MAX
    train: TrainConfig = RETRAIN
    pretrain: TrainConfig = PRETRAIN

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> BaselineConfig:
        d = dict(d)
        d["data"] = DataSpec(**d["data"])
        d["train"] = TrainConfig(**d["train"])
        d["pretrain"] = TrainConfig(**d["pretrain"])
        return BaselineConfig(**d)


def baseline_config(base: SearchConfig, method: str, sparsity: float | None = None) -> BaselineConfig:
    """The ``method`` reference for a search: its data, backbone, seed, device, d_max and schedules
    (the retraining one to train on), at its sparsity or ``sparsity`` (``full`` and ``pop``: none)."""
    return BaselineConfig(
        data=base.data, backbone=base.backbone, method=method,
        sparsity=NO_BUDGET.get(method, base.sparsity if sparsity is None else sparsity),
        seed=base.seed, device=base.device, d_max=base.d_max, train=base.retrain, pretrain=base.pretrain,
    )  # fmt: skip
