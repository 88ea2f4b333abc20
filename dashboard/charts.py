"""Pure Plotly builders: store rows (or arrays derived from them) → ``go.Figure``. No streamlit.

SVG traces only (no WebGL): headless browsers without a GPU render them, and large scatters are
subsampled to at most :data:`MAX_POINTS` points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.chart_style import (
    BACKBONE_COLORS,
    MAX_POINTS,
    MDE_NOTE,
    METHOD_COLORS,
    METHOD_NAMES,
    STRATEGY_COLORS,
    SYMBOLS,
    layout,
)
from dashboard.formats import integer_axis, power_of_ten, single_value_range, times_ten
from dashboard.size_charts import allocation_figure, size_frequency_figure, size_histogram_figure

__all__ = [
    "BACKBONE_COLORS",
    "MAX_POINTS",
    "MDE_NOTE",
    "METHOD_COLORS",
    "METHOD_NAMES",
    "STRATEGY_COLORS",
    "SYMBOLS",
    "allocation_figure",
    "backbone_metrics_figure",
    "fitness_figure",
    "layout",
    "pool_figure",
    "predicted_vs_actual_figure",
    "ranking_figure",
    "share_fitness_figure",
    "size_frequency_figure",
    "size_histogram_figure",
    "spearman_figure",
]


def ranking_figure(ranked: Mapping[str, Any]) -> go.Figure:
    """The m candidates of one iteration sorted by predicted fitness; the chosen one marked with
    its strategy (a ``candidates_ranked`` event payload)."""
    pred = np.asarray(ranked["predicted"], dtype=float)
    order = np.argsort(-pred, kind="stable")
    chosen, strategy = int(ranked["chosen"]), ranked.get("strategy", "")
    costs = list(ranked.get("costs") or [None] * len(pred))
    shares = list(ranked.get("user_shares") or [None] * len(pred))
    ranks = np.arange(1, len(pred) + 1)
    hover = [f"candidate {i}<br>predicted {pred[i]:.4f}<br>cost {costs[i]}<br>user share {shares[i]}" for i in order]
    colors = [STRATEGY_COLORS.get(strategy, "#7f7f7f") if i == chosen else "#c7c7c7" for i in order]
    fig = go.Figure(
        go.Bar(x=ranks, y=pred[order], marker_color=colors, hovertext=hover, hoverinfo="text", name="candidates")
    )
    pos = int(np.flatnonzero(order == chosen)[0]) + 1 if 0 <= chosen < len(pred) else None
    if pos is not None:
        fig.add_trace(
            go.Scatter(
                x=[pos],
                y=[pred[chosen]],
                mode="markers+text",
                text=[f"chosen ({strategy})"],
                textposition="top right",
                marker={"symbol": "star", "size": 16, "color": STRATEGY_COLORS.get(strategy, "#7f7f7f")},
                name="chosen",
            )
        )
    lo, hi = (float(pred.min()), float(pred.max())) if pred.size else (0.0, 1.0)
    pad = (hi - lo) * 0.15 or 0.01
    fig.update_yaxes(range=[lo - pad, hi + pad * 2], title="predicted fitness")
    fig.update_xaxes(title="candidate rank by predicted fitness")
    return layout(
        fig, f"Iteration {ranked['iteration']}: {len(pred)} candidates ranked, {strategy} pick", showlegend=False
    )


def predicted_vs_actual_figure(actions: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Each evaluated action: the predictor's fitness before finetuning vs the measured one."""
    fig = go.Figure()
    df = pd.DataFrame([a for a in actions if a.get("iteration", 0) > 0])
    for strategy, g in df.groupby("strategy", sort=False) if len(df) else []:
        fig.add_trace(
            go.Scatter(
                x=g["predicted"],
                y=g["fitness"],
                mode="markers",
                name=str(strategy),
                marker={"color": STRATEGY_COLORS.get(str(strategy), "#7f7f7f"), "size": 9},
                hovertext=[f"action {a} (iteration {t})" for a, t in zip(g["action_id"], g["iteration"], strict=True)],
            )
        )
    fig.update_xaxes(title="predicted fitness (before finetuning)")
    fig.update_yaxes(title="actual fitness r_a", range=single_value_range(df["fitness"] if len(df) else []))
    return layout(fig, "Predicted vs actual fitness")


def spearman_figure(updates: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Spearman of predicted vs actual over all evaluated actions, and the predictor loss, per
    iteration (``predictor_updated`` payloads). The loss axis starts at 0 and reads "0, 2, 4" with
    its scale ("× 10⁻⁵") in its title, never "−0.000037"; the hover gives the loss itself."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    it = [u["iteration"] for u in updates]
    rho = [u.get("spearman") for u in updates]
    loss = [u.get("loss") for u in updates]
    power = power_of_ten(loss)
    scaled = [None if v is None else v / 10**power for v in loss]
    fig.add_trace(
        go.Scatter(x=it, y=rho, mode="lines+markers", name="Spearman ρ", connectgaps=False, line={"color": "#d62728"}),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=it,
            y=scaled,
            mode="lines",
            name="predictor loss",
            customdata=loss,
            hovertemplate="iteration %{x}: loss %{customdata:.3g}<extra></extra>",
            line={"color": "#7f7f7f", "dash": "dot"},
        ),
        secondary_y=True,
    )
    fig.update_yaxes(title_text="Spearman ρ", range=[-1.05, 1.05], secondary_y=False)
    top = max((v for v in scaled if v is not None), default=1.0) or 1.0
    # its own round ticks from 0 (the page's theme would align them to ρ's grid: "1.82843, 1.38242")
    fig.update_yaxes(
        title_text=f"loss ({times_ten(power)})" if power else "loss",
        secondary_y=True,
        showgrid=False,
        tickmode="auto",
        nticks=6,
        range=[0, top * 1.1],
        tickformat="~g",
    )
    fig.update_xaxes(title_text="iteration", **integer_axis(it))
    return layout(fig, "Predictor ranking quality over time")


def fitness_figure(actions: Sequence[Mapping[str, Any]]) -> go.Figure:
    """Fitness of each iteration's action and the best so far."""
    acts = sorted((a for a in actions if a.get("iteration", 0) > 0), key=lambda a: a["iteration"])
    it = [a["iteration"] for a in acts]
    fit = [a["fitness"] for a in acts]
    best = list(np.maximum.accumulate(fit)) if fit else []
    fig = go.Figure(
        [
            go.Scatter(
                x=it,
                y=fit,
                mode="markers",
                name="evaluated",
                marker={"color": [STRATEGY_COLORS.get(a.get("strategy") or "", "#7f7f7f") for a in acts], "size": 8},
            ),
            go.Scatter(x=it, y=best, mode="lines", name="best so far", line={"color": "#d62728", "shape": "hv"}),
        ]
    )
    fig.update_xaxes(title="iteration", **integer_axis(it))
    fig.update_yaxes(title="fitness (quality ÷ full model)", range=single_value_range(fit))
    return layout(fig, "Fitness per iteration")


def backbone_metrics_figure(rows: pd.DataFrame, metrics: Sequence[str] = ("recall@20", "ndcg@20")) -> go.Figure:
    """Grouped bars: one group per metric, one bar per backbone (``rows``: backbone + metric columns)."""
    fig = go.Figure()
    for r in rows.itertuples(index=False):
        d = r._asdict()
        ys = [d.get(m.replace("@", "_")) for m in metrics]
        ys = [None if y is None or y != y else y for y in ys]  # not finished: no bar, no "0.0000"
        fig.add_trace(
            go.Bar(
                x=list(metrics),
                y=ys,
                name=d["backbone"],
                marker_color=BACKBONE_COLORS.get(d["backbone"]),
                text=["" if y is None else f"{y:.4f}" for y in ys],
            )
        )
    fig.update_yaxes(title="test")
    return layout(fig, "Backbones at the same budget", barmode="group")


def share_fitness_figure(df: pd.DataFrame) -> go.Figure:
    """Each evaluated action: the users' share of the budget vs fitness, coloured by how much of
    the item parameters the popular head holds."""
    fig = go.Figure()
    if len(df):
        hover = [f"action {r.action_id} (iteration {r.iteration}, {r.strategy})" for r in df.itertuples()]
        fig.add_trace(
            go.Scatter(
                x=df["user share"],
                y=df["fitness"],
                mode="markers",
                hovertext=hover,
                name="actions",
                marker={
                    "size": 11,
                    "color": df["item head share"],
                    "colorscale": "Viridis",
                    "showscale": True,
                    "colorbar": {"title": "item head<br>share"},
                },
            )
        )
    fig.update_xaxes(title="users' share of the parameters", tickformat=".0%")
    fig.update_yaxes(title="fitness")
    return layout(fig, "Fitness vs how the budget is split", showlegend=False)


def pool_figure(ranked: Mapping[str, Any]) -> go.Figure:
    """The predictor's view of one iteration's candidate pool: users' share of the budget vs
    predicted fitness, the chosen candidate marked."""
    pred = np.asarray(ranked["predicted"], dtype=float)
    shares = np.asarray(ranked.get("user_shares") or [np.nan] * len(pred), dtype=float)
    chosen = int(ranked["chosen"])
    fig = go.Figure(
        go.Scatter(x=shares, y=pred, mode="markers", name="candidates", marker={"color": "#9e9e9e", "size": 7})
    )
    if 0 <= chosen < len(pred):
        fig.add_trace(
            go.Scatter(
                x=[shares[chosen]],
                y=[pred[chosen]],
                mode="markers",
                name="chosen",
                marker={"symbol": "star", "size": 16, "color": "#d62728"},
            )
        )
    fig.update_xaxes(title="users' share of the parameters", tickformat=".0%")
    fig.update_yaxes(title="predicted fitness")
    return layout(fig, f"What the predictor believes (iteration {ranked['iteration']})")
