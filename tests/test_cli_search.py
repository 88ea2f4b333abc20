"""The search-side command line: search, kill -9 + resume, sample, runs, export, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bet.embedding import unpack
from bet.store import RunStore
from tests.cli_helpers import run_main
from tests.search_helpers import TINY_CLI

ROOT = Path(__file__).resolve().parent.parent


def bet(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "bet", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def last_json(proc: subprocess.CompletedProcess[str]) -> object:
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    store = tmp_path_factory.mktemp("cli") / "store.sqlite"
    out = last_json(bet("search", "--sparsity", "0.9", *TINY_CLI, "--store", str(store), "--json"))
    assert isinstance(out, dict)
    return store, out


def test_search_json(searched: tuple[Path, dict]) -> None:
    _, out = searched
    assert {"run_id", "status", "budget", "cost", "iterations", "valid", "test", "seconds"} <= set(out)
    assert out["status"] == "completed" and out["iterations"] == 5
    assert out["cost"] <= out["budget"] == 87_488
    assert 0 < out["test"]["recall@20"] < 1


def test_runs_and_exports(searched: tuple[Path, dict], tmp_path: Path) -> None:
    store, out = searched
    runs = last_json(bet("runs", "--store", str(store), "--json"))
    assert isinstance(runs, list) and out["run_id"] in {r["run_id"] for r in runs}
    rid = out["run_id"]
    bet("export", "--run", rid, "--format", "csv", "--out", str(tmp_path / "a.csv"), "--store", str(store))
    lines = (tmp_path / "a.csv").read_text().splitlines()
    assert lines[0].startswith("action_id,iteration") and len(lines) == 6
    bet("export", "--run", rid, "--format", "json", "--out", str(tmp_path / "a.json"), "--store", str(store))
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["run"]["run_id"] == rid and len(doc["actions"]) == 5
    bet("export", "--run", rid, "--format", "sizes", "--out", str(tmp_path / "s.npz"), "--store", str(store))
    bet("export", "--run", rid, "--format", "table", "--out", str(tmp_path / "t.npz"), "--store", str(store))
    with np.load(tmp_path / "s.npz") as z:
        sizes = np.concatenate([z["user_sizes"], z["item_sizes"]])
    _, packed_sizes, _ = unpack(tmp_path / "t.npz")
    assert np.array_equal(sizes, packed_sizes) and sizes.sum() == out["cost"]
    full_bytes = 128 * len(sizes) * 4
    assert (tmp_path / "t.npz").stat().st_size <= 0.1 * full_bytes + 4 * len(sizes)


def test_kill_9_then_resume_completes_the_same_run(tmp_path: Path) -> None:
    store_path = tmp_path / "store.sqlite"
    args = [
        "search",
        "--sparsity",
        "0.95",
        *TINY_CLI,
        "--iterations",
        "8",
        "--finetune-steps",
        "25",
        "--store",
        str(store_path),
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bet", *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    store = RunStore(store_path)
    deadline = time.time() + 300
    rid = None
    while time.time() < deadline:
        runs = store.list_runs()
        if runs and len(store.actions(runs[0].run_id)) >= 2:
            rid = runs[0].run_id
            break
        time.sleep(0.2)
    assert rid is not None, "the search never evaluated two actions"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [a["action_id"] for a in store.actions(rid)]
    run = store.get_run(rid)
    assert run.status == "interrupted"  # not "running" forever
    out = last_json(bet("search", "--resume", rid, "--store", str(store_path), "--json"))
    assert isinstance(out, dict) and out["run_id"] == rid and out["status"] == "completed"
    after = [a["action_id"] for a in store.actions(rid)]
    assert after[: len(before)] == before and after == list(range(1, 9))
    assert out["cost"] <= out["budget"]


BAD_ARGUMENTS = [
    (["search", "--sparsity", "1.5"], "sparsity must be in (0, 1)"),
    (["search", "--sparsity", "0.999"], "infeasible"),
    (["search", "--sparsity", "0.9", "--iterations", "0"], "-T/--iterations must be in [1, 10000], got 0"),
    (["search", "--sparsity", "0.9", "--candidates", "0"], "-m/--candidates must be in [1, 10000], got 0"),
    (["search", "--sparsity", "0.9", "--dataset", "/no/such/file.txt"], "no such file"),
    (["search", "--resume", "20990101-000000-abcdef"], "no run"),
    (["sample", "--sparsity", "0.9", "--count", "0", "--out", "x.npz"], "--count must be in [1, 1000000], got 0"),
]


@pytest.mark.parametrize(("args", "message"), BAD_ARGUMENTS)
def test_bad_arguments_exit_2_with_one_line(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = [*args, "--store", str(tmp_path / "s.sqlite")] if args[0] == "search" else args
    # Once through a real process, the rest in-process (the same parser and checks): 6-11 s each saved.
    proc = bet(*full, check=False) if (args, message) == BAD_ARGUMENTS[0] else run_main(capsys, *full)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "s.sqlite").exists() or RunStore(tmp_path / "s.sqlite").list_runs() == []


def test_resuming_a_completed_run_is_refused(searched: tuple[Path, dict]) -> None:
    store, out = searched
    proc = bet("search", "--resume", out["run_id"], "--store", str(store), check=False)
    assert proc.returncode == 2 and "completed" in proc.stderr and "Traceback" not in proc.stderr


def test_corrupt_store_is_refused_untouched(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"garbage" * 1000)
    proc = bet("runs", "--store", str(bad), check=False)
    assert proc.returncode == 2 and "not a usable" in proc.stderr
    assert bad.read_bytes() == b"garbage" * 1000


def test_sample(tmp_path: Path) -> None:
    out = last_json(bet("sample", "--sparsity", "0.95", "--count", "20", "--out", str(tmp_path / "a.npz"), "--json"))
    assert isinstance(out, dict) and out["budget"] == 43_744 and out["cost_max"] <= out["budget"]
    with np.load(tmp_path / "a.npz") as z:
        assert z["user_sizes"].shape == (20, 3175) and z["item_sizes"].shape == (20, 3660)
        assert (z["user_sizes"].sum(1) + z["item_sizes"].sum(1) <= out["budget"]).all()


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from bet.cli import build_parser

    assert "usage:" in bet("search", "--help").stdout  # once through a real process
    for cmd in ("info", "train", "search", "sample", "estimate", "frontier", "runs", "export", "reproduce", "report"):
        with pytest.raises(SystemExit) as exit_:  # the rest in-process: 3 s of Python start each saved
            build_parser().parse_args([cmd, "--help"])
        assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: python -m bet " + cmd), cmd


def test_parallel_retrains_each_keep_their_own_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    """Two retrains report in turn: each bar advances to its own step (one shared bar used to be
    torn down and rebuilt at every event, so both sat at 0 % for hours on full Gowalla)."""
    from bet.cli.common import SearchProgress
    from bet.events import RetrainFinished, TrainProgress

    progress = SearchProgress(2)
    for step in (100, 200, 300):
        for label in ("1/2", "2/2"):
            progress(TrainProgress("retrain", step, 1000, 0.5, label=label))
    assert {k: b.n for k, b in progress.bars.items()} == {("retrain", "1/2"): 300, ("retrain", "2/2"): 300}
    progress(RetrainFinished(2, 7, {"recall@20": 0.1}, 0.1, 1.0))  # rank 2 stopped early
    assert list(progress.bars) == [("retrain", "1/2")]
    progress(TrainProgress("retrain", 1000, 1000, 0.4, label="1/2"))  # the last step closes its bar
    assert progress.bars == {}
    assert "retrained #2 (action 7)" in capsys.readouterr().err
