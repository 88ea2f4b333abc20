"""The Live page's charts of one run: the predictor's rankings, predicted vs actual fitness, its
ranking quality and loss over time, fitness per iteration, the best action's embedding sizes. Each
figure is rebuilt only when what it shows changed (:mod:`dashboard.memo`)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import streamlit as st

from bet import RunRecord, Status, best_action
from dashboard import charts, memo, queries, state
from dashboard.feed import Feed, feed_for


def events(run_id: str) -> Feed:
    """The run's events seen by this session, brought up to date (only the new ones are read)."""
    feeds = st.session_state.setdefault("_feeds", OrderedDict())
    return feed_for(feeds, run_id, state.store())


def figure(run_id: str, name: str, *, depends_on: Hashable, build: Callable[[], Any]) -> Any:
    """The figure ``name`` of a run, rebuilt only when ``depends_on`` (what it shows) changed."""
    return memo.get((str(state.store().path), run_id, name, depends_on), build)


def actions_key(actions: list[dict[str, Any]]) -> Hashable:
    """What a figure of the evaluated actions depends on: they are only ever appended."""
    last = actions[-1] if actions else {}
    return len(actions), last.get("action_id"), last.get("fitness")


def search_charts(run: RunRecord, actions: list[dict[str, Any]]) -> None:
    rid = run.run_id
    feed = events(rid)
    ranked, updates = feed.of("candidates_ranked"), feed.of("predictor_updated")
    left, right = st.columns(2)
    with left:
        if ranked:
            pick = st.number_input("Rankings of iteration (0 = latest)", 0, max(1, run.iterations), 0, key="rank_iter")
            chosen = next((e for e in ranked if e["iteration"] == pick), ranked[-1])
            with st.container(key="chart-rankings"):
                fig = figure(rid, "rankings", depends_on=chosen["seq"], build=lambda: charts.ranking_figure(chosen))
                st.plotly_chart(fig, key="fig-rankings")
        else:
            st.info("The predictor's rankings appear once the search phase starts (after pretraining).")
    with right:
        if actions:
            with st.container(key="chart-pred-actual"):
                fig = figure(
                    rid,
                    "pred-actual",
                    depends_on=actions_key(actions),
                    build=lambda: charts.predicted_vs_actual_figure(actions),
                )
                st.plotly_chart(fig, key="fig-pred-actual")
    if updates or actions:
        left, right = st.columns(2)
        with left, st.container(key="chart-spearman"):
            fig = figure(rid, "spearman", depends_on=len(updates), build=lambda: charts.spearman_figure(updates))
            st.plotly_chart(fig, key="fig-spearman")
            st.caption(spearman_note(actions))
        with right, st.container(key="chart-fitness"):
            fig = figure(rid, "fitness", depends_on=actions_key(actions), build=lambda: charts.fitness_figure(actions))
            st.plotly_chart(fig, key="fig-fitness")


def spearman_note(actions: list[dict[str, Any]]) -> str:
    """Why ρ can fall late in a search, with this run's own band of fitness where there is one."""
    band = queries.fitness_band(actions)
    here = f" (here the last {band[0]} span fitness {band[1]:.3f} to {band[2]:.3f})" if band else ""
    return (
        "ρ ranks every action evaluated so far. Late in a search the picks crowd into a narrow band of high "
        f"fitness{here}, where the differences between actions are as small as the noise of evaluating them: "
        "ranking inside such a band is hard, so ρ can fall — even below 0 — while the predictor still tells "
        "good actions from poor ones. Judge it also by the fitness of what it picks (right)."
    )


def sizes_charts(run: RunRecord, actions: list[dict[str, Any]]) -> None:
    best = best_action(actions, run)
    if best is None:
        return
    rid, done = run.run_id, run.status == Status.COMPLETED
    key = (best["action_id"], done)  # the sizes of one stored action never change
    action = memo.get(
        (str(state.store().path), rid, "action", best["action_id"]),
        lambda: state.store().action(rid, best["action_id"]),
    )
    n = len(action.user_sizes) + len(action.item_sizes)
    d_max = run.d_max
    uniform = (run.budget or action.cost) / n
    what = (
        "the result"
        if done and run.kind == "search"
        else "the best action so far"
        if run.kind == "search"
        else f"the {run.method.upper()} action"
    )
    title = f"Embedding sizes of {what} (action {best['action_id']}, cost {action.cost:,})"
    with st.container(key="chart-sizes"):
        fig = figure(
            rid,
            "sizes",
            depends_on=key,
            build=lambda: charts.size_histogram_figure(
                action.user_sizes, action.item_sizes, uniform=uniform, d_max=d_max, title=title
            ),
        )
        st.plotly_chart(fig, key="fig-sizes")
    data = state.dataset_or_none(run.config.get("data"))
    if data is not None and data.n_users == len(action.user_sizes):
        with st.container(key="chart-size-freq"):
            fig = figure(
                rid,
                "size-freq",
                depends_on=key,
                build=lambda: charts.size_frequency_figure(
                    user_sizes=action.user_sizes,
                    user_freq=data.user_freq,
                    item_sizes=action.item_sizes,
                    item_freq=data.item_freq,
                ),
            )
            st.plotly_chart(fig, key="fig-size-freq")
