"""Why a budget buys the recall it does — the numbers behind the dashboard's "Why" page
(``dashboard/views/why_recall.py``), in plain numpy/pandas so the report can compute them without the
dashboard. Same definitions and wording: an action is judged by *where* its parameters go
(users or items, the frequent head or the long tail)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bet.budget import Action

HEAD = 0.2  # "head": the 20 % most frequent users (items)
SHARES = ("user share", "user head share", "item head share")


def by_frequency(freq: np.ndarray) -> np.ndarray:
    """Row indices, most frequent first (ties by index)."""
    return np.argsort(-np.asarray(freq), kind="stable")


def allocation_by_bin(sizes: np.ndarray, freq: np.ndarray, n_bins: int = 10) -> np.ndarray:
    """Mean size per frequency bin of equal row counts, bin 0 = the most frequent rows."""
    bins = np.array_split(np.asarray(sizes, dtype=np.float64)[by_frequency(freq)], n_bins)
    return np.array([b.mean() if b.size else np.nan for b in bins])


def head_share(sizes: np.ndarray, freq: np.ndarray, top: float = HEAD) -> float:
    """Fraction of these rows' parameters held by the ``top`` most frequent of them."""
    sizes = np.asarray(sizes, dtype=np.float64)
    total = sizes.sum()
    if total <= 0:
        return float("nan")
    k = max(1, round(top * sizes.size))
    return float(sizes[by_frequency(freq)[:k]].sum() / total)


def features(action: Action, user_freq: np.ndarray, item_freq: np.ndarray) -> dict[str, float]:
    """The few numbers that describe where an action puts its parameters."""
    u, i = action.user_sizes.astype(np.float64), action.item_sizes.astype(np.float64)
    cost = u.sum() + i.sum()
    return {
        "user share": float(u.sum() / cost) if cost else float("nan"),
        "user head share": head_share(u, user_freq),
        "item head share": head_share(i, item_freq),
        "mean user size": float(u.mean()) if u.size else float("nan"),
        "mean item size": float(i.mean()) if i.size else float("nan"),
    }


def features_frame(
    actions: Sequence[dict[str, Any]], sizes: Callable[[int], Action], *, user_freq: np.ndarray, item_freq: np.ndarray
) -> pd.DataFrame:
    """One row per evaluated action: id, iteration, strategy, fitness, predicted + :func:`features`."""
    rows = []
    for a in actions:
        row = {k: a.get(k) for k in ("action_id", "iteration", "strategy", "fitness", "predicted")}
        row["recall@20"] = (a.get("metrics") or {}).get("recall@20")
        row.update(features(sizes(a["action_id"]), user_freq, item_freq))
        rows.append(row)
    return pd.DataFrame(rows)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Rank correlation (average ranks for ties), ``None`` below 3 points or for a constant side."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return None
    ra, rb = pd.Series(a[ok]).rank().to_numpy(), pd.Series(b[ok]).rank().to_numpy()
    return float(np.corrcoef(ra, rb)[0, 1])


def quartile_contrast(df: pd.DataFrame, column: str) -> tuple[float, float] | None:
    """Mean of ``column`` over the fittest quarter of actions vs the least fit quarter."""
    if column not in df or "fitness" not in df:
        return None
    d = df.dropna(subset=["fitness", column]).sort_values("fitness", ascending=False)
    if len(d) < 4:
        return None
    q = max(1, len(d) // 4)
    return float(d[column].head(q).mean()), float(d[column].tail(q).mean())


def narrative(
    best: dict[str, float],
    uniform: dict[str, float] | None,
    df: pd.DataFrame,
    *,
    full_recall: float | None = None,
    best_recall: float | None = None,
    kept_fraction: float | None = None,
) -> list[str]:
    """Plain sentences for stakeholders (``**bold**`` marks the key numbers), as on the Why page."""
    out = []
    if best_recall is not None and full_recall:
        kept = f" with {kept_fraction:.0%} of the parameters" if kept_fraction is not None else ""
        out.append(
            f"The best action reaches validation recall@20 **{best_recall:.4f}**, "
            f"**{best_recall / full_recall:.0%}** of the full-size model's {full_recall:.4f}{kept}."
        )
    ref = f" (a uniform table: {uniform['user share']:.0%})" if uniform else ""
    out.append(f"It gives **users {best['user share']:.0%}** of the parameters and items the rest{ref}.")
    out.append(
        f"The {HEAD:.0%} most active users hold **{best['user head share']:.0%}** of the user parameters, the "
        f"{HEAD:.0%} most popular items **{best['item head share']:.0%}** of the item parameters "
        f"(a uniform table: about {HEAD:.0%} each) — the head is where a dimension buys the most recall."
    )
    for col, what in (("user head share", "user head"), ("item head share", "item head"), ("user share", "user")):
        contrast = quartile_contrast(df, col)
        rho = spearman(df[col], df["fitness"]) if col in df and "fitness" in df else None
        if contrast is not None and rho is not None:
            out.append(
                f"Across {len(df)} evaluated actions the fittest quarter gave the {what} share "
                f"{contrast[0]:.0%} vs {contrast[1]:.0%} for the least fit quarter "
                f"(Spearman ρ with fitness {rho:+.2f})."
            )
    return out
