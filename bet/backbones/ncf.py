"""NCF / NeuMF (He et al., WWW 2017) on the budgeted table, as in the BET authors' code.

Two tables of width d_max: the **MLP** table follows the action's per-row sizes; the **GMF** table
gets one uniform size for every row, ``floor(kept_ratio · d_max)`` where ``kept_ratio =
Σ sizes / (d_max · n_rows)`` (as in the authors' code, who round). Both count against the budget:
the action gets half of it (``action_share = 2``), and the GMF table then keeps at most as many
parameters as the MLP table, so ``cost = Σ sizes + gmf · n_rows ≤ budget``; both are packed.
Score = ``w · [gmf_u ⊙ gmf_i ; ReLU(W [mlp_u ; mlp_i] + b)] + b₀`` (a logit).
Xavier init; L2 1e-2 on the masked rows of the batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from bet.backbones.base import Backbone, Scorer, bpr
from bet.backbones.ncf_kernel import NCFScores
from bet.budget import Action
from bet.data import Dataset
from bet.embedding import BudgetedEmbedding


class NCF(Backbone):
    name = "ncf"
    reg = 1e-2
    action_share = 2  # the action (MLP table) gets half the budget; the GMF table at most the rest
    #: how the scorer computes the MLP half of every score (:mod:`bet.backbones.ncf_kernel`)
    kernel = "auto"
    #: the kernel the last :meth:`scorer` used (``compiled`` falls back to ``tiled`` when unavailable)
    last_kernel = ""

    def __init__(self, data: Dataset, d_max: int, device: torch.device, *, generator: torch.Generator):
        super().__init__(data, d_max, device)
        self.table = BudgetedEmbedding(data.n_users, data.n_items, d_max=d_max, init="xavier", generator=generator)
        self.gmf = BudgetedEmbedding(data.n_users, data.n_items, d_max=d_max, init="xavier", generator=generator)
        self.hidden = nn.Linear(2 * d_max, d_max)
        self.out = nn.Linear(2 * d_max, 1)
        for lin in (self.hidden, self.out):
            nn.init.xavier_uniform_(lin.weight, generator=generator)
            nn.init.zeros_(lin.bias)

    def gmf_size(self, action_cost: int | None = None) -> int:
        """``floor(Σ sizes / n_rows)`` = ``floor(kept_ratio · d_max)``: the GMF table keeps at most
        as many parameters as the MLP table, so with the action at half the budget the two fit."""
        assert self.table is not None
        cost = self.table.cost if action_cost is None else action_cost
        return max(1, min(self.d_max, cost // (self.n_users + self.n_items)))

    def cost_for(self, action_cost: int) -> int:
        return action_cost + self.gmf_size(action_cost) * (self.n_users + self.n_items)

    def tables(self) -> dict[str, BudgetedEmbedding]:
        return {**super().tables(), "gmf": self.gmf}

    def set_action(self, action: Action) -> None:
        super().set_action(action)
        self.gmf.set_sizes(np.full(self.n_users + self.n_items, self.gmf_size()))

    def set_full(self) -> None:
        super().set_full()
        self.gmf.set_full()

    def _halves(self, mlp: torch.Tensor, user_rows: bool) -> torch.Tensor:
        """The hidden layer's user (``hu``) or item (``hi``, with the bias) half for MLP rows
        ``mlp``: the hidden layer is linear in ``[mlp_u ; mlp_i]``, so each half is computed per
        row, not per pair."""
        d, w = self.d_max, self.hidden.weight
        return mlp @ w[:, :d].T if user_rows else torch.addmm(self.hidden.bias, mlp, w[:, d:].T)

    def _parts(self) -> tuple[torch.Tensor, ...]:
        """Per-row pieces every score is built from, for every user and item (the scorer)."""
        assert self.table is not None
        off = self.n_users
        mlp, gmf = self.table(), self.gmf()
        hu, hi = self._halves(mlp[:off], True), self._halves(mlp[off:], False)
        gu = gmf[:off] * self.out.weight[0, : self.d_max]  # GMF output weights folded into the user side
        return mlp, gmf, hu, hi, gu, gmf[off:]

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """BPR on the batch's rows only: gather the masked rows first, then multiply (the same
        gradients as computing every row's halves and gathering, at a batch's cost instead of
        the whole table's; sums are taken in another order, so they agree to float rounding)."""
        assert self.table is not None
        d, b = self.d_max, len(users)
        rows = torch.cat([users, pos + self.n_users, neg + self.n_users])
        mlp, gmf = self.table.lookup(rows), self.gmf.lookup(rows)
        hu_b = self._halves(mlp[:b], True)
        hi_pn = self._halves(mlp[b:], False)
        gu_b = gmf[:b] * self.out.weight[0, :d]
        w_m, b0 = self.out.weight[0, d:], self.out.bias[0]

        def logit(part: slice) -> torch.Tensor:
            h = torch.relu(hu_b + hi_pn[part])
            return (gu_b * gmf[b:][part]).sum(1) + h @ w_m + b0

        main = bpr(logit(slice(0, b)), logit(slice(b, 2 * b)))
        l2 = mlp.square().sum() + gmf.square().sum()
        return main + self.reg * l2 / b

    @torch.no_grad()
    def scorer(self) -> Scorer:
        _, _, hu, hi, gu, gi = self._parts()
        scores = NCFScores((hu, hi, gu, gi), self.out.weight[0, self.d_max :], self.out.bias[0], kernel=self.kernel)
        self.last_kernel = scores.kernel
        return Scorer(fn=scores)
