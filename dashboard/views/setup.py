"""The sidebar: set up a search (dataset, backbones, budget with a live readout, advanced
settings), Start it, see and stop the queue."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import streamlit as st

from bet import (
    BUILTIN,
    FORMATS,
    PREDICTORS,
    SELECTIONS,
    SPLIT_RULES,
    BetError,
    BudgetError,
    Dataset,
    DataSpec,
    SearchConfig,
    check_memory,
    resolve_device,
    training_bytes,
)
from dashboard import presets, settings, state
from dashboard.paths import md
from dashboard.settings import BACKBONE_CHOICES, DEVICES, PAPER
from dashboard.views import duration, source
from dashboard.views import study as study_view

DEFAULTS: dict[str, Any] = {
    "data_source": source.SOURCES[0],
    "dataset": BUILTIN[0],
    "data_path": "",
    "data_fmt": "auto",
    "min_rating": "",
    "split": "paper",
    "split_seed": 42,
    "backbones": ["lightgcn"],
    "sparsity": 0.9,
    "d_max": PAPER.d_max,
    "seed": 0,
    "device": "auto",
    "selection": PAPER.selection,
    "predictor": PAPER.predictor,
    "preset": "paper",
    **presets.FORM["paper"],
    "_preset_picked": False,
}


def _pick_preset() -> None:
    """The user chose a preset: it fills the fields, and no longer follows the dataset."""
    st.session_state["_preset_picked"] = True
    st.session_state.update(presets.FORM[st.session_state["preset"]])


def _edited() -> bool:
    s = st.session_state
    return bool(presets.edited(s["preset"], {k: s[k] for k in presets.FIELDS}))


def _follow_dataset(sb: Any, data: Dataset) -> None:
    """Until the user picks a preset or edits its fields, the dataset's default preset
    (:func:`bet.default_preset`: ``fast`` above 10,000 rows) fills the form; the readout says which
    preset is in force and why. Runs before the widgets are drawn (they may change here)."""
    s = st.session_state
    want = presets.default_for(data.n_rows)
    if not s["_preset_picked"] and not _edited() and s["preset"] != want:
        s["preset"] = want
        s.update(presets.FORM[want])
    with sb.container(key="preset-readout"):
        st.caption(
            presets.readout(
                s["preset"], data.n_rows, dataset=md(data.name), picked=s["_preset_picked"], changed=_edited()
            )
        )


def _advanced(sb: Any) -> None:
    with sb.expander(presets.title(st.session_state["preset"], _edited()), key="advanced"):
        st.selectbox(
            "Preset",
            list(presets.FORM),
            key="preset",
            on_change=_pick_preset,
            help=(
                "Fills the settings below. 'fast': multi-fidelity BET for real catalogues (the default above "
                "10,000 rows); 'paper': the paper's settings; 'smoke test' finishes in seconds (for trying the app)."
            ),
        )
        # Short labels (their details in the help): two lines at most in the narrow sidebar. Choices
        # with long names ("deepsets", "interactions") get the sidebar's full width, not half of it.
        c1, c2 = st.columns(2)
        c1.number_input("Iterations T", 1, 1000, key="iterations")
        c2.number_input("Candidates m", 1, 10000, key="candidates")
        c1.number_input("Finetune epochs", 0, 1000, key="finetune_epochs", help="Per candidate; 0: automatic")
        c2.number_input(
            "Finetune steps", 0, 100000, key="finetune_steps", help=("Per candidate, instead of epochs; 0: automatic")
        )
        c1.number_input("Retrain top k", 1, 100, key="retrain_top")
        c2.number_input("Seed", 0, 2**31 - 1, key="seed")
        c1.number_input("Pretrain epochs", 1, 10000, key="pretrain_epochs", help="At most: early stopping ends sooner")
        c2.number_input("Retrain epochs", 1, 10000, key="retrain_epochs", help="At most: early stopping ends sooner")
        c1.number_input("d_max", 2, 1024, key="d_max", help="Full embedding size (sizes are in [1, d_max])")
        c2.number_input("Split seed", 0, 2**31 - 1, key="split_seed")
        st.selectbox("Predictor", list(PREDICTORS), key="predictor")
        st.selectbox("Selection", SELECTIONS, key="selection")
        st.selectbox("Device", DEVICES, key="device")
        st.selectbox("Split", SPLIT_RULES, key="split")
        st.selectbox("File format", FORMATS, key="data_fmt")
        st.text_input("Min rating", key="min_rating", help="Blank: every interaction counts")


def _config(sb: Any, spec: DataSpec, data: Dataset) -> SearchConfig | None:
    s = st.session_state
    backbones = s["backbones"]
    if not backbones:
        sb.warning("Pick at least one backbone.")
        return None
    try:  # slider → config → budget: the readout shows the budget this config's run gets
        cfg = settings.build_config(
            spec,
            backbones[0],
            s["sparsity"],
            iterations=s["iterations"],
            candidates=s["candidates"],
            finetune_epochs=s["finetune_epochs"],
            finetune_steps=s["finetune_steps"],
            retrain_top=s["retrain_top"],
            seed=s["seed"],
            device=s["device"],
            d_max=s["d_max"],
            pretrain_epochs=s["pretrain_epochs"],
            retrain_epochs=s["retrain_epochs"],
            selection=s["selection"],
            predictor=s["predictor"],
            preset=presets.ENGINE[s["preset"]],
        )
    except BetError as exc:
        sb.error(settings.shown(str(exc)))
        return None
    try:
        r = settings.readout(cfg, data, backbones)
    except BudgetError as exc:
        with sb.container(key="budget-error"):
            st.error(f"Infeasible budget — {exc}")  # the engine's words, no user text in them
        return None
    try:  # refuse, with the estimate, what cannot fit in this machine's memory (BET_MEMORY_MB caps it)
        check_memory(training_bytes(data, cfg.d_max), f"training on {data.name} ({data.n_rows:,} rows)")
    except BetError as exc:
        with sb.container(key="memory-error"):
            st.error(f"Too big for this server — {settings.shown(str(exc))}")
        return None
    with sb.container(key="budget-readout"):
        st.markdown(r.text())
        st.progress(min(1.0, r.kept_fraction), text=f"{r.kept_fraction:.1%} of the full table")
    try:
        resolve_device(s["device"])
    except BetError as exc:
        sb.error(settings.shown(str(exc)))
        return None
    try:  # every phase, the candidate pools included, before Start (the reason shows beside it)
        settings.check_memory_needs(cfg, data)
    except BetError as exc:
        st.session_state["_memory_error"] = f"Too big for this server — {settings.shown(str(exc))}"
        return None
    return cfg


def _queue(sb: Any) -> None:
    """The queue's status and its buttons, polled while anything is queued or running (so it never
    offers to stop a run that has ended); a session's buttons act on its own runs only."""
    with sb:
        busy = not state.runner().idle()
        st.fragment(run_every=state.POLL if busy else None)(_queue_status)(busy)


def _queue_status(was_busy: bool) -> None:
    run, me = state.runner(), state.me()
    running, queued = run.running(), run.queued()
    if was_busy and not running and not queued:
        st.rerun()  # everything ended: one full rerun stops the polling
    my_running, my_queued = run.mine(running, me), run.mine(queued, me)
    others = len(running) + len(queued) - len(my_running) - len(my_queued)
    studying = state.read_only_reason() is not None
    if studying:  # a recorded study is open: the live queue is shown, not controlled
        my_running, my_queued = [], []
    with st.container(key="queue"):
        st.caption(
            f"{'The live store’s queue' if studying else 'Queue'}: {len(running)} running · "
            f"{len(queued)} waiting (one run at a time on CPU)"
            + (f" · {others} of them started in other sessions" if others else "")
        )
        if my_running and st.button("Stop the running search", key="stop_running", width="stretch"):
            for rid in my_running:
                state.flash(f"Run {rid}: {run.stop(rid, me)}", "info")
            st.rerun(scope="app")
        n = len(my_queued)
        if n and st.button(f"Cancel the {n} waiting run(s)", key="cancel_queued", width="stretch"):
            for rid in my_queued:
                run.stop(rid, me)
            state.flash(f"Cancelled {n} queued run(s)", "info")
            st.rerun(scope="app")


def _start(top: Any, cfg: SearchConfig | None, data: Dataset | None, *, live_page: Any) -> None:
    """The Start button and what it would start (drawn at the top of the sidebar)."""
    reason = state.read_only_reason()
    if top.button(
        "Start search",
        key="start",
        type="primary",
        disabled=cfg is None or reason is not None,
        width="stretch",
        help=reason,
    ):
        assert cfg is not None
        try:
            ids = state.runner().submit_search(cfg, st.session_state["backbones"], owner=state.me())
        except BetError as exc:
            top.error(settings.shown(str(exc)))
        else:
            state.flash(f"Queued {len(ids)} run(s): {', '.join(ids)}")
            state.follow(ids)  # several backbones: the Live page moves to each as it starts
            state.select_run(ids[0])
            if live_page is not None:
                st.switch_page(live_page, query_params={"run": ids[0]})
            st.rerun()
    if cfg is None and st.session_state.get("_memory_error"):
        with top.container(key="memory-error-start"):
            st.error(st.session_state["_memory_error"])
    if reason is not None:
        top.caption(reason)
    elif cfg is not None and data is not None:
        top.caption(
            f"Starts {' + '.join(st.session_state['backbones'])} on {md(data.name)} at c = {cfg.sparsity:g} "
            "(set below)."
        )
    else:
        top.caption("Fix the settings below to start.")


def sidebar(live_page: Any = None, later: list[Callable[[], None]] | None = None) -> SearchConfig | None:
    """Draw the setup sidebar; returns the valid config it describes (None while invalid). The
    config is also kept in ``st.session_state['setup_config']`` for the sweep and compare pages.
    ``later``: where to leave the duration estimate for the caller to draw after the page (the
    first one times training steps: seconds, a minute on a busy machine — the page, the demo
    button included, should not wait for it); without it, the estimate is drawn here."""
    for key, value in DEFAULTS.items():
        st.session_state.setdefault(key, value)
    sb = st.sidebar
    sb.header("BET Studio")
    sb.caption("Fit per-user/per-item embedding sizes into a parameter budget (BET, WSDM 2024).")
    top = sb.container(key="start-bar")  # Start sits here, above the settings: reachable in any window
    study_view.switch(sb)  # below Start: a shipped study must not push Start down
    spec = source.data_spec(sb)
    data = source.load(sb, spec) if spec is not None else None
    sb.multiselect("Backbones (several: one run each, compared)", BACKBONE_CHOICES, key="backbones")
    sb.slider("Sparsity c (fraction of the table removed)", 0.50, 0.99, step=0.01, key="sparsity")
    if data is not None:
        _follow_dataset(sb, data)
    _advanced(sb)
    st.session_state.pop("_memory_error", None)
    cfg = _config(sb, spec, data) if spec is not None and data is not None else None
    st.session_state["setup_config"] = cfg
    _start(top, cfg, data, live_page=live_page)
    if cfg is not None and data is not None and state.read_only_reason() is None:  # nothing can start: no estimate
        estimate = functools.partial(duration.show, top, cfg, data)
        later.append(estimate) if later is not None else estimate()
    _queue(sb)
    return cfg
