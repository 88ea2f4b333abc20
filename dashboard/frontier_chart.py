"""The recall-vs-budget frontier as a Plotly figure (no streamlit): the runs each line joins are
chosen on validation (:mod:`dashboard.choices`); test metrics are what the figure reads out."""

from __future__ import annotations

from html import escape

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from bet import METHODS, once_methods
from dashboard import choices, provisional
from dashboard.charts import BACKBONE_COLORS, METHOD_COLORS, METHOD_NAMES, SYMBOLS, layout
from dashboard.formats import compact, distinct_ticks, short_number, single_value_range


def frontier_figure(
    points: pd.DataFrame,
    *,
    x: str = "params",
    metric_name: str = "recall@20",
    color_by: str = "method",
    log_x: bool = False,
    pending: pd.DataFrame | None = None,
) -> go.Figure:
    """Test metric (a read-out) vs kept parameters (or MB). One line per method (or backbone) joins,
    at each budget, the run chosen on validation — or the mean ± std over seeds where several seeds
    ran (:func:`dashboard.choices.frontier_line`); the other runs are faint points. ``full`` is a
    dashed line across the chart (and a point at its size), ``pop`` a dotted floor, each the run best
    on validation. ``points``: :func:`dashboard.queries.frontier_points`. ``pending``: provisional
    points of running searches (:func:`dashboard.provisional.provisional_points`), hollow markers at
    their **validation** metric with their own legend entry, "finetuned, not yet retrained"."""
    fig = go.Figure()
    pending = pending if pending is not None else pd.DataFrame(columns=provisional.COLUMNS)
    xlabel = "parameters kept" if x == "params" else "packed table (MB)"
    is_ref = points["method"].isin(once_methods()) if len(points) else pd.Series(dtype=bool)
    refs, pts = (points[is_ref], points[~is_ref]) if len(points) else (points, points)
    several = len({*pts.get("backbone", ()), *pending["backbone"]}) > 1
    for (method, backbone), g in pts.groupby(["method", "backbone"], sort=True) if len(pts) else []:
        line, rest = choices.frontier_line(g, x)
        label = METHOD_NAMES.get(str(method), str(method))
        if color_by == "method":
            name, color = label + (f" · {backbone}" if several else ""), METHOD_COLORS.get(str(method))
            symbol = SYMBOLS[sorted(pts["backbone"].unique()).index(backbone) % len(SYMBOLS)]
        else:
            name, color = f"{backbone} · {label}", BACKBONE_COLORS.get(str(backbone))
            symbol = SYMBOLS[list(METHOD_COLORS).index(method) % len(SYMBOLS)] if method in METHOD_COLORS else "circle"
        seeds = line["n_seeds"] > 1
        error_y = {"type": "data", "array": line["std"].where(seeds, 0.0).tolist()} if seeds.any() else None
        fig.add_trace(
            go.Scatter(
                x=line[x],
                y=line["value"],
                mode="lines+markers",
                name=name,
                legendgroup=name,
                hovertext=_hover(line, metric_name, line=True),
                hoverinfo="text",
                marker={"size": 10, "color": color, "symbol": symbol},
                error_y=error_y,
                customdata=line["run_id"],
            )
        )
        if len(rest):
            fig.add_trace(
                go.Scatter(
                    x=rest[x],
                    y=rest["value"],
                    mode="markers",
                    name=f"{name} (other runs)",
                    legendgroup=name,
                    showlegend=False,
                    hovertext=_hover(rest, metric_name),
                    hoverinfo="text",
                    customdata=rest["run_id"],
                    marker={"size": 8, "color": color, "opacity": 0.45},
                )
            )
    _pending(fig, pending, x=x, metric_name=metric_name, color_by=color_by, several=several)
    xs = pd.concat([points[x], pending[x]]) if len(pending) else points[x] if len(points) else pd.Series(dtype=float)
    lo, hi = x_range(xs, log_x)
    for r in choices.best_on_valid(refs, ["method", "backbone"]).itertuples():
        method = str(r.method)
        fig.add_trace(
            go.Scatter(
                x=[lo, hi],
                y=[r.value, r.value],
                mode="lines",
                name=f"{METHOD_NAMES[method]} ({r.backbone})",
                line={"dash": "dash" if METHODS[method].table else "dot", "color": METHOD_COLORS[method]},
                customdata=[r.run_id] * 2,
                hoverinfo="text",
                hovertext=(
                    f"{method} {r.backbone} on {escape(str(r.dataset))} (run {r.run_id}, chosen on validation): "
                    f"test {metric_name} {r.value:.4f}"
                ),
            )
        )
        if METHODS[method].table:  # full: a point at its size too (pop keeps no table)
            fig.add_trace(
                go.Scatter(
                    x=[getattr(r, x)],
                    y=[r.value],
                    mode="markers",
                    showlegend=False,
                    marker={"size": 10, "color": METHOD_COLORS[method], "symbol": "diamond"},
                    hovertext=_hover(refs[refs["run_id"] == r.run_id], metric_name),
                    hoverinfo="text",
                    customdata=[r.run_id],
                )
            )
    span = [np.log10(lo), np.log10(hi)] if log_x else [lo, hi]
    # A log axis labels its minor ticks with bare digits ("5, 100k, 2, 5, 1M"): label the budgets
    # instead, compactly ("44k", not "43.744k").
    ticks = distinct_ticks(pd.to_numeric(xs, errors="coerce").dropna()) if log_x else []
    text = [compact(v) if x == "params" else short_number(v) for v in ticks]
    labels = {"tickvals": ticks, "ticktext": text} if 0 < len(ticks) <= 8 else {}
    fig.update_xaxes(title=xlabel, type="log" if log_x else "linear", range=span, **labels)
    ys = [*points["value"], *pending["valid"]] if len(points) or len(pending) else []
    fig.update_yaxes(
        title=f"test {metric_name}" + (" (hollow: validation)" if len(pending) else ""), range=single_value_range(ys)
    )  # one point alone: not −0.5 to 1
    return layout(fig, f"Test {metric_name} vs budget (each run chosen on validation)", height=420)


def _pending(fig: go.Figure, pending: pd.DataFrame, *, x: str, metric_name: str, color_by: str, several: bool) -> None:
    """The provisional points, one legend entry per method (× backbone): hollow, at validation."""
    for (method, backbone), g in pending.groupby(["method", "backbone"], sort=True) if len(pending) else []:
        label = METHOD_NAMES.get(str(method), str(method))
        if color_by == "method":
            name, color = label + (f" · {backbone}" if several else ""), METHOD_COLORS.get(str(method))
        else:
            name, color = f"{backbone} · {label}", BACKBONE_COLORS.get(str(backbone))
        fig.add_trace(
            go.Scatter(
                x=g[x],
                y=g["valid"],
                mode="markers+text",
                name=f"{name}: {provisional.LABEL} (validation)",
                text=["not yet retrained"] * len(g),
                textposition="top center",
                textfont={"size": 10, "color": color},
                marker={"size": 14, "color": color, "symbol": "circle-open", "line": {"width": 2.5}},
                hovertext=[provisional.hover(p, metric_name) for p in g.itertuples()],
                hoverinfo="text",
                customdata=g["run_id"],
            )
        )


def x_range(xs: pd.Series, log_x: bool = False) -> tuple[float, float]:
    """The frontier's x range in data units, padded so that one budget alone does not zoom into
    rounding noise ("33.599k … 33.601k"): linear from 0 to 8 % past the largest value; log from
    half the smallest positive value to twice the largest."""
    xs = pd.to_numeric(xs, errors="coerce").dropna()
    pos = xs[xs > 0]
    if not len(pos):
        return (0.5, 2.0) if log_x else (0.0, 1.0)
    if log_x:
        return float(pos.min()) / 2, float(pos.max()) * 2
    return 0.0, float(pos.max()) * 1.08


def _hover(g: pd.DataFrame, metric_name: str, line: bool = False) -> list[str]:
    """Hover texts of frontier points; on a line (``line``), how its point was chosen."""
    out = []
    for r in g.itertuples():
        mb = "–" if r.MB is None or r.MB != r.MB else f"{r.MB:.3f}"
        valid = "–" if r.valid is None or r.valid != r.valid else f"{r.valid:.4f}"
        if line and r.n_seeds > 1:
            how = (
                f"mean over {r.n_seeds} seeds (each seed's run chosen on validation)<br>valid {metric_name} "
                f"{valid} · test {metric_name} {r.value:.4f} ± {r.std:.4f}"
            )
        elif line:
            how = f"chosen on valid {metric_name} {valid}<br>test {metric_name} {r.value:.4f} (read-out)"
        else:
            how = f"valid {metric_name} {valid} · test {metric_name} {r.value:.4f}"
        out.append(
            f"<b>{r.method.upper()}</b> {r.backbone} on {escape(str(r.dataset))}<br>run {r.run_id}<br>sparsity "
            f"{r.sparsity:g}<br>params {r.params:,}<br>{mb} MB<br>{how}"
        )
    return out
