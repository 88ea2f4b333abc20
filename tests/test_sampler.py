"""The BET action sampler: strict budgets, sizes in [1, d_max], frequency-ranked, deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from bet.budget import budget_for
from bet.data import Dataset, load_dataset
from bet.sampler import FAMILIES, ActionSampler, sorted_allocate

SPARSITIES = hs.floats(min_value=0.5, max_value=0.99, allow_nan=False)


@pytest.fixture(scope="module")
def user_file(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    """A user's own interactions file (string ids, skewed popularity)."""
    rng = np.random.default_rng(7)
    path: Path = tmp_path_factory.mktemp("own") / "clicks.csv"
    users = rng.integers(0, 800, 12_000)
    items = (rng.pareto(1.2, 12_000) * 20).astype(int) % 1500
    path.write_text("user,item\n" + "".join(f"u{u},item-{i}\n" for u, i in zip(users, items, strict=True)))
    return load_dataset(path)


@pytest.fixture(scope="module")
def datasets(mini: Dataset, gowalla: Dataset, user_file: Dataset) -> dict[str, Dataset]:
    return {"mini": mini, "gowalla": gowalla, "yelp2018": load_dataset("yelp2018"), "user": user_file}


def check_batch(sampler: ActionSampler, data: Dataset, users: np.ndarray, items: np.ndarray) -> None:
    assert users.shape == (len(users), data.n_users) and items.shape[1] == data.n_items
    costs = users.sum(1, dtype=np.int64) + items.sum(1, dtype=np.int64)
    assert (costs <= sampler.budget).all(), "an action exceeds its budget"
    assert users.min() >= 1 and items.min() >= 1
    assert users.max() <= 128 and items.max() <= 128
    # sizes never increase as frequency decreases (frequency rank order, ties by index)
    for sizes, freq in ((users, data.user_freq), (items, data.item_freq)):
        order = np.argsort(-freq, kind="stable")
        assert (np.diff(sizes[:, order].astype(np.int32), axis=1) <= 0).all()


# 10,000 actions in all: 50 examples × 200 actions, spread over the four datasets and sparsities
# 0.5–0.99 by hypothesis.
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=hs.sampled_from(["mini", "gowalla", "yelp2018", "user"]), sparsity=SPARSITIES, seed=hs.integers(0, 2**31))
def test_sampled_actions_are_strict_and_frequency_ranked(
    datasets: dict[str, Dataset], name: str, sparsity: float, seed: int
) -> None:
    data = datasets[name]
    sampler = ActionSampler.for_data(data, sparsity)
    assert sampler.budget == budget_for(sparsity, data.n_rows)
    count = 200 if name in ("mini", "user") else 40
    batch = sampler.sample(count, np.random.default_rng(seed))
    check_batch(sampler, data, batch.user_sizes, batch.item_sizes)
    # the whole budget is used unless a side is saturated at d_max
    assert (batch.costs == sampler.budget).all()


def test_ten_thousand_on_mini_in_one_call(mini: Dataset) -> None:
    sampler = ActionSampler.for_data(mini, 0.95)
    batch = sampler.sample(2000, np.random.default_rng(0))
    check_batch(sampler, mini, batch.user_sizes, batch.item_sizes)


def test_deterministic_and_seed_dependent(mini: Dataset) -> None:
    s = ActionSampler.for_data(mini, 0.9)
    a, b = s.sample(5, np.random.default_rng(3)), s.sample(5, np.random.default_rng(3))
    c = s.sample(5, np.random.default_rng(4))
    assert np.array_equal(a.user_sizes, b.user_sizes) and np.array_equal(a.item_sizes, b.item_sizes)
    assert not np.array_equal(a.user_sizes, c.user_sizes)


def test_families_and_user_share_vary(mini: Dataset) -> None:
    batch = ActionSampler.for_data(mini, 0.9).sample(200, np.random.default_rng(1))
    assert set(batch.user_family) == set(FAMILIES) and set(batch.item_family) == set(FAMILIES)
    assert 0.0 < batch.user_share.min() < 0.2 and 0.8 < batch.user_share.max() < 1.0
    # the user share is what the users actually got
    got = batch.user_sizes.sum(1) / batch.costs
    assert np.allclose(got, batch.user_share, atol=1e-3)


@pytest.mark.parametrize("beta", [0.5, 3.0, 19.0])
def test_truncnorm_shortcut_matches_scipy(beta: float) -> None:
    u = np.linspace(0.001, 0.999, 500)
    ours = FAMILIES["truncnorm"][0](u, beta)
    assert np.allclose(ours, st.truncnorm(a=0, b=beta).ppf(u), atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    n=hs.integers(1, 400),
    avg=hs.floats(1.0, 128.0),
    kind=hs.sampled_from(["powerlaw", "flat", "zeros", "huge-range"]),
    seed=hs.integers(0, 1000),
)
def test_sorted_allocate_exact_and_monotone(n: int, avg: float, kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    w = {
        "powerlaw": rng.random(n) ** 8,
        "flat": np.ones(n),
        "zeros": np.where(rng.random(n) < 0.7, 0.0, rng.random(n)),
        "huge-range": 10.0 ** rng.uniform(-300, 0, n),
    }[kind]
    w = np.sort(w)[::-1]
    budget = max(n, int(avg * n))
    sizes = sorted_allocate(w, budget)
    assert sizes.min() >= 1 and sizes.max() <= 128
    assert sizes.sum() == min(budget, 128 * n)
    assert (np.diff(sizes) <= 0).all()
