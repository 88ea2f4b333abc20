"""The sidebar's dataset: a built-in, an upload (kept under a safe name) or — in single-user mode
and inside ``BET_DATA_DIRS`` only — a file or folder on the server; loaded with every error shown
in the sidebar, never as a crashed session."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import streamlit as st

from bet import BUILTIN, BetError, Dataset, DataSpec
from dashboard import paths, settings, state
from dashboard.paths import md

log = logging.getLogger(__name__)
SOURCES = ("built-in", "upload a file", "server path")


def data_spec(sb: Any) -> DataSpec | None:
    source = sb.radio("Dataset", SOURCES, key="data_source", horizontal=True)
    fmt = st.session_state["data_fmt"]
    min_rating = st.session_state["min_rating"].strip()
    try:
        rating = float(min_rating) if min_rating else None
    except ValueError:
        sb.error(f"Minimum rating {md(repr(min_rating[:40]))} is not a number")
        return None
    if source == "built-in":
        return DataSpec(
            sb.selectbox("Built-in dataset", BUILTIN, key="dataset"),
            st.session_state["split"],
            int(st.session_state["split_seed"]),
        )
    if source == "upload a file":
        up = sb.file_uploader(
            "Interaction file (user item [rating] per line, or LightGCN format; .gz ok)",
            key="upload",
            help="At most server.maxUploadSize MB (see .streamlit/config.toml)",
        )
        if up is None:
            sb.info("Upload a file to use it.")
            return None
        saved = st.session_state.setdefault("_uploads", {})  # file_id -> path: hash a big file once
        if up.file_id not in saved:
            try:
                saved[up.file_id] = settings.save_upload(up.name, up.getvalue())
            except OSError as exc:  # a full disk, a read-only BET_HOME: said, never a crashed session
                sb.error(f"Cannot keep this upload on the server ({md(exc.strerror or type(exc).__name__)}).")
                return None
        path = saved[up.file_id]
    else:
        path = server_path(sb)
        if path is None:
            return None
    return DataSpec(str(path), st.session_state["split"], int(st.session_state["split_seed"]), fmt, rating)


def server_path(sb: Any) -> Path | None:
    """A file or folder on the server: only in single-user mode, only inside ``BET_DATA_DIRS``."""
    if not state.single_user():
        sb.info(paths.OFF_MULTI)
        return None
    dirs = paths.data_dirs()
    if not dirs:
        sb.info(paths.OFF_UNSET)
        return None
    text = sb.text_input(
        "File or LightGCN folder on the server",
        key="data_path",
        help="Inside " + ", ".join(map(str, dirs)) + " (BET_DATA_DIRS)",
    ).strip()
    if not text:
        sb.info("Type a path to a file or a folder with train.txt and test.txt.")
        return None
    try:
        return paths.server_path(text, dirs)
    except BetError as exc:
        with sb.container(key="data-error"):
            st.error(f"Cannot use this dataset: {md(exc)}")
        return None


def load(sb: Any, spec: DataSpec) -> Dataset | None:
    try:
        with st.spinner("Loading the dataset…"):
            data = state.dataset(spec)
    except Exception as exc:  # a reader's slip on a user's file is shown, never a crashed session
        if not isinstance(exc, BetError):
            log.exception("reading %s", spec.dataset)
        msg = str(exc) if isinstance(exc, BetError) else f"{paths.shown_name(spec.dataset)}: cannot read this file"
        if Path(spec.dataset).parent.parent == settings.uploads_dir():  # an upload: by its name, said so
            msg = msg.replace(spec.dataset, f"{Path(spec.dataset).name} (uploaded)")
        with sb.container(key="data-error"):  # the user's file name, not where the upload is kept
            st.error(f"Cannot use this dataset: {settings.shown(msg)}")
        return None
    sb.caption(
        f"{md(data.name)}: {data.n_users:,} users · {data.n_items:,} items · {data.n_interactions:,} interactions"
    )
    return data
