"""Process and port helpers for tests that start servers and clusters: free ports, waiting for a
listener, and finding (and killing) descendant processes through /proc — only ever by process id."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _proc_stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields after the command name: state, ppid, pgrp, session, …


def _pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid in _pids():
        stat = _proc_stat(pid)
        if stat is not None:
            children.setdefault(int(stat[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def in_session(sid: int) -> list[int]:
    out = []
    for pid in _pids():
        stat = _proc_stat(pid)
        if stat is not None and int(stat[3]) == sid and stat[0] != "Z":
            out.append(pid)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def kill_task(title: str, timeout: float = 20.0) -> int:
    """SIGKILL the Ray worker of this process's cluster whose title starts with ``ray::<title>``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in descendants(os.getpid()):
            if cmdline(pid).startswith(f"ray::{title}"):
                os.kill(pid, signal.SIGKILL)
                return pid
        time.sleep(0.05)
    raise AssertionError(f"no Ray worker running {title!r}")


def wait_port(port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout:.0f}s")
