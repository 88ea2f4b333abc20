"""The recall-vs-budget frontier: every completed run as a point (BET and the SU/SR/MDE baselines,
the full-size line, the popularity floor), and a one-click sweep over budgets."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from bet import METHODS, BetError, frontier_methods
from dashboard import charts, formats, frontier_chart, provisional, queries, settings, state
from dashboard.paths import md, shown_name


def page() -> None:
    state.show_flashes()
    st.title("Recall vs budget")
    rows = state.runs()
    datasets = sorted({r.dataset for r in rows})
    if not datasets:
        st.info("No runs yet: start a search in the sidebar, run the demo on the Live run page, or sweep below.")
    else:
        c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
        cfg = st.session_state.get("setup_config")
        mine = shown_name(cfg.data.dataset) if cfg is not None else None
        default = mine if mine in datasets else datasets[0]
        dataset = c1.selectbox("Dataset", datasets, index=datasets.index(default), key="fr_dataset")
        backbones = sorted({r.backbone for r in rows if r.dataset == dataset})
        chosen = c2.multiselect("Backbones", backbones, default=backbones, key="fr_backbones")
        metric = c3.radio("Metric", queries.METRICS, key="fr_metric", format_func=str.upper)
        x = c4.radio("x axis", ("params", "MB"), key="fr_x", format_func=lambda v: "parameters" if v == "params" else v)
        t1, t2 = st.columns(2)
        if not st.session_state.get("_fr_log_picked"):  # until toggled by hand: log where budgets span a decade
            xs = queries.frontier_points([r for r in rows if r.dataset == dataset and r.backbone in chosen])[x]
            st.session_state["fr_log"] = formats.spans_decade(pd.to_numeric(xs, errors="coerce").dropna())
        log_x = t1.toggle(
            "Log x axis",
            key="fr_log",
            on_change=_picked_log,
            help=(
                "On by default where the budgets span a factor of 10 or more (the full model beside "
                "10 % tables): a linear axis squeezes the budgeted points to the left."
            ),
        )
        by_backbone = len(chosen) > 1 and t2.toggle("Colour by backbone", key="fr_by_backbone")
        active = state.any_active(rows)
        st.fragment(run_every=state.POLL if active else None)(chart)(
            dataset,
            tuple(chosen),
            metric=metric,
            x=x,
            color_by="backbone" if by_backbone else "method",
            log_x=log_x,
        )
    sweep()


def _picked_log() -> None:
    st.session_state["_fr_log_picked"] = True


def chart(dataset: str, backbones: tuple[str, ...], *, metric: str, x: str, color_by: str, log_x: bool) -> None:
    rows = [r for r in state.runs() if r.dataset == dataset and r.backbone in backbones]
    points = queries.frontier_points(rows, metric)
    pending = provisional.of_runs(state.store(), rows, metric)
    active = sum(not r.status.is_final for r in rows)
    st.caption(
        f"{len(points)} completed runs on the frontier"
        + (f" · {active} still running or queued" if active else "")
        + " · hover a point for its run; click it to open the run."
    )
    st.caption(
        f"At each budget a line joins the run with the best **validation** {metric} (where several seeds "
        "ran: their mean, ± one standard deviation as an error bar); test is only read out, never used "
        "to choose. Faint points: the other runs."
    )
    if len(pending):
        with st.container(key="frontier-provisional"):
            st.caption(
                f"Hollow points: a running search's best candidate so far — **{provisional.LABEL}** — at its "
                f"**validation** {metric} (on {' / '.join(sorted(set(pending['users'])))}), not a result; "
                "the retrained run replaces it when it completes."
            )
    if points.empty and pending.empty:
        st.info("No completed runs on this dataset yet; points appear as runs finish.")
        return
    with st.container(key="chart-frontier"):
        event = st.plotly_chart(
            frontier_chart.frontier_figure(
                points, x=x, metric_name=metric, color_by=color_by, log_x=log_x, pending=pending
            ),
            key="fig-frontier",
            on_select="rerun",
            selection_mode="points",
        )
    if (points["method"] == METHODS["mde"].name).any():
        st.caption(charts.MDE_NOTE)
    points_picked = event.selection.points if event is not None and event.selection else []
    picked: list[Any] = [p.get("customdata") for p in points_picked if p.get("customdata")]
    if picked:
        rid = str(picked[0] if isinstance(picked[0], str) else picked[0][0])
        r = next((r for r in rows if r.run_id == rid), None)
        if r is not None:
            st.markdown(
                f"**Selected:** {md(r.label())} — valid {metric} {_fmt(r.metric(metric, 'valid'))}"
                f" · test {metric} {_fmt(r.metric(metric))}"
            )
            if st.button("Open in Live run", key="fr_open"):
                state.open_run(rid)
    with st.expander("Points"):
        shown = points.rename(columns={"valid": f"valid {metric}", "value": f"test {metric}"})
        st.dataframe(shown.drop(columns="created_at"), hide_index=True, width="stretch")


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def sweep() -> None:
    st.subheader("Sweep budgets")
    reason = state.read_only_reason()
    if reason is not None:  # a recorded study: its runs are what they are
        st.info(reason)
        return
    cfg = st.session_state.get("setup_config")
    if cfg is None:
        st.info("Fix the search settings in the sidebar first: the sweep uses them (dataset, backbones, settings).")
        return
    with st.form("sweep", border=True):
        st.caption(
            f"On **{md(shown_name(cfg.data.dataset))}** with the sidebar's settings ({cfg.iterations} iterations × "
            f"{cfg.candidates} candidates, top {cfg.retrain_top} retrained). `full` and `pop` run once."
        )
        c1, c2, c3 = st.columns([2, 3, 2])
        text = c1.text_input("Sparsities", "0.8, 0.9, 0.95", key="sweep_sparsities")
        default = [m for m in frontier_methods() if m != METHODS["sr"].name]  # preselected: all but SR
        methods = c2.multiselect(
            "Methods", frontier_methods(), default=default, key="sweep_methods", help=charts.MDE_NOTE
        )
        backbones = c3.multiselect(
            "Backbones",
            settings.BACKBONE_CHOICES,
            default=st.session_state.get("backbones") or ["lightgcn"],
            key="sweep_backbones",
        )
        go = st.form_submit_button("Run the sweep", type="primary")
    if go:
        submit_sweep(cfg, text, methods=methods, backbones=backbones)


def submit_sweep(cfg: Any, text: str, *, methods: list[str], backbones: list[str]) -> None:
    try:
        sparsities = settings.parse_sparsities(text)
        if not methods or not backbones:
            raise ValueError("pick at least one method and one backbone")
        ids = state.runner().submit_frontier(
            cfg, sparsities=sparsities, methods=methods, backbones=backbones, owner=state.me()
        )
    except (BetError, ValueError) as exc:
        st.error(f"Cannot run this sweep: {settings.shown(str(exc))}")
        return
    state.flash(f"Sweep queued: {len(ids)} runs over sparsities {', '.join(map(str, sparsities))}")
    st.rerun()
