"""The private local Ray (``--executor ray`` without ``--address``) on loopback only.

Ray resolves a node IP of ``127.0.0.1`` to the machine's reachable address (``ray.init
(_node_ip_address="127.0.0.1")`` and ``ray start --node-ip-address=127.0.0.1`` both do), and with a
reachable node IP its GCS, raylet and worker gRPC servers listen on every interface (checked with
Ray 2.60: ``ss -ltnp`` shows them as ``*:PORT``). Ray's own switch for a single-machine instance,
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (on Windows and macOS the default), makes the node IP
loopback instead; every process then listens on 127.0.0.1 (the gRPC servers as
``[::ffff:127.0.0.1]``), the dashboard agent, the runtime-env agent and the metrics ports included.
A private local Ray never needs another machine, so :func:`loopback_only` sets it while the
instance starts (its processes inherit it) and puts the environment back afterwards. Ray reads the
switch once, when it is imported, so for this process (the driver, which picks the node IP) the
module constant it became is set too. Where a Ray release drops that switch, :func:`supported` is
false and the command line warns that the local Ray may listen beyond loopback.

Imported only for ``--executor ray``.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: Ray's switch: 0 = no multi-machine cluster, so the node's address is loopback.
SINGLE_MACHINE = ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def _constants() -> Any:
    from ray._private import ray_constants  # the switch as this process read it at import

    return ray_constants


def supported() -> bool:
    """Whether this Ray has the switch :func:`loopback_only` uses."""
    try:
        return isinstance(getattr(_constants(), "ENABLE_RAY_CLUSTER", None), bool)
    except ImportError:
        return False


@contextmanager
def loopback_only() -> Iterator[None]:
    """Start a private local Ray inside this block: its processes listen on loopback only
    (where :func:`supported`; otherwise the block runs unchanged)."""
    if not supported():
        yield
        return
    name, value = SINGLE_MACHINE
    before = os.environ.get(name)
    constants = _constants()
    flag = constants.ENABLE_RAY_CLUSTER
    os.environ[name] = value
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = flag
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def is_loopback(host: str) -> bool:
    """``127.0.0.1``, ``::1``, ``::ffff:127.0.0.1`` (and the rest of 127/8); not ``0.0.0.0``/``::``."""
    try:
        addr = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return host == "localhost"
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback
