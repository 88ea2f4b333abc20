"""The Ray side of :mod:`bet.executors.ray_driver`: the remote tasks and the connection checks.

Imported only for ``--executor ray``.
"""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import ray
import ray.exceptions as rex

from bet.data import Dataset
from bet.errors import BetError, ConfigError
from bet.events import Event, TrainProgress
from bet.runs import Job, job_events

#: Failures of the machinery under a task (its process, its node, its results), not of the job:
#: the driver resubmits the job.
LOST: tuple[type[BaseException], ...] = (
    rex.WorkerCrashedError,
    rex.NodeDiedError,
    rex.ObjectLostError,
    rex.OutOfMemoryError,
)
#: Fewest seconds between two forwarded per-step progress events (validation steps and the first
#: and last step of a training always travel).
PROGRESS_EVERY = 0.2
#: Seconds a cancelled task gets to stop before it is killed.
CANCEL_GRACE = 10.0
DEFAULT_PORTS = {"ray": 10001, "gcs": 6379}  # ray:// client server, GCS of `ray start --head`
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # the `bet` package, shipped to workers


class WorkerLost(BetError):
    """A run's Ray worker kept dying (not a bug in the run: recorded without a traceback)."""


def _forwarded(events: Iterator[Event], every: float = PROGRESS_EVERY) -> Iterator[Event]:
    """``events`` with per-step progress thinned to one every ``every`` seconds."""
    last = float("-inf")
    for ev in events:
        if isinstance(ev, TrainProgress) and ev.valid is None and ev.step not in (1, ev.total_steps):
            now = time.monotonic()
            if now - last < every:
                continue
            last = now
        yield ev


def _quiet() -> None:
    warnings.filterwarnings("ignore", message=".*[Ss]parse.*", category=UserWarning)
    warnings.filterwarnings("ignore", message=".*not writable.*", category=UserWarning)  # zero-copy dataset arrays


@ray.remote(num_returns="streaming", max_retries=0)
def _job_task(job: Job, data: Dataset) -> Iterator[Event]:
    """One job on a worker, its events yielded as they happen (the driver records them)."""
    _quiet()
    yield from _forwarded(iter(job_events(job, data)))


@ray.remote(max_retries=0)
def _job_task_batch(job: Job, data: Dataset) -> list[Event]:
    """The same for Ray Client (``ray://``), which has no streaming generators: all events at the end."""
    _quiet()
    return [ev for ev in job_events(job, data) if not isinstance(ev, TrainProgress) or ev.valid is not None]


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a ``host:port`` / ``ray://host:port`` nobody listens on (``ray.init`` would
    otherwise retry for minutes)."""
    if address in ("auto", "local"):
        return
    scheme, _, rest = address.rpartition("://")
    host, _, port = rest.partition("/")[0].rpartition(":")
    if not host:
        host, port = port, ""
    try:
        port_no = int(port) if port else DEFAULT_PORTS["ray" if scheme == "ray" else "gcs"]
    except ValueError:
        raise ConfigError(f"bad Ray address {address!r}; expected auto, host:port or ray://host:port") from None
    try:
        with socket.create_connection((host.strip("[]"), port_no), timeout=timeout):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ConfigError(
            f"cannot reach the Ray cluster at {address} ({why}); start one there with `ray start --head`, "
            "or check the address and the firewall"
        ) from None


def _client_mode() -> bool:
    try:
        from ray.util.client import ray as client
    except ImportError:  # pragma: no cover - ray without the client
        return False
    return bool(client.is_connected())
