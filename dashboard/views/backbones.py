"""Backbones side by side: NCF, NGCF and LightGCN on the same dataset and budget, in columns —
metrics with the differences highlighted, their size distributions, their frontiers."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from bet import METHODS, BetError, RunRecord, SearchConfig, best_action, once_methods
from bet import report as explain  # the findings, shared with the offline report
from dashboard import charts, choices, formats, frontier_chart, queries, settings, state

VALID = "valid recall@20"  # what the page chooses and ranks by (test is only read out)


def page() -> None:
    state.show_flashes()
    st.title("Backbones side by side")
    rows = state.runs()
    groups = choices.comparison_groups(rows)
    cfg = st.session_state.get("setup_config")
    if not groups:
        st.info("No BET runs yet. Run all three backbones at the sidebar's budget to compare them.")
        if cfg is not None and st.button(
            "Compare LightGCN, NGCF and NCF at the sidebar's budget",
            key="cmp_all",
            disabled=state.read_only_reason() is not None,
        ):
            launch(cfg, list(settings.BACKBONE_CHOICES))
        return
    keys = sorted(groups, key=lambda k: (-len(groups[k]), k))
    key = st.selectbox(
        "Dataset and sparsity",
        keys,
        format_func=lambda k: f"{k[0]} · c={k[1]:g} ({', '.join(sorted(groups[k]))})",
        key="cmp_group",
    )
    active = any(not r.status.is_final for r in groups[key].values())
    st.fragment(run_every=state.POLL if active else None)(view)(key)


def launch(cfg: SearchConfig, backbones: list[str]) -> None:
    try:
        ids = state.runner().submit_search(cfg, backbones, owner=state.me())
    except BetError as exc:
        st.error(settings.shown(str(exc)))
        return
    state.flash(f"Queued {len(ids)} runs (one after another): {', '.join(backbones)}")
    state.follow(ids)  # the Live page follows them
    st.rerun()


def summary(group: dict[str, RunRecord]) -> pd.DataFrame:
    rows = []
    for b, r in sorted(group.items()):
        cost = r.cost
        n = r.n_rows
        rows.append(
            {
                "backbone": b,
                "status": r.status,
                VALID: r.metric(split="valid"),
                "test recall@20": r.metric(),
                "test ndcg@20": r.metric("ndcg@20"),
                "cost": cost,
                "MB": settings.packed_mb(cost, n) if cost and n else None,
                "time": queries.fmt_seconds(queries.duration(r)) if r.started_at else "–",
                "settings": " ".join(f"{k}={v}" for k, v in queries.settings_of(r).items()),
                "run": r.run_id,
            }
        )
    return pd.DataFrame(rows)


#: How the summary table shows each column (cost in parameters, MB to two decimals).
FORMATS = {VALID: "{:.4f}", "test recall@20": "{:.4f}", "test ndcg@20": "{:.4f}", "cost": "{:,.0f}", "MB": "{:.2f}"}


def comparable(df: pd.DataFrame) -> bool:
    """Whether the backbones can be ranked: at least two have a validation result, and they differ
    (a lone completed backbone is neither best nor worst)."""
    values = df[VALID].dropna() if VALID in df else pd.Series(dtype=float)
    return len(values) >= 2 and values.nunique() > 1


def view(key: tuple[str, float]) -> None:
    rows = state.runs()
    group = choices.comparison_groups(rows).get(key, {})
    df = summary(group)
    styled = df.style.format(FORMATS, na_rep="–")
    ranked = comparable(df)
    if ranked:  # differences highlighted on validation only: best green, worst red
        styled = styled.highlight_max(subset=[VALID], color="#c6efce").highlight_min(subset=[VALID], color="#ffc7ce")
    with st.container(key="cmp-table"):
        st.dataframe(styled, hide_index=True, width="stretch", placeholder="–")  # not "None" where unfinished
    how = (
        f"Green: best backbone on {VALID}, red: worst; deltas below are against the best on validation."
        if ranked
        else (f"Nothing to rank yet: backbones are shaded best and worst on {VALID} once two of them have a result.")
    )
    st.caption(
        f"Each backbone's BET run here is the one best on {VALID} (several runs at this budget: the others "
        f"are on the Runs page). {how} Test metrics are read-outs, never used to choose or rank."
    )
    if differ := queries.differing_settings(list(group.values())):
        st.warning(
            f"These runs differ in {', '.join(differ)} (see the settings column): part of the gap may come "
            "from the settings, not the backbone. Re-run the missing or odd ones with the same settings."
        )
    best = df[VALID].max() if ranked else None
    cols = st.columns(max(1, len(group)))
    for col, (b, r) in zip(cols, sorted(group.items()), strict=True):
        with col:
            column(b, r, best)
    bars = df.rename(columns={"test recall@20": "recall_20", "test ndcg@20": "ndcg_20"})
    left, right = st.columns(2)
    with left, st.container(key="chart-cmp-metrics"):
        st.plotly_chart(charts.backbone_metrics_figure(bars), key="fig-cmp-metrics")
    with right, st.container(key="chart-cmp-frontier"):
        shown = (METHODS["bet"].name, *once_methods())  # BET per backbone beside the full-size line and the floor
        same = [r for r in rows if r.dataset == key[0] and r.method in shown]
        points = queries.frontier_points(same)
        if len(points):
            log_x = formats.spans_decade(points["params"].dropna())  # the full model beside small budgets
            fig = frontier_chart.frontier_figure(
                points, x="params", metric_name="recall@20", color_by="backbone", log_x=log_x
            )
            st.plotly_chart(fig, key="fig-cmp-frontier")
    missing = [b for b in settings.BACKBONE_CHOICES if b not in group]
    if missing and group:
        try:
            base = SearchConfig.from_dict(next(iter(group.values())).config)
        except (KeyError, TypeError, ValueError):
            return  # a run from an older BET Studio without a full config
        reason = state.read_only_reason()  # a recorded study: nothing is started from it
        if st.button(
            f"Run the missing backbone(s) here: {', '.join(missing)}",
            key="cmp_missing",
            disabled=reason is not None,
            help=reason,
        ):
            launch(dataclasses.replace(base, backbone=missing[0]), missing)


def column(backbone: str, run: RunRecord, best: float | None) -> None:
    """One backbone's column; ``best``: the best validation value among several (None: nothing to
    compare with, so no delta and no "best")."""
    st.markdown(f"### {backbone}")
    st.caption(f"run {run.run_id} · {run.status}")
    value, test = run.metric(split="valid"), run.metric()
    if value is not None:
        delta = None if best is None else value - best
        said = None if delta is None else f"{delta:+.4f}" if delta else "best"
        st.metric(VALID, f"{value:.4f}", said, delta_color="normal" if said else "off")
    if test is not None:
        st.caption(f"test recall@20 {test:.4f} (read-out)")
    store = state.store()
    actions = store.actions(run.run_id)
    top = best_action(actions, run)
    if top is None:
        st.info("No evaluated action yet.")
        return
    action = store.action(run.run_id, top["action_id"])
    n = len(action.user_sizes) + len(action.item_sizes)
    fig = charts.size_histogram_figure(
        action.user_sizes,
        action.item_sizes,
        uniform=(run.budget or action.cost) / n,
        d_max=run.d_max,
        title=f"{backbone}: sizes",
        compact=True,
    )
    fig.update_layout(height=260)
    st.plotly_chart(fig, key=f"fig-cmp-sizes-{backbone}")
    data = state.dataset_or_none(run.config.get("data"))
    if data is not None and data.n_users == len(action.user_sizes):
        f = explain.features(action, data.user_freq, data.item_freq)
        st.caption(
            f"users get {f['user share']:.0%} of the parameters · top-20 % items hold "
            f"{f['item head share']:.0%} of the item parameters"
        )
