"""The "Why this recall?" page's statistics, said only when there are enough points (plain Python,
no streamlit). Across a search's evaluated actions: how the fittest quarter differs from the least
fit one, and the Spearman ρ of each share with fitness — with a 95 % interval for ρ (Fisher's z with
the Fieller–Hartley–Pearson variance for rank correlations), or, below :data:`MIN_POINTS` evaluated
actions, a sentence that says more are needed instead of numbers that mean nothing (ρ = −0.70
from 5 actions)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
from scipy import stats as sps

from bet import report as explain  # the point values, as the offline report computes them

#: Evaluated actions below which the page quotes no quartile statistic and no ρ.
MIN_POINTS = 10
#: The shares the page relates to fitness, and how a sentence names each.
SHARES = (("user head share", "user head"), ("item head share", "item head"), ("user share", "user"))


def rho_interval(rho: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """A ``level`` confidence interval for a Spearman ρ from ``n`` pairs: Fisher's z = atanh ρ with
    variance 1.06 / (n − 3) (Fieller, Hartley & Pearson 1957), mapped back with tanh. Raises
    ``ValueError`` below 4 pairs (no variance) or for ρ outside [−1, 1]."""
    if n < 4:
        raise ValueError(f"an interval for ρ needs at least 4 pairs, not {n}")
    if not -1 <= rho <= 1:
        raise ValueError(f"ρ = {rho} is not a correlation")
    z = math.atanh(max(-0.999999, min(0.999999, rho)))
    half = float(sps.norm.ppf(0.5 + level / 2)) * math.sqrt(1.06 / (n - 3))
    return math.tanh(z - half), math.tanh(z + half)


@dataclass(frozen=True)
class Contrast:
    """One share across the evaluated actions: its mean in the fittest and least fit quarters
    (``per_quarter`` actions each), and its Spearman ρ with fitness with a 95 % interval."""

    share: str
    what: str
    n: int
    per_quarter: int
    fittest: float
    least_fit: float
    rho: float
    low: float
    high: float

    @property
    def clear(self) -> bool:
        """Whether the interval leaves out 0 (a link the points support, at 95 %)."""
        return self.low > 0 or self.high < 0

    def sentence(self) -> str:
        link = "a clear link" if self.clear else "no clear link: the interval includes 0"
        return (
            f"Across {self.n} evaluated actions the fittest quarter ({self.per_quarter} actions) gave the {self.what} "
            f"share **{self.fittest:.0%}** vs {self.least_fit:.0%} for the least fit quarter; Spearman ρ with fitness "
            f"**{self.rho:+.2f}** (95 % interval {self.low:+.2f} to {self.high:+.2f}, {link})."
        )


def contrasts(df: pd.DataFrame, min_points: int = MIN_POINTS) -> list[Contrast]:
    """The :data:`SHARES` whose quartile contrast and ρ can be computed from ``df`` (one row per
    evaluated action: ``fitness`` and the shares, :func:`bet.report.features_frame`) — none below
    ``min_points`` actions with a fitness."""
    if "fitness" not in df:
        return []
    out = []
    for share, what in SHARES:
        if share not in df:
            continue
        d = df.dropna(subset=["fitness", share])
        if len(d) < min_points:
            continue
        contrast = explain.quartile_contrast(d, share)
        rho = explain.spearman(d[share], d["fitness"])
        if contrast is None or rho is None:
            continue
        low, high = rho_interval(rho, len(d))
        out.append(Contrast(share, what, len(d), max(1, len(d) // 4), *contrast, rho, low, high))
    return out


def too_few(n: int, min_points: int = MIN_POINTS) -> str | None:
    """What the page says instead of statistics from ``n`` evaluated actions (None: enough)."""
    if n >= min_points:
        return None
    return (
        f"Quartile statistics and rank correlations need at least {min_points} evaluated actions; this search has "
        f"{n} so far — they appear here once it has {min_points}."
    )


def sentences(df: pd.DataFrame, min_points: int = MIN_POINTS) -> list[str]:
    """The statistics' sentences for the page: one per share with its interval, or the one that
    says more points are needed."""
    n = int(df["fitness"].notna().sum()) if "fitness" in df else 0
    short = too_few(n, min_points)
    if short is not None:
        return [short]
    found = contrasts(df, min_points)
    return [c.sentence() for c in found] or [
        f"No share varies enough across these {n} actions to relate it to fitness."
    ]
