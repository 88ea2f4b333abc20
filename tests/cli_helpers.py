"""``python -m bet`` in this process: the same parser and error handling as the command line,
without a Python start and a torch import per case (3-10 s each on the loaded 2-core machine)."""

from __future__ import annotations

import subprocess

import pytest

from bet.cli import main


def run_main(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``bet.cli.main(args)`` with argparse's exits caught, as a CompletedProcess."""
    try:
        rc = main(list(args))
    except SystemExit as exc:
        rc = int(exc.code or 0)
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(["python", "-m", "bet", *args], rc, captured.out, captured.err)
