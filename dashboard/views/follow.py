"""The Live page follows a batch (:mod:`dashboard.batch`): when the run on screen ends while others of
its batch still run, the page moves to the one at work (this session submitted the batch) or offers
a button to it; its "left in all" covers the batch's queued runs too."""

from __future__ import annotations

import streamlit as st

from bet import BetError, RunRecord, Status
from dashboard import batch, queries, settings, state
from dashboard.paths import md
from dashboard.views import story as story_view


def plan_of(run: RunRecord) -> dict[str, float] | None:
    """A run's per-phase plan (the model the setup's estimate uses), computed once per run and
    session; None when it cannot be planned (its dataset is gone, an older config)."""
    plans = st.session_state.setdefault("_plans", {})
    rid = run.run_id
    if rid not in plans:
        try:
            cfg = run.settings()
            data = state.dataset_or_none(cfg.data)
            plans[rid] = settings.estimate(cfg, [cfg.backbone], data) if data is not None else None
        except (BetError, KeyError, TypeError, ValueError):
            plans[rid] = None
    return None if plans[rid] is None else dict(plans[rid])


def left_words(run: RunRecord, prog: queries.Progress) -> str:
    """The progress bar's "left in all": " · about 2m 10s left in all (this run and the 2 queued after
    it in its batch)", or the run's own when nothing of its batch waits; "" when unknown."""
    own = settings.remaining(prog.phase, prog.eta, plan_of(run) or {}) if run.kind == "search" else prog.eta
    total, counted, unplanned = batch.left_in_batch(run, own, story_view.batch(run.comparison_id), plan_of=plan_of)
    if counted == 0 and unplanned == 0 and (own is None or own <= (prog.eta or 0) + 1):
        return ""  # the phase's own ETA already says it
    return batch.eta_words(own, total, counted=counted, unplanned=unplanned, fmt=queries.fmt_seconds)


def resolve(run: RunRecord, rows: list[RunRecord]) -> str:
    """The run the page shows: ``run`` — or, when this session follows its batch and ``run`` has
    ended, the batch's run at work now (the URL moves with it)."""
    cid = run.comparison_id
    same = [r for r in rows if cid and r.comparison_id == cid]
    go = batch.follow(run, same, state.following(run.run_id))
    if go is None or go.action != "move":
        return str(run.run_id)
    state.select_run(go.run.run_id)
    return str(go.run.run_id)


def offer(run: RunRecord) -> None:
    """A button to the batch's run at work when the run on screen has ended (polled while the batch
    has work left, so it always names the run at work now)."""
    if not run.comparison_id or not run.status.is_final:
        return
    active = any(not r.status.is_final for r in story_view.batch(run.comparison_id))
    st.fragment(run_every=state.POLL * 2 if active else None)(_offer)(run.run_id, run.comparison_id)


def _offer(run_id: str, comparison_id: str) -> None:
    runs = story_view.batch(comparison_id)
    shown = next((r for r in runs if r.run_id == run_id), None)
    go = batch.follow(shown, runs, following=False) if shown is not None else None
    if go is None:
        return
    r = go.run
    doing = "now running" if r.status == Status.RUNNING else "next in the queue"
    with st.container(key="follow-batch", horizontal=True, vertical_alignment="center"):
        st.info(f"This run has ended; its batch goes on: **{md(r.label())}** is {doing}.")
        if st.button("Follow the batch", key="follow_batch", type="primary"):
            state.follow([x.run_id for x in runs])
            state.open_run(r.run_id)
