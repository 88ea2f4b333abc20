"""The connection of :class:`bet.executors.ray_driver.RayExecutor` to its cluster: joining (or
starting) it, the number of tasks it runs at once, and disconnecting what it started."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import ray

from bet.errors import ConfigError
from bet.executors.ray_local import loopback_only
from bet.executors.ray_tasks import PACKAGE_DIR, _probe

log = logging.getLogger("bet.executors.ray_driver")  # the executor's logger, as before the split


class RayConnection:
    """What :class:`~bet.executors.ray_driver.RayExecutor` inherits for its connection: ``address``
    (None: a private local Ray), ``workers`` (None: resolved from the cluster)."""

    address: str | None
    _workers: int | None
    _owns_connection: bool
    _gpus: int

    @property
    def workers(self) -> int:
        """Tasks run at once (resolving the default connects to the cluster)."""
        if self._workers is None:
            self.connect()
            res = ray.cluster_resources()
            gpus, cpus = int(res.get("GPU", 0)), int(res.get("CPU", 0))
            self._workers = max(1, gpus or cpus)
        return self._workers

    @workers.setter
    def workers(self, value: int) -> None:
        self._workers = value

    def connect(self) -> None:
        """Join (or start) the cluster; an unreachable one is a :class:`ConfigError` naming it."""
        if self._owns_connection and ray.is_initialized():
            return
        where = self.address or "a new local Ray"
        if self.address:
            _probe(self.address)
        if not ray.is_initialized():
            runtime_env = {"py_modules": [str(PACKAGE_DIR)], "excludes": ["__pycache__", "*.pyc"]}
            kwargs: dict[str, Any] = {"runtime_env": runtime_env, "log_to_driver": True}
            if not self.address:
                kwargs["include_dashboard"] = False
            try:  # a private local Ray listens on loopback only (see bet.executors.ray_local)
                with contextlib.nullcontext() if self.address else loopback_only():
                    ray.init(address=self.address or "local", **kwargs)
            except Exception as exc:  # noqa: BLE001 — any failure to join is about the address or the cluster
                hint = (
                    "; if the cluster uses token authentication, set RAY_AUTH_MODE=token and its token "
                    "(RAY_AUTH_TOKEN, or the file ~/.ray/auth_token)"
                    if self.address not in (None, "auto", "local") and isinstance(exc, ConnectionError)
                    else ""
                )
                raise ConfigError(
                    f"cannot connect to the Ray cluster at {where}: {type(exc).__name__}: {exc}{hint}"
                ) from None
            self._owns_connection = True
        elif self.address:
            log.info("this process is already connected to Ray; using that connection, not %s", self.address)
        self._gpus = int(ray.cluster_resources().get("GPU", 0))

    def close(self) -> None:
        """Disconnect (and stop the local Ray) if :meth:`connect` started the connection."""
        if self._owns_connection:
            ray.shutdown()
            self._owns_connection = False
