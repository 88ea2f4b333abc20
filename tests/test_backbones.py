"""The backbone contract, parametrised over every registered backbone on gowalla-mini."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bet.backbones import BACKBONES, Backbone, Scorer, make_backbone
from bet.backbones.ncf import NCF
from bet.baselines import baseline_action
from bet.batches import BPRSampler
from bet.budget import D_MAX, budget_for
from bet.data import Dataset
from bet.errors import BudgetError, ConfigError
from bet.runtime import torch_threads

ALL = list(BACKBONES)
TRAINABLE = [name for name, cls in BACKBONES.items() if cls.trainable]


def test_registry() -> None:
    assert set(BACKBONES) == {"lightgcn", "ngcf", "ncf", "pop"}
    for name, cls in BACKBONES.items():
        assert cls.name == name


def test_unknown_backbone(mini: Dataset) -> None:
    with pytest.raises(ConfigError, match="unknown backbone 'mf'"):
        make_backbone("mf", mini)


def batch(data: Dataset, n: int, seed: int) -> tuple[torch.Tensor, ...]:
    s = BPRSampler(data.train, n, np.random.default_rng(seed))
    return tuple(torch.from_numpy(x) for x in s.sample())


def train_steps(model: Backbone, data: Dataset, steps: int, seed: int = 0, lr: float = 0.01) -> list[float]:
    """``steps`` Adam steps on batches of 2,048 users; returns the losses."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sampler = BPRSampler(data.train, 2048, np.random.default_rng(seed))
    model.train()
    losses = []
    with torch_threads("train"):
        for _ in range(steps):
            u, p, n = (torch.from_numpy(x) for x in sampler.sample())
            loss = model.loss(u, p, n)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return losses


@pytest.mark.parametrize("name", TRAINABLE)
def test_loss_is_finite_scalar_and_decreases(mini: Dataset, name: str) -> None:
    model = make_backbone(name, mini, seed=0)
    u, p, n = batch(mini, 256, 1)
    loss = model.loss(u, p, n)
    assert loss.ndim == 0 and loss.dtype == torch.float32 and math.isfinite(loss.item())
    losses = train_steps(model, mini, 20)
    assert all(math.isfinite(x) for x in losses)
    assert np.mean(losses[-3:]) < 0.9 * np.mean(losses[:3]), losses


def test_pop_has_nothing_to_train(mini: Dataset) -> None:
    model = make_backbone("pop", mini)
    assert not model.trainable and model.table is None and model.cost == 0
    assert not list(model.parameters())
    with pytest.raises(TypeError):
        model.loss(*batch(mini, 8, 0))


@pytest.mark.parametrize("name", ALL)
def test_scorer_shape(mini: Dataset, name: str) -> None:
    model = make_backbone(name, mini, seed=0)
    model.eval()
    scorer = model.scorer()
    assert isinstance(scorer, Scorer)
    users = torch.tensor([0, 5, mini.n_users - 1, 5])
    s = scorer(users)
    assert s.shape == (4, mini.n_items) and s.dtype == torch.float32
    assert bool(torch.isfinite(s).all())
    torch.testing.assert_close(s[1], s[3])
    if scorer.fn is None:  # embeddings for the blocked matmul: same scores
        assert scorer.users is not None and scorer.items is not None
        assert scorer.users.shape[0] == mini.n_users and scorer.items.shape[0] == mini.n_items
        torch.testing.assert_close(scorer.users[users] @ scorer.items.T, s)


@pytest.mark.parametrize("name", ALL)
def test_scores_carry_no_graph(mini: Dataset, name: str) -> None:
    """The contract: a scorer is built without gradients, and calling it builds no graph."""
    model = make_backbone(name, mini, seed=0)
    model.eval()
    s = model.scorer()(torch.tensor([0, 1]))
    assert not s.requires_grad and s.grad_fn is None


def test_pop_scores_are_training_popularity(mini: Dataset) -> None:
    s = make_backbone("pop", mini).scorer()(torch.tensor([0, 1]))
    np.testing.assert_array_equal(s[0].numpy(), mini.item_freq.astype(np.float32))
    np.testing.assert_array_equal(s[1].numpy(), mini.item_freq.astype(np.float32))


@pytest.mark.parametrize("name", ALL)
def test_set_action_cost(mini: Dataset, name: str) -> None:
    model = make_backbone(name, mini, seed=0)
    tables = 0 if name == "pop" else 2 if name == "ncf" else 1  # NCF: MLP and GMF tables
    assert model.cost == tables * D_MAX * mini.n_rows
    for method, c in (("mde", 0.9), ("sr", 0.95), ("su", 0.8)):
        action = baseline_action(method, mini, c, seed=2, backbone=name)
        model.set_action(action)
        assert model.cost == (0 if name == "pop" else model.cost_of(action))
        assert model.cost <= budget_for(c, n_rows=mini.n_rows)
        if model.table is not None:
            np.testing.assert_array_equal(model.table.sizes.numpy(), action.sizes)
    model.set_full()
    assert model.cost == tables * D_MAX * mini.n_rows


@pytest.mark.parametrize("name", TRAINABLE)
def test_same_seed_same_run(mini: Dataset, name: str) -> None:
    runs = []
    for _ in range(2):
        model = make_backbone(name, mini, seed=7)
        init = {k: v.clone() for k, v in model.state_dict().items()}
        losses = train_steps(model, mini, 3, seed=5)
        runs.append((init, losses, model.state_dict()))
    (init_a, loss_a, end_a), (init_b, loss_b, end_b) = runs
    assert loss_a == loss_b  # bit-identical loss sequence
    for key in init_a:
        assert torch.equal(init_a[key], init_b[key]), key
        assert torch.equal(end_a[key], end_b[key]), key
    other = make_backbone(name, mini, seed=8)
    assert not torch.equal(other.state_dict()["table.weight"], init_a["table.weight"])


@pytest.mark.parametrize("c", [0.5, 0.9, 0.95, 0.99])
def test_ncf_gmf_size(mini: Dataset, c: float) -> None:
    model = make_backbone("ncf", mini, seed=0)
    assert isinstance(model, NCF)
    action = baseline_action("mde", mini, c)
    model.set_action(action)
    kept_ratio = action.cost / (D_MAX * mini.n_rows)
    want = max(1, math.floor(kept_ratio * D_MAX))
    gmf = model.gmf
    assert (gmf.sizes == want).all()
    assert gmf.cost == want * mini.n_rows
    assert gmf.cost <= action.cost  # the GMF table stays inside the same budget
    model.set_full()
    assert (gmf.sizes == D_MAX).all()


@pytest.mark.gpu
@pytest.mark.parametrize("name", ALL)
def test_backbone_on_cuda(mini: Dataset, name: str) -> None:
    """Train a few steps and evaluate on the GPU; validation metrics close to the same model's on
    CPU (copied weights)."""
    from bet.evaluation import evaluate
    from bet.train import TrainConfig, fit

    model = make_backbone(name, mini, seed=0, device="cuda")
    model.set_action(baseline_action("mde", mini, 0.9))
    result = fit(model, mini, TrainConfig(steps=5, patience=0), seed=0)
    assert result.steps == (5 if model.trainable else 0)
    on_gpu = evaluate(model, mini, "valid")
    cpu_model = make_backbone(name, mini, seed=0, device="cpu")
    cpu_model.load_state_dict({k: v.cpu() for k, v in model.state_dict().items()})
    cpu_model.eval()
    on_cpu = evaluate(cpu_model, mini, "valid")
    for key, value in on_cpu.items():
        assert math.isfinite(on_gpu[key])
        assert on_gpu[key] == pytest.approx(value, abs=2e-3), key


def test_lightgcn_on_the_narrow_table_is_the_same_model(mini: Dataset) -> None:
    """LightGCN propagates only the first max(sizes) columns: loss, gradient and scores must equal
    the full-width computation (the dropped columns are zero in every row)."""
    from bet.backbones.base import batch_sq_norm, dot_bpr, propagate_mean

    model = make_backbone("lightgcn", mini, seed=3)
    action = baseline_action("mde", mini, 0.95, seed=0)
    model.set_action(action)
    assert model.table is not None
    w = int(action.sizes.max())
    assert w < D_MAX and model.table.narrow().shape == (mini.n_rows, w)
    u, p, n = batch(mini, 512, 4)

    loss = model.loss(u, p, n)
    (grad,) = torch.autograd.grad(loss, model.table.weight)
    ego = model.table()  # full width, the definition
    final = propagate_mean(model.adj, ego, model.layers)
    rows = torch.cat([u, p + mini.n_users, n + mini.n_users])
    bpr = dot_bpr(final, users=u, pos_rows=p + mini.n_users, neg_rows=n + mini.n_users)
    ref = bpr + model.reg * batch_sq_norm(ego, rows) / len(u)
    (ref_grad,) = torch.autograd.grad(ref, model.table.weight)
    torch.testing.assert_close(loss, ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(grad, ref_grad, rtol=1e-5, atol=1e-9)
    assert bool((grad[:, w:] == 0).all())

    model.eval()
    users = torch.arange(0, mini.n_users, 97)
    scores = model.scorer()(users)
    with torch.no_grad():
        full = propagate_mean(model.adj, model.table(), model.layers)
    torch.testing.assert_close(scores, full[users] @ full[mini.n_users :].T, rtol=1e-5, atol=1e-8)


def test_ngcf_candidates_see_the_same_dropout(mini: Dataset) -> None:
    """Common random numbers hold for NGCF: a candidate finetuned after another one on the same
    model (as the search does) gets the same dropout masks, hence the same losses."""
    from bet.baselines import baseline_action
    from bet.train import TrainConfig, fit

    model = make_backbone("ngcf", mini, seed=0)
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(steps=3, patience=0, batch_users=512)

    def finetune(method: str) -> list[float]:
        model.load_state_dict(start)
        model.reset_randomness()
        model.set_action(baseline_action(method, mini, 0.9, seed=0))
        losses: list[float] = []
        fit(model, mini, cfg, seed=0, on_event=lambda e: losses.append(e.loss))
        return losses

    first = finetune("su")
    finetune("mde")
    assert finetune("su") == first


def test_ncf_budget_counts_both_tables(mini: Dataset, tmp_path: Path) -> None:
    """Issue 10 B.1: NCF's cost is its MLP and GMF tables together, within the one budget, for
    sampled actions and baselines alike; both tables are packed and unpacked exactly."""
    from bet.backbones import action_budget
    from bet.embedding import pack, unpack_tables
    from bet.sampler import ActionSampler

    budget = budget_for(0.9, n_rows=mini.n_rows)
    model = make_backbone("ncf", mini, seed=0)
    sampler = ActionSampler.for_data(mini, action_budget("ncf", budget, n_rows=mini.n_rows))
    batch = sampler.sample(20, np.random.default_rng(0))
    for i in range(len(batch)):
        action = batch.action(i)
        model.set_action(action)
        assert model.cost == model.cost_of(action) <= budget
        assert model.cost > 1.9 * action.cost  # the GMF table is counted
    for method in ("su", "sr", "mde"):
        action = baseline_action(method, mini, 0.9, backbone="ncf")
        model.set_action(action)
        assert model.cost <= budget and model.cost == action.cost + model.gmf.cost
    assert pack(model.tables(), tmp_path / "ncf.npz") > 0
    tables = unpack_tables(tmp_path / "ncf.npz")
    assert list(tables) == ["table", "gmf"]
    for name, t in model.tables().items():
        np.testing.assert_array_equal(tables[name][1], t.sizes.numpy())
        np.testing.assert_array_equal(tables[name][0], t().detach().numpy())
    # LightGCN's action gets the whole budget; NCF's half, refused where that is below 1 per row
    assert (
        action_budget("lightgcn", budget, n_rows=mini.n_rows)
        == budget
        == 2 * action_budget("ncf", budget, n_rows=mini.n_rows) + budget % 2
    )
    with pytest.raises(BudgetError, match="infeasible for ncf"):
        action_budget("ncf", budget_for(0.99, n_rows=mini.n_rows), n_rows=mini.n_rows)
