"""Measured seconds per training step and per validation pass on this machine (what
:func:`bet.estimate.plan` scales up), cached per dataset, backbone, device and CPU count.

:func:`measure` trains the backbone on the dataset at three table widths (full, narrow and half;
LightGCN only, the other backbones always compute ``d_max`` columns)
for at least :data:`STEPS` steps and :data:`MIN_SECONDS` of them, and keeps the median step after
the first (batch prefetch and allocator warm-up). The validation pass is timed on a fixed sample
of users — :data:`EVAL_BLOCKS` ranking blocks, 2,048 users on CPU — and scaled linearly by users to
every validation user, plus one scorer build (LightGCN's and NGCF's propagation, NCF's per-row
halves). The first scorer of a process may compile a kernel (NCF on a large catalogue: 5–12 s,
once per process); it is built once before the timed one and its extra seconds are reported
apart (:attr:`Timings.compile`), never counted per pass. Full Gowalla is measured in seconds,
gowalla-mini in about one per width.

A measurement taken while other work holds the CPUs (:attr:`Timings.contention`: its training
thread's wall time over its own CPU time, above :data:`BUSY_CONTENTION`) is taken again on one thread
and its CPU time kept: beside two long runs on 2 cores the wall-clock steps were 2.6-17x their idle
time, these 0.8-1.6x (docs/results.md §9). Such an entry is measured again once the machine is
idle (:data:`RETAKE_AFTER`). What runs then take here corrects the model further
(:mod:`bet.observed`, attached to what :func:`measure` returns as :attr:`Timings.observed`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import torch

from bet import observed as seen
from bet.backbones import Backbone, make_backbone
from bet.budget import Action
from bet.data import Dataset
from bet.evaluation import rank_block
from bet.load import BUSY_SLOWDOWN, load_average, started_now
from bet.metrics import KS, metrics_from_topk, ranked_items
from bet.paths import cache_dir
from bet.runtime import torch_threads
from bet.threads import concurrent
from bet.timing_model import BUSY_CONTENTION, Timings
from bet.train import TrainConfig, train_iter

__all__ = ["BUSY_CONTENTION", "METHOD", "Timings", "cached_for", "cached_timings", "measure"]

#: Fewest training steps run per width; the first is dropped, the median of the others kept.
STEPS = 3
#: Steps go on until those kept add up to this many seconds (at most :data:`MAX_STEPS`): on
#: gowalla-mini the same LightGCN step took 40-230 ms within one minute on a busy 2-core machine
#: (load 5), so two kept steps were a draw of that noise which the plan multiplied by thousands of
#: steps; full Gowalla's ~0.4 s steps still stop at 3.
MIN_SECONDS = 0.5
MAX_STEPS = 60
#: Ranking blocks of users whose validation ranking is timed (block: 64 users on CPU, 4,096 on a GPU).
EVAL_BLOCKS = 32
#: Bumped when the way of measuring changes: timings measured otherwise are measured again (4: the
#: measuring process's malloc set as runs set it, :func:`bet.runtime.tune_heap`; 5: LightGCN at a
#: third width, ``d_max // 2``; 6: a busy measurement scaled by the share of a core it got).
METHOD = 6
#: A busy measurement is measured again when it is older than this (seconds) and the machine is idle.
RETAKE_AFTER = 300.0

#: ``progress(done, total, what)``: a measuring stage starts (``done`` of ``total`` finished).
Progress = Callable[[int, int, str], None]


def _time_steps(model: Backbone, data: Dataset, report: Callable[[int, str], None]) -> tuple[float, float, int]:
    """``(wall, cpu, steps)``: the median seconds per training step after the first, over at least
    :data:`STEPS` steps and :data:`MIN_SECONDS` of them (at most :data:`MAX_STEPS`), by the wall
    clock and by the training thread's own CPU clock (on a GPU, where the thread waits for the
    device, the wall clock's). ``report(k, what)`` after each of the first :data:`STEPS`."""
    walls: list[float] = []
    cpus: list[float] = []
    last, last_cpu = time.perf_counter(), time.thread_time()
    gen = train_iter(model, data, TrainConfig(steps=MAX_STEPS, patience=0), seed=0, phase="estimate")
    for _ in gen:
        now, now_cpu = time.perf_counter(), time.thread_time()
        walls.append(now - last)
        cpus.append(now_cpu - last_cpu)
        last, last_cpu = now, now_cpu
        if len(walls) < STEPS:
            report(len(walls), f"training step {len(walls) + 1}/{STEPS}")
        elif sum(walls[1:]) >= MIN_SECONDS:
            gen.close()
            break
    wall, cpu = float(np.median(walls[1:])), float(np.median(cpus[1:]))
    return wall, (cpu if cpu > 0 and model.device.type == "cpu" else wall), len(walls)


def _shifted(report: Progress, *, base: int, total: int, at: str) -> Callable[[int, str], None]:
    """A training's ``(k, what)`` as stage ``base + k`` of ``total``, ``at`` its width."""
    return lambda k, what: report(base + k, total, what + at)


def _time_evaluation(model: Backbone, data: Dataset) -> tuple[float, float, int, int]:
    """``(pass, compile, sampled, users)``: seconds of one validation pass over its ``users``,
    scaled from ranking ``sampled`` of them (a fixed draw) plus one scorer build; and the seconds
    the first scorer build took beyond the second (a one-off compile)."""
    users = np.flatnonzero(np.diff(data.valid.indptr) > 0)
    block = rank_block(model.device)  # as bet.evaluation ranks
    n = min(len(users), EVAL_BLOCKS * block)
    sample = np.sort(np.random.default_rng(0).choice(users, n, replace=False))
    with torch_threads("eval"), torch.no_grad():
        t0 = time.perf_counter()
        model.scorer()  # the first build of a process may compile: kept out of the pass
        t1 = time.perf_counter()
        scorer = model.scorer()
        t2 = time.perf_counter()
        top = ranked_items(
            scorer, sample, data.train, n_items=data.n_items, k=max(KS), block=block, device=model.device
        )
        metrics_from_topk(top, data.valid, sample, ks=KS)
        t3 = time.perf_counter()
    build = t2 - t1
    return build + (t3 - t2) * len(users) / max(n, 1), max(0.0, t1 - t0 - build), n, len(users)


def _key(data: Dataset, backbone: str, device: torch.device, *, d_max: int, narrow: int) -> str:
    return _key_of(data.fingerprint, backbone, device, d_max=d_max, narrow=narrow)


def _key_of(fingerprint: str, backbone: str, device: torch.device, *, d_max: int, narrow: int) -> str:
    return f"{fingerprint}-{backbone}-{device.type}-{os.cpu_count()}-{d_max}-{narrow}-m{METHOD}"


def _known() -> dict[str, Any]:
    path = cache_dir("timings") / "timings.json"
    try:
        known = json.loads(path.read_text()) if path.exists() else {}
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def cached_timings(
    data: Dataset, backbone: str, device: torch.device, *, d_max: int = 128, narrow: int = 8
) -> Timings | None:
    """The timings :func:`measure` would read back for this machine, or ``None`` (it would measure)."""
    t = cached_for(data.fingerprint, backbone, device, d_max=d_max, narrow=narrow)
    if t is None or _retake(t):
        return None
    return _observed(t, data, backbone, device=device, d_max=d_max)


def cached_for(
    fingerprint: str, backbone: str, device: torch.device, *, d_max: int = 128, narrow: int = 8
) -> Timings | None:
    """The cached measurement for data of this split ``fingerprint`` (a stored run's), without
    loading the data or the observed runs; ``None`` when this machine has none."""
    entry = _known().get(_key_of(fingerprint, backbone, device, d_max=d_max, narrow=narrow))
    try:
        return Timings(**entry) if isinstance(entry, dict) else None
    except TypeError:  # an entry written by another version: measured again
        return None


def _observed(t: Timings, data: Dataset, backbone: str, *, device: torch.device, d_max: int) -> Timings:
    """``t`` with what recent runs of this dataset and backbone took on this machine."""
    return replace(
        t, observed=seen.recent(seen.key(data.fingerprint, backbone=backbone, device=device.type, d_max=d_max))
    )


@dataclass
class _Timed:
    """One measuring pass over the widths: per width ``(step, pass)`` seconds, and how."""

    got: dict[int, tuple[float, float]] = field(default_factory=dict)
    contention: float = 1.0  # the most of any width: wall over CPU time of its steps
    steps: int = 0
    sampled: int = 0
    users: int = 0
    compile: float = 0.0


def _time_widths(
    data: Dataset,
    backbone: str,
    device: torch.device,
    *,
    widths: list[int],
    d_max: int,
    report: Progress,
    one_thread: bool = False,
) -> _Timed:
    """Time ``widths`` in turn; ``report(k, n, what)``: stage ``k`` of ``n`` (two per width and
    step). Each width's seconds are its wall time, or on ``one_thread`` (the busy machine's second
    pass, :func:`measure`) its CPU time: the step's own, the pass's wall time divided by the steps'
    contention (it shared the cores as they did)."""
    out = _Timed()
    for i, width in enumerate(widths):
        model = make_backbone(backbone, data, seed=0, d_max=d_max, device=device)
        if width < d_max and model.table is not None:
            sizes = np.full(data.n_rows, width)
            model.set_action(Action.of(sizes[: data.n_users], sizes[data.n_users :]))
        base, at, total = i * (STEPS + 1), f", width {width}", len(widths) * (STEPS + 1)
        report(base, total, f"training step 1/{STEPS}{at}")
        wall, cpu, n_steps = _time_steps(model, data, _shifted(report, base=base, total=total, at=at))
        out.steps = min(out.steps, n_steps) if out.steps else n_steps
        report(base + STEPS, total, f"ranking a sample of validation users{at}")
        pass_s, first, out.sampled, out.users = _time_evaluation(model, data)
        out.compile += first
        contention = wall / cpu
        out.got[width] = (cpu, pass_s / contention) if one_thread else (wall, pass_s)
        out.contention = max(out.contention, contention)
    return out


def measure(
    data: Dataset,
    backbone: str,
    device: torch.device,
    *,
    d_max: int = 128,
    narrow: int = 8,
    progress: Progress | None = None,
) -> Timings:
    """Measure (or read from the cache) step and evaluation times for this machine; ``progress``
    hears each measuring stage as it starts (the library never prints). Where other work holds the
    CPUs (the steps' wall time over their CPU time above :data:`BUSY_CONTENTION`), a step's second
    ``spmm`` or evaluation thread waits for a core and its first spins meanwhile, so even the CPU
    time is inflated (gowalla-mini: 3-6x): the widths are timed again on one thread, and their CPU
    time kept — an upper bound of what two threads take alone (docs/results.md §9)."""
    if (hit := cached_timings(data, backbone, device, d_max=d_max, narrow=narrow)) is not None:
        return hit
    if backbone == "pop":
        t = Timings(narrow, d_max, 0.0, 0.0, 0.0, 0.0)
    else:
        mid = d_max // 2 if narrow < d_max // 2 else 0
        widths = [d_max, narrow, *([mid] if mid else [])] if backbone == "lightgcn" else [d_max]
        report = progress or (lambda done, total, what: None)
        first = _time_widths(data, backbone, device, widths=widths, d_max=d_max, report=report)
        run, n = first, len(widths) * (STEPS + 1)
        if first.contention > BUSY_CONTENTION:
            again: Progress = lambda k, _n, what: report(n + k, 2 * n, what + ", on one thread")  # noqa: E731
            concurrent(1)  # spmm and evaluation on one thread, as beside another training
            try:
                run = _time_widths(data, backbone, device, widths=widths, d_max=d_max, report=again, one_thread=True)
            finally:
                concurrent(-1)
        stages = n if run is first else 2 * n
        report(stages, stages, "done")
        got = run.got
        (sn, en), (sw, ew), (sm, em) = got.get(narrow, got[d_max]), got[d_max], got.get(mid, (0.0, 0.0))
        t = Timings(narrow, d_max, sn, sw, en, ew, run.steps, run.sampled, run.users, first.compile,
                    mid if mid in got else 0, sm, em, contention=round(first.contention, 3), at=time.time())  # fmt: skip
    _store(_key(data, backbone, device, d_max=d_max, narrow=narrow), t)
    return _observed(t, data, backbone, device=device, d_max=d_max)


def _retake(t: Timings) -> bool:
    """Measure ``t`` again: it was measured busy, a while ago, and the machine is idle now."""
    return t.busy and time.time() - t.at > RETAKE_AFTER and started_now(load_average()) <= BUSY_SLOWDOWN


def _store(key: str, t: Timings) -> None:
    path = cache_dir("timings") / "timings.json"
    known = _known()
    known[key] = {k: v for k, v in asdict(t).items() if k != "observed"}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(path)
    except OSError:  # a full disk or a read-only BET_HOME: measured again next time, no failure
        tmp.unlink(missing_ok=True)
