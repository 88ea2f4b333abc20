"""NGCF (Wang et al., SIGIR 2019) on the budgeted table, as in the BET authors' code.

3 layers of width d_max over ``D^-1 (A + I)``: ``e' = LeakyReLU(W_gc·(L e) + W_bi·(e ⊙ L e))``
with message dropout 0.1 and node dropout 0.1 (dropping adjacency entries); the final embedding
concatenates the ego table and each layer's L2-normalised output (width 4·d_max). Xavier init;
L2 1e-3 on the final embeddings of the batch. Dropout draws from the model's own generator, so a
seed fixes the run without touching torch's global RNG.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from bet.backbones.base import Backbone, Scorer, batch_sq_norm, bipartite, dot_bpr, spmm, to_torch_csr
from bet.data import Dataset
from bet.embedding import BudgetedEmbedding


class NGCF(Backbone):
    name = "ngcf"
    finetune_epochs = 15
    layers = 3
    reg = 1e-3
    node_dropout = 0.1
    mess_dropout = 0.1

    def __init__(self, data: Dataset, d_max: int, device: torch.device, generator: torch.Generator):
        super().__init__(data, d_max, device)
        # Dropout masks come from a generator on the model's device, seeded from the run's.
        self.drop_gen = torch.Generator(device=device)
        self.drop_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        self._drop_start = self.drop_gen.get_state()
        self.table = BudgetedEmbedding(data.n_users, data.n_items, d_max, "xavier", generator=generator)
        self.w_gc = nn.ModuleList(nn.Linear(d_max, d_max) for _ in range(self.layers))
        self.w_bi = nn.ModuleList(nn.Linear(d_max, d_max) for _ in range(self.layers))
        for lin in [*self.w_gc, *self.w_bi]:
            nn.init.xavier_uniform_(lin.weight, generator=generator)
            nn.init.zeros_(lin.bias)
        a = bipartite(data) + sp.eye(data.n_rows, dtype=np.float32, format="csr")
        deg = np.asarray(a.sum(axis=1)).ravel()
        norm = (sp.diags(1.0 / deg) @ a).tocsr().astype(np.float32)
        norm.sort_indices()
        self.adj = to_torch_csr(norm, device)
        # Aᵀ shares A's entries in another order: perm maps them, so a dropped-out A gives its
        # transpose without a sparse transpose per step.
        coo = norm.tocoo()
        order = np.lexsort((coo.row, coo.col))
        t = sp.csr_matrix((coo.data[order], (coo.col[order], coo.row[order])), shape=norm.shape)
        t.sort_indices()
        self.adj_t = to_torch_csr(t, device)
        self.perm = torch.from_numpy(order.astype(np.int64)).to(device)

    def reset_randomness(self) -> None:
        self.drop_gen.set_state(self._drop_start)

    def _dropped_adj(self) -> tuple[torch.Tensor, torch.Tensor]:
        vals = self.adj.values()
        keep = torch.rand(vals.shape, generator=self.drop_gen, device=vals.device)
        new = vals * (keep >= self.node_dropout) / (1 - self.node_dropout)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            a = torch.sparse_csr_tensor(self.adj.crow_indices(), self.adj.col_indices(), new, self.adj.shape)
            a_t = torch.sparse_csr_tensor(
                self.adj_t.crow_indices(), self.adj_t.col_indices(), new[self.perm], self.adj.shape
            )
        return a, a_t

    def embeddings(self) -> torch.Tensor:
        """Final embeddings ``(n_users + n_items, 4·d_max)``."""
        assert self.table is not None
        a, a_t = self._dropped_adj() if self.training else (self.adj, self.adj_t)
        ego = self.table()
        outs = [ego]
        for gc, bi in zip(self.w_gc, self.w_bi, strict=True):
            side = spmm(a, a_t, ego)
            ego = nn.functional.leaky_relu(gc(side) + bi(ego * side), 0.2)
            if self.training:
                keep = torch.rand(ego.shape, generator=self.drop_gen, device=ego.device)
                ego = ego * (keep >= self.mess_dropout) / (1 - self.mess_dropout)
            outs.append(nn.functional.normalize(ego, p=2, dim=1))
        return torch.cat(outs, dim=1)

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        final = self.embeddings()
        pos_rows, neg_rows = pos + self.n_users, neg + self.n_users
        main = dot_bpr(final, users, pos_rows, neg_rows)
        l2 = batch_sq_norm(final, torch.cat([users, pos_rows, neg_rows]))
        return main + self.reg * l2 / len(users)

    @torch.no_grad()
    def scorer(self) -> Scorer:
        was = self.training
        self.eval()
        final = self.embeddings()
        self.train(was)
        return Scorer(users=final[: self.n_users], items=final[self.n_users :])
