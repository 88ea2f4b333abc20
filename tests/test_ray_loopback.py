"""The private local Ray that ``frontier --executor ray`` starts listens on loopback only: every
listening TCP socket of the command's process tree (GCS, raylet, workers, agents, metrics), read
from /proc while the frontier runs, is on 127.0.0.1 / ::1 (or ::ffff:127.0.0.1)."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray")

from bet.executors.ray_local import is_loopback
from tests.proc_helpers import cmdline, descendants
from tests.ray_helpers import ROOT

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]  # one Ray cluster at a time


def _hex_address(text: str) -> str:
    """``/proc/net/tcp{,6}``'s ``ADDR:PORT`` address part (little-endian 32-bit words) as text."""
    raw = bytes.fromhex(text)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def listeners(pids: list[int]) -> set[tuple[str, str, int]]:
    """(process name, address, port) of every listening TCP socket the processes hold."""
    owner: dict[str, int] = {}
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    owner[link[8:-1]] = pid
        except OSError:  # it ended meanwhile
            continue
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in owner:  # 0A: LISTEN
                continue
            addr, port = fields[1].split(":")
            name = cmdline(owner[fields[9]]).split(" ")[0].rsplit("/", 1)[-1]
            found.add((name, _hex_address(addr), int(port, 16)))
    return found


def test_is_loopback() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "::1", "::ffff:127.0.0.1", "[::1]", "127.0.1.1", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.0.2.2", "::ffff:10.0.0.1", "*"]))


def test_private_ray_frontier_listens_on_loopback_only(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")}
    env.update(BET_HOME=str(tmp_path), PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    args = ["frontier", "--executor", "ray", "--workers", "2", "--sparsities", "0.9", "--methods", "su,pop",
            "--pretrain-epochs", "2", "--retrain-epochs", "2", "--device", "cpu", "--json"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "bet", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    seen: set[tuple[str, str, int]] = set()
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        seen |= listeners([proc.pid, *descendants(proc.pid)])
        time.sleep(0.3)
    if proc.poll() is None:
        proc.kill()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    names = {name for name, _, _ in seen}
    assert {"gcs_server", "raylet"} <= names, seen  # the cluster's own servers were seen listening
    exposed = sorted(s for s in seen if not is_loopback(s[1]))
    assert not exposed, f"listening beyond loopback: {exposed}"
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in os.environ  # the driver put the environment back


def test_cli_warns_once_where_ray_cannot_stay_on_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from bet.cli import warn_local_ray
    from bet.executors import ray_local

    args = argparse.Namespace(executor="ray", address=None)
    warn_local_ray(args)  # this Ray has the switch: nothing to say
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(ray_local, "supported", lambda: False)  # a Ray release without the switch
    warn_local_ray(args)
    warn_local_ray(argparse.Namespace(executor="ray", address="head:6379"))  # a cluster of the user's own
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: ") and "every interface" in err[0]
