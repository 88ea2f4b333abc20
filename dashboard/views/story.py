"""The story band at the top of the Live page for a run of a batch with references (the one-click
demo, a sweep): one plain sentence computed from the batch's runs, the other budgets in a line, and
the batch's frontier filling in as its runs finish. It polls the store while the batch is active."""

from __future__ import annotations

from typing import Any

import streamlit as st

from bet import RunRecord, Status
from dashboard import frontier_chart, memo, provisional, queries, state, story
from dashboard.batch import has_story
from dashboard.views import study as study_view


def batch(cid: str | None) -> list[RunRecord]:
    """The runs started together (comparison ``cid``), newest first; [] for a run started alone."""
    if not cid:
        return []
    try:
        return state.store().list_runs(comparison_id=cid)
    except Exception:  # noqa: BLE001 — a damaged store is shown by the page's own read
        return []


def band(run: RunRecord) -> None:
    """Draw the band when ``run``'s batch has a full-size reference; polls while the batch runs."""
    cid, runs = run.comparison_id, batch(run.comparison_id)
    if not cid or not has_story(runs):  # a full-size reference in the batch
        return
    active = any(not r.status.is_final for r in runs)
    st.fragment(run_every=state.POLL * 2 if active else None)(_band)(cid, run.sparsity, active)


def _band(comparison_id: str, sparsity: float, was_active: bool) -> None:
    runs = state.store().list_runs(comparison_id=comparison_id)
    active = any(not r.status.is_final for r in runs)
    if was_active and not active:
        st.rerun()  # stop polling: one full rerun draws the finished story
    done = sum(r.status == Status.COMPLETED for r in runs)
    pending = provisional.of_runs(state.store(), runs)
    left, right = st.columns([3, 2])
    with left, st.container(key="story"):
        text = story.sentence(runs, sparsity, pending)
        if text:
            st.markdown(f"#### {text}")
        else:
            st.markdown("#### The story appears here as the BET search and the references finish.")
        more = story.other_budgets(runs, sparsity, pending)
        if more:
            st.markdown(more)
        st.caption(
            f"{done} of {len(runs)} runs of this batch completed"
            + (" · still running" if active else "")
            + (
                ". Each number is the test recall@20 (read out) of the run chosen on **validation** at that "
                "budget, as a share of the full-size model's; the search below is BET at the headline budget."
            )
        )
        if not active:
            study_view.beside_story()  # the mini demo's story told: the real-size one, one click away
    points = queries.frontier_points(runs)
    if points.empty and pending.empty:
        return
    signature = (tuple(sorted(points["run_id"])), provisional.signature(pending))
    fig = memo.get(("story-frontier", comparison_id, signature), lambda: _figure(points, pending))
    with right, st.container(key="chart-story-frontier"):
        st.plotly_chart(fig, key="fig-story-frontier")


def _figure(points: Any, pending: Any) -> Any:
    fig = frontier_chart.frontier_figure(points, log_x=True, pending=pending)  # log: 5 %, 10 %, 20 %, full apart
    if len(pending):  # the small chart's axis title, short enough to fit its height
        fig.update_yaxes(title={"text": "recall@20 (hollow: validation)", "font": {"size": 11}})
    fig.update_layout(
        height=400,
        title="Test recall@20 vs parameters kept (this batch)",
        font={"size": 13},
        legend={"font": {"size": 13}, "y": -0.3},
    )
    return fig
