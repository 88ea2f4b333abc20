"""What every dashboard chart shares: the colours, names and symbols of methods, strategies and
backbones, the MDE note, the point limit of a scatter, and the common :func:`layout`."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from bet import method_colours, method_labels

#: The registry's (:data:`bet.METHODS`): the colours of the methods that have their own, and the labels.
METHOD_COLORS = method_colours()
METHOD_NAMES = method_labels()
#: Wherever MDE is shown: what our MDE baseline is, and what it leaves out of the original.
MDE_NOTE = (
    "MDE here is a simplification of mixed-dimension embeddings (Ginart et al., 2019): every user and item "
    "row gets its own size ∝ (training interactions)^0.5, scaled into the budget and clipped to [1, d_max] — "
    "no frequency blocks and no projections to a shared dimension."
)
STRATEGY_COLORS = {"greedy": "#d62728", "random": "#ff7f0e", "nearest": "#17becf", "": "#7f7f7f"}
BACKBONE_COLORS = {"lightgcn": "#1f77b4", "ngcf": "#ff7f0e", "ncf": "#2ca02c"}
SYMBOLS = ("circle", "square", "triangle-up", "diamond-open", "x", "cross")
MAX_POINTS = 4000


def layout(fig: go.Figure, title: str, **kw: Any) -> go.Figure:
    fig.update_layout(
        title=title,
        margin={"l": 50, "r": 20, "t": 50, "b": 45},
        height=kw.pop("height", 360),
        legend={"orientation": "h", "y": -0.2},
        **kw,
    )
    return fig
