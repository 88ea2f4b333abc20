"""The BET action sampler: strict budgets, sizes in [1, d_max], frequency-ranked, deterministic."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.stats as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from bet.budget import budget_for, sorted_allocate
from bet.data import Dataset, load_dataset
from bet.sampler import FAMILIES, ActionSampler

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
    sampler = ActionSampler.for_data(data, budget_for(sparsity, n_rows=data.n_rows))
    assert sampler.budget == budget_for(sparsity, n_rows=data.n_rows)
    count = 200 if name in ("mini", "user") else 40
    batch = sampler.sample(count, np.random.default_rng(seed))
    check_batch(sampler, data, batch.user_sizes, batch.item_sizes)
    # the whole budget is used unless a side is saturated at d_max
    assert (batch.costs == sampler.budget).all()


def test_ten_thousand_on_mini_in_one_call(mini: Dataset) -> None:
    sampler = ActionSampler.for_data(mini, budget_for(0.95, n_rows=mini.n_rows))
    batch = sampler.sample(2000, np.random.default_rng(0))
    check_batch(sampler, mini, batch.user_sizes, batch.item_sizes)


def test_deterministic_and_seed_dependent(mini: Dataset) -> None:
    s = ActionSampler.for_data(mini, budget_for(0.9, n_rows=mini.n_rows))
    a, b = s.sample(5, np.random.default_rng(3)), s.sample(5, np.random.default_rng(3))
    c = s.sample(5, np.random.default_rng(4))
    assert np.array_equal(a.user_sizes, b.user_sizes) and np.array_equal(a.item_sizes, b.item_sizes)
    assert not np.array_equal(a.user_sizes, c.user_sizes)


def test_families_and_user_share_vary(mini: Dataset) -> None:
    batch = ActionSampler.for_data(mini, budget_for(0.9, n_rows=mini.n_rows)).sample(200, np.random.default_rng(1))
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


# --- the authors' redraw and distinct pools (issue 9 §2, issue 10 B.3) ------------------------


def _plateau_share(users: np.ndarray, items: np.ndarray, d_max: int = 128) -> float:
    """Fraction of actions with more than one row clipped at d_max on either side."""
    return float((((users == d_max).sum(1) > 1) | ((items == d_max).sum(1) > 1)).mean())


def test_redraw_removes_most_d_max_plateaus_at_low_sparsity(mini: Dataset) -> None:
    budget = budget_for(0.8, n_rows=mini.n_rows)
    clip = ActionSampler.for_data(mini, budget).sample(200, np.random.default_rng(5))
    redraw = ActionSampler.for_data(mini, budget, redraws=20).sample(200, np.random.default_rng(5))
    for batch in (clip, redraw):
        check_batch(ActionSampler.for_data(mini, budget), mini, batch.user_sizes, batch.item_sizes)
    assert _plateau_share(clip.user_sizes, clip.item_sizes) > 0.2
    assert _plateau_share(redraw.user_sizes, redraw.item_sizes) < 0.5 * _plateau_share(clip.user_sizes, clip.item_sizes)
    # w is kept: the user share is the same draw with or without redraws
    assert np.allclose(clip.user_share, redraw.user_share)


def test_redraw_never_changes_a_draw_that_fits(mini: Dataset) -> None:
    """At high sparsity no side exceeds d_max, so the redraw rule leaves the pool unchanged."""
    budget = budget_for(0.97, n_rows=mini.n_rows)
    a = ActionSampler.for_data(mini, budget).sample(50, np.random.default_rng(2))
    b = ActionSampler.for_data(mini, budget, redraws=20).sample(50, np.random.default_rng(2))
    assert a.user_family == b.user_family and np.array_equal(a.item_sizes, b.item_sizes)


def test_pool_is_distinct_actions(gowalla: Dataset) -> None:
    """At c = 0.99 on full Gowalla plain draws repeat (the families collapse onto 'top rows at
    128, the rest at 1'); the pool replaces them with fresh draws."""
    sampler = ActionSampler.for_data(gowalla, budget_for(0.99, n_rows=gowalla.n_rows))
    batch = sampler.sample(200, np.random.default_rng(0))
    rows = np.concatenate([batch.user_sizes, batch.item_sizes], axis=1)
    assert len(batch) == batch.requested == 200
    assert len(np.unique(rows, axis=0)) == 200
    check_batch(sampler, gowalla, batch.user_sizes, batch.item_sizes)


def test_pool_says_when_too_few_distinct_actions_exist() -> None:
    """Two users and two items at one dimension each: exactly one action exists."""
    sampler = ActionSampler(np.array([3, 1]), np.array([2, 5]), budget=4)
    batch = sampler.sample(10, np.random.default_rng(0))
    assert len(batch) == 1 and batch.requested == 10
    assert batch.costs.tolist() == [4]
