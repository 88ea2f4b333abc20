"""Budget arithmetic and the table-level :class:`Action` (one size per user and per item).

All pure numpy. The budget is strict: ``cost(action) <= budget`` for every action any part of
BET Studio builds, and every size lies in ``[d_min, d_max]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from bet.errors import BudgetError

D_MAX = 128
D_MIN = 1


def _exact(c: float) -> Fraction:
    # The decimal the user typed (0.9, not 0.90000000000000002220): floor((1 - c) * …) must not
    # lose a parameter to binary rounding.
    return Fraction(repr(float(c)))


def max_sparsity(d_max: int = D_MAX, d_min: int = D_MIN) -> float:
    """Largest feasible sparsity: every row keeps ``d_min`` of ``d_max`` dimensions."""
    return 1.0 - d_min / d_max


def budget_for(sparsity: float, n_rows: int, d_max: int = D_MAX, d_min: int = D_MIN) -> int:
    """``floor((1 − c) · d_max · n_rows)`` parameters, checked for feasibility.

    Raises :class:`BudgetError` when ``c`` is outside ``[0, 1)`` or leaves less than ``d_min``
    dimensions per row, naming the largest feasible sparsity (the smallest feasible budget).
    """
    if d_max < 1 or d_min < 1 or d_min > d_max:
        raise BudgetError(f"d_max must be at least 1 and d_min in [1, d_max], got d_max={d_max}, d_min={d_min}")
    if not isinstance(sparsity, (int, float)) or math.isnan(sparsity) or not 0 <= sparsity < 1:
        raise BudgetError(
            f"sparsity must be in [0, 1), got {sparsity!r}; the largest feasible sparsity is "
            f"{max_sparsity(d_max, d_min):.7g} ({d_min} of {d_max} dimensions per row)"
        )
    budget = math.floor((1 - _exact(sparsity)) * d_max * n_rows)
    if budget < d_min * n_rows:
        c_max = max_sparsity(d_max, d_min)
        raise BudgetError(
            f"sparsity {sparsity} is infeasible: its budget of {budget:,} parameters is below "
            f"{d_min} dimension per row ({d_min * n_rows:,} for {n_rows:,} rows); the smallest "
            f"feasible budget is {d_min * n_rows:,} parameters, i.e. sparsity at most "
            f"{c_max:.7g} with d_max = {d_max}"
        )
    return budget


@dataclass(frozen=True, eq=False)
class Action:
    """Embedding sizes for every user ``(n_users,)`` and every item ``(n_items,)`` (int16)."""

    user_sizes: np.ndarray
    item_sizes: np.ndarray

    @staticmethod
    def of(user_sizes: np.ndarray, item_sizes: np.ndarray) -> Action:
        return Action(np.asarray(user_sizes, np.int16), np.asarray(item_sizes, np.int16))

    @property
    def sizes(self) -> np.ndarray:
        """``(n_users + n_items,)`` sizes in table row order (users first)."""
        return np.concatenate([self.user_sizes, self.item_sizes])

    @property
    def cost(self) -> int:
        """``Σ sizes``: parameters the packed table keeps."""
        return int(self.user_sizes.sum(dtype=np.int64) + self.item_sizes.sum(dtype=np.int64))

    def check(self, budget: int, d_max: int = D_MAX, d_min: int = D_MIN) -> Action:
        """Assert the invariants (a bug, not a user error, if they fail); returns self."""
        s = self.sizes
        if s.size and (s.min() < d_min or s.max() > d_max):
            raise AssertionError(f"sizes outside [{d_min}, {d_max}]: {s.min()}..{s.max()}")
        if self.cost > budget:
            raise AssertionError(f"action costs {self.cost} > budget {budget}")
        return self


def uniform(n_users: int, n_items: int, budget: int, d_max: int = D_MAX, order: np.ndarray | None = None) -> Action:
    """The same size for every row; the remainder (< one per row) goes to the rows first in
    ``order`` (e.g. by descending frequency), so the whole budget is used."""
    n = n_users + n_items
    base = min(budget // n, d_max)
    sizes = np.full(n, base, dtype=np.int64)
    extra = min(budget - base * n, n) if base < d_max else 0
    idx = np.arange(n) if order is None else order
    sizes[idx[:extra]] += 1
    return Action.of(sizes[:n_users], sizes[n_users:])


def allocate(weights: np.ndarray, budget: int, d_max: int = D_MAX, d_min: int = D_MIN) -> np.ndarray:
    """Integer sizes in ``[d_min, d_max]`` roughly proportional to ``weights``, with
    ``Σ sizes <= budget`` (equal whenever ``budget <= d_max · n``).

    Finds the scale s with ``Σ clip(s·w, d_min, d_max) = budget`` by bisection, floors, then
    hands the leftover to the rows with the largest fractional parts. Strict by construction:
    no clamp after rounding can push the total over the budget.
    """
    w = np.asarray(weights, dtype=np.float64)
    n = w.size
    if budget < d_min * n:
        raise BudgetError(f"budget {budget} is below {d_min} per row for {n} rows")
    if budget >= d_max * n:
        return np.full(n, d_max, dtype=np.int64)
    w = np.maximum(w, 0)
    if w.max() <= 0:
        w = np.ones(n)
    lo, hi = 0.0, d_max / w[w > 0].min()
    for _ in range(100):
        mid = (lo + hi) / 2
        if np.clip(mid * w, d_min, d_max).sum() > budget:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-12 * hi:
            break
    real = np.clip(lo * w, d_min, d_max)
    sizes = np.floor(real).astype(np.int64)
    frac = real - sizes
    left = budget - int(sizes.sum())
    # Hand out the leftover one dimension at a time, largest fractional part first; rows whose
    # weight is 0 (never scaled up) take what remains, so the budget is spent whenever it fits.
    while left > 0:
        room = np.flatnonzero(sizes < d_max)
        if len(room) == 0:
            break
        take = room[np.argsort(-frac[room], kind="stable")[:left]]
        sizes[take] += 1
        frac[take] = -1.0
        left -= len(take)
    return sizes
