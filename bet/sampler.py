"""BET's budget-aware action sampler H(·) (paper §3.2, Eqs. 4–6), made strict.

For each action: the users' share of the budget ``w ~ U(0, 1)``; for users and for items
independently one of four families (power law, truncated normal, truncated exponential,
log-normal) with its shape ``β ~ U(0, β_max]``; one draw per row, normalised within the side and
turned into integer sizes; sizes sorted and assigned by descending interaction frequency.

Where this departs from the paper / authors' code (README, "Deviations"):

* Strict budget: sizes are allocated with :func:`sorted_allocate` — the scale ``s`` with
  ``Σ clip(s·p̃, 1, d_max) = B_side`` exactly, then floors, then the leftover (< 1 per row) to the
  largest rows — instead of ``max(1, floor(p̃·w·B))``, whose clamp can overshoot the budget.
* A draw whose largest size would exceed ``d_max`` is, by default, clipped at ``d_max`` and the
  excess redistributed by the scale, so every draw is usable (at c = 0.5 most heavy-tailed draws
  exceed 128 and rejection would spin). ``redraws = k > 0`` follows the authors' code instead:
  such a side's family and β are redrawn (``w`` kept) up to ``k`` times, and only a side still
  over ``d_max`` after ``k`` redraws is clipped. ``bet reproduce`` uses ``k = 20`` (Table 1).
* ``w`` is clamped so that each side can hold ``[1, d_max]`` per row.
* The ``m`` candidates of one pool are ``m`` *distinct* actions: duplicates (common at c ≥ 0.99,
  where every family collapses onto "top rows at d_max, the rest at 1") are replaced by fresh
  draws, a bounded number of rounds; a pool that stays short holds fewer actions and says so
  (:attr:`ActionBatch.requested`).

The draws are sorted uniforms pushed through each family's inverse CDF (``scipy.stats``), which
gives the same distribution of sorted sizes as sorting i.i.d. draws, without a sort per action.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats as st

from bet.budget import D_MAX, D_MIN, Action, batch_allocate
from bet.data import Dataset
from bet.errors import BudgetError

PPF = Callable[[np.ndarray, Any], np.ndarray]


def _truncnorm_ppf(u: np.ndarray, b: Any) -> np.ndarray:
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
    requested: int = 0  # how many were asked for (more than len(self) when too few distinct exist)

    def __len__(self) -> int:
        return int(self.user_sizes.shape[0])

    def action(self, i: int) -> Action:
        return Action(self.user_sizes[i].copy(), self.item_sizes[i].copy())

    @property
    def costs(self) -> np.ndarray:
        return self.user_sizes.sum(1, dtype=np.int64) + self.item_sizes.sum(1, dtype=np.int64)


class ActionSampler:
    """Samples budget-strict table-level actions for one dataset and one integer budget."""

    #: Rounds of fresh draws that replace duplicate actions in a pool before it is returned short.
    DEDUP_ROUNDS = 8

    def __init__(
        self, user_freq: np.ndarray, item_freq: np.ndarray, budget: int, *, d_max: int = D_MAX, redraws: int = 0
    ):
        self.n_users, self.n_items, self.d_max = len(user_freq), len(item_freq), d_max
        if not (D_MIN * (self.n_users + self.n_items) <= budget):
            raise BudgetError(
                f"budget {budget:,} is below {D_MIN} dimension per row ({self.n_users + self.n_items:,} rows)"
            )
        if redraws < 0:
            raise BudgetError(f"redraws must be at least 0, got {redraws}")
        self.budget, self.redraws = int(budget), int(redraws)
        # Most frequent first; ties by index so the assignment is deterministic.
        self.user_order = np.argsort(-np.asarray(user_freq), kind="stable")
        self.item_order = np.argsort(-np.asarray(item_freq), kind="stable")

    @classmethod
    def for_data(cls, data: Dataset, budget: int, d_max: int = D_MAX, *, redraws: int = 0) -> ActionSampler:
        return cls(data.user_freq, data.item_freq, budget, d_max=d_max, redraws=redraws)

    def _draw(self, rng: np.random.Generator, n: int, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``m`` draws of ``n`` sorted log-weights (descending): (log_w, family index, β)."""
        fam = rng.integers(len(FAMILY_NAMES), size=m)
        beta_max = np.array([FAMILIES[f][1] for f in FAMILY_NAMES])[fam]
        beta = beta_max * (1.0 - rng.random(m))  # in (0, β_max]: β = 0 is degenerate
        # Sorted uniforms without a sort: normalised cumulative sums of exponential spacings.
        gaps = rng.standard_exponential((m, n + 1))
        cum = np.cumsum(gaps, axis=1)
        u = cum[:, :n] / cum[:, n:]
        log_w = np.empty((m, n))
        for k, name in enumerate(FAMILY_NAMES):  # one vectorised inverse CDF per family
            rows = np.flatnonzero(fam == k)
            if len(rows):
                draws = FAMILIES[name][0](u[rows], beta[rows, None])
                with np.errstate(divide="ignore"):
                    log_w[rows] = np.log(np.maximum(draws, 0.0))[:, ::-1]  # descending
        return np.nan_to_num(log_w, nan=-np.inf, neginf=-1e300), fam, beta

    def _over(self, log_w: np.ndarray, budgets: np.ndarray) -> np.ndarray:
        """The authors' rejection test: the largest raw size ``p̃_max · B_side`` exceeds ``d_max``."""
        top = log_w[:, 0]
        with np.errstate(under="ignore"):
            share = 1.0 / np.exp(log_w - top[:, None]).sum(axis=1)  # p̃_max = w_max / Σ w
        return np.asarray(share * budgets > self.d_max)

    def _sides(
        self, rng: np.random.Generator, n: int, budgets: np.ndarray, *, order: np.ndarray
    ) -> tuple[np.ndarray, list[str], np.ndarray]:
        m = len(budgets)
        log_w, fam, beta = self._draw(rng, n, m)
        todo = np.flatnonzero(self._over(log_w, budgets)) if self.redraws else np.empty(0, np.int64)
        for _ in range(self.redraws):  # the paper's redraw: new family and β, same w
            if len(todo) == 0:
                break
            lw, f, b = self._draw(rng, n, len(todo))
            log_w[todo], fam[todo], beta[todo] = lw, f, b
            todo = todo[self._over(log_w[todo], budgets[todo])]
        sizes_desc = batch_allocate(log_w, budgets, d_max=self.d_max)  # clips whatever is still over
        sizes = np.empty((m, n), dtype=np.int16)
        sizes[:, order] = sizes_desc
        return sizes, [FAMILY_NAMES[k] for k in fam], beta

    def _batch(self, m: int, rng: np.random.Generator) -> ActionBatch:
        nu, ni, b, dm = self.n_users, self.n_items, self.budget, self.d_max
        lo_u, hi_u = max(nu, b - ni * dm), min(nu * dm, b - ni)
        bu = np.clip(np.floor(rng.random(m) * b), lo_u, hi_u).astype(np.int64)
        users, ufam, ubeta = self._sides(rng, nu, bu, order=self.user_order)
        items, ifam, ibeta = self._sides(rng, ni, b - bu, order=self.item_order)
        return ActionBatch(users, items, bu / b, tuple(ufam), tuple(ifam), ubeta, ibeta, m)

    def sample(self, m: int, rng: np.random.Generator) -> ActionBatch:
        """``m`` distinct actions (fewer only when that many distinct ones were not found in
        :attr:`DEDUP_ROUNDS` rounds of fresh draws); the same generator state gives the same batch."""
        batch = self._batch(m, rng)
        keep = _first_of_each(batch)
        for _ in range(self.DEDUP_ROUNDS):
            if len(keep) >= m:
                break
            extra = self._batch(m - len(keep), rng)
            batch = _concat(_take(batch, keep), extra)
            keep = _first_of_each(batch)
        return dataclasses.replace(_take(batch, keep[:m]), requested=m)


def _first_of_each(batch: ActionBatch) -> np.ndarray:
    """Indices of the first occurrence of each distinct action, in order."""
    rows = np.ascontiguousarray(np.concatenate([batch.user_sizes, batch.item_sizes], axis=1))
    seen: dict[bytes, int] = {}
    for i in range(len(rows)):
        seen.setdefault(hashlib.blake2b(rows[i].tobytes(), digest_size=16).digest(), i)
    return np.array(sorted(seen.values()), dtype=np.int64)


def _take(batch: ActionBatch, idx: np.ndarray) -> ActionBatch:
    return ActionBatch(
        batch.user_sizes[idx],
        batch.item_sizes[idx],
        batch.user_share[idx],
        tuple(batch.user_family[i] for i in idx),
        tuple(batch.item_family[i] for i in idx),
        batch.user_beta[idx],
        batch.item_beta[idx],
        batch.requested,
    )


def _concat(a: ActionBatch, b: ActionBatch) -> ActionBatch:
    return ActionBatch(
        np.concatenate([a.user_sizes, b.user_sizes]),
        np.concatenate([a.item_sizes, b.item_sizes]),
        np.concatenate([a.user_share, b.user_share]),
        a.user_family + b.user_family,
        a.item_family + b.item_family,
        np.concatenate([a.user_beta, b.user_beta]),
        np.concatenate([a.item_beta, b.item_beta]),
        a.requested,
    )
