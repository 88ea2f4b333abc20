"""NGCF's step as one autograd node: the graph layers (:mod:`bet.backbones.ngcf_layers`) and the
loss on the batch's rows — L2 normalisation of each layer's rows, the ``[e0 | z_1 | … | z_L]``
concatenation, BPR (:class:`~bet.backbones.base._DotBPR`'s own arithmetic) and the L2 term —
with a hand-written backward pass.

Under autograd the loss's ~25 small steps each allocated a fresh ``(rows × 4·d_max)`` or
``(rows × d_max)`` tensor (on full Gowalla 13–51 MB, each page-faulted afresh: ~5–20 ms before
the first write), and their gradients as many again. Here the intermediates come from the
model's :class:`~bet.backbones.ngcf_layers.Workspace` and each gradient is the formula
autograd's derivative uses (``DivBackward0``, ``LinalgVectorNormBackward0``,
``ClampMinBackward0``, ``CatBackward0``, ``MulBackward0`` …), with the terms of a sum added in
the order autograd's engine adds them: the same bits (``tests/test_ngcf_speed.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from bet.backbones.base import _DotBPR
from bet.backbones.ngcf_layers import Layers, Workspace

EPS = 1e-12  # nn.functional.normalize's default


class _Saved:
    """Stands in for autograd's ``ctx`` when ``_DotBPR``'s forward and backward are called here."""

    saved_tensors: tuple[torch.Tensor, ...]
    shape: Any

    def save_for_backward(self, *ts: torch.Tensor) -> None:
        self.saved_tensors = ts


class Loss:
    """``BPR(final) + reg · Σ_b ‖final[rows_b]‖² / B`` for ``final = [e0r | norm(z_1) | …]`` over
    the unique rows ``uniq`` (``inv`` maps the batch's users, positives, negatives to them;
    ``counts`` how often each of ``n_rows`` rows occurs)."""

    def __init__(self, uniq: torch.Tensor, inv: torch.Tensor, counts: torch.Tensor, *, reg: float):
        self.uniq, self.inv, self.counts, self.reg = uniq, inv, counts, reg

    def forward(self, parts: list[torch.Tensor], ws: Workspace) -> torch.Tensor:
        e0r, zs = parts[0], parts[1:]
        (n_uniq, d), b = e0r.shape, len(self.inv) // 3
        final = ws.take(e0r, (n_uniq, d * (1 + len(zs) // 2)))
        final[:, :d].copy_(e0r)
        self.norms = []
        for k in range(len(zs) // 2):
            n = zs[2 * k + 1].norm(2, 1, True)
            dn = n.clamp_min(EPS)
            torch.div(zs[2 * k], dn.expand_as(zs[2 * k]), out=final[:, (k + 1) * d : (k + 2) * d])
            self.norms.append((n, dn))
        self.bpr = _Saved()
        inv = self.inv
        main = _DotBPR.forward(self.bpr, final, inv[:b], inv[b : 2 * b], inv[2 * b :])
        sq = torch.zeros(len(self.counts), dtype=final.dtype, device=final.device)
        squares = torch.mul(final, final, out=ws.take(final))
        sq.index_put_((self.uniq,), squares.sum(1))
        ws.give(squares)
        self.final, self.parts, self.b = final, parts, b
        return main + self.reg * (sq @ self.counts) / b

    def backward(self, grad: torch.Tensor, ws: Workspace) -> list[torch.Tensor]:
        """The gradients of ``parts``: the first a view into a buffer to hand back after use
        (:attr:`gf`), the others ``ws``'s to hand back."""
        final, zs = self.final, self.parts[1:]
        g_sq = ((grad / self.b) * self.reg) * self.counts  # Add → Div → Mul → Dot
        g_exp = g_sq[self.uniq].unsqueeze(1).expand_as(final)  # IndexPut → Sum
        gf = torch.mul(g_exp, final, out=ws.take(final))  # Mul of final by itself: two terms…
        gf.add_(gf).add_(_DotBPR.backward(self.bpr, grad)[0])  # …added, then BPR's
        d = final.shape[1] // (1 + len(self.norms))
        out: list[torch.Tensor] = [gf[:, :d]]
        for k, (n, dn) in enumerate(self.norms):
            za, zb = zs[2 * k], zs[2 * k + 1]
            g_y, dexp = gf[:, (k + 1) * d : (k + 2) * d], dn.expand_as(za)
            t = torch.div(za, dexp, out=ws.take(za)).div_(dexp)
            neg = torch.neg(g_y, out=ws.take(za)).mul_(t)
            g_n = torch.where(n >= EPS, neg.sum(1, keepdim=True), torch.zeros((), dtype=neg.dtype, device=neg.device))
            ws.give(neg)
            out += [torch.div(g_y, dexp, out=ws.take(za)), torch.div(zb, n, out=t).masked_fill_(n == 0, 0).mul_(g_n)]
        ws.give(final, *self.parts)
        self.gf = gf
        return out


class NGCFStep(torch.autograd.Function):
    """The step's loss from the table's ``weight`` and the layers' ``params``."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, layers: Layers, loss: Loss, rows: torch.Tensor, ws: Workspace, weight: torch.Tensor, *params: torch.Tensor
    ) -> torch.Tensor:
        ctx.layers, ctx.loss, ctx.ws = layers, loss, ws
        return loss.forward(layers.forward(weight, rows, params, ws=ws), ws)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:  # type: ignore[override]
        grads = ctx.loss.backward(grad, ctx.ws)
        out = ctx.layers.backward(grads, ctx.ws)
        ctx.ws.give(ctx.loss.gf)
        return (None, None, None, None, *out)


def ngcf_loss(
    weight: torch.Tensor,
    params: Sequence[torch.Tensor],
    rows: torch.Tensor,
    *,
    layers: Layers,
    loss: Loss,
    ws: Workspace,
) -> torch.Tensor:
    return NGCFStep.apply(layers, loss, rows, ws, weight, *params)  # type: ignore[no-any-return]
