"""The Ray executor on a private in-process cluster: the same numbers as the local one, a killed
worker retried without losing or repeating an evaluated action, giving up after its retries,
stopping, and (on a GPU machine) tasks that ask for a GPU. Clusters joined by address: test_ray_cluster.py.

Every cluster here is small (2 CPUs), private (its own temp folder and ports) and shut down by the
test that started it; processes are only ever ended by their id.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from bet import config  # noqa: E402
from bet.config import BaselineConfig, SearchConfig  # noqa: E402
from bet.data import Dataset  # noqa: E402
from bet.events import CandidateEvaluated, Event, TrainProgress  # noqa: E402
from bet.executors import LocalExecutor  # noqa: E402
from bet.executors.ray_driver import RayExecutor  # noqa: E402
from bet.frontier import run_frontier  # noqa: E402
from bet.runs import create_job  # noqa: E402
from bet.store import RunStore  # noqa: E402
from tests.proc_helpers import cmdline, descendants, kill_task  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.xdist_group("ray")]  # one Ray cluster at a time

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


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_sweep(mini: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Summary:
    """The reference: the sweep in this process (its own BET_HOME, so nothing is shared with Ray)."""
    home = tmp_path_factory.mktemp("local-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BET_HOME", str(home))
        store = RunStore(home / "bet.sqlite")
        rows = run_frontier(store, mini, BASE, sparsities=SPARSITIES, methods=METHODS, executor=LocalExecutor())
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


# --- the same numbers as the local executor --------------------------------------------------


def test_ray_gives_the_local_results(ray_local: Path, local_sweep: Summary, mini: Dataset, clean_home: Path) -> None:
    store = RunStore(clean_home / "bet.sqlite")
    seen: list[Event] = []
    lock = threading.Lock()

    def on_event(ev: Event) -> None:
        with lock:
            seen.append(ev)

    ex = RayExecutor(workers=2)
    rows = run_frontier(store, mini, BASE, sparsities=SPARSITIES, methods=METHODS, executor=ex, on_event=on_event)
    assert summary(store, rows) == local_sweep  # bit-identical: same seeds, other processes
    runs = [store.get_run(r["run_id"]) for r in rows]
    assert {(r.executor, r.workers, r.retries) for r in runs} == {("ray", 2, 0)}
    assert any(isinstance(e, TrainProgress) for e in seen), "progress streams back while runs execute"
    assert sum(isinstance(e, CandidateEvaluated) and e.iteration > 0 for e in seen) == len(SPARSITIES) * 2
    assert list((ray_local / "models").glob("*.pt")), "the workers pretrained into their own cache"
    assert not (clean_home / "models").exists(), "the driver trained nothing"


# --- a worker killed mid-sweep ----------------------------------------------------------------


def test_killed_worker_is_retried(ray_local: Path, local_sweep: Summary, mini: Dataset, clean_home: Path) -> None:
    """SIGKILL the worker of the search after its first evaluated action, and the worker of a
    baseline mid-training: both are retried (the search resumes, the baseline restarts) and end
    exactly as the local, uninterrupted runs did."""
    store = RunStore(clean_home / "bet.sqlite")
    killed: dict[str, int] = {}

    def on_event(ev: Event) -> None:
        if isinstance(ev, CandidateEvaluated) and ev.iteration == 1 and "bet" not in killed:
            killed["bet"] = kill_task("bet lightgcn c=0.9 [")
        elif isinstance(ev, TrainProgress) and ev.label == "su" and ev.step >= 2 and "su" not in killed:
            killed["su"] = kill_task("su lightgcn c=0.9 [")

    rows = run_frontier(
        store, mini, BASE, sparsities=[0.9], methods=METHODS, executor=RayExecutor(workers=2), on_event=on_event
    )
    assert set(killed) == {"bet", "su"}
    got = summary(store, rows)
    assert got == {k: v for k, v in local_sweep.items() if k in got}, "the same results as uninterrupted runs"
    retries = {r["method"]: store.get_run(r["run_id"]).retries for r in rows}
    assert retries == {"bet": 1, "su": 1, "pop": 0}
    bet_run = next(r["run_id"] for r in rows if r["method"] == "bet")
    evaluated = [e["iteration"] for e in store.events(bet_run, kinds=("candidate_evaluated",))]
    assert evaluated == [1, 2], "every action evaluated exactly once: none lost, none repeated"


def test_gives_up_after_its_retries(ray_local: Path, mini: Dataset, clean_home: Path) -> None:
    store = RunStore(clean_home / "bet.sqlite")
    job = create_job(store, BaselineConfig(method="su", sparsity=0.9, device="cpu", train=TINY_TRAIN), mini)
    killed: list[int] = []

    def on_event(ev: Event) -> None:
        if isinstance(ev, TrainProgress) and ev.step >= 2 and not killed:
            killed.append(kill_task("su lightgcn c=0.9 ["))

    (run,) = RayExecutor(workers=1, max_retries=0).run(store, [job], mini, on_event=on_event)
    assert killed and run.status == "failed" and run.retries == 0
    assert "gave up after 0 retries: its Ray worker was lost 1 time " in run.error and "WorkerCrashedError" in run.error
    assert "Traceback" not in run.error


# --- stopping ---------------------------------------------------------------------------------


def test_stop_cancels_and_records_stopped(ray_local: Path, mini: Dataset, clean_home: Path) -> None:
    store = RunStore(clean_home / "bet.sqlite")
    stop = threading.Event()

    def on_event(ev: Event) -> None:
        if isinstance(ev, CandidateEvaluated) and ev.iteration == 1:
            stop.set()

    t0 = time.monotonic()
    rows = run_frontier(
        store,
        mini,
        BASE,
        sparsities=[0.9],
        methods=["bet", "su"],
        executor=RayExecutor(workers=1),
        on_event=on_event,
        stop=stop,
    )
    assert time.monotonic() - t0 < 120
    status = {r["method"]: r["status"] for r in rows}
    # the frontier runs the references at every budget before BET, so SU has finished by then
    assert status == {"bet": "stopped", "su": "completed"}
    bet_run = next(r["run_id"] for r in rows if r["method"] == "bet")
    assert [a["iteration"] for a in store.actions(bet_run)][:1] == [1], "what was evaluated is kept (resumable)"
    deadline = time.monotonic() + 20
    while any(cmdline(p).startswith("ray::bet lightgcn") for p in descendants(os.getpid())):
        assert time.monotonic() < deadline, "the cancelled task kept running"
        time.sleep(0.2)


# --- GPUs -------------------------------------------------------------------------------------


@pytest.mark.gpu
def test_tasks_ask_for_a_gpu(ray_local: Path, mini: Dataset, clean_home: Path) -> None:
    import torch

    @ray.remote(num_gpus=1)
    def sees_cuda() -> bool:
        return bool(torch.cuda.is_available())

    assert ray.cluster_resources().get("GPU", 0) >= 1
    assert ray.get(sees_cuda.remote())
    store = RunStore(clean_home / "bet.sqlite")
    cfg = BaselineConfig(method="su", sparsity=0.9, device="auto", train=TINY_TRAIN)
    job = create_job(store, cfg, mini, executor="ray")
    ex = RayExecutor()
    assert ex.workers == int(ray.cluster_resources()["GPU"])  # default: one run per GPU
    assert ex._options(job).get("num_gpus") == 1
    (run,) = ex.run(store, [job])
    assert run.status == "completed", run.error
