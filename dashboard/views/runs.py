"""All runs: a sortable, filterable table; the selected run's details, controls and downloads
(evaluated actions as CSV/JSON, the best action's sizes, the packed embedding table)."""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from bet import RESUMABLE, BetError, RunRecord, Status, best_action
from dashboard import formats, queries, state
from dashboard.paths import md
from dashboard.settings import redact, shown


def page() -> None:
    state.show_flashes()
    st.title("Runs")
    rows = state.runs()
    if not rows:
        st.info("No runs in the store yet.")
        return
    df = queries.runs_frame(rows)
    c = st.columns([2, 2, 2, 2, 3, 2, 2], vertical_alignment="bottom")  # one-line labels: the boxes line up
    pick: dict[str, Any] = {
        col: c[i].multiselect(col.capitalize(), sorted(df[col].dropna().unique()), key=f"runs_{col}", placeholder="all")
        for i, col in enumerate(("dataset", "backbone", "method", "status"))
    }
    lo, hi = float(df["sparsity"].min()), float(df["sparsity"].max())
    pick["sparsity"] = c[4].slider("Sparsity", 0.0, 1.0, (min(lo, 0.5), max(hi, 0.99)), 0.01, key="runs_sparsity")
    pick["min_recall"] = c[5].number_input(
        "Min test R@20",
        0.0,
        1.0,
        0.0,
        0.01,
        key="runs_min_recall",
        help="Only runs whose test recall@20 is at least this (0: any)",
    )
    pick["max_minutes"] = c[6].number_input(
        "Max minutes",
        0.0,
        1e6,
        0.0,
        1.0,
        key="runs_max_minutes",
        format="%.0f",
        help="Only runs that took at most this many minutes (0: any)",
    )
    active = state.any_active(rows)
    st.fragment(run_every=state.POLL * 2 if active else None)(table)(pick)


def table(pick: dict[str, Any]) -> None:
    rows = state.runs()
    df = queries.filter_frame(queries.runs_frame(rows), **pick)
    st.caption(f"{len(df)} of {len(rows)} runs · click a column header to sort · select a row for details")
    event = st.dataframe(
        df,
        key="runs_table",
        hide_index=True,
        width="stretch",
        on_select="rerun",
        selection_mode="single-row",
        height=formats.table_height(len(df)),
        placeholder="–",  # whole rows (none cut at the bottom); "–", not "None"
        column_config={
            "sparsity": st.column_config.NumberColumn(format="%.2f"),
            "test recall@20": st.column_config.NumberColumn(format="%.4f"),
            "test ndcg@20": st.column_config.NumberColumn(format="%.4f"),
            "valid recall@20": st.column_config.NumberColumn(format="%.4f"),
            "MB": st.column_config.NumberColumn(format="%.3f"),
            "duration (s)": st.column_config.NumberColumn(format="%.0f"),
            "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
        },
    )
    selected = event.selection.rows if event is not None else []
    if selected and selected[0] < len(df):
        details(df.iloc[selected[0]]["run_id"])


def details(run_id: str) -> None:
    runner = state.runner()
    run = state.run_or_error(run_id)
    if run is None:
        return
    st.subheader(md(run.label()))
    if run.error:
        st.warning(md(redact(run.error).splitlines()[0]))
    b = st.columns(4)
    if b[0].button("Open in Live run", key="runs_open"):
        state.open_run(run_id)
    mine = state.may_control(run_id)
    if not run.status.is_final and not mine:
        b[1].caption("Started in another session: you can watch it, not stop it.")
    if not run.status.is_final and mine and b[1].button("Stop", key="runs_stop"):
        state.flash(f"Run {run_id}: {runner.stop(run_id, state.me())}", "info")
        st.rerun(scope="app")
    resumable = run.kind == "search" and run.status in RESUMABLE and mine
    if resumable and b[2].button("Resume", key="runs_resume"):
        try:
            runner.resume(run_id, state.me())
            state.flash(f"Run {run_id} queued to resume")
        except BetError as exc:
            state.flash(shown(str(exc)), "error")
        st.rerun(scope="app")
    downloads(run)
    with st.expander("Settings (frozen config)"):
        st.json(json.loads(redact(json.dumps(run.config))))


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_clean(v) for v in x]
    return x


def downloads(run: RunRecord) -> None:
    store, rid = state.store(), run.run_id
    actions = store.actions(rid)
    rows = queries.action_rows(actions)
    d = st.columns(4)
    d[0].download_button(
        "Actions + metrics (CSV)",
        pd.DataFrame(rows).to_csv(index=False),
        f"{rid}-actions.csv",
        "text/csv",
        key="dl_csv",
        disabled=not rows,
        on_click="ignore",
    )

    def as_json() -> str:
        doc = {"run": run.to_dict(), "actions": rows, "events": store.events(rid)}
        return redact(json.dumps(_clean(doc), indent=1, default=str))

    d[1].download_button(
        "Run + actions + events (JSON)", as_json, f"{rid}.json", "application/json", key="dl_json", on_click="ignore"
    )
    best = best_action(actions, run)
    if best is not None:

        def sizes() -> bytes:
            a = store.action(rid, best["action_id"])
            buf = io.BytesIO()
            np.savez_compressed(buf, user_sizes=a.user_sizes, item_sizes=a.item_sizes)
            return buf.getvalue()

        label = "Best action sizes (.npz)" if run.status == Status.COMPLETED else "Best-so-far sizes (.npz)"
        d[2].download_button(
            label, sizes, f"{rid}-sizes.npz", "application/octet-stream", key="dl_sizes", on_click="ignore"
        )
    try:
        table = store.table(rid)
    except BetError:
        d[3].caption(
            "No packed table: a recorded study keeps none (its run's command reproduces one)."
            if state.study() is not None
            else "No packed table (only completed runs with an embedding table have one)."
        )
    else:
        d[3].download_button(
            f"Packed table (.npz, {len(table) / 1e6:.2f} MB)",
            table,
            f"{rid}-table.npz",
            "application/octet-stream",
            key="dl_table",
            on_click="ignore",
        )
