"""The run store under hostile or mistaken use: another program's database, a device, a path
below a file, read-only places, locks, newer or older schemas, links (resume: test_hostile_resume)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bet.errors import StoreError
from bet.store import RunStore
from bet.store.schema import SCHEMA_VERSION
from tests.hostile_helpers import assert_one_line_error, run_bet
from tests.store_helpers import TINY_SEARCH as TINY
from tests.store_helpers import foreign_db, snapshot, stopped_search, tiny_config


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store-home")


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
    assert [r.run_id for r in ro.list_runs()] == [rid]
    with pytest.raises(StoreError, match="read-only"):
        ro.update_run(rid, status="running")
    with pytest.raises(sqlite3.OperationalError, match="readonly"):  # the connection itself is read-only
        ro.conn.execute("CREATE TABLE x (y)")
    ran = run_bet("runs", "--store", str(path), "--json", home=tmp_path)
    assert ran.returncode == 0 and rid in ran.stdout, ran.stderr
    assert snapshot(path)[:2] == before[:2]


@contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """Make ``folder`` and what is in it read-only for this process: by permissions, or, for root
    (who writes through permissions), by a read-only bind mount of the folder on itself (skipped
    where mounting is not allowed)."""
    if os.geteuid() != 0:
        for f in folder.iterdir():
            f.chmod(0o444)
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode:
        pytest.skip("root, and no bind mount allowed here: cannot make a folder read-only")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_read_only_folder_readers_work_writers_get_one_line(tmp_path: Path, mini) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "s.sqlite"
    rid = stopped_search(RunStore(path), tiny_config("gowalla-mini"))
    RunStore(path).close()
    before = sorted(os.listdir(folder))
    with read_only(folder):
        with pytest.raises(OSError):  # really read-only, for whoever runs the test
            (folder / "probe").write_text("x")
        ran = run_bet("runs", "--store", str(path), "--json", home=tmp_path)
        assert ran.returncode == 0 and rid in ran.stdout, ran.stderr
        ran = run_bet("search", "--resume", rid, "--store", str(path), home=tmp_path)
        assert_one_line_error(ran, str(path), "read-only")
        assert sorted(os.listdir(folder)) == before  # nothing created beside the store


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
    assert run.data_fingerprint is None and snapshot(path)[:2] == before
    assert RunStore(path).list_runs()[0].data_path is None
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta").fetchone()[0] == str(SCHEMA_VERSION)
    conn.close()


def test_store_names_with_uri_characters(tmp_path: Path) -> None:
    path = tmp_path / "a?b#c%20d&mode=rw.sqlite"
    RunStore(path).create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0,
                              config={})  # fmt: skip
    assert len(RunStore(path, read_only=True).list_runs()) == 1
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(("-wal", "-shm"))) == [path.name]


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
