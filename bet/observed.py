"""What runs actually took on this machine, kept beside the measured timings (:mod:`bet.timings`).

After a run completes, :func:`observe` reads what its store already records — the per-phase seconds
of its events (:func:`bet.paper.phase_seconds`), how many candidates it finetuned and evaluated, the
steps early stopping let each training run (the stored validation steps), the widths of the actions
it trained — and keeps that record in ``observed.json`` beside ``timings.json``, under the run's
dataset, backbone, device, CPU count and ``d_max`` (the :data:`KEEP` most recent runs of each).
:func:`bet.estimate.plan` then scales its measured per-step model by the median ratio of what
those runs took to what the model says for their own work, and takes the length of early-stopped
trainings from them: a first measurement taken on a busy machine, or a guess at how long early
stopping runs, does not stay wrong.

Only runs executed here (not on a Ray cluster) and not beside other runs of the same process
(``frontier --workers 2``) are kept, each with the mean load average sampled while it ran and the
:func:`bet.load.slowdown` it implies: a run beside a test suite is learnt from as what it would
have taken on the machine alone. Recording is best effort: a run never fails because its
observation could not be written.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from bet.load import cpu_cores, slowdown
from bet.methods import METHODS
from bet.paper import phase_seconds
from bet.paths import cache_dir
from bet.runtime import heap_mode, resolve_device
from bet.store import RunRecord, RunStore, Status

#: Recent runs kept per dataset, backbone, device, CPU count and ``d_max``; the plan takes medians.
KEEP = 8
#: Where the runs executed for their observations to describe this machine alone.
HERE = ("local", "dashboard")


def key(fingerprint: str, *, backbone: str, device: str, d_max: int) -> str:
    """Where a run's observation is kept (its timings' key without the way of measuring)."""
    return f"{fingerprint}-{backbone}-{device}-{os.cpu_count()}-{d_max}"


def _path() -> Any:
    return cache_dir("timings") / "observed.json"


def _read() -> dict[str, list[dict[str, Any]]]:
    path = _path()
    try:
        known = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def recent(where: str) -> tuple[dict[str, Any], ...]:
    """The runs observed under ``where`` (:func:`key`), oldest first."""
    runs = _read().get(where)
    return tuple(r for r in runs if isinstance(r, dict)) if isinstance(runs, list) else ()


@contextmanager
def _locked() -> Iterator[None]:
    """One writer of ``observed.json`` at a time (a dashboard worker and a CLI run finish together)."""
    with open(cache_dir("timings") / "observed.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def keep(where: str, record: dict[str, Any]) -> None:
    """Add ``record`` under ``where`` (replacing an earlier one of the same run), keeping the
    :data:`KEEP` most recent; written atomically (a temporary file renamed over it)."""
    with _locked():
        known = _read()
        runs = [r for r in known.get(where, []) if isinstance(r, dict) and r.get("run_id") != record["run_id"]]
        known[where] = [*runs, record][-KEEP:]
        path = _path()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(known, indent=1))
            tmp.replace(path)
        except OSError:  # a full disk or a read-only BET_HOME: nothing learned, no failure
            tmp.unlink(missing_ok=True)


def _width(sizes: Any) -> int:
    return int(max(np.max(sizes.user_sizes, initial=0), np.max(sizes.item_sizes, initial=0)))


def observation(
    run: RunRecord,
    events: Sequence[dict[str, Any]],
    seconds: dict[str, float],
    *,
    width_of: Callable[[int], int],
    load: float | None = None,
    phase_loads: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The record of a completed run: its config, the seconds each phase took (``seconds``, as
    :func:`bet.paper.phase_seconds` reads them), candidates evaluated, steps each early-stopped
    training ran (the last validated step: early stopping stops right after a validation) and the
    mean width of the actions trained in each phase (``width_of(action_id)``; LightGCN only, the
    other backbones always compute ``d_max`` columns). ``load``: the mean load average while it ran
    (None: unknown — its seconds then teach nothing about speed, only its lengths and widths);
    ``phase_loads``: the same per phase (``search``, ``retrain``, …) where it was sampled. ``heap``:
    the process's malloc setting (:func:`bet.runtime.tune_heap`), which changes a step's speed
    up to 2.3×: a record made under another setting than runs now use teaches no speed. A
    training resumed from a snapshot (:mod:`bet.checkpoint`) teaches its length, not its speed."""
    d_max = run.d_max
    sized = run.backbone == "lightgcn"
    steps: dict[str, Any] = {}
    resumed: set[str] = set()  # trainings resumed from a snapshot: their seconds cover only part
    retrain: dict[str, int] = {}
    evaluated, retrained = [], []
    for ev in events:
        kind = ev["kind"]
        if kind == "train_progress" and ev["phase"] in ("pretrain", "train"):
            name = "pretrain" if ev["phase"] == "pretrain" else "baseline"
            steps[name] = max(steps.get(name, 0), int(ev["step"]))
            if ev.get("resumed_from"):
                resumed.add(name)
        elif kind == "train_progress" and ev["phase"] == "retrain":
            retrain[ev["label"]] = max(retrain.get(ev["label"], 0), int(ev["step"]))
        elif kind == "candidate_evaluated" and ev["iteration"] > 0:
            evaluated.append(int(ev["action_id"]))
        elif kind == "retrain_finished":
            retrained.append(int(ev["action_id"]))
    if retrain:
        steps["retrain"] = [retrain[k] for k in sorted(retrain)]
    widths: dict[str, float] = {}
    for phase, ids in (
        ("finetune", evaluated),
        ("retrain", retrained),
        ("baseline", [0] if "baseline" in steps else []),
    ):
        if ids:
            widths[phase] = float(np.mean([width_of(i) for i in ids])) if sized else float(d_max)
    spent = {k: round(v, 4) for k, v in seconds.items() if v > 0}
    ref = METHODS.get(run.method)
    if ref is not None and ref.trains == "pretrain":  # a reference that pretrains: its seconds are the pretraining's
        spent = {"pretrain": round(seconds.get("baseline", 0.0), 4)} if "pretrain" in steps else {}
    for name in resumed:
        spent.pop(name, None)
    return {
        "run_id": run.run_id,
        "at": round(float(run.finished_at or time.time()), 1),
        "method": run.method,
        "sparsity": run.sparsity,
        "config": run.plain_config(),
        "seconds": spent,
        "evaluated": len(evaluated),
        "steps": steps,
        "width": widths,
        "heap": heap_mode(),
        **({} if load is None and not phase_loads else {"cores": cpu_cores()}),
        **({} if load is None else {"load": round(load, 2), "slowdown": round(slowdown(load), 3)}),
        **({"phase_slowdown": {p: round(slowdown(v), 3) for p, v in phase_loads.items()}} if phase_loads else {}),
    }


def record_of(
    store: RunStore, run_id: str, *, load: float | None = None, phase_loads: dict[str, float] | None = None
) -> tuple[str, dict[str, Any]] | None:
    """Where a stored run's observation belongs (:func:`key`) and the observation; None when it
    is not one to learn from (not completed, executed elsewhere or beside other runs, nothing timed)."""
    run = store.get_run(run_id)
    if run.status != Status.COMPLETED or run.executor not in HERE or (run.workers or 1) > 1:
        return None
    if not run.data_fingerprint or run.backbone == "pop":
        return None

    def width_of(action_id: int) -> int:
        return _width(store.action(run_id, action_id))

    record = observation(
        run, store.events(run_id), phase_seconds(store, run), width_of=width_of, load=load, phase_loads=phase_loads
    )
    if not record["seconds"]:
        return None
    device = resolve_device(run.config.get("device", "auto")).type
    if device != "cpu":  # a GPU's steps do not wait for the CPU's other work
        if "slowdown" in record:
            record["slowdown"] = 1.0
        record["phase_slowdown"] = dict.fromkeys(record.get("phase_slowdown", {}), 1.0)
    return key(run.data_fingerprint, backbone=run.backbone, device=device, d_max=run.d_max), record


def observe(
    store: RunStore, run_id: str, *, load: float | None = None, phase_loads: dict[str, float] | None = None
) -> bool:
    """Keep what a completed run took, under the mean ``load`` average it ran beside, overall and
    per phase (see the module docstring); False when it is not one to learn from."""
    got = record_of(store, run_id, load=load, phase_loads=phase_loads)
    if got is not None:
        keep(*got)
    return got is not None
