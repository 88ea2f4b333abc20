"""Runs submitted together — a batch (one comparison id: several backbones, the demo, a sweep) — as
the Live page follows them (plain Python, no streamlit): which run of the batch works now, whether
the page moves to it or offers to, the batch's headline run, and how long its remaining runs take.

Every function takes the store's run dicts (:meth:`bet.store.RunStore.list_runs`), so tests feed
them hand-made rows."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bet import METHODS, RunRecord, Status

FULL = METHODS["full"].name


def _created(run: RunRecord) -> float:
    return float(run.created_at or 0.0)


def has_story(batch: Sequence[RunRecord]) -> bool:
    """Whether the batch tells a story: a full-size reference beside its searches (the demo, a sweep
    with ``full``) — its headline run stays in view while the references fill the frontier."""
    return any(r.method == FULL for r in batch)


def headline(batch: Sequence[RunRecord]) -> RunRecord | None:
    """The batch's headline search: the first one submitted (the demo's live search at its headline
    budget, not the shorter searches at the other budgets queued after it; a sweep's first BET run)."""
    searches = [r for r in batch if r.kind == "search"]
    return min(searches, key=_created) if searches else None


def default_run(runs: Sequence[RunRecord]) -> str | None:
    """The run a page opens on when none is asked for (``runs`` newest first): the running one —
    unless its batch tells a story (:func:`has_story`: the demo), then that batch's headline search;
    with nothing running, the headline search of the newest batch (after the demo: the search at the
    story's headline budget, not the last one queued); else the newest run."""
    if not runs:
        return None
    running = [r for r in runs if r.status == Status.RUNNING]
    anchor = running[0] if running else runs[0]
    cid = anchor.comparison_id
    batch = [r for r in runs if cid and r.comparison_id == cid]
    top = headline(batch) if not running or has_story(batch) else None
    return str((top or anchor).run_id)


def now_working(batch: Sequence[RunRecord], but: str | None = None) -> RunRecord | None:
    """The batch's run at work now: a running one (the earliest submitted), else the next queued
    (runs execute in the order they were submitted); None when all have ended. ``but``: a run id
    to leave out (the one on screen)."""
    rest = sorted((r for r in batch if r.run_id != but), key=_created)
    return next((r for r in rest if r.status == Status.RUNNING), None) or next(
        (r for r in rest if r.status == Status.QUEUED), None
    )


@dataclass(frozen=True)
class Follow:
    """What the Live page does for the run on screen: ``move`` to ``run`` (it follows the batch), or
    ``offer`` a button to it."""

    action: str  # "move" or "offer"
    run: RunRecord


def follow(shown: RunRecord, batch: Sequence[RunRecord], following: bool) -> Follow | None:
    """Where the work of ``shown``'s batch has gone once ``shown`` has ended: None while it is
    itself queued or running, or when nothing of its batch is left. The page moves (``following``:
    this session submitted the batch, or followed it here) — except in a batch that tells a story,
    whose headline run stays in view — and otherwise offers to."""
    if not shown.status.is_final:
        return None
    target = now_working(batch, but=shown.run_id)
    if target is None:
        return None
    return Follow("move" if following and not has_story(batch) else "offer", target)


def _pretrain_key(run: RunRecord) -> tuple[Any, ...]:
    """What a run's full-size model is cached under (dataset, backbone, d_max, pretraining, seed)."""
    cfg = run.config
    return run.dataset, run.backbone, cfg.get("d_max"), str(cfg.get("pretrain")), run.seed


def waiting(batch: Sequence[RunRecord], current: str) -> list[RunRecord]:
    """The batch's runs still queued behind ``current`` (in the order they will run)."""
    return sorted((r for r in batch if r.status == Status.QUEUED and r.run_id != current), key=_created)


def left_in_batch(
    current: RunRecord,
    current_left: float | None,
    batch: Sequence[RunRecord],
    *,
    plan_of: Callable[[RunRecord], Mapping[str, float] | None],
) -> tuple[float | None, int, int]:
    """Seconds left until the whole batch has finished: ``current_left`` (the run at work) plus the
    planned seconds of each run queued behind it (``plan_of``: its per-phase plan, None when it
    cannot be planned). A queued run pretrains no full model that ``current`` or a run before it
    pretrains (the first caches it for the others). Returns (seconds or None, runs counted, runs
    that could not be planned)."""
    if current_left is None:
        return None, 0, 0
    seen = {_pretrain_key(current)}
    total, counted, unplanned = current_left, 0, 0
    for r in waiting(batch, current.run_id):
        phases = plan_of(r)
        if phases is None:
            unplanned += 1
            continue
        key = _pretrain_key(r)
        total += sum(v for k, v in phases.items() if not (k == "pretrain" and key in seen))
        seen.add(key)
        counted += 1
    return total, counted, unplanned


def eta_words(
    run_left: float | None, batch_left: float | None, *, counted: int, unplanned: int, fmt: Callable[[float], str]
) -> str:
    """The progress bar's "left in all" phrase: the run's own, or the batch's with how many runs
    it covers ("" when nothing is known)."""
    if counted == 0 and unplanned == 0:
        return f" · about {fmt(run_left)} left in all" if run_left is not None else ""
    if batch_left is None:
        return ""
    more = f"this run and the {counted} queued after it in its batch"
    if unplanned:
        more += f"; {unplanned} more not estimated"
    return f" · about {fmt(batch_left)} left in all ({more})"
