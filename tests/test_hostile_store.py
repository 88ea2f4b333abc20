"""The run store and ``--resume`` under hostile or mistaken use: another program's database, a
device, a path below a file, read-only places, two resumes at once, changed data, baselines."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bet.config import BaselineConfig, DataSpec, SearchConfig
from bet.data import load_dataset
from bet.errors import DataError, StoreError
from bet.runs import create_job, prepare_resume, resume_job
from bet.store import RunStore, Status
from bet.store.schema import SCHEMA_VERSION
from tests.hostile_helpers import ROOT, Ran, assert_one_line_error, run_bet

TINY = ["--iterations", "2", "--candidates", "4", "--finetune-steps", "2", "--retrain-top", "1",
        "--pretrain-epochs", "2", "--retrain-epochs", "2", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store-home")


def snapshot(path: Path) -> tuple[bytes, int, list[str]]:
    """A file's bytes, its modification time and what lies beside it."""
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


def foreign_db(path: Path) -> Path:
    """Another program's SQLite database (rollback journal, its own tables)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users VALUES (1, 'ann')")
    conn.commit()
    conn.close()
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return path


def tiny_data(path: Path, seed: int = 0, users: int = 60) -> Path:
    """A small LightGCN-format file: ``users`` users with 12 of 40 items each."""
    rng = np.random.default_rng(seed)
    rows = [" ".join(map(str, [u, *sorted(rng.choice(40, 12, replace=False))])) for u in range(users)]
    path.write_text("\n".join(rows) + "\n")
    return path


def tiny_config(dataset: str) -> SearchConfig:
    from tests.search_helpers import TINY_PRETRAIN, TINY_RETRAIN

    return SearchConfig(
        data=DataSpec(dataset), sparsity=0.9, iterations=2, candidates=4, finetune_steps=2, retrain_top=1,
        pretrain=TINY_PRETRAIN, retrain=TINY_RETRAIN, device="cpu",
    )  # fmt: skip


def stopped_search(store: RunStore, cfg: SearchConfig) -> str:
    """A search stored as stopped before its first action (resumable)."""
    job = create_job(store, cfg, cfg.data.load())
    store.finish(job.run_id, Status.STOPPED, error="stopped")
    return job.run_id


# -- 1. not a BET store: refused, untouched -----------------------------------------------------
@pytest.mark.parametrize("read_only", [False, True])
def test_another_programs_database_is_refused_untouched(tmp_path: Path, read_only: bool) -> None:
    path = foreign_db(tmp_path / "app.db")
    before = snapshot(path)
    with pytest.raises(StoreError, match="another program"):
        RunStore(path, read_only=read_only)
    assert snapshot(path) == before
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


@pytest.mark.parametrize("command", ["runs", "search"])
def test_cli_refuses_a_foreign_database(tmp_path: Path, home: Path, command: str) -> None:
    path = foreign_db(tmp_path / "app.db")
    before = snapshot(path)
    args = ["runs"] if command == "runs" else ["search", "--sparsity", "0.9", *TINY]
    assert_one_line_error(run_bet(*args, "--store", str(path), home=home), str(path), "another program")
    assert snapshot(path) == before


def test_a_file_that_is_not_sqlite_is_refused_untouched(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_bytes(b"SQLite formaT 3\0 but not really" * 50)
    before = snapshot(path)
    assert_one_line_error(run_bet("runs", "--store", str(path), home=home), "not an SQLite database")
    with pytest.raises(StoreError, match="not a usable"):
        RunStore(path)
    assert snapshot(path) == before


def test_a_zero_byte_file_is_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    assert RunStore(path, read_only=True).list_runs() == []
    assert path.stat().st_size == 0 and os.listdir(tmp_path) == ["empty.sqlite"]  # the reader wrote nothing
    store = RunStore(path)
    assert store.list_runs() == [] and path.stat().st_size > 0


# -- 2. paths that are not files; readers open read-only ----------------------------------------
@pytest.mark.parametrize("command", ["runs", "search"])
def test_dev_null_is_refused_and_nothing_is_created_beside_it(home: Path, command: str) -> None:
    args = ["runs"] if command == "runs" else ["search", "--sparsity", "0.9", *TINY]
    assert_one_line_error(run_bet(*args, "--store", "/dev/null", home=home), "/dev/null", "not a regular file")
    assert not Path("/dev/null-journal").exists() and not Path("/dev/null-wal").exists()


def test_a_fifo_or_a_folder_is_refused(tmp_path: Path, home: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert_one_line_error(run_bet("runs", "--store", str(fifo), home=home), "not a regular file")
    assert_one_line_error(run_bet("runs", "--store", str(tmp_path), home=home), "is a folder")
    assert_one_line_error(run_bet("runs", "--store", "", home=home), "is a folder")  # --store '' is '.'
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


def test_readers_create_nothing(tmp_path: Path) -> None:
    home = tmp_path / "never"  # BET_HOME that does not exist: runs, export, report create nothing
    ran = run_bet("runs", home=home)
    assert ran.returncode == 0 and "no runs" in ran.stdout, ran.stderr
    missing = tmp_path / "sub" / "missing.sqlite"
    ran = run_bet("runs", "--store", str(missing), "--json", home=home)
    assert ran.returncode == 0 and ran.stdout.strip().splitlines()[-1] == "[]", ran.stderr
    out = tmp_path / "x.csv"
    ran = run_bet("export", "--run", "r1", "--store", str(missing), "--out", str(out), home=home)
    assert_one_line_error(ran, "no run 'r1'")
    assert not home.exists() and not missing.parent.exists() and not out.exists()


def test_a_read_only_store_serves_readers_and_is_never_written(tmp_path: Path, mini) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.sqlite"
    rid = stopped_search(RunStore(path), tiny_config("gowalla-mini"))
    RunStore(path).close()
    before = snapshot(path)
    ro = RunStore(path, read_only=True)
    assert [r["run_id"] for r in ro.list_runs()] == [rid]
    with pytest.raises(StoreError, match="read-only"):
        ro.update_run(rid, status="running")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # the connection itself is read-only
        ro.conn.execute("CREATE TABLE x (y)")
    ran = run_bet("runs", "--store", str(path), "--json", home=tmp_path)
    assert ran.returncode == 0 and rid in ran.stdout, ran.stderr
    assert snapshot(path)[:2] == before[:2]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through read-only permissions")
def test_read_only_folder_readers_work_writers_get_one_line(tmp_path: Path, mini) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "s.sqlite"
    rid = stopped_search(RunStore(path), tiny_config("gowalla-mini"))
    RunStore(path).close()
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        ran = run_bet("runs", "--store", str(path), "--json", home=tmp_path)
        assert ran.returncode == 0 and rid in ran.stdout, ran.stderr
        ran = run_bet("search", "--resume", rid, "--store", str(path), home=tmp_path)
        assert_one_line_error(ran, str(path), "read-only")
        assert os.listdir(folder) == ["s.sqlite"]
    finally:
        folder.chmod(0o755)


# -- 3. below a regular file --------------------------------------------------------------------
@pytest.mark.parametrize("command", ["runs", "search", "estimate"])
def test_store_or_home_below_a_regular_file(tmp_path: Path, command: str) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    args = {"runs": ["runs"], "search": ["search", "--sparsity", "0.9", *TINY], "estimate": []}[command]
    if args:
        ran = run_bet(*args, "--store", str(afile / "x.sqlite"), home=tmp_path)
        assert_one_line_error(ran, str(afile / "x.sqlite"), "below a regular file")
    else:
        args = ["estimate", "--sparsity", "0.9", "--device", "cpu"]
    ran = run_bet(*args, home=afile / "sub")
    assert_one_line_error(ran, str(afile / "sub"), "below a regular file")
    ran = run_bet(*args, home=afile)  # BET_HOME is the file itself
    if command == "runs":  # a reader only names $BET_HOME/bet.sqlite
        assert_one_line_error(ran, str(afile / "bet.sqlite"), "below a regular file")
    else:
        assert_one_line_error(ran, f"BET_HOME {afile} is a file")
    assert afile.read_text() == "x"


def test_a_name_too_long_is_one_line(tmp_path: Path, home: Path) -> None:
    ran = run_bet("runs", "--store", str(tmp_path / ("s" * 300 + ".sqlite")), home=home)
    assert_one_line_error(ran, "cannot use it as the run store")


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
    assert store.get_run(rid)["status"] == "completed"


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
    assert prior["pid"] == sleeper.pid and store.get_run(rid)["pid"] == os.getpid()
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
    assert store.get_run(rid)["data_path"] == str(tmp_path / "d.txt")
    (ROOT / "d.txt").exists() and pytest.skip("a d.txt in the repository root")  # type: ignore[func-returns-value]
    ran = run_bet("search", "--resume", rid, "--store", str(tmp_path / "s.sqlite"), "--json", home=home)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert store.get_run(rid)["status"] == "completed"


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
    assert store.get_run(rid)["status"] == "stopped"


def test_a_v3_store_is_read_as_it_is_and_migrated_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "v3.sqlite"
    store = RunStore(path)
    store.create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0, config={})
    store.conn.executescript(
        "ALTER TABLE runs DROP COLUMN data_path; ALTER TABLE runs DROP COLUMN data_fingerprint;"
        "UPDATE meta SET value='3' WHERE key='schema_version';"
    )
    store.close()
    before = snapshot(path)[:2]
    run = RunStore(path, read_only=True).list_runs()[0]
    assert run["data_fingerprint"] is None and snapshot(path)[:2] == before
    assert RunStore(path).list_runs()[0]["data_path"] is None
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)
    conn.close()


# -- 6. baselines do not resume -----------------------------------------------------------------
def test_resume_of_a_baseline_is_one_line(tmp_path: Path, home: Path, mini) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "s.sqlite"
    store = RunStore(path)
    job = create_job(store, BaselineConfig(method="su", sparsity=0.9), mini)
    store.finish(job.run_id, Status.FAILED, error="boom")
    ran = run_bet("search", "--resume", job.run_id, "--store", str(path), home=home)
    assert_one_line_error(ran, f"run {job.run_id} is a su run, not a BET search", "bet train")
    assert store.get_run(job.run_id)["status"] == "failed"


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
    assert store.get_run(rid)["status"] == "failed"


def test_store_names_with_uri_characters(tmp_path: Path) -> None:
    path = tmp_path / "a?b#c%20d&mode=rw.sqlite"
    RunStore(path).create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0,
                              config={})  # fmt: skip
    assert len(RunStore(path, read_only=True).list_runs()) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [path.name]


def test_resume_of_a_completed_or_queued_run(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    rid = store.create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0,
                           config=tiny_config("gowalla-mini").to_dict())  # fmt: skip
    with pytest.raises(StoreError, match="queued by pid"):  # its creator (this process) is alive
        resume_job(store, rid)
    store.finish(rid, Status.COMPLETED)
    with pytest.raises(StoreError, match="is completed; only"):
        resume_job(store, rid)


def test_a_locked_store_is_one_line_for_readers_and_writers(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    RunStore(path).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA locking_mode=EXCLUSIVE")
    other.execute("BEGIN EXCLUSIVE")
    try:
        t0 = time.monotonic()
        for read_only in (True, False):
            with pytest.raises(StoreError, match="lock"):
                RunStore(path, timeout=0.2, read_only=read_only).list_runs()
        assert time.monotonic() - t0 < 10
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_a_newer_store_is_refused_untouched(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "new.sqlite"
    store = RunStore(path)
    store.conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    store.close()  # the last connection: everything in the main file
    before = snapshot(path)[:2]
    for args in (["runs"], ["search", "--resume", "r1"]):
        assert_one_line_error(run_bet(*args, "--store", str(path), home=home), "newer BET Studio")
    assert snapshot(path)[:2] == before


def test_symlinked_stores(tmp_path: Path, home: Path) -> None:
    real = tmp_path / "real.sqlite"
    RunStore(real).create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0,
                              config={})  # fmt: skip
    link = tmp_path / "link.sqlite"
    link.symlink_to(real)
    assert len(RunStore(link, read_only=True).list_runs()) == 1
    dangling = tmp_path / "dangling.sqlite"
    dangling.symlink_to(tmp_path / "gone" / "x.sqlite")
    assert_one_line_error(run_bet("runs", "--store", str(dangling), home=home), "symbolic link to a missing file")
    with pytest.raises(StoreError, match="symbolic link"):
        RunStore(dangling)
    to_null = tmp_path / "null.sqlite"
    to_null.symlink_to("/dev/null")
    with pytest.raises(StoreError, match="not a regular file"):
        RunStore(to_null)
    assert not (tmp_path / "gone").exists()


def test_resume_with_its_dataset_gone_gives_the_run_back(tmp_path: Path, home: Path) -> None:
    data = tiny_data(tmp_path / "d.txt")
    path = tmp_path / "s.sqlite"
    rid = stopped_search(RunStore(path), tiny_config(str(data)))
    data.unlink()
    ran = run_bet("search", "--resume", rid, "--store", str(path), home=home)
    assert_one_line_error(ran, str(data))
    assert RunStore(path).get_run(rid)["status"] == "stopped"
