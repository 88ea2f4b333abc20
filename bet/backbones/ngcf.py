"""NGCF (Wang et al., SIGIR 2019) on the budgeted table, as in the BET authors' code.

3 layers of width d_max over ``D^-1 (A + I)``: ``e' = LeakyReLU(W_gc·(L e) + W_bi·(e ⊙ L e))``
with message dropout 0.1 and node dropout 0.1 (dropping adjacency entries); the final embedding
concatenates the ego table and each layer's L2-normalised output (width 4·d_max). Xavier init;
L2 1e-3 on the final embeddings of the batch. Dropout draws from the model's own generator, so a
seed fixes the run without touching torch's global RNG.

The training step (issue 22) is one autograd node with a hand-written backward pass
(:mod:`bet.backbones.ngcf_layers`, :mod:`bet.backbones.ngcf_loss`): the same operations, dropout
draws and order of additions as autograd through the plain formulation — the same loss and
gradients, bit for bit (``tests/test_ngcf_speed.py`` keeps that formulation as its reference) —
with the intermediates in reused buffers and the normalisation, concatenation and loss on the
batch's rows only. On full Gowalla it takes 1.3–1.45× the time of its sparse and dense products
alone (``bench/ngcf_step.py``, docs/results.md).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from bet.backbones.base import Backbone, Scorer, bipartite, to_torch_csr
from bet.backbones.ngcf_layers import Layers, Workspace, ngcf_all
from bet.backbones.ngcf_loss import Loss, ngcf_loss
from bet.data import Dataset
from bet.embedding import BudgetedEmbedding


class NGCF(Backbone):
    name = "ngcf"
    finetune_epochs = 15
    layers = 3
    reg = 1e-3
    node_dropout = 0.1
    mess_dropout = 0.1

    def __init__(self, data: Dataset, d_max: int, device: torch.device, *, generator: torch.Generator):
        super().__init__(data, d_max, device)
        self.n_rows = data.n_rows
        # Dropout masks come from a generator on the model's device, seeded from the run's.
        self.drop_gen = torch.Generator(device=device)
        self.drop_gen.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))
        self._drop_start = self.drop_gen.get_state()
        self._ws = Workspace()
        self.table = BudgetedEmbedding(data.n_users, data.n_items, d_max=d_max, init="xavier", generator=generator)
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

    def random_state(self) -> dict[str, torch.Tensor]:
        return {"dropout": self.drop_gen.get_state()}

    def set_random_state(self, state: dict[str, torch.Tensor]) -> None:
        self.drop_gen.set_state(state["dropout"])

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

    def _params(self) -> list[torch.Tensor]:
        """``(W_gc, b_gc, W_bi, b_bi)`` of every layer, in order."""
        out: list[torch.Tensor] = []
        for gc, bi in zip(self.w_gc, self.w_bi, strict=True):
            assert isinstance(gc, nn.Linear) and isinstance(bi, nn.Linear)
            out += [gc.weight, gc.bias, bi.weight, bi.bias]
        return out

    def _draw(self, out: torch.Tensor) -> torch.Tensor:
        return torch.rand(out.shape, generator=self.drop_gen, out=out)

    def train(self, mode: bool = True) -> NGCF:
        if not mode:
            self._ws.clear()  # the step's buffers: kept while training, let go when it stops
        return super().train(mode)

    def embeddings(self) -> torch.Tensor:
        """Final embeddings ``(n_users + n_items, 4·d_max)`` without dropout (scoring)."""
        assert self.table is not None
        return ngcf_all(self.adj, self.table(), self._params())

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        """BPR + L2 on the final embeddings of the batch. Only the rows the batch touches are
        normalised and concatenated; the loss is the same sum, term for term, as over the whole
        ``(n_rows, 4·d_max)`` table."""
        assert self.table is not None
        a, a_t = self._dropped_adj() if self.training else (self.adj, self.adj_t)
        draw = self._draw if self.training else None
        rows = torch.cat([users, pos + self.n_users, neg + self.n_users])
        uniq, inv = torch.unique(rows, return_inverse=True)
        ws = self._ws if self.training else Workspace()
        # batch_sq_norm's dot over all n_rows, with the untouched rows' (zero-weighted) terms 0
        counts = torch.bincount(rows, minlength=self.n_rows).to(self.table.weight.dtype)
        layers = Layers(self.table.mask, (a, a_t), draw=draw, p=self.mess_dropout)
        return ngcf_loss(
            self.table.weight, self._params(), uniq, layers=layers, loss=Loss(uniq, inv, counts, reg=self.reg), ws=ws
        )

    @torch.no_grad()
    def scorer(self) -> Scorer:
        final = self.embeddings()
        return Scorer(users=final[: self.n_users], items=final[self.n_users :])
