"""``--resume`` under hostile or mistaken use: two at once, a live owner, changed or moved data,
baselines, unknown or final runs, unreadable stored settings."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bet.config import BaselineConfig
from bet.data import load_dataset
from bet.errors import DataError, StoreError
from bet.runs import create_job, prepare_resume, resume_job
from bet.store import RunStore, Status
from tests.hostile_helpers import ROOT, Ran, assert_one_line_error, run_bet
from tests.store_helpers import stopped_search, tiny_config, tiny_data


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("resume-home")


# -- 4. two resumes at once -----------------------------------------------------------------------
def test_two_resumes_at_once_one_wins(tmp_path: Path, mini) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.sqlite"
    store = RunStore(path)
    rid = stopped_search(store, tiny_config("gowalla-mini"))
    env = {**os.environ, "BET_HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "bet", "search", "--resume", rid, "--store", str(path), "--json"]
    procs = [subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    outs = [(p.wait(timeout=600), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in outs)
    assert codes == [0, 2], outs
    loser = next(err for rc, _, err in outs if rc == 2)
    assert_one_line_error(Ran(2, "", loser, 0, 0), f"run {rid} is already being run", "pid ")
    evaluated = store.events(rid, kinds=("candidate_evaluated",))
    assert sorted(e["action_id"] for e in evaluated if e["iteration"] > 0) == [1, 2]  # each action once
    assert store.get_run(rid).status == "completed"


def test_a_live_owner_is_never_taken_over(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = store.create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0,
                           config={})  # fmt: skip
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        store.update_run(rid, status="running", pid=sleeper.pid)
        with pytest.raises(StoreError, match=f"already being run .* by pid {sleeper.pid}"):
            store.claim_resume(rid)
        with pytest.raises(StoreError, match=f"pid {sleeper.pid}"):
            store.claim(rid)  # a driver starting it too
    finally:
        sleeper.kill()
        sleeper.wait()
    prior = store.claim_resume(rid)  # its owner died: interrupted, resumable
    assert prior["pid"] == sleeper.pid and store.get_run(rid).pid == os.getpid()
    with pytest.raises(StoreError, match="already being run"):
        store.claim_resume(rid)  # a second resume in this very process


def test_the_claim_is_a_compare_and_set(tmp_path: Path) -> None:
    """Another process claims the run between this one's read and its write: this one loses."""
    a, b = RunStore(tmp_path / "s.sqlite"), RunStore(tmp_path / "s.sqlite")
    rid = a.create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0, config={})
    a.finish(rid, Status.FAILED, error="x")
    read, raced = a._effective, []

    def racing(row: sqlite3.Row) -> dict:
        run = read(row)
        if not raced:
            raced.append(b.claim_resume(rid))  # b wins in between
        return run

    a._effective = racing  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="already being run"):
        a.claim_resume(rid)
    assert raced and raced[0]["status"] == "failed"


def test_resume_job_claims_for_every_entry_point(tmp_path: Path, mini) -> None:  # type: ignore[no-untyped-def]
    """The dashboard resumes through resume_job too: a second resume of the run is refused."""
    store = RunStore(tmp_path / "s.sqlite")
    rid = stopped_search(store, tiny_config("gowalla-mini"))
    job = resume_job(store, rid)
    assert job.prior is not None and job.prior["status"] == "stopped"
    with pytest.raises(StoreError, match="already being run"):
        resume_job(RunStore(tmp_path / "s.sqlite"), rid)


# -- 5. resume against changed or different data ---------------------------------------------------
def test_resume_refuses_changed_data_and_gives_the_run_back(tmp_path: Path, home: Path) -> None:
    data = tiny_data(tmp_path / "d.txt")
    path = tmp_path / "s.sqlite"
    store = RunStore(path)
    rid = stopped_search(store, tiny_config(str(data)))
    before = store.get_run(rid)
    tiny_data(data, seed=1)  # same shape, other interactions
    ran = run_bet("search", "--resume", rid, "--store", str(path), home=home)
    assert_one_line_error(ran, str(data), f"not the data run {rid} was built on", "fingerprint")
    tiny_data(data, seed=0, users=70)  # another shape: no size-mismatch traceback either
    assert_one_line_error(run_bet("search", "--resume", rid, "--store", str(path), home=home), "fingerprint")
    assert store.get_run(rid) == before  # given back as it was
    assert store.actions(rid) == []


def test_resume_loads_the_stored_absolute_path(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run started with a relative --dataset resumes from another folder on the same file."""
    tiny_data(tmp_path / "d.txt")
    monkeypatch.chdir(tmp_path)
    store = RunStore(tmp_path / "s.sqlite")
    rid = stopped_search(store, tiny_config("d.txt"))
    assert store.get_run(rid).data_path == str(tmp_path / "d.txt")
    (ROOT / "d.txt").exists() and pytest.skip("a d.txt in the repository root")  # type: ignore[func-returns-value]
    ran = run_bet("search", "--resume", rid, "--store", str(tmp_path / "s.sqlite"), "--json", home=home)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert store.get_run(rid).status == "completed"


def test_an_old_run_without_fingerprint_is_checked_by_shape(tmp_path: Path) -> None:
    data = tiny_data(tmp_path / "d.txt")
    store = RunStore(tmp_path / "s.sqlite")
    rid = stopped_search(store, tiny_config(str(data)))
    store.update_run(rid, data_fingerprint=None, data_path=None)  # as stored before schema 4
    job, loaded = prepare_resume(store, rid)  # same data: resumes, as it always did
    assert loaded.n_users == 60
    store.release(rid, job.prior or {})
    tiny_data(data, users=70)
    with pytest.raises(DataError, match="60 users"):
        prepare_resume(store, rid, load_dataset(str(data)))
    assert store.get_run(rid).status == "stopped"


# -- 6. baselines do not resume -----------------------------------------------------------------
def test_resume_of_a_baseline_is_one_line(tmp_path: Path, home: Path, mini) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.sqlite"
    store = RunStore(path)
    job = create_job(store, BaselineConfig(method="su", sparsity=0.9), mini)
    store.finish(job.run_id, Status.FAILED, error="boom")
    ran = run_bet("search", "--resume", job.run_id, "--store", str(path), home=home)
    assert_one_line_error(ran, f"run {job.run_id} is a su run, not a BET search", "bet train")
    assert store.get_run(job.run_id).status == "failed"


# -- more hostile cases -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rid", "message"),
    [("20990101-000000-abcdef", "no run"), ("x' OR '1'='1", "no run"), ("%", "no run"), ("", "no run")],
)
def test_resume_of_unknown_ids(tmp_path: Path, home: Path, rid: str, message: str) -> None:
    path = tmp_path / "s.sqlite"
    store = RunStore(path)
    store.create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0, config={})
    if rid:
        assert_one_line_error(run_bet("search", "--resume", rid, "--store", str(path), home=home), message)
    with pytest.raises(StoreError, match=message):
        store.claim_resume(rid)


def test_resume_of_a_run_with_an_unreadable_config(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = RunStore(path)
    rid = store.create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0,
                           config={"data": {"dataset": "gowalla-mini"}}, status=Status.FAILED)  # fmt: skip
    ran = run_bet("search", "--resume", rid, "--store", str(path), home=home)
    assert_one_line_error(ran, f"run {rid}: its stored configuration cannot be read")
    assert store.get_run(rid).status == "failed"


def test_resume_of_a_completed_or_queued_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = store.create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0,
                           config=tiny_config("gowalla-mini").to_dict())  # fmt: skip
    with pytest.raises(StoreError, match="queued by pid"):  # its creator (this process) is alive
        resume_job(store, rid)
    store.finish(rid, Status.COMPLETED)
    with pytest.raises(StoreError, match="is completed; only"):
        resume_job(store, rid)


def test_resume_with_its_dataset_gone_gives_the_run_back(tmp_path: Path, home: Path) -> None:
    data = tiny_data(tmp_path / "d.txt")
    path = tmp_path / "s.sqlite"
    rid = stopped_search(RunStore(path), tiny_config(str(data)))
    data.unlink()
    ran = run_bet("search", "--resume", rid, "--store", str(path), home=home)
    assert_one_line_error(ran, str(data))
    assert RunStore(path).get_run(rid).status == "stopped"
