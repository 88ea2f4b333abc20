"""Reference actions at the same budget as BET: SU, SR, MDE, and the full table.

* ``su`` — single uniform size: ``floor(B / n)`` for every row, the remainder (less than one
  per row) to the most frequent rows.
* ``sr`` — sizes drawn from a uniform distribution, scaled into the budget.
* ``mde`` — mixed-dimension embeddings (Ginart et al., 2019): size ∝ frequency^α, scaled into
  the budget (α = 0.5, the temperature the feasibility study used).
* ``full`` — ``d_max`` for every row (the uncompressed reference; its cost is the whole table).

All are strict: ``cost <= budget`` and every size in ``[1, d_max]``.
"""

from __future__ import annotations

import numpy as np

from bet.backbones import action_budget
from bet.budget import D_MAX, Action, allocate, budget_for, uniform
from bet.data import Dataset
from bet.errors import ConfigError

#: CLI ``--sizes`` names → method names used in frontiers.
SIZE_KINDS = {"full": "full", "uniform": "su", "random": "sr", "frequency": "mde"}
METHODS = ("bet", "su", "sr", "mde", "full", "pop")
MDE_ALPHA = 0.5


def frequencies(data: Dataset) -> np.ndarray:
    """``(n_users + n_items,)`` training interaction counts in table row order."""
    return np.concatenate([data.user_freq, data.item_freq])


def by_frequency(data: Dataset) -> np.ndarray:
    """Row order by descending frequency (ties by row index)."""
    return np.argsort(-frequencies(data), kind="stable")


def baseline_action(
    method: str, data: Dataset, sparsity: float, seed: int = 0, d_max: int = D_MAX, *, backbone: str = "lightgcn"
) -> Action:
    """The ``method`` action (``su``, ``sr``, ``mde`` or ``full``) for ``sparsity`` on
    ``backbone`` (NCF's action gets half the budget: its GMF table is paid from the rest)."""
    nu, ni = data.n_users, data.n_items
    if method == "full":
        return Action.of(np.full(nu, d_max), np.full(ni, d_max))
    budget = action_budget(backbone, budget_for(sparsity, nu + ni, d_max), nu + ni)
    if method == "su":
        action = uniform(nu, ni, budget, d_max, by_frequency(data))
    elif method == "sr":
        weights = np.random.default_rng(seed).random(nu + ni)
        sizes = allocate(weights, budget, d_max)
        action = Action.of(sizes[:nu], sizes[nu:])
    elif method == "mde":
        sizes = allocate(frequencies(data).astype(np.float64) ** MDE_ALPHA, budget, d_max)
        action = Action.of(sizes[:nu], sizes[nu:])
    else:
        raise ConfigError(f"unknown baseline {method!r}; choose su, sr, mde or full")
    return action.check(budget, d_max)
