"""LightGCN (He et al., SIGIR 2020) on the budgeted table, as in the BET authors' code.

3 propagation layers over ``D^-1/2 A D^-1/2`` (no self-loop), final embedding = mean of layers
0..3; the masked ego table is what propagates. Init N(0, 0.01²); L2 1e-4 on the masked ego rows.
"""

from __future__ import annotations

from contextlib import AbstractContextManager

import numpy as np
import scipy.sparse as sp
import torch

from bet.backbones.base import Backbone, Scorer, batch_sq_norm, bipartite, dot_bpr, propagate_mean, to_torch_csr
from bet.data import Dataset
from bet.embedding import BudgetedEmbedding


class LightGCN(Backbone):
    name = "lightgcn"
    layers = 3
    reg = 1e-4

    def __init__(self, data: Dataset, d_max: int, device: torch.device, *, generator: torch.Generator):
        super().__init__(data, d_max, device)
        self.table = BudgetedEmbedding(
            data.n_users, data.n_items, d_max=d_max, init="normal", std=0.01, generator=generator
        )
        a = bipartite(data)
        deg = np.asarray(a.sum(axis=1)).ravel()
        d = np.divide(1.0, np.sqrt(deg), out=np.zeros_like(deg), where=deg > 0)
        norm = sp.diags(d) @ a @ sp.diags(d)
        self.adj = to_torch_csr(norm, device)  # symmetric: it is its own transpose

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(final ``(n_users + n_items, w)``, masked ego table ``(n_users + n_items, w)``), ``w`` the
        widest row's size: propagation and dot products act per column, and the columns beyond
        ``w`` are zero everywhere, so they are left out (same model, ~128/w times less work)."""
        assert self.table is not None
        ego = self.table.narrow()
        return propagate_mean(self.adj, ego, self.layers), ego

    def training_parameters(self) -> AbstractContextManager[None]:
        assert self.table is not None
        return self.table.narrow_parameter()  # only narrow() is used: train the used columns only

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        final, ego = self.embeddings()
        pos_rows, neg_rows = pos + self.n_users, neg + self.n_users
        main = dot_bpr(final, users=users, pos_rows=pos_rows, neg_rows=neg_rows)
        l2 = batch_sq_norm(ego, torch.cat([users, pos_rows, neg_rows]))
        return main + self.reg * l2 / len(users)

    @torch.no_grad()
    def scorer(self) -> Scorer:
        final, _ = self.embeddings()
        return Scorer(users=final[: self.n_users], items=final[self.n_users :])
