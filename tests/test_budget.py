"""Budget arithmetic, the strict allocator, and the baseline actions (SU, SR, MDE, full)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bet.baselines import baseline_action, frequencies
from bet.budget import D_MAX, Action, allocate, budget_for, max_sparsity, uniform
from bet.data import Dataset
from bet.errors import BudgetError, ConfigError

C_MAX = "0.9921875"  # 1 − 1/128: every row keeps one of 128 dimensions

# --- budget_for -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("c", "n_rows", "d_max", "expected"),
    [
        (0.9, 6_835, 128, 87_488),  # exactly 0.1 · 128 · 6835; binary 0.9 would floor to 87,487
        (0.95, 6_835, 128, 43_744),
        (0.8, 70_839, 128, 1_813_478),  # Gowalla, paper §1 table
        (0.9, 70_839, 128, 906_739),
        (0.95, 70_839, 128, 453_369),
        (0.9, 69_716, 128, 892_364),  # Yelp2018
        (0.0, 10, 128, 1_280),
        (0.5, 3, 64, 96),
        (0.7, 10, 10, 30),  # (1 − 0.7) · 100 = 30.000000000000004 in binary: must stay 30
        (0.3, 10, 10, 70),  # 0.7 · 100 = 69.99999999999999 in binary: must be 70
        (0.9921875, 1_000, 128, 1_000),  # the largest feasible sparsity: one dimension per row
    ],
)
def test_budget_for_exact(c: float, n_rows: int, d_max: int, expected: int) -> None:
    assert budget_for(c, n_rows=n_rows, d_max=d_max) == expected


def test_max_sparsity() -> None:
    assert max_sparsity() == 0.9921875 == 1 - 1 / 128
    assert max_sparsity(64, 2) == 1 - 2 / 64


def test_infeasible_sparsity_names_largest_feasible() -> None:
    with pytest.raises(BudgetError) as err:
        budget_for(0.995, n_rows=6_835)
    msg = str(err.value)
    assert C_MAX in msg
    assert "0.995" in msg and "6,835" in msg  # the asked sparsity and the rows it was asked for


@pytest.mark.parametrize(
    "c",
    [
        0.995,
        1.0,
        -0.1,
        math.nan,
    ],
)
def test_every_infeasible_sparsity_names_largest_feasible(c: float) -> None:
    with pytest.raises(BudgetError, match=C_MAX):
        budget_for(c, n_rows=6_835)


@pytest.mark.parametrize("c", [1.0, -0.1, math.nan, math.inf, 0.999, 0.995, 0.9921876])
def test_infeasible_sparsity_raises(c: float) -> None:
    with pytest.raises(BudgetError):
        budget_for(c, n_rows=6_835)


# --- Action ---------------------------------------------------------------------------------


def test_action_cost_and_check() -> None:
    a = Action.of(np.array([1, 2, 3]), np.array([128, 4]))
    assert a.user_sizes.dtype == a.item_sizes.dtype == np.int16
    assert a.cost == 138
    np.testing.assert_array_equal(a.sizes, [1, 2, 3, 128, 4])
    assert a.check(138) is a
    with pytest.raises(AssertionError):
        a.check(137)
    with pytest.raises(AssertionError):
        Action.of(np.array([0, 2]), np.array([3])).check(100)
    with pytest.raises(AssertionError):
        Action.of(np.array([129]), np.array([3])).check(1000)


def test_uniform_uses_whole_budget_and_gives_remainder_in_order() -> None:
    a = uniform(2, 3, budget=17, order=np.array([4, 3, 2, 1, 0]))
    np.testing.assert_array_equal(a.sizes, [3, 3, 3, 4, 4])
    assert a.cost == 17
    full = uniform(2, 3, budget=10_000)
    assert (full.sizes == D_MAX).all()


# --- allocate -------------------------------------------------------------------------------


@st.composite
def allocation_problem(draw: st.DrawFn) -> tuple[np.ndarray, int, int]:
    n = draw(st.integers(1, 500))
    d_max = draw(st.sampled_from([1, 2, 7, 64, 128]))
    w = draw(
        arrays(
            np.float64,
            n,
            elements=st.one_of(st.floats(1e-3, 1e4, allow_nan=False), st.integers(1, 5).map(float)),
        )
    )
    budget = draw(st.integers(n, d_max * n + 50))
    return w, budget, d_max


@settings(max_examples=200, deadline=None)
@given(allocation_problem())
def test_allocate_properties(problem: tuple[np.ndarray, int, int]) -> None:
    w, budget, d_max = problem
    sizes = allocate(w, budget, d_max=d_max)
    assert sizes.shape == w.shape
    assert sizes.min() >= 1 and sizes.max() <= d_max
    total = int(sizes.sum())
    assert total <= budget
    if budget <= d_max * len(w):
        assert total == budget
    else:
        assert (sizes == d_max).all()
    # Monotone: a larger weight never gets a smaller size.
    order = np.argsort(w, kind="stable")
    ws, ss = w[order], sizes[order]
    bigger = ws[1:] > ws[:-1]
    assert (ss[1:][bigger] >= ss[:-1][bigger]).all(), (ws, ss)
    # Equal weights differ by at most one (the leftover).
    for value in np.unique(w):
        same = sizes[w == value]
        assert same.max() - same.min() <= 1


def test_allocate_proportional_when_unclipped() -> None:
    sizes = allocate(np.array([1.0, 2.0, 3.0, 4.0]), 20)
    np.testing.assert_array_equal(sizes, [2, 4, 6, 8])


def test_allocate_all_zero_weights_is_uniform() -> None:
    sizes = allocate(np.zeros(5), 17)
    assert sizes.sum() == 17 and sizes.max() - sizes.min() <= 1


def test_allocate_fills_budget_with_zero_weights() -> None:
    w = np.zeros(412)
    w[-1] = 1.0  # e.g. items whose every interaction fell into valid/test (training frequency 0)
    sizes = allocate(w, 903, d_max=7)
    assert sizes.sum() == 903


def test_allocate_below_one_per_row() -> None:
    with pytest.raises(BudgetError):
        allocate(np.ones(10), 9)


# --- baselines on gowalla-mini --------------------------------------------------------------

SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.99)


@pytest.mark.parametrize("method", ["su", "sr", "mde", "full"])
@pytest.mark.parametrize("c", SPARSITIES)
def test_baseline_within_budget(mini: Dataset, method: str, c: float) -> None:
    a = baseline_action(method, mini, c, seed=1)
    assert a.user_sizes.shape == (mini.n_users,) and a.item_sizes.shape == (mini.n_items,)
    s = a.sizes
    assert s.min() >= 1 and s.max() <= D_MAX
    if method == "full":
        assert a.cost == D_MAX * mini.n_rows
        return
    budget = budget_for(c, n_rows=mini.n_rows)
    assert a.cost <= budget
    if method == "su":
        assert a.cost >= budget - mini.n_rows  # floor(B/n) per row + the remainder
        assert a.cost == budget  # the remainder goes to the most frequent rows
        assert s.max() - s.min() <= 1
    else:
        assert a.cost >= 0.99 * budget


@pytest.mark.parametrize("c", SPARSITIES)
def test_mde_sizes_follow_frequency(mini: Dataset, c: float) -> None:
    sizes = baseline_action("mde", mini, c).sizes
    freq = frequencies(mini)
    order = np.argsort(freq, kind="stable")
    f, s = freq[order], sizes[order]
    bigger = f[1:] > f[:-1]
    assert (s[1:][bigger] >= s[:-1][bigger]).all()
    assert s[-1] > s[0]  # not uniform


def test_su_remainder_goes_to_most_frequent(mini: Dataset) -> None:
    a = baseline_action("su", mini, 0.9)
    s, freq = a.sizes, frequencies(mini)
    assert freq[s == s.max()].min() >= freq[s == s.min()].max()


def test_sr_depends_on_seed(mini: Dataset) -> None:
    a, b = baseline_action("sr", mini, 0.9, seed=1), baseline_action("sr", mini, 0.9, seed=2)
    np.testing.assert_array_equal(a.sizes, baseline_action("sr", mini, 0.9, seed=1).sizes)
    assert not np.array_equal(a.sizes, b.sizes)


def test_unknown_baseline(mini: Dataset) -> None:
    with pytest.raises(ConfigError, match="unknown baseline"):
        baseline_action("pep", mini, 0.9)


def test_baseline_infeasible_sparsity(mini: Dataset) -> None:
    with pytest.raises(BudgetError, match=C_MAX):
        baseline_action("su", mini, 0.995)
