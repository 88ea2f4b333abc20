"""The widths a plan times a search's finetunes and retraining at: what searches here trained,
by budget, not the sampler's average draw (full Gowalla: 53, 67, 82 columns finetuned at c = 0.95,
0.9, 0.8 where the draws average 44, 85, 114)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from bet.data import Dataset
from bet.duration import Seen
from bet.widths import planned_width, typical_width
from tests.test_estimate_refresh import CFG, FLAT, _record


def seen(mini: Dataset, *records: dict[str, Any]) -> Seen:
    return Seen(dataclasses.replace(FLAT, observed=records), mini, 2)


def at(c: float, w: float, retrain: float | None = None) -> dict[str, Any]:
    width = {"finetune": w} | ({} if retrain is None else {"retrain": retrain})
    return _record(dataclasses.replace(CFG, sparsity=c), f"r{c}", width=width)


def test_no_search_observed_plans_at_the_draws(mini: Dataset) -> None:
    assert planned_width("finetune", CFG, mini, seen=seen(mini)) == typical_width(CFG, mini)
    assert planned_width("retrain", CFG, mini, seen=seen(mini)) == typical_width(CFG, mini)


def test_a_budget_observed_plans_at_what_it_trained(mini: Dataset) -> None:
    s = seen(mini, at(0.9, 30.0, retrain=12.0), at(0.8, 50.0))
    assert planned_width("finetune", CFG, mini, seen=s) == 30.0
    assert planned_width("retrain", CFG, mini, seen=s) == 12.0  # the retrained action's own width


def test_other_budgets_are_read_on_a_line_in_the_log_of_the_budget(mini: Dataset) -> None:
    s = seen(mini, at(0.95, 53.0, retrain=59.0), at(0.8, 81.0))
    c = dataclasses.replace(CFG, sparsity=0.9)  # the budget doubles from 0.95 to 0.9 and again to 0.8
    assert planned_width("finetune", c, mini, seen=s) == pytest.approx(53.0 + 28.0 / 2)
    assert planned_width("retrain", c, mini, seen=s) == pytest.approx(67.0)  # not observed here: a candidate's width
    assert planned_width("finetune", dataclasses.replace(CFG, sparsity=0.6), mini, seen=s) == pytest.approx(81.0 + 14.0)
    steep = seen(mini, at(0.95, 53.0), at(0.9, 120.0))
    assert (
        planned_width("finetune", dataclasses.replace(CFG, sparsity=0.8), mini, seen=steep) == CFG.d_max
    )  # never past
    one = seen(mini, at(0.8, 40.0))
    ratio = 40.0 / typical_width(dataclasses.replace(CFG, sparsity=0.8), mini)
    assert planned_width("finetune", CFG, mini, seen=one) == pytest.approx(
        min(CFG.d_max, typical_width(CFG, mini) * ratio)
    )
    assert math.isfinite(planned_width("finetune", c, mini, seen=one))


def test_other_backbones_always_compute_every_column(mini: Dataset) -> None:
    ncf = dataclasses.replace(CFG, backbone="ncf")
    assert planned_width("finetune", ncf, mini, seen=seen(mini, at(0.9, 30.0))) == ncf.d_max
