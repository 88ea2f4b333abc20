"""Hostile uses of the CLI's outputs and limits: no file the user names overwrites the store, a
dataset or a cache, or is left half-written (a full disk keeps the old one); every numeric option
is bounded; a search that cannot fit in memory (its candidate pools included) is refused before it
starts; an error never shares a progress bar's line; an ASCII-only locale never crashes output."""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from bet.cli import build_parser
from bet.config import LIMITS, SearchConfig
from bet.errors import shorten
from bet.store import RunStore
from tests.hostile_helpers import Ran, assert_one_line_error, run_bet, run_in_process
from tests.test_hostile_inputs import make_store


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


@pytest.fixture
def stored(home: Path) -> tuple[Path, str]:
    """The default store of ``home`` with one completed run; returns (store, run id)."""
    path = home / "bet.sqlite"
    return path, make_store(path)


def export(rid: str, out: Path | str, home: Path, *extra: str, env: dict[str, str] | None = None) -> Ran:
    return run_bet("export", "--run", rid, "--format", "csv", "--out", str(out), *extra, home=home, env=env)


# -- 1. never over the store, a dataset or a cache; never a half file ----------------------------
@pytest.mark.parametrize(
    ("target", "why"),
    [
        ("store", "is the run store"),
        ("wal", "is a file of the run store"),
        ("symlink", "is the run store"),
        ("hardlink", "is the run store"),
        ("dotdot", "is the run store"),
    ],
)
def test_export_never_writes_over_the_store(target: str, why: str, stored: tuple[Path, str], home: Path,
                                            tmp_path: Path) -> None:  # fmt: skip
    store, rid = stored
    before = digest(store)
    out = {
        "store": store,
        "wal": Path(f"{store}-wal"),
        "symlink": tmp_path / "link.csv",
        "hardlink": tmp_path / "hard.csv",
        "dotdot": tmp_path / "elsewhere" / ".." / "home" / "bet.sqlite",
    }[target]
    if target == "symlink":
        out.symlink_to(store)
    elif target == "hardlink":
        os.link(store, out)
    assert_one_line_error(export(rid, out, home), "--out", why, "give another file name")
    assert digest(store) == before
    wal = Path(f"{store}-wal")
    assert not wal.exists() or not wal.read_bytes().startswith(b"action_id")  # no CSV where SQLite looks
    assert [r.run_id for r in RunStore(store).list_runs()] == [rid]


def test_a_store_named_with_store_is_protected_too(tmp_path: Path, home: Path) -> None:
    store = tmp_path / "mine.sqlite"
    rid = make_store(store)
    before = digest(store)
    ran = export(rid, store, home, "--store", str(store))
    assert_one_line_error(ran, f"--out {shorten(str(store), quote=False)} is the run store")  # as messages show paths
    assert digest(store) == before


def test_export_over_the_dataset_of_a_stored_run(tmp_path: Path, home: Path) -> None:
    data = tmp_path / "ratings.csv"
    data.write_text("user,item\n1,2\n")
    store = RunStore(home / "bet.sqlite")
    rid = store.create_run(kind="baseline", method="su", dataset=str(data), backbone="lightgcn", sparsity=0.9,
                           seed=0, config={"data": {"dataset": str(data)}})  # fmt: skip
    store.close()
    ran = run_bet("export", "--run", rid, "--format", "json", "--out", str(data), home=home)
    assert_one_line_error(ran, "is the dataset of a stored run")
    assert data.read_text() == "user,item\n1,2\n"


def test_sample_over_its_own_dataset(tmp_path: Path, home: Path) -> None:
    data = tmp_path / "train.txt"
    data.write_text("".join(f"{u} " + " ".join(str((u + j) % 40) for j in range(6)) + "\n" for u in range(40)))
    before = digest(data)
    ran = run_bet("sample", "--dataset", str(data), "--sparsity", "0.9", "--count", "2", "--out", str(data), home=home)
    assert_one_line_error(ran, "is the dataset")
    assert digest(data) == before


def test_reproduce_table_over_the_store(stored: tuple[Path, str], home: Path) -> None:
    store, _ = stored
    before = digest(store)
    ran = run_bet("reproduce", "--dry-run", "--table", str(store), home=home)
    assert_one_line_error(ran, "--table", "is the run store")
    assert digest(store) == before


def test_out_inside_the_model_cache(stored: tuple[Path, str], home: Path) -> None:
    (home / "models").mkdir()
    ran = export(stored[1], home / "models" / "x.csv", home)
    assert_one_line_error(ran, "is inside BET_HOME", "where BET keeps its stores and caches")
    assert list((home / "models").iterdir()) == []


def test_an_existing_plain_file_is_replaced_whole(stored: tuple[Path, str], home: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.csv"
    out.write_text("x" * 100_000)  # longer than the export: no tail of it may remain
    ran = export(stored[1], out, home)
    assert ran.returncode == 0, ran.stderr
    assert out.read_text().startswith("action_id,") and len(out.read_text()) < 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "old.csv"]  # no temporary file left


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs (needs root; skipped elsewhere), unmounted at the end."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_full_disk_keeps_the_old_file(full_disk: Path, home: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    rid = make_store(store)
    out = full_disk / "run.json"
    out.write_text("the previous export\n")
    (full_disk / "filler").write_bytes(b"\0" * 60 * 1024)  # with run.json's page: the disk is full
    ran = run_bet("export", "--run", rid, "--format", "json", "--store", str(store), "--out", str(out), home=home)
    assert_one_line_error(ran, f"cannot write --out {shorten(str(out), quote=False)}", "No space left on device")
    assert out.read_text() == "the previous export\n"
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler", "run.json"]


def test_full_model_cache_is_no_failure_and_no_glued_line(full_disk: Path, tmp_path: Path) -> None:
    """BET_HOME on a full disk: the pretrained model cannot be cached; the search says so on a line
    of its own and completes (nothing computed is thrown away)."""
    ran = run_bet("search", "--sparsity", "0.9", "-T", "1", "-m", "4", "--finetune-steps", "2", "--retrain-top", "1",
                  "--pretrain-epochs", "2", "--retrain-epochs", "2", "--store", str(tmp_path / "s.sqlite"),
                  home=full_disk / "home")  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "Traceback" not in ran.stderr
    warned = [line for line in ran.stderr.split("\n") if "cannot cache the model" in line]
    assert len(warned) == 1 and warned[0].startswith("WARNING bet.cache: "), warned


def test_error_on_a_full_store_starts_its_own_line(tmp_path: Path) -> None:
    """The store fills up during pretraining, while a progress bar is on stderr."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (not root)")
    try:
        ran = run_bet("search", "--sparsity", "0.9", "-T", "20", "-m", "10", "--finetune-steps", "5",
                      "--retrain-top", "1", "--pretrain-epochs", "2", "--retrain-epochs", "2",
                      "--store", str(mnt / "s.sqlite"), home=tmp_path / "home")  # fmt: skip
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    assert ran.returncode == 2 and "Traceback" not in ran.stderr, ran.stderr[-2000:]
    errors = [line for line in ran.stderr.replace("\r", "\n").split("\n") if "error:" in line]
    assert errors and all(line.startswith("error: ") for line in errors), errors
    assert ran.stderr.rstrip("\n").rsplit("\n", 1)[-1].startswith("error: ")


def test_out_is_a_device_or_too_long(home: Path, stored: tuple[Path, str], tmp_path: Path) -> None:
    stdout = tmp_path / "stdout"  # as /dev/stdout, whose link the old writer replaced by a file (as root)
    stdout.symlink_to("/proc/self/fd/1")
    assert_one_line_error(export(stored[1], stdout, home), f"{stdout} is not a regular file")
    assert stdout.is_symlink()
    assert_one_line_error(export(stored[1], tmp_path / ("x" * 300), home), "File name too long")
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    assert_one_line_error(export(stored[1], tmp_path / "a", home), "Too many levels of symbolic links")


def test_out_through_a_symlink_writes_its_target(home: Path, stored: tuple[Path, str], tmp_path: Path) -> None:
    (tmp_path / "real.csv").write_text("old\n")
    (tmp_path / "link.csv").symlink_to(tmp_path / "real.csv")
    ran = export(stored[1], tmp_path / "link.csv", home)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / "link.csv").is_symlink() and (tmp_path / "real.csv").read_text().startswith("action_id,")


# -- 2. every numeric option has a bound ---------------------------------------------------------
#: Numeric options checked elsewhere: a sparsity (the budget's own rules), a rating threshold.
NOT_BOUNDED = {"sparsity", "min_rating", "fitness_users"}  # fractions: checked in (0, 1] by validate()


def test_every_numeric_option_has_a_bound() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    numeric = {
        (command, action.dest)
        for command, p in sub.choices.items()
        for action in p._actions
        if action.type in (int, float)
    }
    assert len(numeric) > 20  # the audit saw the options
    missing = sorted((c, d) for c, d in numeric if d not in LIMITS and d not in NOT_BOUNDED)
    assert not missing, missing


def test_paper_settings_are_within_the_bounds() -> None:
    SearchConfig(redraws=20, iterations=50, candidates=100, retrain_top=5, finetune_epochs=15).validate()


OUT_OF_BOUNDS = [
    (["search", "--redraws", "1000000000"], "--redraws must be in [0, 1000], got 1000000000"),
    (["search", "--fitness-users", "0"], "--fitness-users must be a fraction in (0, 1], got 0.0"),
    (["search", "-T", "100000"], "-T/--iterations must be in [1, 10000], got 100000"),
    (["search", "-m", "0"], "-m/--candidates must be in [1, 10000], got 0"),
    (["search", "--finetune-epochs", "100000"], "--finetune-epochs must be in [1, 1000]"),
    (["search", "--finetune-steps", "0"], "--finetune-steps must be in [1, 1000000], got 0"),
    (["search", "--retrain-top", "5000"], "--retrain-top must be in [1, 1000]"),
    (["search", "-q", "100000"], "-q/--parallel-candidates must be in [1, 1000]"),
    (["search", "--pretrain-epochs", "0"], "--pretrain-epochs must be in [1, 10000]"),
    (["search", "--seed", "-1"], "--seed must be in [0, 4294967295], got -1"),
    (["search", "--seed", str(2**70)], "got 1180591620717411303424"),
    (["search", "--seed", str(10**400)], "got 10000000000"),
    (["search", "--split-seed", "-5"], "--split-seed must be in [0, 4294967295]"),
    (["search", "--d-max", "0"], "--d-max must be in [1, 4096], got 0"),
    (["sample", "--count", "10000000", "--out", "x.npz"], "--count must be in [1, 1000000]"),
    (["sample", "--redraws", "-1", "--out", "x.npz"], "--redraws must be in [0, 1000], got -1"),
    (["train", "--backbone", "pop", "--epochs", "0"], "--epochs must be in [1, 10000], got 0"),
    (["train", "--backbone", "pop", "--patience", "-1"], "--patience must be in [0, 1000], got -1"),
    (["frontier", "--sparsities", "0.9", "--workers", "10000"], "--workers must be in [1, 256], got 10000"),
    (["frontier", "--sparsities", ",".join(f"{0.5 + i * 1e-5:.5f}" for i in range(10_000))],
     "--sparsities lists 10,000 values; at most 100"),
    (["frontier", "--sparsities", "0.9,0.8,0.9"], "--sparsities lists 0.9 twice"),
    (["frontier", "--sparsities", "0.5," * 5000 + "abc"], "--sparsities: expected comma-separated numbers"),
    (["frontier", "--sparsities", "nan"], "--sparsities must each be in (0, 1), got nan"),
    (["frontier", "--sparsities", "0.9,inf"], "--sparsities must each be in (0, 1), got inf"),
    (["frontier", "--sparsities", "0.9", "--methods", "bet,magic"], "--methods: unknown 'magic'"),
    (["frontier", "--sparsities", "0.9", "--methods", "su,su"], "--methods lists 'su' twice"),
    (["info", "--min-rating", "nan"], "--min-rating must be a finite number"),
]  # fmt: skip


@pytest.mark.parametrize(("args", "message"), OUT_OF_BOUNDS)
def test_out_of_bounds_option(
    args: list[str], message: str, home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    command, rest = args[0], args[1:]
    if command in ("search", "sample"):
        rest = ["--sparsity", "0.9", *rest]
    if command in ("search", "frontier"):
        rest = [*rest, "--store", str(tmp_path / "s.sqlite")]
    if (args, message) == OUT_OF_BOUNDS[0]:  # once through a real process
        ran = run_bet(command, *rest, home=home, timeout=120)
    else:  # the rest in-process (the same parser and checks): a Python and torch start saved each
        ran = run_in_process(capsys, command, *rest, home=home)
    assert_one_line_error(ran, message)
    assert ran.seconds < 60  # refused at once, not after running a while
    assert not (tmp_path / "s.sqlite").exists()


# -- 3. memory: the candidate pool and every phase, before a run exists --------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "--sparsity", "0.9", "-m", "5000"], "the search (-m 5,000 candidates of 6,835 rows"),
        (["estimate", "--sparsity", "0.9", "-m", "5000"], "the search (-m 5,000 candidates"),
        (["frontier", "--sparsities", "0.9", "-m", "1000", "--workers", "4"], "× 4 runs at once needs about"),
    ],
)
def test_candidate_pool_beyond_memory(args: list[str], message: str, home: Path, tmp_path: Path) -> None:
    ran = run_bet(*args, "--store", str(tmp_path / "s.sqlite"), home=home, env={"BET_MEMORY_MB": "400"})
    assert_one_line_error(ran, message, "more than the 0.39 GB available")
    assert not (tmp_path / "s.sqlite").exists()


def test_a_paper_pool_fits_where_the_training_fits(home: Path, tmp_path: Path) -> None:
    ran = run_bet("estimate", "--sparsity", "0.9", "--json", home=home, env={"BET_MEMORY_MB": "400"})
    assert ran.returncode == 0, ran.stderr[-2000:]


# -- output in a locale that cannot show every character -----------------------------------------
def test_ascii_only_output_never_crashes(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "é.npz"
    for extra in ([], ["--json"]):
        ran = run_bet("sample", "--sparsity", "0.9", "--count", "2", "--out", str(out), *extra, home=home,
                      env={"PYTHONIOENCODING": "ascii"})  # fmt: skip
        assert ran.returncode == 0 and "Traceback" not in ran.stderr, ran.stderr[-2000:]
        assert out.exists() and ("\\xe9" in ran.stdout or "\\u00e9" in ran.stdout), ran.stdout
