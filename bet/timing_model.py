"""What :func:`bet.timings.measure` measured on this machine: seconds per training step and per
validation pass at a few table widths, piecewise linear between them, and how they were measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Above this contention (wall over CPU time of the timed steps) a measurement counts as busy: on an
#: idle 2-core machine it was 1.00-1.41 (a step waits a little on its batch prefetch or its second
#: ``spmm`` thread), beside other work 2.0-4.1 (docs/results.md §9).
BUSY_CONTENTION = 1.75


@dataclass(frozen=True)
class Timings:
    """Measured seconds per training step and per validation pass at widths ``narrow`` and
    ``wide``, and how they were measured: ``steps`` timed per width, the validation pass timed on
    ``eval_users`` of its ``valid_users`` users and scaled by users, ``compile`` one-off seconds
    (a scorer's first build in a process) left out of the per-pass times. ``observed``: what recent
    runs of this dataset and backbone took here (:mod:`bet.observed`; not part of the cache).
    ``contention``: how much longer than their own CPU time the timed steps took (other work held
    the CPUs); above :data:`BUSY_CONTENTION` the seconds above are a second pass's CPU time, on one
    thread (:func:`bet.timings.measure`)."""

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
        """Measured while other work held the CPUs (its seconds a one-thread pass's CPU time)."""
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
