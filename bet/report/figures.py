"""The report's figures as inline SVG: the recall-vs-budget frontier, the size histograms of the
winning action, fitness by iteration, and where the budget goes by frequency decile."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bet.methods import METHODS, method_colours, method_name
from bet.report.svg import HLine, Series, bar_chart, nice_ticks, xy_chart

BET = METHODS["bet"]
STRATEGY_COLORS = {"greedy": "#d62728", "random": "#ff7f0e", "nearest": "#17becf"}


def frontier(points: Sequence[dict[str, Any]], reported: set[str], title: str) -> tuple[str, int]:
    """Test recall@20 vs parameters kept, one line per method through the run picked by validation
    at each budget; full / pop as horizontal lines; the reported runs circled. Returns the SVG and
    how many other (not picked) runs are drawn as grey dots."""
    series, others, hlines = [], [], []
    methods = sorted({p["method"] for p in points}, key=lambda m: (m != BET.name, m))
    colours = method_colours()
    for m in methods:
        mine, ref = [p for p in points if p["method"] == m], METHODS.get(m)
        picked: dict[Any, dict[str, Any]] = {}
        for p in mine:
            k = p["params"] if ref is not None and ref.once else p["budget"]
            if k not in picked or (p["valid"] or -1, p["run_id"]) > (picked[k]["valid"] or -1, picked[k]["run_id"]):
                picked[k] = p
        chosen = {id(p) for p in picked.values()}
        others += [p for p in mine if id(p) not in chosen]
        best = sorted(picked.values(), key=lambda p: p["params"])
        color = colours.get(m, "#7f7f7f")
        if ref is not None and ref.once:  # full: a dashed line at its size; pop (no table): a dotted floor
            for p in best:
                what = f"{p['params']:,} params" if ref.table else "no embeddings"
                hlines.append(HLine(p["test"], f"{method_name(m)} ({what})", color, "7 4" if ref.table else "2 3"))
            continue
        series.append(
            Series(
                method_name(m),
                [p["params"] for p in best],
                [p["test"] for p in best],
                color,
                "lines+markers",
                ring=[p["run_id"] in reported for p in best],
                size=5,
            )
        )
    if others:
        series.insert(
            0,
            Series(
                "other runs (not picked)",
                [p["params"] for p in others],
                [p["test"] for p in others],
                "#b0b0b0",
                "markers",
                size=3.5,
            ),
        )
    svg = xy_chart(
        series,
        title,
        xlabel="parameters kept (embedding table)",
        ylabel="test recall@20",
        hlines=hlines,
        x_min=0.0,
        width=720,
        height=380,
    )
    return svg, len(others)


def histograms(user_sizes: np.ndarray, item_sizes: np.ndarray, *, uniform: float, d_max: int) -> list[str]:
    """Rows per embedding size, users and items, the budget's uniform size marked (x zoomed on the
    sizes in use, as on the dashboard)."""
    top = int(max(np.max(user_sizes, initial=1), np.max(item_sizes, initial=1), uniform))
    x_max = min(d_max, int(top * 1.15) + 2)
    out = []
    for sizes, color, name in ((user_sizes, "#1f77b4", "users"), (item_sizes, "#ff7f0e", "items")):
        counts = np.bincount(np.asarray(sizes, dtype=np.int64), minlength=d_max + 1)
        used = np.flatnonzero(counts)
        out.append(
            bar_chart(
                [int(x) for x in used],
                [int(c) for c in counts[used]],
                f"{name} ({len(sizes):,} rows)",
                xlabel=f"embedding size (of d_max = {d_max})",
                ylabel="rows",
                color=color,
                marker=(uniform, f"uniform {uniform:.1f}"),
                x_max=x_max,
            )
        )
    return out


def fitness(actions: Sequence[Mapping[str, Any]]) -> str:
    """Fitness of each iteration's action (coloured by how it was picked) and the best so far."""
    acts = sorted(
        (a for a in actions if a.get("iteration", 0) > 0 and a.get("fitness") is not None), key=lambda a: a["iteration"]
    )
    series = []
    for strategy in sorted({a.get("strategy") or "" for a in acts}):
        g = [a for a in acts if (a.get("strategy") or "") == strategy]
        series.append(
            Series(
                f"{strategy or 'evaluated'} pick",
                [a["iteration"] for a in g],
                [a["fitness"] for a in g],
                STRATEGY_COLORS.get(strategy, "#7f7f7f"),
            )
        )
    its = [a["iteration"] for a in acts]
    best = list(np.maximum.accumulate([a["fitness"] for a in acts])) if acts else []
    series.append(Series("best so far", its, best, "#444", "steps"))
    ticks = nice_ticks(0, max(its, default=1) + 1)
    if ticks[1] - ticks[0] < 1:
        ticks = list(range(0, max(its, default=1) + 2))
    return xy_chart(
        series,
        "Fitness per iteration",
        xlabel="iteration",
        ylabel="fitness (quality ÷ full model)",
        xticks=ticks,
        width=560,
        height=320,
    )


def allocation(alloc: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> list[str]:
    """Mean size per frequency decile (1 = most frequent), users and items, one line per method."""
    out = []
    for side, what in ((0, "users by activity decile"), (1, "items by popularity decile")):
        series = [
            Series(
                name,
                list(range(1, len(v[side]) + 1)),
                [float(x) for x in v[side]],
                method_colours().get(name.split()[0].lower(), "#7f7f7f"),
                "lines+markers",
            )
            for name, v in alloc.items()
        ]
        out.append(
            xy_chart(
                series,
                f"Where the budget goes: {what}",
                xlabel="decile (1 = most frequent)",
                ylabel="mean embedding size",
                y_min=0.0,
                xticks=range(0, 12),
                width=440,
                height=320,
            )
        )
    return out
