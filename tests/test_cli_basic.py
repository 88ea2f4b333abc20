"""``python -m bet info`` / ``train`` as a user runs them: a subprocess with its own ``BET_HOME``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bet.budget import budget_for
from tests.cli_helpers import run_main

ROOT = Path(__file__).resolve().parent.parent
COUNT_KEYS = {"name", "users", "items", "interactions", "train", "valid", "test", "format"}


def bet(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BET_HOME": str(home), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bet", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def last_json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines, "nothing on stdout"
    out = json.loads(lines[-1])
    assert isinstance(out, dict)
    return out


def assert_user_error(proc: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit 2, exactly one line on stderr starting with ``error:``, no traceback, nothing on stdout."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


def test_info_json(bet_home: Path) -> None:
    out = last_json(bet("info", "--dataset", "gowalla-mini", "--json", home=bet_home))
    assert set(out) == COUNT_KEYS
    assert (out["name"], out["users"], out["items"], out["interactions"]) == ("gowalla-mini", 3_175, 3_660, 83_896)
    assert out["train"] + out["valid"] + out["test"] == out["interactions"]


def test_train_pop_json(bet_home: Path) -> None:
    out = last_json(bet("train", "--backbone", "pop", "--json", home=bet_home))
    assert out["backbone"] == "pop" and out["cost"] == 0 and out["steps"] == 0
    assert 0.05 < out["recall@20"] < 0.10
    assert isinstance(out["valid"], dict) and "recall@20" in out["valid"]


def test_train_lightgcn_frequency_json(bet_home: Path) -> None:
    proc = bet(
        "train", "--backbone", "lightgcn", "--epochs", "2", "--sparsity", "0.9", "--sizes", "frequency", "--json",
        home=bet_home,
    )  # fmt: skip
    out = last_json(proc)
    assert out["budget"] == budget_for(0.9, n_rows=6_835) == 87_488
    assert 0.99 * out["budget"] <= out["cost"] <= out["budget"]
    assert out["sizes"] == "frequency" and out["sparsity"] == 0.9 and out["dataset"] == "gowalla-mini"
    assert out["steps"] == 10  # 2 epochs × ceil(train / 10,000) = 5 steps
    for key in ("recall@5", "ndcg@5", "recall@20", "ndcg@20"):
        assert 0 < out[key] < 1
    assert "Traceback" not in proc.stderr


def test_infeasible_sparsity(bet_home: Path) -> None:
    proc = bet("train", "--backbone", "lightgcn", "--sparsity", "0.999", "--sizes", "uniform", home=bet_home)
    assert_user_error(proc, "0.999", "infeasible", "0.9921875")


def test_missing_dataset_path(bet_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such.txt"
    assert_user_error(bet("info", "--dataset", str(missing), home=bet_home), str(missing), "no such file")


# --- in-process (same parser and error handling, without a torch import per case) ---------------


def test_bad_line_in_user_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "lg.txt"
    path.write_text("0 1 2\n1 2 3\n2 1 oops\n")
    assert_user_error(run_main(capsys, "info", "--dataset", str(path)), f"{path}:3: column 3 is not a non-negative")


def test_sizes_without_sparsity(capsys: pytest.CaptureFixture[str]) -> None:
    assert_user_error(run_main(capsys, "train", "--backbone", "ncf", "--sizes", "random"), "--sparsity")


def test_epochs_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    assert_user_error(run_main(capsys, "train", "--backbone", "lightgcn", "--epochs", "0"), "--epochs")


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    """A small LightGCN-format file: loads in milliseconds, unlike gowalla-mini."""
    path = tmp_path / "tiny.txt"
    path.write_text("".join(f"{u} " + " ".join(str((u * 7 + j) % 50) for j in range(6)) + "\n" for u in range(40)))
    return str(path)


@pytest.mark.parametrize("c", ["1.0", "-0.1", "nan"])
def test_out_of_range_sparsity(capsys: pytest.CaptureFixture[str], tiny: str, c: str) -> None:
    args = ("train", "--dataset", tiny, "--backbone", "lightgcn", "--sparsity", c, "--sizes", "uniform")
    assert_user_error(run_main(capsys, *args), c)


def test_zero_d_max(capsys: pytest.CaptureFixture[str], tiny: str) -> None:
    assert_user_error(run_main(capsys, "train", "--dataset", tiny, "--backbone", "lightgcn", "--d-max", "0"), "--d-max")


def test_unknown_backbone_is_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    proc = run_main(capsys, "train", "--backbone", "mf")
    assert proc.returncode == 2
    assert "invalid choice: 'mf'" in proc.stderr and "Traceback" not in proc.stderr


def test_no_command(capsys: pytest.CaptureFixture[str]) -> None:
    proc = run_main(capsys)
    assert proc.returncode == 2 and "usage:" in proc.stderr


@pytest.mark.parametrize("command", [[], ["info"], ["train"]])
def test_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    proc = run_main(capsys, *command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m bet")
    if command == ["train"]:
        for flag in ("--backbone", "--sparsity", "--sizes", "--dataset", "--min-rating", "--json"):
            assert flag in proc.stdout


def test_info_human_and_user_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "ratings.csv"
    path.write_text("user,item,rating\na,x,5\na,y,1\nb,x,4\nb,z,5\nc,z,2\n")
    proc = run_main(capsys, "info", "--dataset", str(path), "--min-rating", "4")
    assert proc.returncode == 0, proc.stderr
    assert "users: 2" in proc.stdout and "items: 2" in proc.stdout and "interactions: 3" in proc.stdout
