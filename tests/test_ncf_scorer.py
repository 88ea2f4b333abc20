"""NCF's fast scorer and batch-first training step against the formulas they replaced: the scores
of the dense ``(users × items × d)`` scorer and of the model's own layers per pair, the same
top-20, the same loss and gradients (issue 22)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bet.backbones import make_backbone
from bet.backbones import ncf_kernel as nk
from bet.backbones.base import batch_sq_norm, bpr
from bet.backbones.ncf import NCF
from bet.baselines import baseline_action
from bet.batches import BPRSampler
from bet.data import Dataset
from bet.evaluation import evaluate


def dense_scores(model: NCF, users: torch.Tensor) -> torch.Tensor:
    """The scorer before issue 22: ReLU(hu + hi) materialised per user block, then ``@ w``."""
    with torch.no_grad():
        _, _, hu, hi, gu, gi = model._parts()
        w_m, b0 = model.out.weight[0, model.d_max :], model.out.bias[0]
        return gu[users] @ gi.T + b0 + torch.relu(hu[users].unsqueeze(1) + hi.unsqueeze(0)) @ w_m


def pair_scores(model: NCF, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Per pair, through the model's layers: ``out([gmf_u ⊙ gmf_i ; ReLU(hidden([mlp_u ; mlp_i]))])``."""
    assert model.table is not None
    with torch.no_grad():
        mlp, gmf = model.table(), model.gmf()
        rows = items + model.n_users
        h = torch.relu(model.hidden(torch.cat([mlp[users], mlp[rows]], 1)))
        return model.out(torch.cat([gmf[users] * gmf[rows], h], 1))[:, 0]


def old_loss(model: NCF, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """The training loss before issue 22: every row's halves computed, then the batch gathered."""
    mlp, gmf, hu, hi, gu, gi = model._parts()
    w_m, b0 = model.out.weight[0, model.d_max :], model.out.bias[0]
    hu_b, gu_b = hu.index_select(0, users), gu.index_select(0, users)

    def logit(items: torch.Tensor) -> torch.Tensor:
        h = torch.relu(hu_b + hi.index_select(0, items))
        return (gu_b * gi.index_select(0, items)).sum(1) + h @ w_m + b0

    rows = torch.cat([users, pos + model.n_users, neg + model.n_users])
    l2 = batch_sq_norm(mlp, rows) + batch_sq_norm(gmf, rows)
    return bpr(logit(pos), logit(neg)) + model.reg * l2 / len(users)


@pytest.fixture(scope="module")
def budgeted(mini: Dataset) -> NCF:
    """NCF with a budgeted action (rows masked to their sizes), weights moved off their init."""
    model = make_backbone("ncf", mini, seed=3)
    assert isinstance(model, NCF)
    model.set_action(baseline_action("mde", mini, 0.9, backbone="ncf"))
    assert model.table is not None and int(model.table.sizes.min()) < model.d_max  # rows are masked
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.05)
    return model


def same_top20(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((torch.topk(a, 20, dim=1).indices == torch.topk(b, 20, dim=1).indices).all(1).float().mean())


@pytest.mark.parametrize("kernel", ["tiled", "compiled"])
def test_scores_match_the_dense_scorer_and_each_pair(
    budgeted: NCF, kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budgeted, "kernel", kernel)
    users = torch.from_numpy(np.random.default_rng(0).choice(budgeted.n_users, 131, replace=False))  # 2 tiles + 3
    got = budgeted.scorer()(users)
    assert budgeted.last_kernel == kernel
    ref = dense_scores(budgeted, users)
    assert got.shape == ref.shape == (131, budgeted.n_items)
    assert float((got - ref).abs().max()) <= 1e-4
    assert same_top20(got, ref) == 1.0
    items = torch.randint(0, budgeted.n_items, (500,), generator=torch.Generator().manual_seed(1))
    rows = torch.randint(0, 131, (500,), generator=torch.Generator().manual_seed(2))
    per_pair = pair_scores(budgeted, users[rows], items)
    assert float((got[rows, items] - per_pair).abs().max()) <= 1e-4
    assert budgeted.scorer()(users[:0]).shape == (0, budgeted.n_items)  # no users: no scores


def test_auto_keeps_small_catalogues_on_plain_torch(budgeted: NCF) -> None:
    budgeted.scorer()  # gowalla-mini: 11.6 M pairs, under COMPILE_FROM_PAIRS
    assert budgeted.last_kernel == "tiled" and budgeted.n_users * budgeted.n_items < nk.COMPILE_FROM_PAIRS


def test_compile_failure_falls_back_to_the_same_scores(budgeted: NCF, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(nk, "_compiled", {})
    monkeypatch.setattr(nk, "_failed", set())
    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(budgeted, "kernel", "compiled")
    users = torch.arange(70)
    got = budgeted.scorer()(users)
    assert budgeted.last_kernel == "tiled" and nk._failed == {budgeted.d_max}
    assert float((got - dense_scores(budgeted, users)).abs().max()) <= 1e-4


def test_full_ranking_on_two_threads_is_the_same_with_either_kernel(
    mini: Dataset, budgeted: NCF, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BET_EVAL_THREADS", "2")  # ranked_items' two worker threads share the compiled tile
    results = {}
    for kernel in ("tiled", "compiled"):
        monkeypatch.setattr(budgeted, "kernel", kernel)
        results[kernel] = evaluate(budgeted, mini, "valid")
    assert results["tiled"] == pytest.approx(results["compiled"], abs=1e-9)
    assert results["tiled"]["recall@20"] > 0


def test_batch_first_loss_has_the_old_loss_and_gradients(mini: Dataset, budgeted: NCF) -> None:
    sampler = BPRSampler(mini.train, 512, np.random.default_rng(0))
    u, p, n = (torch.from_numpy(x) for x in sampler.sample())
    u = torch.cat([u, u[:7]])  # repeated users and items: their gradients add up
    p, n = torch.cat([p, p[:7]]), torch.cat([n, p[:7]])
    grads = []
    for fn in (old_loss, NCF.loss):
        budgeted.zero_grad(set_to_none=True)
        loss = fn(budgeted, u, p, n)
        loss.backward()
        grads.append(
            (float(loss.detach()), {k: v.grad.clone() for k, v in budgeted.named_parameters() if v.grad is not None})
        )
    (old_value, old_grads), (new_value, new_grads) = grads
    budgeted.zero_grad(set_to_none=True)
    assert new_value == pytest.approx(old_value, abs=1e-6)
    assert old_grads.keys() == new_grads.keys() and len(old_grads) == 6
    for key in old_grads:
        assert float((old_grads[key] - new_grads[key]).abs().max()) <= 1e-6, key


def test_a_failing_compiled_call_falls_back_and_unknown_kernels_are_refused(budgeted: NCF) -> None:
    with torch.no_grad():
        _, _, hu, hi, gu, gi = budgeted._parts()
        w, b0 = budgeted.out.weight[0, budgeted.d_max :], budgeted.out.bias[0]
    scores = nk.NCFScores((hu, hi, gu, gi), w, b0, kernel="compiled")
    assert scores.kernel == "compiled"

    def broken(*args: object) -> torch.Tensor:
        raise RuntimeError("recompile failed")

    scores.fn = broken
    users = torch.arange(5)
    got = scores(users)
    assert scores.kernel == "tiled" and scores.fn is None
    assert float((got - dense_scores(budgeted, users)).abs().max()) <= 1e-4
    with pytest.raises(ValueError, match="kernel must be one of"):
        nk.NCFScores((hu, hi, gu, gi), w, b0, kernel="fast")
