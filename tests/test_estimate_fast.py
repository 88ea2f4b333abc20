"""Issue 22 §3: every estimate answers quickly — a few training steps, the validation pass timed on
a fixed sample of users and scaled by users (said so in the output), a one-off compile kept apart,
a progress line on stderr from the command line (the library never prints), the per-machine cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bet import timings
from bet.data import Dataset
from bet.estimate import measure
from tests.hostile_helpers import run_bet

ARGS = ("estimate", "--dataset", "gowalla-mini", "--backbone", "ncf", "--sparsity", "0.95", "--device", "cpu")


def test_the_cli_says_what_it_sampled_and_shows_progress_then_reads_the_cache(tmp_path: Path) -> None:
    ran = run_bet(*ARGS, "--json", home=tmp_path, timeout=120)
    assert ran.returncode == 0, ran.stderr[-2000:]
    out = json.loads(ran.stdout.splitlines()[-1])
    how = out["measured"]
    assert how["cached"] is False and how["steps"] >= timings.STEPS and how["eval_scaled"] == "linear in users"
    assert 0 < how["eval_users"] <= how["valid_users"] and how["compile_seconds"] >= 0
    assert out["phases"]["evaluation"] > 0 and out["seconds"] > 0
    assert "measuring ncf on gowalla-mini" in ran.stderr and "ranking a sample of validation users" in ran.stderr
    assert "Traceback" not in ran.stderr
    again = run_bet(*ARGS, home=tmp_path, env={"PYTHONIOENCODING": "ascii"}, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "measuring" not in again.stderr  # read back from the cache: nothing measured, no bar
    assert f"(measured earlier: {how['steps']} training steps per width; validation timed on" in again.stdout
    assert f"{how['valid_users']:,} users, scaled by users" in again.stdout


def test_measure_scales_a_user_sample_and_reports_its_stages(
    mini: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BET_HOME", str(tmp_path))  # a cold cache of its own
    monkeypatch.setattr(timings, "EVAL_BLOCKS", 2)  # 128 users of gowalla-mini's 3,175
    heard: list[tuple[int, int, str]] = []
    t = measure(mini, "lightgcn", torch.device("cpu"), progress=lambda d, n, what: heard.append((d, n, what)))
    assert capsys.readouterr() == ("", "")  # the library never prints
    assert t.eval_users == 128 < t.valid_users and t.steps >= timings.STEPS
    assert t.eval_narrow > 0 and t.eval_wide > 0 and t.step_narrow > 0 and t.step_wide > 0
    done = [d for d, _, _ in heard]
    stages = 3 * (timings.STEPS + 1)  # three widths, in order (twice where the machine was busy: §9)
    assert done == sorted(done) and heard[-1][:2] in ((stages, stages), (2 * stages, 2 * stages))
    assert all(what.endswith(", on one thread") for d, n, what in heard[:-1] if d > stages), heard
    assert all(any(f"width {w}" in what for _, _, what in heard) for w in (8, 64, 128))
    assert measure(mini, "lightgcn", torch.device("cpu"), progress=lambda *a: heard.append(a)) == t
    assert len(heard) == len(done)  # read back: no stage measured again


def test_an_entry_of_another_version_is_measured_again(
    mini: Dataset, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BET_HOME", str(tmp_path))
    monkeypatch.setattr(timings, "EVAL_BLOCKS", 1)
    key = timings._key(mini, "ncf", torch.device("cpu"), d_max=128, narrow=8)
    (tmp_path / "timings").mkdir()
    (tmp_path / "timings" / "timings.json").write_text(json.dumps({key: {"narrow": 8, "bogus": 1}, "x": 3}))
    assert timings.cached_timings(mini, "ncf", torch.device("cpu")) is None
    t = measure(mini, "ncf", torch.device("cpu"))
    assert t.eval_users == 64 and timings.cached_timings(mini, "ncf", torch.device("cpu")) == t
    (tmp_path / "timings" / "timings.json").write_text("[1, 2]")  # not an object: measured again, no failure
    assert timings.cached_timings(mini, "ncf", torch.device("cpu")) is None
