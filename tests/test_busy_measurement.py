"""A measurement taken while other work holds the CPUs (docs/results.md §9): its steps ran
longer than their own CPU time, so its seconds are scaled to the machine alone by that ratio, the
estimate says it is rough, and the machine measures again once it is idle. How busy the machine is
now: the load meter, and what a run started now would take."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bet import threads, timings
from bet.data import Dataset
from bet.load import LoadMeter, slowdown
from tests.hostile_helpers import run_in_process


class _Clocks:
    """A wall clock that moves 0.1 s per reading and a thread CPU clock that moves ``cpu`` s, or
    ``cpu_one`` while trainings share the process (:func:`bet.threads.concurrent`: spmm and
    evaluation on one thread): every timed step takes 0.1 s of wall time and that much CPU time."""

    def __init__(self, cpu: float, cpu_one: float | None):
        self.wall = self.used = 0.0
        self.cpu, self.cpu_one = cpu, cpu if cpu_one is None else cpu_one

    def perf_counter(self) -> float:
        self.wall += 0.1
        return self.wall

    def thread_time(self) -> float:
        self.used += self.cpu_one if threads._active > 0 else self.cpu
        return self.used


def _fake_time(monkeypatch: pytest.MonkeyPatch, cpu: float, cpu_one: float | None = None) -> None:
    clocks = _Clocks(cpu, cpu_one)
    fake = SimpleNamespace(perf_counter=clocks.perf_counter, thread_time=clocks.thread_time, time=time.time)
    monkeypatch.setattr(timings, "time", fake)


def _pass_seconds(mini: Dataset, block: int) -> float:
    """What the fake clocks make of a validation pass: one scorer build (0.1 s) plus the sample's
    ranking (0.1 s) scaled to every validation user."""
    users = int((mini.valid.indptr[1:] > mini.valid.indptr[:-1]).sum())
    return 0.1 + 0.1 * users / min(users, block)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BET_HOME", str(tmp_path))
    monkeypatch.setattr(timings, "EVAL_BLOCKS", 1)


def test_a_busy_measurement_is_timed_again_on_one_thread_by_its_cpu_time(
    mini: Dataset, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Steps that got a quarter of a core (contention 4) are busy: the widths are timed again with
    spmm and evaluation on one thread, and that pass's CPU time is kept (its steps 0.08 s of CPU
    in 0.1 s: the pass divided by 1.25)."""
    monkeypatch.setattr(threads, "_active", 0)
    _fake_time(monkeypatch, cpu=0.025, cpu_one=0.08)
    heard: list[str] = []
    t = timings.measure(mini, "ncf", torch.device("cpu"), progress=lambda d, n, what: heard.append(what))
    assert t.contention == pytest.approx(4.0) and t.busy  # how busy the first pass found it
    assert t.step_wide == pytest.approx(0.08)  # the one-thread pass's CPU time
    assert t.eval_wide == pytest.approx(_pass_seconds(mini, 64) / 1.25)
    assert sum(what.endswith(", on one thread") for what in heard) == timings.STEPS + 1 and heard[-1] == "done"
    assert threads._active == 0  # the process's thread counts given back
    assert t.at > 0


def test_an_idle_measurement_keeps_its_wall_time(mini: Dataset, quick: None, monkeypatch) -> None:
    _fake_time(monkeypatch, cpu=0.09)  # waiting on the batch prefetch a little: not busy
    t = timings.measure(mini, "ncf", torch.device("cpu"))
    assert t.contention == pytest.approx(0.1 / 0.09, abs=1e-3) and not t.busy
    assert t.step_wide == pytest.approx(0.1) and t.eval_wide == pytest.approx(_pass_seconds(mini, 64))


def test_a_busy_entry_is_measured_again_once_the_machine_is_idle(
    mini: Dataset, quick: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_time(monkeypatch, cpu=0.025)
    busy = timings.measure(mini, "ncf", torch.device("cpu"))
    monkeypatch.setattr(timings, "load_average", lambda: 0.2)  # idle now, but the entry is fresh: kept
    assert timings.measure(mini, "ncf", torch.device("cpu")) == busy
    monkeypatch.setattr(timings, "RETAKE_AFTER", -1.0)  # old enough now
    monkeypatch.setattr(timings, "load_average", lambda: 5.0)  # still busy: kept, not measured again
    assert timings.measure(mini, "ncf", torch.device("cpu")) == busy
    monkeypatch.setattr(timings, "load_average", lambda: 0.2)  # idle: measured again, and replaces it
    assert timings.cached_timings(mini, "ncf", torch.device("cpu")) is None  # (what the CLI asks: a bar shows)
    _fake_time(monkeypatch, cpu=0.1)
    again = timings.measure(mini, "ncf", torch.device("cpu"))
    assert not again.busy and again.step_wide == pytest.approx(0.1)
    assert timings.cached_timings(mini, "ncf", torch.device("cpu")) == again
    # an idle entry is never measured again, however old
    assert timings.measure(mini, "ncf", torch.device("cpu")) == again


def test_the_estimate_says_a_busy_measurement_is_rough(
    quick: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI's JSON gives the contention; its words say the figure is scaled and rough."""
    args = ("estimate", "--dataset", "gowalla-mini", "--backbone", "ncf", "--sparsity", "0.9", "--device", "cpu")
    _fake_time(monkeypatch, cpu=0.025)
    ran = run_in_process(capsys, *args, "--json", home=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert json.loads(ran.stdout.splitlines()[-1])["measured"]["contention"] == pytest.approx(4.0)
    text = run_in_process(capsys, *args, home=tmp_path).stdout
    assert "measured while other work held the CPUs: the timed steps took 4.0x their own CPU time" in text
    key = next(iter(json.loads((tmp_path / "timings" / "timings.json").read_text())))
    entry = json.loads((tmp_path / "timings" / "timings.json").read_text())[key]
    idle = dataclasses.replace(timings.Timings(**entry), contention=1.0)  # the same entry, measured idle
    timings._store(key, idle)
    assert "measured while other work" not in run_in_process(capsys, *args, home=tmp_path).stdout


def test_the_load_meter_samples_at_most_every_few_seconds() -> None:
    clock, loads = iter([0.0, 1.0, 5.0, 6.0, 11.0]), iter([2.0, 4.0, 6.0])
    meter = LoadMeter(every=5.0, read=lambda: next(loads), clock=lambda: next(clock))
    assert meter.mean is None
    for _ in range(5):
        meter.tick()
    assert meter.samples == [2.0, 4.0, 6.0] and meter.mean == 4.0  # at 0, 5 and 11 s
    clock, loads = iter([0.0, 1.0, 2.0, 8.0]), iter([1.0, 3.0, 5.0, 7.0])
    meter = LoadMeter(every=5.0, read=lambda: next(loads), clock=lambda: next(clock))
    for phase in ("search", None, "retrain", None):  # a phase's start is always sampled
        meter.tick(phase)
    assert meter.samples == [1.0, 3.0, 5.0] and meter.phase_means() == {"search": 1.0, "retrain": 4.0}
    assert slowdown(1.5, n_cores=2) == 1.0 and slowdown(5.0, n_cores=2) == 2.5


def test_the_estimate_says_what_a_run_started_now_would_take(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The plan is for the machine alone; beside other work (load 5 on 2 cores) the command also
    says what a run started now would take — the JSON's ``now`` — and says so in words."""
    import bet.cli.estimate as cli_estimate
    from bet import load

    monkeypatch.setattr(timings, "EVAL_BLOCKS", 1)
    monkeypatch.setattr(cli_estimate, "load_average", lambda: 5.0)  # + the run's own thread: 6 on 2 cores
    monkeypatch.setattr(cli_estimate, "cpu_cores", lambda: 2)
    monkeypatch.setattr(load, "cpu_cores", lambda: 2)
    args = ("estimate", "--dataset", "gowalla-mini", "--backbone", "lightgcn", "--sparsity", "0.9", "--device", "cpu")
    ran = run_in_process(capsys, *args, "--json", home=tmp_path)
    assert ran.returncode == 0, ran.stderr[-2000:]
    out = json.loads(ran.stdout.splitlines()[-1])
    assert out["now"]["load"] == 5.0 and out["now"]["slowdown"] == 3.0
    assert out["now"]["seconds"] == pytest.approx(3 * out["seconds"], abs=0.2)
    text = run_in_process(capsys, *args, home=tmp_path)
    assert "on this machine alone" in text.stdout and "the machine is busy now (load 5.0 on 2 cores)" in text.stdout
    monkeypatch.setattr(cli_estimate, "load_average", lambda: 0.5)
    assert "busy" not in run_in_process(capsys, *args, home=tmp_path).stdout
