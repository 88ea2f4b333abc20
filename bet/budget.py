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


def budget_for(sparsity: float, *, n_rows: int, d_max: int = D_MAX, d_min: int = D_MIN) -> int:
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


def uniform(n_users: int, n_items: int, *, budget: int, d_max: int = D_MAX, order: np.ndarray | None = None) -> Action:
    """The same size for every row; the remainder (< one per row) goes to the rows first in
    ``order`` (e.g. by descending frequency), so the whole budget is used."""
    n = n_users + n_items
    base = min(budget // n, d_max)
    sizes = np.full(n, base, dtype=np.int64)
    extra = min(budget - base * n, n) if base < d_max else 0
    idx = np.arange(n) if order is None else order
    sizes[idx[:extra]] += 1
    return Action.of(sizes[:n_users], sizes[n_users:])


def allocate(weights: np.ndarray, budget: int, *, d_max: int = D_MAX, d_min: int = D_MIN) -> np.ndarray:
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


def sorted_allocate(weights_desc: np.ndarray, budget: int, *, d_max: int = D_MAX, d_min: int = D_MIN) -> np.ndarray:
    """Sizes for weights sorted in *descending* order: non-increasing, in ``[d_min, d_max]``,
    summing to exactly ``min(budget, d_max·n)`` (the caller guarantees ``budget >= d_min·n``).

    Uses suffix sums, so each bisection probe is O(log n) rather than a pass over the rows; the
    result is checked exactly (one pass) so rounding can never break the budget.
    """
    t = np.maximum(np.asarray(weights_desc, dtype=np.float64), 0.0)
    n = t.size
    if budget >= d_max * n:
        return np.full(n, d_max, dtype=np.int64)
    if t[0] <= 0:
        t = np.ones(n)
    # Scale-free (only the shape of the draw matters); weights below 1e-250 act as 1e-250 so the
    # scale s stays finite (they sit at d_min either way unless the budget is nearly full).
    t = np.maximum(t / t[0], 1e-250)
    # Suffix sums (small weights first): the middle band's sum is a difference of two sums of
    # the same magnitude, which stays accurate when the weights span hundreds of orders of
    # magnitude (prefix sums would cancel catastrophically there).
    suffix = np.concatenate([np.cumsum(t[::-1])[::-1], [0.0]])
    neg = -t  # ascending, for searchsorted

    def total(log_s: float) -> float:
        s = float(np.exp(log_s))
        k_hi = int(np.searchsorted(neg, -d_max / s, side="right"))  # rows with s·t >= d_max
        k_lo = int(np.searchsorted(neg, -d_min / s, side="left"))  # rows with s·t > d_min
        return d_max * k_hi + s * (suffix[k_hi] - suffix[k_lo]) + d_min * (n - k_lo)

    def exact(log_s: float) -> np.ndarray:
        return np.floor(np.clip(np.exp(log_s) * t, d_min, d_max)).astype(np.int64)

    # Below s = d_min every row sits at d_min (total <= budget); at s = d_max / min weight every
    # row is capped. Bisect between them in log space.
    log_lo, log_hi = float(np.log(d_min)), float(np.log(d_max) - np.log(t[-1]))
    for _ in range(200):
        mid = 0.5 * (log_lo + log_hi)
        if total(mid) > budget:
            log_hi = mid
        else:
            log_lo = mid
        if log_hi - log_lo <= 1e-12:
            break
    sizes = exact(log_lo)
    if sizes.sum() > budget:  # rounding in the fast totals: back off until the exact sum fits
        step = 1e-9
        while (sizes := exact(log_lo - step)).sum() > budget:
            step *= 4
    left = budget - int(sizes.sum())
    if left > 0:  # < 1 per uncapped row; give it to the largest uncapped rows: stays sorted
        room = np.flatnonzero(sizes < d_max)[:left]
        sizes[room] += 1
    return sizes


def batch_allocate(
    log_w_desc: np.ndarray, budgets: np.ndarray, *, d_max: int = D_MAX, d_min: int = D_MIN
) -> np.ndarray:
    """:func:`sorted_allocate` for many rows at once: ``log_w_desc`` ``(m, n)`` log-weights, each
    row sorted descending, ``budgets`` ``(m,)`` with ``d_min·n <= budget``. Returns ``(m, n)``
    int64 sizes, each row non-increasing, in ``[d_min, d_max]``, summing to ``min(budget, d_max·n)``.

    All m bisections run together: one ``searchsorted`` per probe over the rows laid end to end
    in log space (each row offset by a constant larger than its range), so no Python loop runs
    over actions or rows.
    """
    m, n = log_w_desc.shape
    lw = np.maximum(log_w_desc - log_w_desc[:, :1], -575.0)  # scale-free; floor keeps s finite
    t = np.exp(lw)
    suffix = np.concatenate([np.cumsum(t[:, ::-1], axis=1)[:, ::-1], np.zeros((m, 1))], axis=1)
    span = 1000.0  # > the 575 range of -lw, so rows never overlap
    offset = np.arange(m) * span
    flat = (-lw + offset[:, None]).ravel()  # ascending overall
    base = np.arange(m) * n
    rows = np.arange(m)
    budgets = np.asarray(budgets, dtype=np.float64)
    log_dmax, log_dmin = np.log(d_max), np.log(d_min)

    def totals(log_s: np.ndarray) -> np.ndarray:
        k_hi = np.searchsorted(flat, log_s - log_dmax + offset, side="right") - base  # s·t >= d_max
        k_lo = np.searchsorted(flat, log_s - log_dmin + offset, side="left") - base  # s·t > d_min
        k_hi, k_lo = np.clip(k_hi, 0, n), np.clip(k_lo, 0, n)
        mid = suffix[rows, k_hi] - suffix[rows, k_lo]
        return d_max * k_hi + np.exp(log_s) * mid + d_min * (n - k_lo)

    lo = np.full(m, log_dmin)
    hi = np.full(m, log_dmax + 575.0)
    for _ in range(64):  # the log-range is < 600: 64 halvings reach ~1e-16
        mid = 0.5 * (lo + hi)
        over = totals(mid) > budgets
        hi = np.where(over, mid, hi)
        lo = np.where(over, lo, mid)
    sizes = np.floor(np.clip(np.exp(lo)[:, None] * t, d_min, d_max)).astype(np.int64)
    over = sizes.sum(1) > budgets
    step = 1e-9
    while over.any():  # rounding in the fast totals: back off those rows until they fit exactly
        lo = np.where(over, lo - step, lo)
        sizes[over] = np.floor(np.clip(np.exp(lo[over])[:, None] * t[over], d_min, d_max)).astype(np.int64)
        over = sizes.sum(1) > budgets
        step *= 4
    left = (np.minimum(budgets, d_max * n) - sizes.sum(1)).astype(np.int64)
    # The leftover (< one per uncapped row) goes to the largest uncapped rows: rows stay sorted.
    first = (sizes >= d_max).sum(1)
    cols = np.arange(n)[None, :]
    sizes += (cols >= first[:, None]) & (cols < (first + left)[:, None])
    return sizes
