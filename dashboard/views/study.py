"""Recorded studies in the page: the one-click entry beside the live demo, the sidebar switch, and
the banner every page shows while a study is open (what it is, where and when it ran, the commands
that reproduce it, the way back to the live store)."""

from __future__ import annotations

import streamlit as st

from dashboard import state
from dashboard.paths import md
from dashboard.study import Study


def _in_sentence(title: str) -> str:
    """A study's title inside a sentence: "Open the recorded study: …"."""
    return title[:1].lower() + title[1:]


def _open(study: Study) -> None:
    state.enter_study(study.name)
    if study.headline:
        st.query_params["run"] = study.headline


def _leave() -> None:
    state.enter_study(None)


def entry() -> None:
    """The card beside the live demo: the recorded full-size runs, opened in one click."""
    studies = state.available_studies()
    if not studies:
        return
    with st.container(key="study-entry", border=True):
        for study in studies:
            st.markdown(
                f"**{md(study.title)}** — the real-size story, recorded: no waiting. {md(study.summary())} "
                "Frontier, story sentence, size histograms and the predictor's rankings, read-only."
            )
            st.button(
                f"Open the {_in_sentence(study.title)}",
                key=f"study-open-{study.name}",
                on_click=_open,
                args=(study,),
                type="primary",
            )


def beside_story() -> None:
    """Under a live story (the mini demo's): the recorded real-size story, one click away."""
    if state.study() is not None:
        return
    for study in state.available_studies():
        with st.container(key=f"study-beside-{study.name}"):
            if st.button(
                f"See the real-size story: {_in_sentence(study.title)}",
                key=f"study-story-{study.name}",
                help=study.summary(),
            ):
                _open(study)
                st.rerun(scope="app")  # drawn in a fragment: the whole page moves to the study


def switch(sb: st.delta_generator.DeltaGenerator) -> None:
    """The sidebar's switch between the live store and the recorded studies."""
    studies = state.available_studies()
    if not studies:
        return
    now = state.study()
    with sb.container(key="study-switch"):
        if now is not None:
            st.caption(f"Reading **{md(now.title)}** (read-only).")
            st.button("Back to the live store", key="study-leave-side", on_click=_leave, width="stretch")
            return
        for study in studies:
            st.button(
                f"Open {_in_sentence(study.title)}",
                key=f"study-side-{study.name}",
                on_click=_open,
                args=(study,),
                width="stretch",
                help="Recorded runs on the full dataset, read-only: see the real-size result now",
            )


def banner() -> None:
    """At the top of every page while a study is open."""
    study = state.study()
    if study is None:
        return
    with st.container(key="study-banner", border=True):
        left, right = st.columns([6, 1], vertical_alignment="center")
        left.markdown(f"**{md(study.title)}** · read-only · {md(study.summary())}")
        right.button("Back to the live store", key="study-leave", on_click=_leave, type="primary")
        with st.expander("Reproduce these runs"):
            st.caption(
                "Each run's command is checked when the study is built: it rebuilds the stored run's "
                "configuration (same fingerprint). Add `--store FILE` to keep the runs apart."
            )
            if study.commands:
                st.code("\n".join(study.commands), language="bash")
            for run in study.manifest.get("runs") or []:
                command = run.get("reproduce")
                checked = (
                    ""
                    if run.get("reproduces_config")
                    else " (not checked: the command differs)"
                    if command
                    else " (on no Table 1 cell: no reproduce command)"
                )
                st.caption(
                    f"{md(run.get('run_id'))} · {md(run.get('backbone'))} {md(run.get('method'))} "
                    f"c={run.get('sparsity')}{checked}"
                )
                if command:
                    st.code(str(command), language="bash")
            left_out = study.manifest.get("left_out") or []
            if left_out:
                st.caption(
                    f"{len(left_out)} rows of docs/table1.csv are not in this study (their runs were "
                    "recorded in another store)."
                )
