"""The backbone contract shared by training, evaluation and the search.

A backbone owns a :class:`~bet.embedding.BudgetedEmbedding` (``table``; ``None`` for ``pop``) and
implements two verbs:

* ``loss(users, pos, neg)`` — BPR loss plus the backbone's L2 term, for int64 index tensors of
  equal length ``(B,)``; a scalar tensor.
* ``scorer()`` — a :class:`Scorer` built without gradients: ``scorer(users)`` returns the
  ``(len(users), n_items)`` scores used for full ranking. Build it once per evaluation.

Actions are adopted with ``set_action`` (masks rewritten in place); ``set_full`` restores d_max.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from bet.budget import Action
from bet.data import Dataset
from bet.embedding import BudgetedEmbedding
from bet.runtime import torch_threads


class Scorer:
    """Scores of users against all items, ``(len(users), n_items)``.

    Dot-product backbones pass ``users`` ``(n_users, d)`` and ``items`` ``(n_items, d)`` so that
    evaluation can run its own blocked matmul into a reused buffer; others pass ``fn``.
    """

    def __init__(
        self,
        users: torch.Tensor | None = None,
        items: torch.Tensor | None = None,
        fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        if fn is None and (users is None or items is None):
            raise ValueError("a Scorer needs embeddings or a function")
        self.users, self.items, self.fn = users, items, fn

    def __call__(self, users: torch.Tensor) -> torch.Tensor:
        if self.fn is not None:
            return self.fn(users)
        assert self.users is not None and self.items is not None
        return self.users[users] @ self.items.T


class Backbone(nn.Module):
    name: ClassVar[str] = ""
    #: Whether ``loss`` has parameters to train (``pop`` has none).
    trainable: ClassVar[bool] = True
    #: Finetune epochs in the search (paper §4.3: 15 for NGCF, 10 otherwise).
    finetune_epochs: ClassVar[int] = 10
    #: The action gets ``budget // action_share`` parameters; the rest pays for what the backbone
    #: derives from it (NCF: its GMF table), so :meth:`cost_of` never exceeds the budget.
    action_share: ClassVar[int] = 1
    table: BudgetedEmbedding | None

    def __init__(self, data: Dataset, d_max: int, device: torch.device):
        super().__init__()
        self.n_users, self.n_items, self.d_max = data.n_users, data.n_items, d_max
        self.device = device

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def scorer(self) -> Scorer:
        raise NotImplementedError

    def set_action(self, action: Action) -> None:
        if self.table is not None:
            self.table.set_action(action)

    def set_full(self) -> None:
        if self.table is not None:
            self.table.set_full()

    def reset_randomness(self) -> None:
        """Restart the model's own random streams (NGCF's dropout) from where construction left
        them: every candidate finetuned on this model then sees the same dropout masks (common
        random numbers), whatever was finetuned on it before."""

    def random_state(self) -> dict[str, torch.Tensor]:
        """The model's own random streams where they are now (what a training snapshot keeps:
        :mod:`bet.checkpoint`); empty for a model without any."""
        return {}

    def set_random_state(self, state: dict[str, torch.Tensor]) -> None:
        """Put the streams back where :meth:`random_state` found them."""

    def training_parameters(self) -> AbstractContextManager[None]:
        """Context in which the optimiser is built and training runs: the parameters to train
        may be a cheaper but equivalent view (LightGCN: the table's used columns only)."""
        return nullcontext()

    @property
    def cost(self) -> int:
        """Parameters the budget counts: the kept entries of every user/item embedding table."""
        return sum(t.cost for t in self.tables().values())

    def cost_of(self, action: Action) -> int:
        """What :attr:`cost` would be with ``action`` adopted (every table it sizes)."""
        return self.cost_for(action.cost)

    def cost_for(self, action_cost: int) -> int:
        """:meth:`cost_of` from the action's own cost ``Σ sizes`` (all it depends on)."""
        return action_cost

    def tables(self) -> dict[str, BudgetedEmbedding]:
        """Every budgeted embedding table by name (``table`` first): what is counted and packed."""
        return {} if self.table is None else {"table": self.table}


def to_torch_csr(m: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    m = m.tocsr().astype(np.float32)
    m.sort_indices()
    with warnings.catch_warnings():  # "CSR support is in beta": it is the fastest kernel here
        warnings.simplefilter("ignore", UserWarning)
        # int32 indices where they fit: the sparse kernel otherwise converts the 1M-entry index
        # arrays on every product (measured: ~6 % of a 29-column product on full Gowalla)
        index = np.int32 if m.nnz < 2**31 - 1 else np.int64
        return torch.sparse_csr_tensor(
            torch.from_numpy(m.indptr.astype(index)),
            torch.from_numpy(m.indices.astype(index)),
            torch.from_numpy(m.data),
            size=m.shape,
            device=device,
        )


def bipartite(data: Dataset) -> sp.csr_matrix:
    """The symmetric ``(n_rows, n_rows)`` user–item adjacency of the training interactions."""
    r = data.train
    return sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)


class _SpMM(torch.autograd.Function):
    """``A @ X`` for a fixed sparse ``A``; the backward pass is ``Aᵀ @ grad`` with a precomputed
    ``Aᵀ`` (torch's own sparse backward is far slower on CPU)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, a_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.a_t = a_t
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, None, torch.Tensor]:  # type: ignore[override]
        return None, None, torch.sparse.mm(ctx.a_t, grad)


def spmm(a: torch.Tensor, a_t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return _SpMM.apply(a, a_t, x)  # type: ignore[no-any-return]


def _layer_mean(a: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:
    out, y = x.clone(), x
    with torch_threads("spmm"):  # row-parallel: the same bits on 1 or 2 threads, ~1.8x faster on 2
        for _ in range(layers):
            y = torch.sparse.mm(a, y)
            out.add_(y)
    return out.mul_(1.0 / (layers + 1))


class _Propagate(torch.autograd.Function):
    """``mean(X, AX, A²X, …, AᴸX)`` for a fixed *symmetric* ``A``: the map is self-adjoint, so
    the backward pass is the same computation on the gradient. One fused node instead of a chain
    of autograd adds (2× faster per LightGCN step on CPU)."""

    @staticmethod
    def forward(ctx, a: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:  # type: ignore[override]
        ctx.a, ctx.layers = a, layers
        return _layer_mean(a, x, layers)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[None, torch.Tensor, None]:  # type: ignore[override]
        return None, _layer_mean(ctx.a, grad.contiguous(), ctx.layers), None


def propagate_mean(a_symmetric: torch.Tensor, x: torch.Tensor, layers: int) -> torch.Tensor:
    return _Propagate.apply(a_symmetric, x, layers)  # type: ignore[no-any-return]


class _DotBPR(torch.autograd.Function):
    """Mean ``softplus(−(s(u, i⁺) − s(u, i⁻)))`` with dot-product scores on rows of one
    embedding matrix; the backward pass scatters straight into a dense gradient with
    ``index_add_`` (cheaper on CPU than autograd's indexing backward)."""

    @staticmethod
    def forward(ctx, emb: torch.Tensor, u: torch.Tensor, p: torch.Tensor, n: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        eu, diff = emb.index_select(0, u), emb.index_select(0, p).sub_(emb.index_select(0, n))
        x = (eu * diff).sum(1)
        ctx.save_for_backward(u, p, n, eu, diff, x)
        ctx.shape = emb.shape
        return nn.functional.softplus(-x).mean()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:  # type: ignore[override]
        u, p, n, eu, diff, x = ctx.saved_tensors
        gx = (torch.sigmoid(-x) * (-grad / len(x))).unsqueeze(1)
        out = torch.zeros(ctx.shape, dtype=eu.dtype, device=eu.device)
        out.index_add_(0, u, diff.mul_(gx))
        gi = eu.mul_(gx)
        out.index_add_(0, p, gi)
        out.index_add_(0, n, gi, alpha=-1)
        return out, None, None, None


def dot_bpr(emb: torch.Tensor, *, users: torch.Tensor, pos_rows: torch.Tensor, neg_rows: torch.Tensor) -> torch.Tensor:
    """BPR loss for rows of ``emb`` ``(n_rows, d)``; positives/negatives are *row* indices."""
    return _DotBPR.apply(emb, users, pos_rows, neg_rows)  # type: ignore[no-any-return]


def batch_sq_norm(emb: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """``Σ_b ‖emb[rows_b]‖²`` as a row-count-weighted sum: one pass over ``emb`` instead of
    gathering every batch row."""
    counts = torch.bincount(rows, minlength=emb.shape[0]).to(emb.dtype)
    return (emb * emb).sum(1) @ counts


def bpr(pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """Mean ``−ln σ(pos − neg)``, written as softplus for numerical stability."""
    return nn.functional.softplus(neg - pos).mean()
