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

A measurement taken while other work holds the CPUs is scaled to the machine alone by the share
of a core it got (:attr:`Timings.contention`: its training thread's wall time over its own CPU
time): beside two long runs on 2 cores the wall-clock step of full Gowalla was 2.6× its idle time,
its CPU time 0.9× (docs/results.md §9). Such an entry is measured again once the machine is idle
(:data:`RETAKE_AFTER`). What runs then take here corrects the model further (:mod:`bet.observed`,
attached to what :func:`measure` returns as :attr:`Timings.observed`).
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
from bet.train import TrainConfig, train_iter

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
#: Above this contention (wall over CPU time of the timed steps) a measurement counts as busy: on an
#: idle 2-core machine it was 1.00-1.19 (a narrow step waits on its batch prefetch), beside two long
#: runs 2.8-3.0.
BUSY_CONTENTION = 1.5
#: A busy measurement is measured again when it is older than this (seconds) and the machine is idle.
RETAKE_AFTER = 300.0

#: ``progress(done, total, what)``: a measuring stage starts (``done`` of ``total`` finished).
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Timings:
    """Measured seconds per training step and per validation pass at widths ``narrow`` and
    ``wide``, and how they were measured: ``steps`` timed per width, the validation pass timed on
    ``eval_users`` of its ``valid_users`` users and scaled by users, ``compile`` one-off seconds
    (a scorer's first build in a process) left out of the per-pass times. ``observed``: what recent
    runs of this dataset and backbone took here (:mod:`bet.observed`; not part of the cache).
    ``contention``: how much longer than their own CPU time the timed steps took (other work held
    the CPUs); the seconds above are already divided by it, per width."""

    narrow: int
    wide: int
    step_narrow: float
    step_wide: float
    eval_narrow: float
    eval_wide: float
    steps: int = 0
    eval_users: int = 0
    valid_users: int = 0
    compile: float = 0.0
    mid: int = 0  # a third width between (0: not measured; the model is then the line through two)
    step_mid: float = 0.0
    eval_mid: float = 0.0
    contention: float = 1.0  # the timed steps' wall over CPU time (> BUSY_CONTENTION: measured busy)
    at: float = field(default=0.0, compare=False)  # when it was measured (Unix seconds)
    observed: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def busy(self) -> bool:
        """Measured while other work held the CPUs (its seconds scaled to the machine alone)."""
        return self.contention > BUSY_CONTENTION

    def step(self, w: float) -> float:
        return self._at(w, (self.step_narrow, self.step_mid, self.step_wide))

    def eval(self, w: float) -> float:
        return self._at(w, (self.eval_narrow, self.eval_mid, self.eval_wide))

    def _at(self, w: float, ys: tuple[float, float, float]) -> float:
        """Piecewise linear through the measured widths: a LightGCN step is not linear in the
        width (full Gowalla: 0.020 s at 8 columns, 0.139 at 68, 0.372 at 128 — the line through
        the ends says 0.196 at 68, and so planned narrow trainings ~1.5× too long). ``ys``: the
        measured seconds at ``narrow``, ``mid`` and ``wide``."""
        y0, ym, y1 = ys
        if self.narrow < self.mid < self.wide:
            if w <= self.mid:
                return _interp(w, w0=self.narrow, w1=self.mid, y0=y0, y1=ym)
            return _interp(w, w0=self.mid, w1=self.wide, y0=ym, y1=y1)
        return _interp(w, w0=self.narrow, w1=self.wide, y0=y0, y1=y1)


def _interp(w: float, *, w0: int, w1: int, y0: float, y1: float) -> float:
    if w1 == w0:
        return y1
    return max(0.0, y0 + (y1 - y0) * (w - w0) / (w1 - w0))


def _time_steps(model: Backbone, data: Dataset, report: Callable[[int, str], None]) -> tuple[float, int, float]:
    """``(seconds, steps, contention)``: the median seconds per training step after the first, over
    at least :data:`STEPS` steps and :data:`MIN_SECONDS` of them (at most :data:`MAX_STEPS`), and
    their median wall time over the training thread's median CPU time; where that says busy
    (:data:`BUSY_CONTENTION`), the seconds are the CPU time's. ``report(k, what)`` after each of the
    first :data:`STEPS`."""
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
    # on a GPU the thread waits for the device: its CPU time says nothing about other work
    contention = wall / cpu if cpu > 0 and model.device.type == "cpu" else 1.0
    return (wall / contention if contention > BUSY_CONTENTION else wall), len(walls), contention


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
    hears each measuring stage as it starts (the library never prints)."""
    if (hit := cached_timings(data, backbone, device, d_max=d_max, narrow=narrow)) is not None:
        return hit
    if backbone == "pop":
        t = Timings(narrow, d_max, 0.0, 0.0, 0.0, 0.0)
    else:
        mid = d_max // 2 if narrow < d_max // 2 else 0
        widths = [d_max, narrow, *([mid] if mid else [])] if backbone == "lightgcn" else [d_max]
        total = len(widths) * (STEPS + 1)
        report = progress or (lambda done, total, what: None)
        got: dict[int, tuple[float, float]] = {}
        compile_s, sampled, users, timed, most = 0.0, 0, 0, 0, 1.0
        for i, width in enumerate(widths):
            model = make_backbone(backbone, data, seed=0, d_max=d_max, device=device)
            if width < d_max and model.table is not None:
                sizes = np.full(data.n_rows, width)
                model.set_action(Action.of(sizes[: data.n_users], sizes[data.n_users :]))
            base, at = i * (STEPS + 1), f", width {width}"
            report(base, total, f"training step 1/{STEPS}{at}")
            step, n_steps, contention = _time_steps(model, data, _shifted(report, base=base, total=total, at=at))
            timed = min(timed, n_steps) if timed else n_steps
            report(base + STEPS, total, f"ranking a sample of validation users{at}")
            pass_s, first, sampled, users = _time_evaluation(model, data)
            compile_s += first
            busy = contention > BUSY_CONTENTION  # the pass shared the CPUs as the steps did
            got[width] = (step, pass_s / contention if busy else pass_s)
            most = max(most, contention)
        report(total, total, "done")
        (sn, en), (sw, ew) = got.get(narrow, got[d_max]), got[d_max]
        sm, em = got.get(mid, (0.0, 0.0))
        t = Timings(narrow, d_max, sn, sw, en, ew, timed, sampled, users, compile_s, mid if mid in got else 0, sm, em)
        t = replace(t, contention=round(most, 3), at=time.time())
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
