"""The table widths a plan times a run's trainings at (:func:`bet.estimate.plan`): LightGCN
computes only its widest row's columns, so a step's time depends on which action is trained."""

from __future__ import annotations

import dataclasses

import numpy as np

from bet.config import BaselineConfig, SearchConfig, run_budget
from bet.data import Dataset
from bet.duration import Seen
from bet.sampler import ActionSampler

__all__ = ["planned_width", "typical_width"]


def typical_width(cfg: SearchConfig | BaselineConfig, data: Dataset) -> int:
    """The widest row of a sampled action at ``cfg``'s budget, averaged over 32 draws: the width a
    LightGCN step computes, in the mean (a step's time is linear in it; the median of 16 draws,
    used before, read 44-49 at c = 0.9 on gowalla-mini where the mean is 62 and the searches'
    evaluated actions averaged 75-87). Other backbones always compute ``d_max`` columns."""
    if cfg.backbone != "lightgcn" or cfg.sparsity <= 0:
        return cfg.d_max
    key = (data.fingerprint, cfg.sparsity, cfg.d_max)
    if key not in _WIDTHS:  # the dashboard asks on every rerun: draw once (~1 s on full Gowalla)
        sampler = ActionSampler.for_data(data, run_budget(cfg, data), cfg.d_max)
        batch = sampler.sample(32, np.random.default_rng(0))
        _WIDTHS[key] = round(float(np.mean(np.maximum(batch.user_sizes.max(1), batch.item_sizes.max(1)))))
    return _WIDTHS[key]


_WIDTHS: dict[tuple[str, float, int], int] = {}


def planned_width(phase: str, cfg: SearchConfig, data: Dataset, *, seen: Seen) -> float:
    """The widest row of the actions a search trains in ``phase`` (``finetune``, ``retrain``), in
    the mean. A search does not train the sampler's average draw (:func:`typical_width`): on full
    Gowalla its finetunes were 53, 67 and 82 columns wide at c = 0.95, 0.9 and 0.8 where the draws
    average 44, 85 and 114 — planned at the draws, 0.9's and 0.8's finetunes came out 1.26× and
    1.39× too long (docs/results.md §7.7). So, from the observed searches (those that selected
    alike where there are any): their median at this budget; else, observed at two or more
    budgets, the line through them in log(1 − c) (the finetuned widths above lie on one to a
    column: +14 columns per doubling of the budget); at one budget only, the draws' mean scaled as
    there; else the draws' mean. Which action is retrained is the search's luck (its widest row
    was 59, 32 and 60 columns at those budgets): a budget not observed plans it at the finetunes'
    width, the expected width of a candidate."""
    if cfg.backbone != "lightgcn":
        return cfg.d_max  # every column, whatever the action
    at = seen.width(phase, cfg.sparsity, 0, selection=cfg.selection)
    if at:
        return at
    if phase != "finetune":
        return planned_width("finetune", cfg, data, seen=seen)
    by_budget: dict[float, list[float]] = {}
    for r in seen.runs:
        c, w = r.get("sparsity", 0), r.get("width", {}).get(phase)
        if w and 0 < c < 1:
            by_budget.setdefault(float(c), []).append(float(w))
    drawn = typical_width(cfg, data)
    if not by_budget:
        return drawn
    if len(by_budget) == 1:
        (c, ws), *_ = by_budget.items()
        return float(min(cfg.d_max, drawn * np.median(ws) / typical_width(dataclasses.replace(cfg, sparsity=c), data)))
    x = np.log([1 - c for c in by_budget])
    slope, intercept = np.polyfit(x, [float(np.median(ws)) for ws in by_budget.values()], 1)
    return float(np.clip(intercept + slope * np.log(1 - cfg.sparsity), 1, cfg.d_max))
