"""The dashboard's background runner, without streamlit: runs execute on worker threads, their
events land in the store, Stop works mid-finetune and on queued runs, runs queue one after another."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from dashboard_helpers import tiny_config

from bet.config import DataSpec
from bet.errors import BudgetError, DataError
from bet.store import RunStore
from dashboard.runner import EXECUTOR, Runner


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One BET_HOME for the module, set before any store exists (the tiny pretrained model is
    cached there once and shared by the tests)."""
    path = tmp_path_factory.mktemp("bet-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BET_HOME", str(path))
        yield path


@pytest.fixture
def runner(home: Path, tmp_path: Path) -> Iterator[Runner]:
    r = Runner(RunStore(tmp_path / "bet.sqlite"))
    yield r
    r.shutdown(timeout=60)


def wait_for(cond: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_search_runs_in_the_background_and_records_events(runner: Runner) -> None:
    store = runner.store
    (rid,) = runner.submit_search(tiny_config())
    run = store.get_run(rid)
    assert run.status in ("queued", "running") and run.executor == EXECUTOR
    assert runner.wait([rid], timeout=120)
    run = store.get_run(rid)
    assert run.status == "completed", run.error
    kinds = [e["kind"] for e in store.events(rid)]
    for kind in ("run_started", "pretrain_finished", "candidates_ranked", "candidate_evaluated", "predictor_updated",
                 "retrain_finished", "run_finished"):  # fmt: skip
        assert kind in kinds
    ranked = store.events(rid, kinds=("candidates_ranked",))
    assert [e["iteration"] for e in ranked] == [1, 2] and len(ranked[0]["predicted"]) == 10
    assert [a["iteration"] for a in store.actions(rid)] == [1, 2]
    assert run.result["test"]["recall@20"] > 0 and len(store.table(rid)) > 0
    assert runner.idle()


def test_second_run_queues_and_stop_works_queued_and_mid_finetune(runner: Runner) -> None:
    store = runner.store
    long = tiny_config(iterations=50, finetune_steps=400)  # minutes if not stopped
    a, b, c = runner.submit_search(long) + runner.submit_search(tiny_config()) + runner.submit_search(tiny_config())
    wait_for(lambda: store.get_run(a).status == "running")
    assert runner.queued() == [b, c] and runner.position(b) == 1 and runner.position(c) == 2
    assert store.get_run(b).status == "queued"

    assert runner.stop(c) == "removed from the queue"
    assert store.get_run(c).status == "stopped" and runner.queued() == [b]

    wait_for(lambda: (r := store.get_run(a)).phase == "search" and r.step >= 1, timeout=90)
    t0 = time.monotonic()
    assert runner.stop(a).startswith("stopping")
    wait_for(lambda: store.get_run(a).status == "stopped", timeout=20)
    assert time.monotonic() - t0 < 10  # within a training step, not at the end of the search
    run = store.get_run(a)
    assert "finetuning" in (run.error or "") and run.iteration < 50
    assert store.events(a, kinds=("run_finished",))[-1]["status"] == "stopped"

    assert runner.wait([b], timeout=120)  # the queued run starts once the first one ended
    assert store.get_run(b).status == "completed"
    assert store.get_run(c).status == "stopped" and not store.events(c)  # never started


def test_several_backbones_are_one_comparison(runner: Runner) -> None:
    ids = runner.submit_search(tiny_config(iterations=1), ["lightgcn", "ncf"])
    runs = [runner.store.get_run(i) for i in ids]
    assert [r.backbone for r in runs] == ["lightgcn", "ncf"]
    assert runs[0].comparison_id and runs[0].comparison_id == runs[1].comparison_id
    assert runner.queued()[-1] == ids[1]
    runner.stop_all()
    assert runner.wait(ids, timeout=60)
    assert all(runner.store.get_run(i).status in ("stopped", "completed") for i in ids)


def test_frontier_sweep_runs_baselines_in_one_comparison(runner: Runner) -> None:
    ids = runner.submit_frontier(tiny_config(), sparsities=[0.9], methods=["su", "full", "pop"])
    runs = [runner.store.get_run(i) for i in ids]
    assert sorted(r.method for r in runs) == ["full", "pop", "su"]
    assert len({r.comparison_id for r in runs}) == 1
    assert runner.wait(ids, timeout=120)
    assert all(runner.store.get_run(i).status == "completed" for i in ids)


def test_invalid_submissions_store_nothing(runner: Runner, tmp_path: Path) -> None:
    with pytest.raises(BudgetError, match="infeasible"):
        runner.submit_search(tiny_config(sparsity=0.99, d_max=16))
    with pytest.raises(BudgetError, match="infeasible for ncf"):  # 1.6 per row: LightGCN's is fine, NCF keeps two
        runner.submit_search(tiny_config(sparsity=0.9, d_max=16), backbones=["lightgcn", "ncf"])
    bad = tmp_path / "bad.txt"
    bad.write_text("1 2\nfoo bar\n")
    with pytest.raises(DataError, match=r"bad.txt:2"):
        runner.submit_search(tiny_config(data=DataSpec(str(bad))))
    assert runner.store.list_runs() == [] and runner.idle()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA to fail on --device cuda")
def test_failed_run_is_recorded_and_the_queue_goes_on(runner: Runner) -> None:
    bad, good = runner.submit_search(tiny_config(device="cuda")) + runner.submit_search(tiny_config(iterations=1))
    assert runner.wait([bad, good], timeout=120)
    failed = runner.store.get_run(bad)
    assert failed.status == "failed" and "no CUDA device" in failed.error
    assert bad in runner.executor.failures
    assert runner.store.get_run(good).status == "completed"


def test_queued_runs_of_a_dead_dashboard_become_interrupted_and_resume(home: Path, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "bet.sqlite")
    cfg = tiny_config(iterations=1)
    rid = store.create_run(kind="search", method="bet", dataset="gowalla-mini", backbone="lightgcn", sparsity=0.9,
                           seed=0, config=cfg.to_dict(), budget=87488, iterations=1, executor=EXECUTOR)  # fmt: skip
    store.update_run(rid, created_at=1.0)  # queued long before this process started
    other = store.create_run(kind="search", method="bet", dataset="gowalla-mini", backbone="lightgcn", sparsity=0.9,
                             seed=0, config=cfg.to_dict(), budget=87488, executor="local")  # fmt: skip
    r = Runner(store)
    try:
        assert store.get_run(rid).status == "interrupted" and "queued" in store.get_run(rid).error
        assert store.get_run(other).status == "queued"  # not the dashboard's: left alone
        assert r.resume(rid) == rid
        assert r.wait([rid], timeout=120)
        assert store.get_run(rid).status == "completed"
    finally:
        r.shutdown()
