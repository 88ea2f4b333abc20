"""Live run: progress, the predictor's rankings, fitness, embedding sizes — polled from the store
while the run is active (the worker never touches streamlit). Each poll reads only the events newer
than the page's cursor (:mod:`dashboard.feed`) and rebuilds a figure only when the data it shows
changed (:mod:`dashboard.memo`): an unchanged chart is sent as the same spec, which the browser
keeps as it is."""

from __future__ import annotations

from secrets import token_hex
from typing import Any

import streamlit as st

from bet import METHODS, RESUMABLE, BetError, RunRecord, Status, report
from dashboard import charts, queries, settings, state, story
from dashboard.paths import md
from dashboard.settings import DEMO, packed_mb
from dashboard.views import follow
from dashboard.views import story as story_view
from dashboard.views import study as study_view
from dashboard.views.live_charts import events, search_charts, sizes_charts


def welcome() -> None:
    st.title("BET Studio")
    st.markdown(
        "Fit a recommender's embedding table into a **memory budget**: BET gives every user and item its own "
        "embedding size so the table strictly fits the budget, searching with a sampler and a DeepSets fitness "
        "predictor, then retraining the best candidates. This store has no runs yet."
    )
    demo, recorded = st.columns(2) if state.available_studies() else (st.container(), None)
    with demo, st.container(key="welcome"):
        others = " and ".join(f"{c:g}" for c in story.DEMO_SPARSITIES[1:])
        st.markdown(
            f"**One-click demo:** BET against uniform sizes (SU), random sizes (SR) and MDE on {DEMO.data.dataset} "
            f"with LightGCN. You watch BET search at sparsity {DEMO.sparsity} (10 % of the table: "
            f"{DEMO.iterations} iterations × {DEMO.candidates} candidates, top {DEMO.retrain_top} retrained) while "
            f"the references and shorter BET searches ({story.DEMO_SIDE_ITERATIONS} iterations) at sparsity "
            f"{others} fill the frontier — under two minutes on 2 CPU cores, the first-time pretraining of the "
            "full model included. A sentence at the top then says what BET buys."
        )
        if st.button("Run the demo", key="demo", type="primary"):
            start_demo()
    if recorded is not None:
        with recorded:
            study_view.entry()  # beside the live demo: the real-size runs, recorded
    st.caption("Or set up your own search in the sidebar and press **Start search**.")


def start_demo() -> None:
    cfgs = story.demo_configs()
    try:
        ids = state.runner().submit(cfgs, "demo-" + token_hex(3), owner=state.me())
    except BetError as exc:
        st.error(settings.shown(str(exc)))
        return
    state.flash(f"Demo queued: {len(ids)} runs")
    state.follow(ids)
    state.select_run(ids[0])
    st.rerun()


def page() -> None:
    state.show_flashes()
    rows = state.runs()
    if not rows:
        welcome()
        return
    ids = [r.run_id for r in rows]
    by_id = {r.run_id: r for r in rows}
    resumable(rows)
    current = state.selected_run_id(rows)
    if current in by_id:  # the batch this session follows moved on: so does the page
        current = follow.resolve(by_id[current], rows)
    rid = st.selectbox(
        "Run",
        ids,
        index=ids.index(current) if current in ids else 0,
        format_func=lambda i: f"{i} — {by_id[i].label()}",
    )
    if rid != st.query_params.get("run"):
        if st.query_params.get("run") is not None:
            state.unfollow()  # picked by hand: the page stays on it (and offers to follow)
        state.select_run(rid)
    follow.offer(by_id[rid])
    story_view.band(by_id[rid])
    active = not by_id[rid].status.is_final
    st.fragment(run_every=state.POLL if active else None)(run_view)(rid, active)


def resumable(rows: list[RunRecord]) -> None:
    """After a server stop (or a crash), which searches can continue where they stopped."""
    found = [r.run_id for r in rows if r.status == Status.INTERRUPTED and r.kind == "search"]
    if found:
        more = f" and {len(found) - 5} more" if len(found) > 5 else ""
        with st.container(key="resumable"):
            st.info(
                f"Interrupted (the server stopped, or the process running them died), resumable from their "
                f"evaluated actions: {', '.join(found[:5])}{more}. Pick one below and press **Resume**."
            )


def run_view(run_id: str, polling: bool) -> None:
    store, runner = state.store(), state.runner()
    run = state.run_or_error(run_id)
    if run is None:
        return
    status = run.status
    if polling and status.is_final:
        st.rerun()  # stop polling: the full rerun draws the finished run once
    header(run, runner)
    actions = store.actions(run_id)
    kpis(run, actions, events(run_id).of("pretrain_finished"))
    if run.kind == "search":
        search_charts(run, actions)
    sizes_charts(run, actions)


def header(run: RunRecord, runner: Any) -> None:
    status, rid = run.status, run.run_id
    st.subheader(md(run.label()))
    with st.container(key="run-status"):
        stopping = " (stopping…)" if runner.stopping(rid) else ""
        st.markdown(f"Status: {status}{stopping}")
        st.caption(f"run {rid} · {md(run.dataset)} · {run.backbone} · c={run.sparsity:g} · {run.method}")
        if run.method == METHODS["mde"].name:
            st.caption(charts.MDE_NOTE)
    if status in (Status.FAILED, Status.INTERRUPTED) or (status == Status.STOPPED and run.error):
        first, _, rest = settings.redact(run.error or "").partition("\n")
        (st.error if status == Status.FAILED else st.warning)(md(first) or status)
        if rest.strip():
            with st.expander("Details"):
                st.code(rest)
    prog = queries.progress(run, store_events(rid))
    if not status.is_final:
        pos = runner.position(rid)
        where = f" · position {pos} in the queue" if pos else ""
        eta = f" · ETA {queries.fmt_seconds(prog.eta)}" if prog.eta is not None else ""
        eta += follow.left_words(run, prog)
        with st.container(key="run-progress"):
            st.progress(prog.fraction, text=f"{prog.phase}: {prog.text}{eta}{where}")
    bar = st.container(horizontal=True)
    mine = state.may_control(rid)
    if not status.is_final and not mine:
        bar.caption("Started in another session: you can watch it, not stop it.")
    if not status.is_final and mine and bar.button("Stop", key="stop_run", type="primary"):
        state.flash(f"Run {rid}: {runner.stop(rid, state.me())}", "info")
        st.rerun()
    resumable = run.kind == "search" and status in RESUMABLE and rid not in runner.running() and mine
    if resumable and bar.button("Resume", key="resume_run", help="Continue from its stored evaluated actions"):
        try:
            runner.resume(rid, state.me())
            state.flash(f"Run {rid} queued to resume")
        except BetError as exc:
            state.flash(settings.shown(str(exc)), "error")
        st.rerun()
    if status.is_final:
        bar.download_button(
            "Download report",
            report_html(rid),
            f"{rid}-report.html",
            "text/html",
            key="dl_report",
            on_click="ignore",
            help=(
                "One self-contained HTML file (opens offline): configuration, budget, results "
                "vs the references, frontier, sizes, findings and provenance"
            ),
        )


def report_html(run_id: str) -> Any:
    """The run's offline HTML report, rendered when the button is clicked (:mod:`bet.report`)."""

    def render() -> str:
        return report.render(state.store(), [run_id], datasets=state.dataset_or_none)

    return render


def store_events(run_id: str) -> list[dict[str, Any]]:
    return events(run_id).of(*queries.PROGRESS_KINDS)


def kpis(run: RunRecord, actions: list[dict[str, Any]], pre: list[dict[str, Any]]) -> None:
    cols = st.columns(5)
    n = run.n_rows
    d_max = run.d_max
    if run.budget and n:
        cols[0].metric(
            "Budget (parameters)",
            f"{run.budget:,}",
            f"{packed_mb(run.budget, n, d_max):.2f} MB",
            delta_color="off",
            delta_arrow="off",
        )
    evald = [a for a in actions if a["iteration"] > 0 and a.get("fitness") is not None]
    if evald:
        best = max(evald, key=lambda a: a["fitness"])
        result_id = run.best_action_id
        if result_id is not None:  # after selective retraining: the winner on validation
            best = next((a for a in evald if a["action_id"] == result_id), best)
            name = "Result: fitness when finetuned"
        else:
            name = "Best fitness so far"
        cols[1].metric(
            name, f"{best['fitness']:.4f}", f"action {best['action_id']}", delta_color="off", delta_arrow="off"
        )
        cols[2].metric(
            "Its valid recall@20 (finetuned)", f"{(best['metrics'] or {}).get('recall@20', float('nan')):.4f}"
        )
    if pre:
        cols[3].metric(
            "Full model valid recall@20",
            f"{pre[-1]['valid']['recall@20']:.4f}",
            "from cache" if pre[-1].get("cached") else f"pretrained in {pre[-1]['seconds']:.0f}s",
            delta_color="off",
            delta_arrow="off",
        )
    test_r, test_n = run.metric(), run.metric("ndcg@20")
    if test_r is not None:
        cols[4].metric(
            "Test recall@20",
            f"{test_r:.4f}",
            f"NDCG@20 {test_n:.4f}" if test_n else None,
            delta_color="off",
            delta_arrow="off",
        )
