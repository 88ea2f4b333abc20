"""The DeepSets fitness predictor against its definition (paper Eq. 7–9), set by set."""

from __future__ import annotations

import numpy as np
import torch

from bet.budget import budget_for
from bet.data import Dataset
from bet.predictor import DeepSetsPredictor, PredictorTrainer, SetBatch, cat_prepared, take_prepared
from bet.sampler import ActionSampler


def reference_embedding(model: DeepSetsPredictor, uf: np.ndarray, vf: np.ndarray, sizes: np.ndarray) -> torch.Tensor:
    """h_a = mean over d of μ([mean of q_n over S_d ; d/d_max]), one set at a time."""
    q_u = model.rho_u(torch.tensor(uf / max(uf.max(), 1.0), dtype=torch.float32).unsqueeze(1))
    q_v = model.rho_v(torch.tensor(vf / max(vf.max(), 1.0), dtype=torch.float32).unsqueeze(1))
    q = torch.cat([q_u, q_v])
    out = []
    for d in range(1, model.d_max + 1):
        members = np.flatnonzero(sizes == d)
        mean = q[members].mean(0) if len(members) else torch.zeros(q.shape[1])
        out.append(model.mu(torch.cat([mean, torch.tensor([d / model.d_max])])))
    return torch.stack(out).mean(0)


def test_vectorised_pooling_matches_the_definition() -> None:
    rng = np.random.default_rng(0)
    uf, vf = rng.integers(1, 40, size=30), rng.integers(0, 25, size=45)
    model = DeepSetsPredictor(uf, vf, d_max=8, seed=1)
    us, vs = rng.integers(1, 9, size=(5, 30)), rng.integers(1, 4, size=(5, 45))  # item sets 4..8 empty
    with torch.no_grad():
        got = model.embed(us, vs)
        for a in range(5):
            want = reference_embedding(model, uf, vf, np.concatenate([us[a], vs[a]]))
            torch.testing.assert_close(got[a], want, rtol=1e-5, atol=1e-6)


def test_on_real_actions_and_batches_concatenate(mini: Dataset) -> None:
    model = DeepSetsPredictor(mini.user_freq, mini.item_freq, seed=0)
    batch = ActionSampler.for_data(mini, budget_for(0.95, n_rows=mini.n_rows)).sample(3, np.random.default_rng(0))
    with torch.no_grad():
        whole = model.embed(batch.user_sizes, batch.item_sizes)
        parts = [model.prepare(batch.user_sizes[i : i + 1], batch.item_sizes[i : i + 1]) for i in range(3)]
        joined = cat_prepared(parts)
        assert isinstance(joined, SetBatch) and joined.empty.shape == (3, model.d_max)
        torch.testing.assert_close(model.embed_prepared(joined), whole)
        sizes = np.concatenate([batch.user_sizes[2], batch.item_sizes[2]])
        want = reference_embedding(model, mini.user_freq, mini.item_freq, sizes)
        torch.testing.assert_close(whole[2], want, rtol=1e-5, atol=1e-6)


def test_gradients_reach_every_encoder(mini: Dataset) -> None:
    model = DeepSetsPredictor(mini.user_freq, mini.item_freq, seed=0, linear_output=True)
    trainer = PredictorTrainer(model)
    batch = ActionSampler.for_data(mini, budget_for(0.9, n_rows=mini.n_rows)).sample(4, np.random.default_rng(1))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for i in range(4):
        trainer.add(batch.user_sizes[i], batch.item_sizes[i], 0.8 + 0.05 * i, rng=np.random.default_rng(i))
    after = model.state_dict()
    for name in ("rho_u.0.weight", "rho_v.0.weight", "mu.0.weight", "pi.0.weight"):
        assert not torch.equal(before[name], after[name]), f"{name} never moved"


def test_pool_inputs_reused_learn_exactly_the_same(mini: Dataset) -> None:
    """The search hands the trainer each chosen action's slice of the pool's prepared inputs
    instead of preparing it again: the same values bit for bit, so the same updates and
    predictions; the nearest anchor's embedding from the stored inputs equals a fresh one."""
    batch = ActionSampler.for_data(mini, budget_for(0.95, n_rows=mini.n_rows)).sample(12, np.random.default_rng(3))
    model = DeepSetsPredictor(mini.user_freq, mini.item_freq, seed=0, linear_output=True)
    pool = model.prepare(batch.user_sizes, batch.item_sizes)
    for i in (0, 5, 11):
        alone, sliced = model.prepare(batch.user_sizes[i : i + 1], batch.item_sizes[i : i + 1]), take_prepared(pool, i)
        assert isinstance(alone, SetBatch) and isinstance(sliced, SetBatch)
        for field in ("weights", "action", "size", "empty"):
            assert torch.equal(getattr(alone, field), getattr(sliced, field)), field
    fresh, reused = (
        PredictorTrainer(DeepSetsPredictor(mini.user_freq, mini.item_freq, seed=0, linear_output=True))
        for _ in range(2)
    )
    for i in range(8):
        args = (batch.user_sizes[i], batch.item_sizes[i], 0.7 + 0.03 * (i % 3))
        assert fresh.add(*args, rng=np.random.default_rng(i)) == reused.add(
            *args, rng=np.random.default_rng(i), prepared=take_prepared(pool, i)
        )
    assert np.array_equal(fresh.predict_prepared(pool)[0], reused.predict_prepared(pool)[0])
    assert np.array_equal(reused.embedding_of(5), fresh.predict(batch.user_sizes[5:6], batch.item_sizes[5:6])[1][0])
