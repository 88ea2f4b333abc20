"""What the Ray tests share: the `bet` command line in a subprocess, a throwaway ``BET_HOME`` with no
``RAY_ADDRESS``, and a real ``ray start --head`` cluster on loopback (a fixture)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.proc_helpers import cmdline, free_port, in_session, wait_port

ROOT = Path(__file__).resolve().parent.parent
RAY_CLI = [sys.executable, "-m", "ray.scripts.scripts"]  # `ray`, also where only the package is on the path


def bet_cli(
    *args: str, home: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **(env or {})}
    env.update(BET_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "bet", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def clean_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BET_HOME", str(tmp_path))
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    return tmp_path


@pytest.fixture
def ray_head(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`ray start --head` on 127.0.0.1 (2 CPUs, free ports, its own temp folder) in a process
    session of its own; stopped at the end by signalling that process (it takes its cluster down),
    then anything left in its session is killed by pid. Token authentication with a token of its
    own (``auth`` holds what a driver needs), so nothing depends on ``~/.ray/auth_token``."""
    port, client_port, agent_port = free_port(), free_port(), free_port()
    temp = tempfile.mkdtemp(prefix="bet-rayhead-", dir="/tmp")
    worker_home = tmp_path / "head-home"
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(auth, BET_HOME=str(worker_home), PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0")
    log = (tmp_path / "ray-start.log").open("w")
    cmd = [
        *RAY_CLI, "start", "--head", "--block", "--node-ip-address=127.0.0.1", f"--port={port}",
        "--num-cpus=2", "--num-gpus=0", "--include-dashboard=false", f"--ray-client-server-port={client_port}",
        f"--dashboard-agent-listen-port={agent_port}", f"--temp-dir={temp}", "--disable-usage-stats",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(port)
        yield {"port": port, "client_port": client_port, "auth": auth, "log": tmp_path / "ray-start.log"}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while (left := in_session(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
        assert not left, f"ray start left processes behind: {[cmdline(p)[:80] for p in left]}"
