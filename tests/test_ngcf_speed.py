"""Issue 22 part 2: NGCF's faster training step computes what the plain autograd formulation did.

``reference_loss`` is NGCF's step as it was written before (autograd through every operation:
dropped-out adjacency, ``nn.Linear`` layers, bool-mask message dropout, L2 normalisation and the
4·d_max-wide concatenation over all rows, BPR and L2 on the whole final table); the model's own
``loss`` must give the same loss and the same gradients from the same dropout draws.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from bet.backbones import make_backbone
from bet.backbones.base import batch_sq_norm, dot_bpr, spmm
from bet.backbones.ngcf import NGCF
from bet.data import Dataset
from bet.train import BPRSampler, TrainConfig, fit


def reference_embeddings(model: NGCF) -> torch.Tensor:
    """The old ``NGCF.embeddings``: every row, autograd through each step."""
    assert model.table is not None
    a, a_t = model._dropped_adj() if model.training else (model.adj, model.adj_t)  # unchanged
    ego = model.table()
    outs = [ego]
    for gc, bi in zip(model.w_gc, model.w_bi, strict=True):
        side = spmm(a, a_t, ego)
        ego = nn.functional.leaky_relu(gc(side) + bi(ego * side), 0.2)
        if model.training:
            keep = torch.rand(ego.shape, generator=model.drop_gen)
            ego = ego * (keep >= model.mess_dropout) / (1 - model.mess_dropout)
        outs.append(nn.functional.normalize(ego, p=2, dim=1))
    return torch.cat(outs, dim=1)


def reference_loss(model: NGCF, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    final = reference_embeddings(model)
    pos_rows, neg_rows = pos + model.n_users, neg + model.n_users
    main = dot_bpr(final, users=users, pos_rows=pos_rows, neg_rows=neg_rows)
    l2 = batch_sq_norm(final, torch.cat([users, pos_rows, neg_rows]))
    return main + model.reg * l2 / len(users)


def grads(model: NGCF, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss.backward()
    return {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}


def twin(data: Dataset, sparsity: float | None) -> NGCF:
    model = make_backbone("ngcf", data, seed=3)  # the same seed: the same weights and streams
    assert isinstance(model, NGCF)
    if sparsity is not None:
        from bet.baselines import baseline_action

        model.set_action(baseline_action("mde", data, sparsity, seed=0))
    model.train()
    return model


def twins(data: Dataset, sparsity: float | None) -> tuple[NGCF, NGCF]:
    return twin(data, sparsity), twin(data, sparsity)


@pytest.mark.parametrize("sparsity", [None, 0.9])
def test_step_matches_the_autograd_formulation(mini: Dataset, sparsity: float | None) -> None:
    """Same dropout draws, the same loss and the same gradients, bit for bit, for three seeded
    steps, with the full table and a masked one."""
    new, old = twins(mini, sparsity)
    sampler = BPRSampler(mini.train, 256, np.random.default_rng(0))
    for _ in range(3):
        u, p, n = (torch.from_numpy(x) for x in sampler.sample())
        got, want = new.loss(u, p, n), reference_loss(old, u, p, n)
        assert float(got.detach()) == float(want.detach())
        g_new, g_old = grads(new, got), grads(old, want)
        assert g_new.keys() == g_old.keys() and len(g_new) == 1 + 4 * NGCF.layers
        for k in g_new:
            assert torch.equal(g_new[k], g_old[k]), k
        # the dropout streams moved by the same draws
        assert torch.equal(new.drop_gen.get_state(), old.drop_gen.get_state())
        # the masked-out table entries still get no gradient
        assert bool((g_new["table.weight"][new.table.mask == 0] == 0).all())  # type: ignore[union-attr]


def test_duplicate_rows_and_tiny_batches(mini: Dataset) -> None:
    """A user drawn twice, an item that is both positive and negative, a batch of one."""
    new, old = twins(mini, None)
    cases = [
        (torch.tensor([0, 0, 5]), torch.tensor([1, 1, 2]), torch.tensor([1, 3, 2])),
        (torch.tensor([7]), torch.tensor([4]), torch.tensor([9])),
    ]
    for u, p, n in cases:
        got, want = new.loss(u, p, n), reference_loss(old, u, p, n)
        assert float(got.detach()) == float(want.detach())
        g_new, g_old = grads(new, got), grads(old, want)
        for k in g_new:
            assert torch.equal(g_new[k], g_old[k]), k


def test_eval_loss_and_scores_match(mini: Dataset) -> None:
    """Without dropout (eval mode) the loss and the scorer's embeddings are the old ones."""
    new, old = twins(mini, 0.8)
    new.eval(), old.eval()
    u, p, n = torch.arange(0, 300), torch.arange(0, 300) % mini.n_items, torch.arange(7, 307) % mini.n_items
    assert float(new.loss(u, p, n)) == float(reference_loss(old, u, p, n))
    with torch.no_grad():
        assert torch.equal(new.embeddings(), reference_embeddings(old))
    before = new.drop_gen.get_state()
    new.scorer()
    assert torch.equal(new.drop_gen.get_state(), before)  # scoring draws nothing


def test_seeded_training_losses_unchanged(mini: Dataset) -> None:
    """A seeded run of 20 steps (fused Adam, lr 0.03): the same losses as the reference
    formulation's, bit for bit (so seeded searches decide the same)."""
    cfg = TrainConfig(steps=20, patience=0, batch_users=512)
    new = twin(mini, None)
    got: list[float] = []
    fit(new, mini, cfg, seed=1, on_event=lambda e: got.append(e.loss))

    ref = twin(mini, None)
    ref.loss = lambda u, p, n: reference_loss(ref, u, p, n)  # type: ignore[method-assign]
    want: list[float] = []
    fit(ref, mini, cfg, seed=1, on_event=lambda e: want.append(e.loss))
    assert len(got) == 20
    assert got == want


def test_workspace_reuses_buffers_and_refuses_a_double_hand_back() -> None:
    from bet.backbones.ngcf_layers import Workspace

    ws, like = Workspace(), torch.empty(100, 8)
    a = ws.take(like)
    assert a.shape == (100, 8) and a.is_contiguous()
    ws.give(a)
    b = ws.take(like, (90, 8))  # a smaller request within 1.25x reuses the same memory
    assert b.data_ptr() == a.data_ptr() and b.shape == (90, 8)
    ws.give(b)
    with pytest.raises(RuntimeError, match="twice"):
        ws.give(b)
    small = ws.take(like, (10, 8))  # far smaller: a buffer of its own, the big one stays free
    assert small.data_ptr() != a.data_ptr() and len(ws.free) == 1
    assert ws.take(torch.empty(100, 8, dtype=torch.float64)).dtype == torch.float64


def test_training_keeps_the_buffers_and_eval_lets_them_go(mini: Dataset) -> None:
    model = twin(mini, None)
    u, p, n = torch.arange(50), torch.arange(50), torch.arange(50, 100)
    model.loss(u, p, n).backward()
    assert len(model._ws.free) > 0  # every buffer came back after the backward pass
    model.eval()
    assert model._ws.free == []
