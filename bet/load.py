"""How busy this machine's CPUs are: the share of a run's time that other work took.

A CPU run that shares its cores with other runnable work takes longer roughly in proportion to how
many runnable tasks compete for the cores: with a load average of ``L`` runnable tasks on ``C``
cores (the run's own threads among them), each gets ``C / L`` of a core once ``L > C``, so the run
is :func:`slowdown` ``= max(1, L / C)`` times slower than on the machine alone. A run measured
beside a test suite (load 5 on 2 cores) took 2.6–4× its idle time (docs/results.md, "How close
`bet estimate` comes"). :mod:`bet.observed` keeps each run's mean slowdown, so the duration model
learns what a run takes on the machine alone; ``bet estimate`` then says what it takes as busy as
the machine is now.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def load_average() -> float | None:
    """The 1-minute load average (runnable tasks), or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def slowdown(load: float, *, n_cores: int | None = None) -> float:
    """How many times slower than alone a run is with ``load`` runnable tasks (its own included)."""
    return max(1.0, load / (n_cores or cpu_cores()))


#: Above this slowdown a run started now is said to take longer than on the machine alone.
BUSY_SLOWDOWN = 1.1


def started_now(load: float | None) -> float:
    """The slowdown a run started now would see beside a ``load`` average taken before it (plus
    its own training thread: training runs on one, :mod:`bet.threads`); 1 where unknown."""
    return 1.0 if load is None else slowdown(load + 1)


class LoadMeter:
    """Samples the load average while a run goes on: :meth:`tick` as often as convenient (each of
    the run's events, with the phase it starts if it starts one), a sample kept at most every
    ``every`` seconds and at each phase's start, overall and per phase."""

    def __init__(
        self,
        *,
        every: float = 5.0,
        read: Callable[[], float | None] = load_average,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.every, self._read, self._clock = every, read, clock
        self.samples: list[float] = []
        #: The phases begun while metering, in order, and the samples taken during each.
        self.phases: dict[str, list[float]] = {}
        self._phase: str | None = None
        self._last: float | None = None

    def tick(self, phase: str | None = None) -> None:
        now = self._clock()
        if phase is not None and phase != self._phase:
            self._phase = phase
            self.phases[phase] = []
        elif self._last is not None and now - self._last < self.every:
            return
        self._last = now
        load = self._read()
        if load is not None:
            self.samples.append(load)
            if self._phase is not None:
                self.phases[self._phase].append(load)

    @property
    def mean(self) -> float | None:
        """The mean sampled load, None before any sample."""
        return sum(self.samples) / len(self.samples) if self.samples else None

    def phase_means(self) -> dict[str, float]:
        """The mean load of each phase begun while metering."""
        return {p: sum(v) / len(v) for p, v in self.phases.items() if v}
