"""The "Why this recall?" page's statistics (issue 23 §2): quartile contrasts and Spearman ρ only
from enough evaluated actions (:data:`dashboard.stats.MIN_POINTS`), each ρ with its 95 % interval."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from dashboard import stats


def actions(n: int, seed: int = 0, link: float = 1.0) -> pd.DataFrame:
    """``n`` evaluated actions whose user share rises with fitness (``link``) plus noise."""
    rng = np.random.default_rng(seed)
    fit = rng.uniform(0.7, 0.9, n)
    return pd.DataFrame({"fitness": fit, "user share": 0.3 + link * (fit - 0.8) + rng.normal(0, 0.02, n),
                         "user head share": rng.uniform(0.2, 0.6, n), "item head share": np.full(n, 0.5)})  # fmt: skip


def test_five_actions_give_no_statistics_but_say_how_many_are_needed() -> None:
    df = actions(5)
    assert stats.contrasts(df) == []
    (text,) = stats.sentences(df)
    assert "at least 10 evaluated actions" in text and "has 5 so far" in text
    assert "ρ" not in text and "quarter" not in text


def test_enough_actions_give_rho_with_its_interval() -> None:
    df = actions(40)
    found = {c.share: c for c in stats.contrasts(df)}
    assert set(found) == {"user share", "user head share"}  # a constant item head share relates to nothing
    c = found["user share"]
    assert c.n == 40 and c.per_quarter == 10 and c.fittest > c.least_fit
    assert c.rho == pytest.approx(sps.spearmanr(df["user share"], df["fitness"]).statistic)
    assert c.low < c.rho < c.high and c.clear
    text = next(s for s in stats.sentences(df) if "the user share" in s)
    assert "Across 40 evaluated actions" in text and "95 % interval" in text and "a clear link" in text


def test_an_interval_that_includes_zero_says_no_clear_link() -> None:
    c = next(c for c in stats.contrasts(actions(12, seed=3, link=0.0)) if c.share == "user share")
    assert c.low < 0 < c.high and not c.clear and "no clear link" in c.sentence()


def test_rho_interval_is_fisher_z_with_the_rank_variance() -> None:
    low, high = stats.rho_interval(0.5, 28)
    half = 1.959964 * math.sqrt(1.06 / 25)
    assert (low, high) == pytest.approx((math.tanh(math.atanh(0.5) - half), math.tanh(math.atanh(0.5) + half)))
    assert stats.rho_interval(1.0, 10)[1] == pytest.approx(1.0) and stats.rho_interval(-0.7, 5)[0] > -1
    with pytest.raises(ValueError, match="at least 4 pairs"):
        stats.rho_interval(0.3, 3)
    with pytest.raises(ValueError, match="not a correlation"):
        stats.rho_interval(1.5, 10)


def test_missing_fitness_counts_as_no_point() -> None:
    df = actions(12)
    df.loc[:3, "fitness"] = np.nan  # 8 actions with a fitness
    assert stats.contrasts(df) == [] and "has 8 so far" in stats.sentences(df)[0]
    assert stats.sentences(pd.DataFrame()) == [stats.too_few(0)]
