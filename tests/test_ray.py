"""The Ray executor: the same numbers as the local one, a real `ray start` cluster joined by
address (and by Ray Client), a killed worker retried without losing or repeating an evaluated
action, stopping, and an unreachable address reported as a user error.

Every cluster here is small (2 CPUs), private (its own temp folder and ports) and shut down by the
test that started it; processes are only ever ended by their id.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from bet import config  # noqa: E402
from bet.config import BaselineConfig, SearchConfig  # noqa: E402
from bet.data import Dataset  # noqa: E402
from bet.errors import ConfigError  # noqa: E402
from bet.events import CandidateEvaluated, Event, TrainProgress  # noqa: E402
from bet.executors import LocalExecutor, make_executor  # noqa: E402
from bet.frontier import run_frontier  # noqa: E402
from bet.jobs import create_job  # noqa: E402
from bet.ray_executor import RayExecutor  # noqa: E402
from bet.store import RunStore  # noqa: E402

pytestmark = pytest.mark.ray

ROOT = Path(__file__).resolve().parent.parent
RAY_CLI = [sys.executable, "-m", "ray.scripts.scripts"]  # `ray`, also where only the package is on the path
TINY_PRETRAIN = dataclasses.replace(config.PRETRAIN, epochs=4)
TINY_TRAIN = dataclasses.replace(config.RETRAIN, epochs=4)
BASE = SearchConfig(
    iterations=2, candidates=10, finetune_steps=10, retrain_top=1, pretrain=TINY_PRETRAIN, retrain=TINY_TRAIN,
    device="cpu",
)  # fmt: skip
SPARSITIES = [0.9, 0.95]
METHODS = ["bet", "su", "pop"]
Summary = dict[tuple[str, float], dict[str, Any]]


# --- helpers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def summary(store: RunStore, rows: list[dict[str, Any]]) -> Summary:
    """What must not depend on where a run executed: its result and its evaluated actions."""
    out: Summary = {}
    for r in rows:
        acts = [(a["iteration"], a["role"], a["cost"], a["fitness"], a["predicted"], a["metrics"])
                for a in store.actions(r["run_id"])]  # fmt: skip
        out[(r["method"], r["sparsity"])] = {
            "status": r["status"], "budget": r["budget"], "cost": r["cost"], "test": r["test"],
            "valid": r["valid"], "actions": acts,
        }  # fmt: skip
    return out


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


def bet_cli(
    *args: str, home: Path, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **(env or {})}
    env.update(BET_HOME=str(home), PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "bet", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )


def wait_port(port: int, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on port {port} after {timeout:.0f}s")


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_sweep(mini: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Summary:
    """The reference: the sweep in this process (its own BET_HOME, so nothing is shared with Ray)."""
    home = tmp_path_factory.mktemp("local-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BET_HOME", str(home))
        store = RunStore(home / "bet.sqlite")
        rows = run_frontier(store, mini, BASE, SPARSITIES, METHODS, LocalExecutor())
        return summary(store, rows)


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private 2-CPU Ray started by this process; its workers get a fresh BET_HOME (their own
    model cache: they pretrain for themselves). Yields that folder."""
    assert not ray.is_initialized(), "another test left Ray connected"
    worker_home = tmp_path_factory.mktemp("ray-worker-home")
    temp = tempfile.mkdtemp(prefix="bet-ray-", dir="/tmp")  # short: Ray puts sockets in it
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RAY_ADDRESS", raising=False)
        try:
            ray.init(
                address="local", num_cpus=2, num_gpus=None, include_dashboard=False, _temp_dir=temp,
                object_store_memory=200 * 1024**2, runtime_env={"env_vars": {"BET_HOME": str(worker_home)}},
            )  # fmt: skip
            yield worker_home
        finally:
            ray.shutdown()
            shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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


# --- an unreachable cluster -----------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_unreachable_address_is_a_config_error(scheme: str, home: Path, mini: Dataset) -> None:
    address = f"{scheme}127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=re.escape(address)):
        RayExecutor(address=address).connect()
    # Through run(): the runs it was given are recorded as failed with the reason, never left queued.
    store = RunStore(home / "bet.sqlite")
    job = create_job(store, BaselineConfig(method="pop", device="cpu"), mini)
    with pytest.raises(ConfigError, match="cannot reach the Ray cluster"):
        RayExecutor(address=address, workers=1).run(store, [job])
    run = store.get_run(job.run_id)
    assert run["status"] == "failed" and address in run["error"]


def test_unreachable_address_cli_one_line(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    proc = bet_cli(
        "frontier", "--sparsities", "0.9", "--methods", "pop", "--executor", "ray", "--address", address, "--json",
        home=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and address in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_local_path_never_imports_ray(tmp_path: Path) -> None:
    code = (
        "import sys; import bet.cli, bet.executors, bet.frontier; "
        "assert bet.executors.make_executor('local', 2).name == 'local'; print('ray' in sys.modules)"
    )
    env = {**os.environ, "BET_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr


def test_bad_workers() -> None:
    with pytest.raises(ConfigError, match="workers"):
        RayExecutor(workers=0)
    ex = make_executor("ray", 3, "127.0.0.1:1")
    assert isinstance(ex, RayExecutor) and ex.name == "ray" and ex.workers == 3


# --- a real `ray start` cluster, joined by address --------------------------------------------


def test_ray_start_cluster_by_address(ray_head: dict[str, Any], tmp_path: Path, write_file: Any) -> None:
    """The command line, a separate driver process, against `ray start --head`: by host:port (a
    streaming task per run, two at a time), then by ray:// (Ray Client, which has no streaming:
    whole runs). A tiny dataset of its own keeps the default training schedule short."""
    rng = np.random.default_rng(0)
    lines = [f"u{u}\ti{i}" for u in range(80) for i in rng.choice(60, size=10, replace=False)]
    data = write_file("tiny.tsv", lines)
    store = tmp_path / "bet.sqlite"
    common = ["frontier", "--dataset", str(data), "--sparsities", "0.9", "--device", "cpu", "--store", str(store),
              "--executor", "ray", "--json"]  # fmt: skip
    by_gcs = bet_cli(*common, "--methods", "su,pop", "--workers", "2", "--address", f"127.0.0.1:{ray_head['port']}",
                     home=tmp_path, env=ray_head["auth"])  # fmt: skip
    assert by_gcs.returncode == 0, by_gcs.stderr[-3000:]
    rows = json.loads(by_gcs.stdout.strip().splitlines()[-1])
    assert [(r["method"], r["status"]) for r in rows] == [("pop", "completed"), ("su", "completed")]
    assert rows[1]["cost"] <= rows[1]["budget"] and rows[1]["test"]["recall@20"] > 0

    wait_port(ray_head["client_port"])
    by_client = bet_cli(*common, "--methods", "pop", "--address", f"ray://127.0.0.1:{ray_head['client_port']}",
                        home=tmp_path, env=ray_head["auth"])  # fmt: skip
    assert by_client.returncode == 0, by_client.stderr[-3000:]
    (row,) = json.loads(by_client.stdout.strip().splitlines()[-1])
    assert row["status"] == "completed" and row["test"] == rows[0]["test"]

    runs = RunStore(store).list_runs()
    assert len(runs) == 3 and {(r["executor"], r["status"]) for r in runs} == {("ray", "completed")}
    assert not (tmp_path / "models").exists(), "the driver trained nothing"


# --- the same numbers as the local executor --------------------------------------------------


def test_ray_gives_the_local_results(ray_local: Path, local_sweep: Summary, mini: Dataset, home: Path) -> None:
    store = RunStore(home / "bet.sqlite")
    seen: list[Event] = []
    lock = threading.Lock()

    def on_event(ev: Event) -> None:
        with lock:
            seen.append(ev)

    ex = RayExecutor(workers=2)
    rows = run_frontier(store, mini, BASE, SPARSITIES, METHODS, ex, on_event)
    assert summary(store, rows) == local_sweep  # bit-identical: same seeds, other processes
    runs = [store.get_run(r["run_id"]) for r in rows]
    assert {(r["executor"], r["workers"], r["retries"]) for r in runs} == {("ray", 2, 0)}
    assert any(isinstance(e, TrainProgress) for e in seen), "progress streams back while runs execute"
    assert sum(isinstance(e, CandidateEvaluated) and e.iteration > 0 for e in seen) == len(SPARSITIES) * 2
    assert list((ray_local / "models").glob("*.pt")), "the workers pretrained into their own cache"
    assert not (home / "models").exists(), "the driver trained nothing"


# --- a worker killed mid-sweep ----------------------------------------------------------------


def test_killed_worker_is_retried(ray_local: Path, local_sweep: Summary, mini: Dataset, home: Path) -> None:
    """SIGKILL the worker of the search after its first evaluated action, and the worker of a
    baseline mid-training: both are retried (the search resumes, the baseline restarts) and end
    exactly as the local, uninterrupted runs did."""
    store = RunStore(home / "bet.sqlite")
    killed: dict[str, int] = {}

    def on_event(ev: Event) -> None:
        if isinstance(ev, CandidateEvaluated) and ev.iteration == 1 and "bet" not in killed:
            killed["bet"] = kill_task("bet lightgcn c=0.9 [")
        elif isinstance(ev, TrainProgress) and ev.label == "su" and ev.step >= 2 and "su" not in killed:
            killed["su"] = kill_task("su lightgcn c=0.9 [")

    rows = run_frontier(store, mini, BASE, [0.9], METHODS, RayExecutor(workers=2), on_event)
    assert set(killed) == {"bet", "su"}
    got = summary(store, rows)
    assert got == {k: v for k, v in local_sweep.items() if k in got}, "the same results as uninterrupted runs"
    retries = {r["method"]: store.get_run(r["run_id"])["retries"] for r in rows}
    assert retries == {"bet": 1, "su": 1, "pop": 0}
    bet_run = next(r["run_id"] for r in rows if r["method"] == "bet")
    evaluated = [e["iteration"] for e in store.events(bet_run, kinds=("candidate_evaluated",))]
    assert evaluated == [1, 2], "every action evaluated exactly once: none lost, none repeated"


def test_gives_up_after_its_retries(ray_local: Path, mini: Dataset, home: Path) -> None:
    store = RunStore(home / "bet.sqlite")
    job = create_job(store, BaselineConfig(method="su", sparsity=0.9, device="cpu", train=TINY_TRAIN), mini)
    killed: list[int] = []

    def on_event(ev: Event) -> None:
        if isinstance(ev, TrainProgress) and ev.step >= 2 and not killed:
            killed.append(kill_task("su lightgcn c=0.9 ["))

    (run,) = RayExecutor(workers=1, max_retries=0).run(store, [job], mini, on_event)
    assert killed and run["status"] == "failed" and run["retries"] == 0
    assert (
        "gave up after 0 retries: its Ray worker was lost 1 time " in run["error"]
        and "WorkerCrashedError" in run["error"]
    )
    assert "Traceback" not in run["error"]


# --- stopping ---------------------------------------------------------------------------------


def test_stop_cancels_and_records_stopped(ray_local: Path, mini: Dataset, home: Path) -> None:
    store = RunStore(home / "bet.sqlite")
    stop = threading.Event()

    def on_event(ev: Event) -> None:
        if isinstance(ev, CandidateEvaluated) and ev.iteration == 1:
            stop.set()

    t0 = time.monotonic()
    rows = run_frontier(store, mini, BASE, [0.9], ["bet", "su"], RayExecutor(workers=1), on_event, stop)
    assert time.monotonic() - t0 < 120
    status = {r["method"]: r["status"] for r in rows}
    assert status == {"bet": "stopped", "su": "stopped"}
    bet_run = next(r["run_id"] for r in rows if r["method"] == "bet")
    assert [a["iteration"] for a in store.actions(bet_run)][:1] == [1], "what was evaluated is kept (resumable)"
    deadline = time.monotonic() + 20
    while any(cmdline(p).startswith("ray::bet lightgcn") for p in descendants(os.getpid())):
        assert time.monotonic() < deadline, "the cancelled task kept running"
        time.sleep(0.2)


# --- GPUs -------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_tasks_ask_for_a_gpu(ray_local: Path, mini: Dataset, home: Path) -> None:
    import torch

    @ray.remote(num_gpus=1)
    def sees_cuda() -> bool:
        return bool(torch.cuda.is_available())

    assert ray.cluster_resources().get("GPU", 0) >= 1
    assert ray.get(sees_cuda.remote())
    store = RunStore(home / "bet.sqlite")
    cfg = BaselineConfig(method="su", sparsity=0.9, device="auto", train=TINY_TRAIN)
    job = create_job(store, cfg, mini, executor="ray")
    ex = RayExecutor()
    assert ex.workers == int(ray.cluster_resources()["GPU"])  # default: one run per GPU
    assert ex._options(job).get("num_gpus") == 1
    (run,) = ex.run(store, [job])
    assert run["status"] == "completed", run["error"]
