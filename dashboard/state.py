"""Streamlit glue shared by the pages: the process-wide runner and store, the selected run,
the polling interval, small rendering helpers."""

from __future__ import annotations

import atexit
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit import config as st_config
from streamlit.runtime.scriptrunner import get_script_run_ctx

from bet import BetError, Dataset, DataSpec, RunRecord, RunStore, default_path, tune_heap_or_warn
from dashboard import env
from dashboard import study as studies
from dashboard.batch import default_run
from dashboard.runner import Runner
from dashboard.settings import shown

tune_heap_or_warn()  # once per server process: its own measurements (the pre-Start estimate) as runs set malloc

#: Seconds between polls of the store while something runs (``BET_DASHBOARD_POLL``).
POLL = env.number("BET_DASHBOARD_POLL", 1.5, low=0.1, high=3600)


@st.cache_resource(show_spinner=False)
def _runner(path: str) -> Runner:
    """One runner per store file and server process: it outlives tabs and sessions. When the server
    stops (SIGTERM, Ctrl-C), its runs are recorded ``interrupted`` and nothing new starts."""
    run = Runner(RunStore(path))
    atexit.register(run.interrupt_all)
    return run


def runner() -> Runner:
    return _runner(str(default_path()))


#: Addresses that only this machine reaches: a server bound to one of them is single-user by default.
LOCAL = ("127.0.0.1", "localhost", "::1")


def single_user() -> bool:
    """``BET_DASHBOARD_USERS=single|multi``; by default single-user when the server listens on
    localhost only (``make run``), several users otherwise."""
    mode = os.environ.get("BET_DASHBOARD_USERS", "").strip().lower()
    if mode in ("single", "multi"):
        return mode == "single"
    return str(st_config.get_option("server.address") or "") in LOCAL


def me() -> str | None:
    """This browser session, which owns the runs it starts (None in single-user mode: everyone may
    stop and resume every run). A reload of the page is a new session."""
    if single_user():
        return None
    ctx = get_script_run_ctx(suppress_warning=True)
    return ctx.session_id if ctx is not None else None


def may_control(run_id: str) -> bool:
    return study() is None and runner().may_control(run_id, me())


@st.cache_resource(ttl=10, show_spinner=False)
def _studies(folder: str) -> list[studies.Study]:
    return studies.available(Path(folder))


@st.cache_resource(show_spinner=False, max_entries=8)
def _study_store(key: tuple[str, int, int]) -> RunStore:
    """One read-only handle per study file and version (a rebuilt study is opened again)."""
    return RunStore(key[0], read_only=True)


def available_studies() -> list[studies.Study]:
    return _studies(str(studies.folder()))


def study() -> studies.Study | None:
    """The recorded study this session reads (:mod:`dashboard.study`); None: the live store."""
    name = st.session_state.get("_study")
    return next((s for s in available_studies() if s.name == name), None) if name else None


def read_only_reason() -> str | None:
    """Why buttons that start, stop or resume runs are off (None: they are not)."""
    return studies.READ_ONLY if study() is not None else None


def enter_study(name: str | None) -> None:
    """This session reads the recorded study ``name`` (None: the live store again). Its feeds,
    followed batch and chosen run belong to the store it leaves."""
    if name is None:
        st.session_state.pop("_study", None)
    else:
        st.session_state["_study"] = name
    for key in ("_feeds", "_follow"):
        st.session_state.pop(key, None)
    st.query_params.pop("run", None)


def store() -> RunStore:
    """The store every page reads: the open study's (read-only), else the live one."""
    s = study()
    if s is not None:
        try:
            return _study_store(s.key())
        except (OSError, BetError) as exc:  # removed or damaged since it was listed: back to live
            st.session_state.pop("_study", None)
            st.error(f"Cannot open {s.title}: {shown(str(exc))}")
    return runner().store


def dataset(spec: DataSpec | Mapping[str, Any]) -> Dataset:
    """The (cached) dataset of a spec; raises :class:`~bet.errors.DataError`."""
    return runner().dataset(spec if isinstance(spec, DataSpec) else DataSpec(**spec))


def dataset_or_none(spec: DataSpec | Mapping[str, Any] | None) -> Dataset | None:
    """The run's dataset for the views that need frequencies; a warning (not an error) when it
    cannot be loaded any more (a moved file, a store from elsewhere)."""
    if not spec:
        return None
    try:
        return dataset(spec)
    except (BetError, TypeError) as exc:
        st.warning(f"Cannot load this run's dataset for frequency views: {shown(str(exc))}")
        return None


def runs() -> list[RunRecord]:
    try:
        return store().list_runs()
    except BetError as exc:
        st.error(shown(str(exc)))
        return []


def run_or_error(run_id: str) -> RunRecord | None:
    """The stored run, or None with the store's message shown in the page."""
    try:
        return store().get_run(run_id)
    except BetError as exc:
        st.error(shown(str(exc)))
        return None


def any_active(rows: list[RunRecord] | None = None) -> bool:
    rows = runs() if rows is None else rows
    if study() is not None:  # a recorded study never changes: nothing to poll
        return False
    return any(not r.status.is_final for r in rows) or not runner().idle()


def selected_run_id(rows: list[RunRecord]) -> str | None:
    """The run in the URL (``?run=…``), else the open study's headline run, else
    :func:`dashboard.batch.default_run`."""
    chosen = st.query_params.get("run")
    if chosen in {r.run_id for r in rows}:
        return chosen
    return opening_run(rows)


def opening_run(rows: list[RunRecord]) -> str | None:
    """The run a page opens on: the open study's headline run, else :func:`dashboard.batch.default_run`."""
    s = study()
    if s is not None and s.headline in {r.run_id for r in rows}:
        return s.headline
    return default_run(rows)


def select_run(run_id: str) -> None:
    st.query_params["run"] = run_id


def follow(run_ids: list[str]) -> None:
    """This session follows these runs (a batch it submitted): when the one on the Live page ends,
    the page moves to the one at work (:func:`dashboard.batch.follow`)."""
    st.session_state["_follow"] = list(run_ids)


def following(run_id: str) -> bool:
    return run_id in st.session_state.get("_follow", ())


def unfollow() -> None:
    """The user picked a run by hand: the page stays where they put it (and offers to follow)."""
    st.session_state.pop("_follow", None)


def flash(message: str, kind: str = "success") -> None:
    """A message shown once on the next rerun (after a button changed something)."""
    st.session_state.setdefault("_flash", []).append((kind, message))


def show_flashes() -> None:
    for kind, message in st.session_state.pop("_flash", []):
        getattr(st, kind)(message)


#: The app's pages by name (filled in by ``app.py``), for links between pages.
PAGES: dict[str, Any] = {}


def open_run(run_id: str, page: str = "live") -> None:
    """Go to ``page`` showing ``run_id``."""
    if page in PAGES:
        st.switch_page(PAGES[page], query_params={"run": run_id})
    select_run(run_id)
    st.rerun()
