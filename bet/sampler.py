"""BET's budget-aware action sampler H(·) (paper §3.2, Eqs. 4–6), made strict.

For each action: the users' share of the budget ``w ~ U(0, 1)``; for users and for items
independently one of four families (power law, truncated normal, truncated exponential,
log-normal) with its shape ``β ~ U(0, β_max]``; one draw per row, normalised within the side and
turned into integer sizes; sizes sorted and assigned by descending interaction frequency.

Where this departs from the paper / authors' code (README, "Deviations"):

* Strict budget: sizes are allocated with :func:`sorted_allocate` — the scale ``s`` with
  ``Σ clip(s·p̃, 1, d_max) = B_side`` exactly, then floors, then the leftover (< 1 per row) to the
  largest rows — instead of ``max(1, floor(p̃·w·B))``, whose clamp can overshoot the budget.
* No rejection loop when a draw would exceed ``d_max``: the excess is clipped at ``d_max`` and
  redistributed by the scale, so every draw is usable (at c = 0.5 most heavy-tailed draws exceed
  128 and rejection would spin).
* ``w`` is clamped so that each side can hold ``[1, d_max]`` per row.

The draws are sorted uniforms pushed through each family's inverse CDF (``scipy.stats``), which
gives the same distribution of sorted sizes as sorting i.i.d. draws, without a sort per action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.stats as st

from bet.budget import D_MAX, D_MIN, Action, budget_for
from bet.data import Dataset

PPF = Callable[[np.ndarray, float], np.ndarray]


def _truncnorm_ppf(u: np.ndarray, b: float) -> np.ndarray:
    # Standard normal truncated to [0, b] (scipy's truncnorm(a=0, b=b)), through norm's inverse
    # CDF: identical distribution, ~8× faster than truncnorm.ppf on 40k rows.
    lo = 0.5
    return np.asarray(st.norm.ppf(lo + u * (st.norm.cdf(b) - lo)))


#: family → (inverse CDF given β, β_max) — paper Eq. 4 with the authors' scipy calls.
FAMILIES: dict[str, tuple[PPF, float]] = {
    "powerlaw": (lambda u, b: np.asarray(st.powerlaw.ppf(u, a=b)), 20.0),
    "truncnorm": (_truncnorm_ppf, 20.0),
    "truncexpon": (lambda u, b: np.asarray(st.truncexpon.ppf(u, b=b)), 5.0),
    "lognorm": (lambda u, b: np.asarray(st.lognorm.ppf(u, s=b)), 0.5),
}
FAMILY_NAMES = tuple(FAMILIES)


def sorted_allocate(weights_desc: np.ndarray, budget: int, d_max: int = D_MAX, d_min: int = D_MIN) -> np.ndarray:
    """Sizes for weights sorted in *descending* order: non-increasing, in ``[d_min, d_max]``,
    summing to exactly ``min(budget, d_max·n)`` (the caller guarantees ``budget >= d_min·n``).

    Uses prefix sums, so each bisection probe is O(log n) rather than a pass over the rows.
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
    prefix = np.concatenate([[0.0], np.cumsum(t)])
    neg = -t  # ascending, for searchsorted

    def total(s: float) -> float:
        k_hi = int(np.searchsorted(neg, -d_max / s, side="right"))  # rows with s·t >= d_max
        k_lo = int(np.searchsorted(neg, -d_min / s, side="left"))  # rows with s·t > d_min
        return d_max * k_hi + s * (prefix[k_lo] - prefix[k_hi]) + d_min * (n - k_lo)

    # Below s = d_min every row sits at d_min (total <= budget); at s = d_max / min positive
    # weight every positive row is capped. Bisect between them in log space: draws can span
    # hundreds of orders of magnitude (a power law with a tiny exponent).
    log_lo, log_hi = float(np.log(d_min)), float(np.log(d_max) - np.log(t[-1]))
    for _ in range(200):
        mid = 0.5 * (log_lo + log_hi)
        if total(float(np.exp(mid))) > budget:
            log_hi = mid
        else:
            log_lo = mid
        if log_hi - log_lo <= 1e-12:
            break
    lo = float(np.exp(log_lo))
    sizes = np.floor(np.clip(lo * t, d_min, d_max)).astype(np.int64)
    left = budget - int(sizes.sum())
    if left > 0:  # < 1 per uncapped row; give it to the largest uncapped rows: stays sorted
        room = np.flatnonzero(sizes < d_max)[:left]
        sizes[room] += 1
    return sizes


@dataclass(frozen=True, eq=False)
class ActionBatch:
    """``m`` sampled actions: ``user_sizes`` ``(m, n_users)``, ``item_sizes`` ``(m, n_items)``
    (int16, table row order), plus how each was drawn."""

    user_sizes: np.ndarray
    item_sizes: np.ndarray
    user_share: np.ndarray
    user_family: tuple[str, ...]
    item_family: tuple[str, ...]
    user_beta: np.ndarray
    item_beta: np.ndarray

    def __len__(self) -> int:
        return int(self.user_sizes.shape[0])

    def action(self, i: int) -> Action:
        return Action(self.user_sizes[i].copy(), self.item_sizes[i].copy())

    @property
    def costs(self) -> np.ndarray:
        return self.user_sizes.sum(1, dtype=np.int64) + self.item_sizes.sum(1, dtype=np.int64)


class ActionSampler:
    """Samples budget-strict table-level actions for one dataset and sparsity."""

    def __init__(self, user_freq: np.ndarray, item_freq: np.ndarray, sparsity: float, d_max: int = D_MAX):
        self.n_users, self.n_items, self.d_max = len(user_freq), len(item_freq), d_max
        self.budget = budget_for(sparsity, self.n_users + self.n_items, d_max)
        # Most frequent first; ties by index so the assignment is deterministic.
        self.user_order = np.argsort(-np.asarray(user_freq), kind="stable")
        self.item_order = np.argsort(-np.asarray(item_freq), kind="stable")

    @classmethod
    def for_data(cls, data: Dataset, sparsity: float, d_max: int = D_MAX) -> ActionSampler:
        return cls(data.user_freq, data.item_freq, sparsity, d_max)

    def _side(self, rng: np.random.Generator, n: int, budget: int, order: np.ndarray) -> tuple[np.ndarray, str, float]:
        family = FAMILY_NAMES[int(rng.integers(len(FAMILY_NAMES)))]
        ppf, beta_max = FAMILIES[family]
        beta = beta_max * (1.0 - rng.random())  # in (0, β_max]: β = 0 is degenerate
        draws = ppf(np.sort(rng.random(n)), beta)[::-1]
        sizes_desc = sorted_allocate(draws, budget, self.d_max)
        sizes = np.empty(n, dtype=np.int16)
        sizes[order] = sizes_desc
        return sizes, family, beta

    def sample(self, m: int, rng: np.random.Generator) -> ActionBatch:
        """``m`` actions; the same generator state gives the same batch."""
        nu, ni, b, dm = self.n_users, self.n_items, self.budget, self.d_max
        users = np.empty((m, nu), dtype=np.int16)
        items = np.empty((m, ni), dtype=np.int16)
        shares, ufam, ifam, ubeta, ibeta = np.empty(m), [], [], np.empty(m), np.empty(m)
        lo_u, hi_u = max(nu, b - ni * dm), min(nu * dm, b - ni)
        for j in range(m):
            bu = int(np.clip(np.floor(rng.random() * b), lo_u, hi_u))
            users[j], fu, ubeta[j] = self._side(rng, nu, bu, self.user_order)
            items[j], fi, ibeta[j] = self._side(rng, ni, b - bu, self.item_order)
            shares[j] = bu / b
            ufam.append(fu)
            ifam.append(fi)
        return ActionBatch(users, items, shares, tuple(ufam), tuple(ifam), ubeta, ibeta)
