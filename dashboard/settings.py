"""What the setup form decides, without streamlit: the budget readout, the demo settings, the
config built from the form. Re-exported here for the pages: uploaded files (:mod:`dashboard.uploads`),
what a run will need in memory and time (:mod:`dashboard.forecast`) and text a page may show
(:mod:`dashboard.redaction`)."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bet import Dataset, DataSpec, SearchConfig, preset_settings, run_budget
from bet.report import packed_mb
from dashboard.forecast import (
    EARLY_STOPPED,
    PHASES,
    check_memory_needs,
    estimate,
    measured_busy,
    memory_needs,
    remaining,
)
from dashboard.redaction import redact, shown
from dashboard.uploads import save_upload, uploads_dir

__all__ = [
    "BACKBONE_CHOICES",
    "DEMO",
    "DEVICES",
    "EARLY_STOPPED",
    "PAPER",
    "PHASES",
    "Readout",
    "build_config",
    "check_memory_needs",
    "estimate",
    "measured_busy",
    "memory_needs",
    "packed_mb",
    "parse_sparsities",
    "readout",
    "redact",
    "remaining",
    "save_upload",
    "shown",
    "uploads_dir",
]

BACKBONE_CHOICES = ("lightgcn", "ngcf", "ncf")
DEVICES = ("auto", "cpu", "cuda")
PAPER = SearchConfig()  # the paper's defaults, shown in the form

#: The live search of the one-click demo: gowalla-mini, LightGCN, sparsity 0.9, 12 iterations of 100
#: candidates with the default 100-step finetunes (how long it takes: docs/results.md §5, "The
#: dashboard's one-click demo"). The rest of the demo (the references, BET at other budgets):
#: :func:`dashboard.story.demo_configs`.
DEMO = dataclasses.replace(
    PAPER,
    data=DataSpec("gowalla-mini"),
    sparsity=0.9,
    iterations=12,
    candidates=100,
    retrain_top=2,
    retrain=dataclasses.replace(PAPER.retrain, epochs=30),
)
if os.environ.get("BET_DEMO") == "smoke":  # the browser test: the same demo in seconds, not minutes
    DEMO = dataclasses.replace(
        DEMO,
        iterations=2,
        candidates=10,
        finetune_steps=10,
        retrain_top=1,
        pretrain=dataclasses.replace(PAPER.pretrain, epochs=4),
        retrain=dataclasses.replace(PAPER.retrain, epochs=4),
    )


@dataclass(frozen=True)
class Readout:
    """What a sparsity buys on a dataset, for the live readout next to the slider."""

    sparsity: float
    n_rows: int
    d_max: int
    budget: int  # parameters kept

    @property
    def full_params(self) -> int:
        return self.n_rows * self.d_max

    @property
    def kept_fraction(self) -> float:
        return self.budget / self.full_params

    @property
    def packed_mb(self) -> float:
        """The packed table: float32 values + one byte per row for its size (uint8)."""
        return packed_mb(self.budget, self.n_rows, self.d_max)

    @property
    def full_mb(self) -> float:
        return self.full_params * 4 / 1e6

    @property
    def avg_dim(self) -> float:
        return self.budget / self.n_rows

    def text(self) -> str:
        return (
            f"keeps **{self.budget:,}** of {self.full_params:,} parameters ({self.kept_fraction:.1%}) · "
            f"**{self.packed_mb:.2f} MB** packed vs {self.full_mb:.2f} MB full (float32) · "
            f"average **{self.avg_dim:.1f}** of {self.d_max} dimensions per row"
        )


def readout(cfg: SearchConfig, data: Dataset, backbones: Sequence[str] = ()) -> Readout:
    """What the form's config buys on ``data``: its run's budget (:func:`bet.run_budget`, as the
    run will have it). Raises :class:`~bet.errors.BudgetError` (its message says why) when
    infeasible, for the table or for ``cfg``'s backbone or one of ``backbones`` (NCF keeps two
    embeddings per row)."""
    budget = run_budget(cfg, data)
    for backbone in backbones:
        run_budget(dataclasses.replace(cfg, backbone=backbone), data)  # feasible on each backbone?
    return Readout(cfg.sparsity, data.n_rows, cfg.d_max, budget)


def build_config(
    data: DataSpec,
    backbone: str,
    sparsity: float,
    *,
    iterations: int = PAPER.iterations,
    candidates: int = PAPER.candidates,
    finetune_epochs: int | None = None,
    finetune_steps: int | None = None,
    retrain_top: int = PAPER.retrain_top,
    seed: int = 0,
    device: str = "auto",
    d_max: int = PAPER.d_max,
    pretrain_epochs: int = PAPER.pretrain.epochs,
    retrain_epochs: int = PAPER.retrain.epochs,
    selection: str = PAPER.selection,
    predictor: str = PAPER.predictor,
    preset: str = PAPER.preset,
) -> SearchConfig:
    """The frozen config of the form (validated: raises :class:`~bet.errors.ConfigError`). The
    engine ``preset`` (:func:`bet.preset_settings`) gives what the form does not show — fitness on a
    user sample, where retraining starts, the retraining's validation users — and the label; the
    form's values (which the preset filled, and the user may have edited) win for everything else."""
    values = preset_settings(preset)
    return SearchConfig(
        data=data,
        backbone=backbone,
        sparsity=round(float(sparsity), 4),
        iterations=int(iterations),
        candidates=int(candidates),
        finetune_epochs=finetune_epochs or None,
        finetune_steps=finetune_steps or None,
        retrain_top=int(retrain_top),
        selection=selection,
        predictor=predictor,
        seed=int(seed),
        device=device,
        d_max=int(d_max),
        pretrain=dataclasses.replace(values["pretrain"], epochs=int(pretrain_epochs)),
        retrain=dataclasses.replace(values["retrain"], epochs=int(retrain_epochs)),
        preset=preset,
        fitness_users=values["fitness_users"],
        retrain_from=values["retrain_from"],
    ).validate()


def parse_sparsities(text: str) -> list[float]:
    """``"0.8, 0.9 0.95"`` → ``[0.8, 0.9, 0.95]`` (sorted, unique); ValueError names a bad entry."""
    out = set()
    for tok in re.split(r"[,\s;]+", text.strip()):
        if not tok:
            continue
        try:
            c = float(tok)
        except ValueError:
            raise ValueError(f"{tok!r} is not a number; give sparsities like 0.8, 0.9, 0.95") from None
        if not 0 < c < 1:
            raise ValueError(f"sparsity {c} is outside (0, 1)")
        out.add(round(c, 4))
    if not out:
        raise ValueError("give at least one sparsity, e.g. 0.8, 0.9, 0.95")
    return sorted(out)
