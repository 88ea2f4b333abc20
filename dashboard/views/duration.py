"""The setup's duration estimate: how long the configured run(s) would take on this machine alone
(:func:`bet.plan`, per phase), what a run started now would take beside the machine's other work
(:mod:`bet.load`), and a warning when it is long."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st

from bet import (
    BUSY_SLOWDOWN,
    LONG_RUN,
    BetError,
    Dataset,
    SearchConfig,
    cpu_cores,
    load_average,
    started_now,
)
from dashboard import queries, settings, state


def show(sb: Any, cfg: SearchConfig, data: Dataset) -> None:
    """The configured run's estimated duration on this machine, per phase; a warning when long."""
    backbones = list(st.session_state["backbones"])
    slot = sb.empty()

    def timing(backbone: str) -> Callable[[int, int, str], None]:
        # Said after every timed step: a streamlit call, where a click's rerun interrupts the
        # measurement (it is cached only once whole) instead of waiting for it (seconds, a minute
        # on a busy machine, on a fresh machine's first visit).
        return lambda done, total, what: slot.caption(
            f"Timing {backbone} on this machine for the estimate: {done}/{total} ({what})…"
        )

    try:
        phases = settings.estimate(cfg, backbones, data, progress=timing)
    except BetError as exc:
        slot.caption(f"No time estimate: {settings.shown(str(exc))}")
        return
    slot.empty()
    total = sum(phases.values())
    parts = " · ".join(f"{name} {queries.fmt_seconds(secs)}" for name, secs in phases.items() if secs >= 1)
    with sb.container(key="estimate"):
        text = f"Estimated **{queries.fmt_seconds(total)}** on this machine alone" + (f" ({parts})" if parts else "")
        load = load_average()
        busy = started_now(load) if cfg.device != "cuda" and state.runner().idle() else 1.0  # a queued run waits
        if load is not None and busy > BUSY_SLOWDOWN:
            text += (
                f"; about **{queries.fmt_seconds(total * busy)}** if started now, beside the machine's other work "
                f"(load {load:.1f} on {cpu_cores()} cores)"
            )
        if settings.measured_busy(cfg, backbones, data):
            text += (
                " — timed while other work held the CPUs and scaled to the machine alone, so a rough figure "
                "(timed again once the machine is idle)"
            )
        if total > LONG_RUN:
            st.warning(
                f"{text}. That is over {LONG_RUN / 60:.0f} minutes: fewer iterations, shorter finetunes "
                "or a smaller dataset finish sooner (Advanced settings)."
            )
        else:
            st.caption(text)
