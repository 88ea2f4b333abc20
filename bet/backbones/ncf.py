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

from bet.backbones.base import Backbone, Scorer, batch_sq_norm, bpr
from bet.budget import Action
from bet.data import Dataset
from bet.embedding import BudgetedEmbedding


class NCF(Backbone):
    name = "ncf"
    reg = 1e-2
    action_share = 2  # the action (MLP table) gets half the budget; the GMF table at most the rest

    def __init__(self, data: Dataset, d_max: int, device: torch.device, generator: torch.Generator):
        super().__init__(data, d_max, device)
        self.table = BudgetedEmbedding(data.n_users, data.n_items, d_max, "xavier", generator=generator)
        self.gmf = BudgetedEmbedding(data.n_users, data.n_items, d_max, "xavier", generator=generator)
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

    def _parts(self) -> tuple[torch.Tensor, ...]:
        """Per-row pieces every score is built from (one pass over each table, not per pair):
        the hidden layer is linear in ``[mlp_u ; mlp_i]``, so both halves are precomputed."""
        assert self.table is not None
        d, off = self.d_max, self.n_users
        mlp, gmf = self.table(), self.gmf()
        w = self.hidden.weight
        hu = mlp[:off] @ w[:, :d].T  # (n_users, d)
        hi = torch.addmm(self.hidden.bias, mlp[off:], w[:, d:].T)  # (n_items, d)
        gu = gmf[:off] * self.out.weight[0, :d]  # GMF output weights folded into the user side
        return mlp, gmf, hu, hi, gu, gmf[off:]

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        mlp, gmf, hu, hi, gu, gi = self._parts()
        w_m, b0 = self.out.weight[0, self.d_max :], self.out.bias[0]
        hu_b, gu_b = hu.index_select(0, users), gu.index_select(0, users)

        def logit(items: torch.Tensor) -> torch.Tensor:
            h = torch.relu(hu_b + hi.index_select(0, items))
            return (gu_b * gi.index_select(0, items)).sum(1) + h @ w_m + b0

        main = bpr(logit(pos), logit(neg))
        rows = torch.cat([users, pos + self.n_users, neg + self.n_users])
        l2 = batch_sq_norm(mlp, rows) + batch_sq_norm(gmf, rows)
        return main + self.reg * l2 / len(users)

    @torch.no_grad()
    def scorer(self) -> Scorer:
        _, _, hu, hi, gu, gi = self._parts()
        gi_t, w_m, b0 = gi.T.contiguous(), self.out.weight[0, self.d_max :], self.out.bias[0]
        block = max(1, (1 << 24) // max(1, hi.numel()))

        @torch.no_grad()
        def score(users: torch.Tensor) -> torch.Tensor:
            out = gu[users] @ gi_t + b0
            for s in range(0, len(users), block):
                u = users[s : s + block]
                out[s : s + block] += torch.relu(hu[u].unsqueeze(1) + hi.unsqueeze(0)) @ w_m
            return out

        return Scorer(fn=score)
