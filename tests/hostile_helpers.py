"""Running ``python -m bet`` as a hostile or careless user would, measuring what it cost: the
exit code, the output, the wall time and the child's peak memory (``wait4``'s rusage)."""

from __future__ import annotations

import gzip
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli_helpers import run_main

ROOT = Path(__file__).resolve().parent.parent
MAX_LINE = 400  # characters: a one-line error, never a flood


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float  # the child's maximum resident set size


def run_bet(*args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 600) -> Ran:
    """``python -m bet ARGS`` in a subprocess with its own ``BET_HOME`` (plus ``env``); killed
    after ``timeout`` seconds (generous: a loaded machine starts torch slowly)."""
    full_env = {**os.environ, "BET_HOME": str(home), "PYTHONPATH": str(ROOT), **(env or {})}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "bet", *args], cwd=ROOT, env=full_env, stdout=out, stderr=err,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - t0 > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        seconds = time.monotonic() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Ran(
            proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), seconds,
            usage.ru_maxrss / 1024,
        )  # fmt: skip


def run_in_process(capsys: pytest.CaptureFixture[str], *args: str, home: Path) -> Ran:
    """``bet.cli.main(ARGS)`` in this process with ``BET_HOME=home``: the command line's parser and
    error handling without a Python start and a torch import (no child: ``peak_mb`` is nan)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BET_HOME", str(home))
        t0 = time.monotonic()
        proc = run_main(capsys, *args)
        seconds = time.monotonic() - t0
    return Ran(proc.returncode, proc.stdout, proc.stderr, seconds, float("nan"))


def assert_one_line_error(ran: Ran, *fragments: str) -> str:
    """Exit 2, one short stderr line starting ``error:``, no traceback, nothing on stdout."""
    assert ran.returncode == 2, (ran.returncode, ran.stdout[-2000:], ran.stderr[-2000:])
    assert "Traceback" not in ran.stderr, ran.stderr[-2000:]
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr[-2000:]
    assert lines[0].startswith("error: "), lines[0]
    assert len(lines[0]) <= MAX_LINE, len(lines[0])
    assert ran.stdout == ""
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def write_bomb(path: Path, mb: int) -> Path:
    """A gzip file that inflates to ``mb`` MB of zeros (about 1 KB per MB on disk)."""
    block = b"\0" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=9) as fh:
        for _ in range(mb):
            fh.write(block)
    return path


def garble_store(path: Path) -> int:
    """Overwrite the start of every page of a closed SQLite store except the schema page and the
    ``meta`` table's (so it still opens); returns the number of pages garbled."""
    with sqlite3.connect(path) as conn:
        keep = {1} | {r for (r,) in conn.execute("SELECT rootpage FROM sqlite_master WHERE tbl_name='meta'")}
    conn.close()
    assert not Path(f"{path}-wal").exists()  # everything is in the main file
    pages = sorted(set(range(1, path.stat().st_size // 4096 + 1)) - keep)
    with open(path, "r+b") as fh:
        for page in pages:
            fh.seek((page - 1) * 4096)
            fh.write(b"\xff" * 512)
    return len(pages)


def stop_with(proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 60) -> float:
    """Send ``sig`` to ``proc`` (by its id) and return the seconds it took to exit."""
    t0 = time.monotonic()
    os.kill(proc.pid, sig)
    proc.wait(timeout=timeout)
    return time.monotonic() - t0
