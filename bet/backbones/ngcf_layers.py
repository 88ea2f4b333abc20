"""NGCF's graph layers, forward and backward by hand (one autograd node with :mod:`ngcf_loss`).

Per layer, for the ego rows ``e`` and ``s = L e`` (``L`` the dropped-out ``D^-1 (A + I)``)::

    h = (s W_gcᵀ + b_gc) + ((e ⊙ s) W_biᵀ + b_bi)
    z = LeakyReLU(h, 0.2) ⊙ keep / (1 − p)        (message dropout while training)

the same operations in the same order as ``nn.Linear`` / ``leaky_relu`` / the dropout product
under autograd, so the forward values are the same bits. What the node saves is cheaper:

* dropout is applied in place to the LeakyReLU output, and its mask is the ``uniform_`` draw
  turned into 0/1 in place (no bool mask, no bool→float copy); the draws are the same calls on
  the same generator in the same order, so the random stream is unchanged;
* the LeakyReLU backward reads the sign of ``z`` itself (``z`` and ``h`` agree in sign wherever
  ``keep`` is 1, and the gradient is 0 wherever it is 0), so ``h`` is not kept;
* only the rows a batch touches leave the node (``rows``): the row-wise L2 normalisation and
  the 4·d_max-wide concatenation are done on those rows only, not on all 70k;
* both biases get the one ``gh.sum(0)``; sparse products run on the ``spmm`` thread count
  (row-parallel: the same bits on 1 or 2 threads), the dense ones on the caller's;
* sparse products write into a buffer (``addmm(out, A, x, beta=0)``: ``torch.sparse.mm``'s
  kernel and bits without its zero-filled result and copy, ~20 % of each product);
* every full-size intermediate comes from a :class:`Workspace` and goes back to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from bet.runtime import torch_threads

Draw = Callable[[torch.Tensor], torch.Tensor]


class Workspace:
    """Reused buffers. On this machine a fresh 36 MB tensor costs ~14 ms of page faults before
    its first write, a pass over a mapped one ~1–2 ms (measured): the step's ~30 full-size and
    ~40 batch-size intermediates would spend more on faults than on arithmetic. Buffers are
    handed back once read for the last time and live on between steps (a batch's row count
    varies: a buffer serves any size up to its own); :meth:`clear` lets them go (NGCF does on
    ``eval``)."""

    def __init__(self) -> None:
        self.free: list[torch.Tensor] = []  # flat

    def take(self, like: torch.Tensor, shape: Sequence[int] | None = None) -> torch.Tensor:
        """An uninitialised contiguous tensor of ``shape`` (default ``like``'s), ``like``'s dtype:
        a free buffer of at most 1.25× its size, else a new one with 1/16 to spare (a batch's
        unique rows vary by a few per cent from step to step)."""
        shape = tuple(like.shape if shape is None else shape)
        n = math.prod(shape)
        fits = [
            i
            for i, t in enumerate(self.free)
            if n <= t.numel() <= n * 1.25 and t.dtype == like.dtype and t.device == like.device
        ]
        flat = self.free.pop(min(fits, key=lambda i: self.free[i].numel())) if fits else like.new_empty(n + n // 16)
        return flat[:n].view(shape)

    def give(self, *ts: torch.Tensor | None) -> None:
        for t in ts:
            if t is not None:
                base = t if t._base is None else t._base
                if any(f is base for f in self.free):
                    raise RuntimeError("a workspace buffer was handed back twice")
                self.free.append(base)

    def clear(self) -> None:
        self.free.clear()


def sparse_mm(a: torch.Tensor, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``a @ x`` into ``out``: torch.sparse.mm's kernel and bits, without its zero-fill and copy."""
    with torch_threads("spmm"):
        return torch.addmm(out, a, x, beta=0, out=out)


def layer(
    a: torch.Tensor, e: torch.Tensor, params: Sequence[torch.Tensor], *, draw: Draw | None, p: float, ws: Workspace
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """One layer without autograd: ``(z, s, e ⊙ s, dropout mask or None)``, all from ``ws``."""
    w_gc, b_gc, w_bi, b_bi = params
    s = sparse_mm(a, e, ws.take(e))
    es = torch.mul(e, s, out=ws.take(e))
    z = torch.addmm(b_gc, s, w_gc.t(), out=ws.take(e))
    t = torch.addmm(b_bi, es, w_bi.t(), out=ws.take(e))
    z.add_(t)
    ws.give(t)
    nn.functional.leaky_relu_(z, 0.2)
    mask = None
    if draw is not None:
        mask = draw(ws.take(e)).ge_(p)  # (keep >= p) as 0./1., in the draw's own storage
        z.mul_(mask).div_(1 - p)
    return z, s, es, mask


class Layers:
    """The graph layers' forward pass on every row and, from the gradients of the rows that
    leave them, their backward pass: ``e0 = weight ⊙ mask``, the layers' ``(W_gc, b_gc, W_bi,
    b_bi)`` in ``params``; ``adj`` the propagation matrix and its transpose, ``draw`` fills a
    tensor with dropout draws (``None``: no message dropout).

    The backward pass adds each gradient's terms in the order autograd's engine adds them for
    the plain formulation (``(x + y) + z``, never fused multiply-adds), so the gradients are the
    same bits too (checked in ``tests/test_ngcf_speed.py``)."""

    def __init__(self, mask: torch.Tensor, adj: tuple[torch.Tensor, torch.Tensor], *, draw: Draw | None, p: float):
        self.mask, self.adj, self.draw, self.p = mask, adj, draw, p

    def forward(
        self, weight: torch.Tensor, rows: torch.Tensor, params: Sequence[torch.Tensor], *, ws: Workspace
    ) -> list[torch.Tensor]:
        """``[e0[rows], z_1[rows], z_1[rows], …]``: each layer's rows twice, for the numerator
        and the norm of its L2 normalisation, whose gradients autograd keeps apart."""
        e = torch.mul(weight, self.mask, out=ws.take(weight))
        shape = (len(rows), weight.shape[1])
        self.saved, outs = [], [torch.index_select(e, 0, rows, out=ws.take(e, shape))]
        for k in range(len(params) // 4):
            z, s, es, drop = layer(self.adj[0], e, params[4 * k : 4 * k + 4], draw=self.draw, p=self.p, ws=ws)
            self.saved.append((e, s, es, drop, z))
            outs += [torch.index_select(z, 0, rows, out=ws.take(z, shape)) for _ in range(2)]
            e = z
        self.rows, self.params = rows, params
        return outs

    def backward(self, grads: list[torch.Tensor], ws: Workspace) -> list[torch.Tensor]:
        """The gradients of ``weight`` and of ``params``, from those of :meth:`forward`'s rows
        (handed back to ``ws`` once added in)."""
        rows, out = self.rows, list[torch.Tensor]()
        g: torch.Tensor | None = None  # d loss / d z_k from layer k + 1: (e ⊙ s term + spmm term)
        for k in reversed(range(len(self.saved))):
            e, s, es, drop, z = self.saved.pop()
            w_gc, _, w_bi, _ = self.params[4 * k : 4 * k + 4]
            gz = ws.take(z).zero_() if g is None else g
            gz.index_add_(0, rows, grads[1 + 2 * k]).index_add_(0, rows, grads[2 + 2 * k])
            ws.give(grads[1 + 2 * k], grads[2 + 2 * k])
            if drop is not None:
                gz.div_(1 - self.p).mul_(drop)
            gh = torch.ops.aten.leaky_relu_backward.grad_input(gz, z, 0.2, True, grad_input=ws.take(z))
            ws.give(gz, z, drop)
            gb = gh.sum(0)
            out = [gh.t().mm(s), gb, gh.t().mm(es), gb.clone(), *out]
            ges = torch.mm(gh, w_bi, out=ws.take(e))
            gs = torch.mm(gh, w_gc, out=ws.take(e))
            tmp = torch.mul(ges, e, out=es)  # es is not read again
            gs.add_(tmp)
            ws.give(gh, tmp)
            ges.mul_(s)  # the e ⊙ s term of d/de
            if k > 0:
                g = sparse_mm(self.adj[1], gs, s).add_(ges)  # s is not read again either
            else:  # e0 also feeds the final table directly: that gradient came first
                g = e.zero_().index_add_(0, rows, grads[0]).add_(ges).add_(sparse_mm(self.adj[1], gs, s))
                g = torch.mul(g, self.mask)  # e0 = weight ⊙ mask: the weight's gradient (its own memory)
                ws.give(e, s)
            ws.give(gs, ges)
        assert g is not None
        return [g, *out]


@torch.no_grad()
def ngcf_all(a: torch.Tensor, e0: torch.Tensor, params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Final embeddings of every row, no dropout, no autograd (scoring)."""
    outs, e = [e0], e0
    for k in range(len(params) // 4):
        e = layer(a, e, params[4 * k : 4 * k + 4], draw=None, p=0.0, ws=Workspace())[0]
        outs.append(nn.functional.normalize(e, p=2, dim=1))
    return torch.cat(outs, dim=1)
