"""Plotly builders for where a budget's sizes go: the size histogram of an action, size vs
frequency per row, and the mean size per frequency decile for each method. No streamlit."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.chart_style import MAX_POINTS, METHOD_COLORS, layout


def size_histogram_figure(
    user_sizes: np.ndarray,
    item_sizes: np.ndarray,
    *,
    uniform: float,
    d_max: int = 128,
    title: str = "Embedding sizes of the best action",
    compact: bool = False,
) -> go.Figure:
    """Rows per embedding size (counted here, so a 70k-row table sends ≤ d_max bars, not 70k
    values), users and items side by side, the budget's uniform size marked."""
    fig = make_subplots(
        1, 2, subplot_titles=(f"users ({len(user_sizes):,})", f"items ({len(item_sizes):,})"), shared_yaxes=False
    )
    top = int(max(np.max(user_sizes, initial=1), np.max(item_sizes, initial=1), uniform))
    xmax = min(d_max, int(top * 1.15) + 2)  # zoom on the sizes in use (d_max is often far above them)
    for col, (sizes, color, name) in enumerate(((user_sizes, "#1f77b4", "users"), (item_sizes, "#ff7f0e", "items")), 1):
        counts = np.bincount(np.asarray(sizes, dtype=np.int64), minlength=d_max + 1)
        used = np.flatnonzero(counts)
        fig.add_trace(
            go.Bar(
                x=used,
                y=counts[used],
                marker_color=color,
                name=name,
                width=1.0,
                hovertemplate="size %{x}: %{y} rows<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.add_vline(
            x=uniform,
            line_dash="dash",
            line_color="#333",
            row=1,
            col=col,
            annotation_text=f"uniform {uniform:.1f}",
            annotation_position="top right",
        )
    fig.update_xaxes(title_text="size" if compact else f"embedding size (of d_max = {d_max})", range=[0, xmax + 1])
    fig.update_yaxes(title_text="rows", col=1)
    return layout(fig, title, showlegend=False)


def _subsample(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, limit, replace=False))


def size_frequency_figure(
    *, user_sizes: np.ndarray, user_freq: np.ndarray, item_sizes: np.ndarray, item_freq: np.ndarray
) -> go.Figure:
    """Size vs training interactions per row (log x), users and items as separate series."""
    fig = go.Figure()
    for sizes, freq, name, color in (
        (user_sizes, user_freq, "users", "#1f77b4"),
        (item_sizes, item_freq, "items", "#ff7f0e"),
    ):
        idx = _subsample(len(sizes))
        fig.add_trace(
            go.Scatter(
                x=np.asarray(freq)[idx] + 1,
                y=np.asarray(sizes)[idx],
                mode="markers",
                name=name,
                marker={"color": color, "size": 4, "opacity": 0.45},
            )
        )
    fig.update_xaxes(type="log", title="training interactions + 1 (log)")
    fig.update_yaxes(title="embedding size")
    return layout(fig, "Size vs interaction frequency")


def allocation_figure(alloc: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> go.Figure:
    """Mean size per frequency decile (most frequent first), users and items, one line per method."""
    fig = make_subplots(1, 2, subplot_titles=("users by activity decile", "items by popularity decile"))
    for method, (users, items) in alloc.items():
        color = METHOD_COLORS.get(method.split()[0].lower())
        for col, vals in ((1, users), (2, items)):
            fig.add_trace(
                go.Scatter(
                    x=np.arange(1, len(vals) + 1),
                    y=vals,
                    mode="lines+markers",
                    name=method,
                    line={"color": color},
                    legendgroup=method,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="decile (1 = most frequent)", dtick=1)
    fig.update_yaxes(title_text="mean embedding size", col=1)
    return layout(fig, "Where the budget goes: size by frequency decile")
