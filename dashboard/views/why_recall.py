"""Why a budget buys the recall it does: how the fittest actions split the parameters between
users and items, head and tail — compared with a uniform (SU) and a frequency (MDE, simplified) table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from bet import METHODS, BetError, baseline_action, best_action
from bet import report as explain  # the findings, shared with the offline report
from dashboard import charts, settings, state, stats

#: The references the best action is set beside: uniform sizes and MDE's frequency-scaled ones.
SU, MDE = METHODS["su"], METHODS["mde"]


@st.cache_data(show_spinner=False, max_entries=32)
def _features(run_id: str, n_actions: int, data_spec: Mapping[str, Any]) -> pd.DataFrame:
    """Features of a run's evaluated actions (recomputed when new actions arrive)."""
    store, data = state.store(), state.dataset(data_spec)
    actions = [a for a in store.actions(run_id) if a["iteration"] > 0]
    return explain.features_frame(
        actions, lambda i: store.action(run_id, i), user_freq=data.user_freq, item_freq=data.item_freq
    )


def page() -> None:
    state.show_flashes()
    st.title("Why does this budget buy this recall?")
    every = state.runs()
    rows = [r for r in every if r.kind == "search" and r.iteration > 0]
    if not rows:
        st.info("This page explains a BET search once it has evaluated a few actions. Start one in the sidebar.")
        return
    ids = [r.run_id for r in rows]
    by_id = {r.run_id: r for r in rows}
    current = st.query_params.get("run")
    if current not in ids:  # as the Live page: the run at work, or the story's headline search
        current = state.opening_run(every)
    rid = st.selectbox(
        "Search",
        ids,
        index=ids.index(current) if current in ids else 0,
        format_func=lambda i: f"{i} — {by_id[i].label()}",
        key="why_run",
    )
    active = not by_id[rid].status.is_final
    st.fragment(run_every=state.POLL * 2 if active else None)(view)(rid)


def view(run_id: str) -> None:
    store = state.store()
    run = store.get_run(run_id)
    actions = store.actions(run_id)
    evald = [a for a in actions if a["iteration"] > 0]
    data = state.dataset_or_none(run.config.get("data"))
    if data is None or not evald:
        return
    df = _features(run_id, len(evald), run.config["data"])
    top = best_action(actions, run)
    assert top is not None
    best = store.action(run_id, top["action_id"])
    c, seed, d_max = run.sparsity, run.seed, run.d_max
    try:
        su, mde = (baseline_action(m.name, data, c, seed=seed, d_max=d_max) for m in (SU, MDE))
    except BetError as exc:
        st.error(settings.shown(str(exc)))
        return
    pre = store.events(run_id, kinds=("pretrain_finished",))
    full = pre[-1]["valid"]["recall@20"] if pre else None
    kept = run.budget / (data.n_rows * d_max) if run.budget else None
    best_f = explain.features(best, data.user_freq, data.item_freq)
    # the engine's sentences without its statistics (df.iloc[:0]): they follow with their intervals,
    # and only from enough evaluated actions (dashboard.stats)
    sentences = explain.narrative(
        best_f,
        explain.features(su, data.user_freq, data.item_freq),
        df.iloc[:0],
        full_recall=full,
        best_recall=(top.get("metrics") or {}).get("recall@20"),
        kept_fraction=kept,
    )
    sentences += stats.sentences(df)
    with st.container(key="why-story", border=True):
        st.markdown("\n".join(f"- {s}" for s in sentences))
    left, right = st.columns(2)
    with left, st.container(key="chart-why-split"):
        st.plotly_chart(charts.share_fitness_figure(df), key="fig-why-split")
    alloc = {
        "BET (best)": (
            explain.allocation_by_bin(best.user_sizes, data.user_freq),
            explain.allocation_by_bin(best.item_sizes, data.item_freq),
        ),
        SU.label: (
            explain.allocation_by_bin(su.user_sizes, data.user_freq),
            explain.allocation_by_bin(su.item_sizes, data.item_freq),
        ),
        MDE.label: (
            explain.allocation_by_bin(mde.user_sizes, data.user_freq),
            explain.allocation_by_bin(mde.item_sizes, data.item_freq),
        ),
    }
    with right, st.container(key="chart-why-alloc"):
        st.plotly_chart(charts.allocation_figure(alloc), key="fig-why-alloc")
        st.caption(charts.MDE_NOTE)
    ranked = store.events(run_id, kinds=("candidates_ranked",))
    if ranked:
        with st.container(key="chart-why-pool"):
            st.plotly_chart(charts.pool_figure(ranked[-1]), key="fig-why-pool")
    st.markdown("**The fittest actions and where they put their parameters**")
    show = df.sort_values("fitness", ascending=False).head(10)
    st.dataframe(
        show,
        hide_index=True,
        width="stretch",
        column_config={
            c: st.column_config.NumberColumn(format="percent")
            for c in ("user share", "user head share", "item head share")
        },
    )
