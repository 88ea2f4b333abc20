"""Frozen run configurations, built at the edge (CLI, dashboard) and saved with every run."""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bet.backbones import BACKBONES, action_budget
from bet.budget import D_MAX, budget_for
from bet.data import MAX_SEED, Dataset, load_dataset
from bet.errors import ConfigError, shorten
from bet.methods import METHODS
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
#: The accepted range ``[low, high]`` of every numeric setting, by its option's name (README, "Limits"):
#: wide around the paper's values (T = 50, m = 100, h = 10/15, top 5, 20 redraws, 300 epochs), tight
#: enough that no argument makes a loop or an allocation unbounded. The dashboard validates with them.
LIMITS: dict[str, tuple[int, int]] = {
    "iterations": (1, 10_000),
    "candidates": (1, 10_000),
    "finetune_epochs": (1, 1_000),
    "finetune_steps": (1, 1_000_000),
    "retrain_top": (1, 1_000),
    "parallel_candidates": (1, 1_000),
    "redraws": (0, 1_000),
    "predictor_updates": (0, 10_000),
    "retrain_workers": (1, 64),
    "pretrain_epochs": (1, 10_000),
    "retrain_epochs": (1, 10_000),
    "epochs": (1, 10_000),
    "patience": (0, 1_000),
    "seed": (0, MAX_SEED),
    "split_seed": (0, MAX_SEED),
    "d_max": (1, 4096),  # sizes are 16-bit
    "count": (1, 1_000_000),
    "workers": (1, 256),
    "sparsities": (1, 100),  # sample, frontier (list length)
}


def check_range(name: str, value: Any) -> None:
    """Refuse ``value`` for the setting ``name`` outside :data:`LIMITS` (``--name`` in the message)."""
    low, high = LIMITS[name]
    if value is None:
        return
    number = int(value) if isinstance(value, numbers.Integral) else value
    if isinstance(number, numbers.Real) and not isinstance(number, int):
        number = float(number)
    if isinstance(value, bool) or not isinstance(number, (int, float)) or not low <= number <= high:
        shown = shorten(value if isinstance(value, str) else str(value), 40, quote=False)
        option = OPTIONS.get(name, f"--{name.replace('_', '-')}")
        raise ConfigError(f"{option} must be in [{low}, {high}], got {shown}")


#: How the command line spells the settings with a short form too.
OPTIONS = {
    "iterations": "-T/--iterations",
    "candidates": "-m/--candidates",
    "parallel_candidates": "-q/--parallel-candidates",
}


@dataclass(frozen=True)
class DataSpec:
    dataset: str = "gowalla-mini"
    split: str = "paper"
    split_seed: int = 42
    fmt: str = "auto"
    min_rating: float | None = None

    def load(self) -> Dataset:
        return load_dataset(self.dataset, self.split, seed=self.split_seed, fmt=self.fmt, min_rating=self.min_rating)


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
    # Beyond the paper (the `fast` preset, bet.presets; defaults are the paper's algorithm):
    preset: str = "paper"  # the named preset these settings started from (a label; the fields decide)
    fitness_users: float | None = None  # fitness scored on a fixed fraction of validation users (None: all)
    retrain_from: str = "scratch"  # scratch (paper) | pretrained: warm-start from the truncated full model

    def validate(self) -> SearchConfig:
        if self.backbone not in BACKBONES or self.backbone == "pop":
            raise ConfigError(
                f"cannot search embedding sizes for backbone {self.backbone!r}; choose lightgcn, ngcf or ncf"
            )
        if not (isinstance(self.sparsity, (int, float)) and 0 < self.sparsity < 1) or math.isnan(self.sparsity):
            raise ConfigError(f"--sparsity must be in (0, 1), got {self.sparsity}")
        for name in (
            "iterations",
            "candidates",
            "finetune_epochs",
            "finetune_steps",
            "retrain_top",
            "parallel_candidates",
            "redraws",
            "predictor_updates",
            "retrain_workers",
            "seed",
            "d_max",
        ):
            check_range(name, getattr(self, name))
        check_range("pretrain_epochs", self.pretrain.epochs)
        check_range("retrain_epochs", self.retrain.epochs)
        for name, frac in (
            ("--fitness-users", self.fitness_users),
            ("the retraining's eval_users", self.retrain.eval_users),
        ):
            if frac is not None and not (isinstance(frac, (int, float)) and 0 < frac <= 1):
                raise ConfigError(f"{name} must be a fraction in (0, 1], got {shorten(str(frac), 40, quote=False)}")
        if self.retrain_from not in RETRAIN_FROM:
            raise ConfigError(f"--retrain-from must be one of {', '.join(RETRAIN_FROM)}")
        if self.predictor_training not in TRAINING_MODES:
            raise ConfigError(f"--predictor-training must be one of {', '.join(TRAINING_MODES)}")
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
    def from_dict(d: Mapping[str, Any]) -> SearchConfig:
        d = dict(d)
        d["data"] = DataSpec(**d["data"])
        d["pretrain"] = TrainConfig(**d["pretrain"])
        d["retrain"] = TrainConfig(**d["retrain"])
        known = {f.name for f in dataclasses.fields(SearchConfig)}
        return SearchConfig(**{k: v for k, v in d.items() if k in known})


#: Where selective retraining starts: from scratch (the paper) or from the pretrained full model's
#: rows truncated to the action's sizes (the `fast` preset; docs/results.md §7).
RETRAIN_FROM = ("scratch", "pretrained")


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
    def from_dict(d: Mapping[str, Any]) -> BaselineConfig:
        d = dict(d)
        d["data"] = DataSpec(**d["data"])
        d["train"] = TrainConfig(**d["train"])
        d["pretrain"] = TrainConfig(**d["pretrain"])
        return BaselineConfig(**d)


def paper_schedule(base: SearchConfig) -> TrainConfig:
    """The references' schedule for a search: its retraining schedule under the ``paper`` preset
    (``--retrain-epochs`` and ``--early-stop`` included); under another preset, what the preset
    changes in BET's own retraining (users validated, learning-rate schedule, most epochs, ``fast``'s
    longer patience) set back to the paper's, the early stopping chosen (``--early-stop authors``:
    every 2,000 steps, patience 3) kept."""
    if base.preset == "paper":
        return base.retrain
    chosen = base.retrain.eval_every_steps is not None  # the authors' early stopping, chosen over ours
    return dataclasses.replace(
        base.retrain,
        eval_users=None,
        patience=base.retrain.patience if chosen else RETRAIN.patience,
        lr=RETRAIN.lr,
        lr_decay=RETRAIN.lr_decay,
        lr_decay_every=RETRAIN.lr_decay_every,
        epochs=RETRAIN.epochs,
    )


def recorded_sparsity(method: str, sparsity: float) -> float:
    """The sparsity a run row of ``method`` records: ``sparsity``, except for the references
    without a budget (:attr:`bet.methods.Method.sparsity`: ``full`` removes nothing, ``pop``
    keeps no table). Their budgets: :func:`run_budget`."""
    m = METHODS.get(method)
    return m.sparsity if m is not None and m.sparsity is not None else sparsity


def baseline_config(base: SearchConfig, method: str, sparsity: float | None = None) -> BaselineConfig:
    """The ``method`` reference for a search: its data, backbone, seed, device, d_max and schedules
    (the retraining one to train on, validated on every user whatever the preset), at its sparsity
    or ``sparsity`` (``full`` and ``pop``: none)."""
    return BaselineConfig(
        data=base.data,
        backbone=base.backbone,
        method=method,
        sparsity=recorded_sparsity(method, base.sparsity if sparsity is None else sparsity),
        seed=base.seed,
        device=base.device,
        d_max=base.d_max,
        pretrain=base.pretrain,
        train=paper_schedule(base),  # the references train on the paper's schedule under any preset
    )


def run_budget(cfg: SearchConfig | BaselineConfig, data: Dataset) -> int:
    """A run's budget in embedding parameters, where its configuration meets its data: the one
    function that computes a budget (``tests/test_one_budget.py`` checks that nothing else does);
    from here on it travels as a required value (the run row, :class:`bet.runs.Job`, the search,
    the sampler). Infeasible: :class:`~bet.errors.BudgetError`, for the table or for the backbone
    (NCF keeps two embeddings per row). ``full`` has no budget: it records its tables' whole size
    (NCF has two); ``pop`` has no table: 0."""
    m = METHODS.get(cfg.method) if isinstance(cfg, BaselineConfig) else None
    if m is not None and not m.table:
        return 0
    if m is not None and not m.budgeted:
        return budget_for(0.0, n_rows=data.n_rows, d_max=cfg.d_max) * BACKBONES[cfg.backbone].action_share
    budget = budget_for(cfg.sparsity, n_rows=data.n_rows, d_max=cfg.d_max)
    action_budget(cfg.backbone, budget, n_rows=data.n_rows)  # NCF keeps two embeddings per row: feasible?
    return budget
