"""Bad and hostile inputs through the command line, as a user (careless or malicious) runs it:
each is refused with exit code 2 and one short ``error:`` line, no traceback, and without
reading, inflating or allocating more than a small bounded amount of memory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from bet.budget import Action
from bet.store import RunStore
from tests.hostile_helpers import Ran, assert_one_line_error, garble_store, run_bet, write_bomb

BOMB_MB = 300  # inflates to 300 MB: the old reader held all of it (and more) in memory


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-home")


@pytest.fixture(scope="module")
def baseline_mb(home: Path) -> float:
    """Peak memory of a command refused at once (the interpreter, torch and numpy loaded)."""
    ran = run_bet("info", "--dataset", "/no/such/file.txt", home=home)
    assert_one_line_error(ran, "no such file")
    return ran.peak_mb


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_bomb(tmp_path_factory.mktemp("bomb") / "train.txt.gz", BOMB_MB)


def info(path: str | Path, home: Path, *extra: str, env: dict[str, str] | None = None) -> Ran:
    return run_bet("info", "--dataset", str(path), *extra, home=home, env=env)


# -- memory and size limits -------------------------------------------------------------------
def test_gzip_bomb_is_refused_within_the_cap(bomb: Path, home: Path, baseline_mb: float) -> None:
    assert bomb.stat().st_size < BOMB_MB * 4096  # really a bomb: hundreds of KB on disk
    ran = info(bomb, home, env={"BET_MAX_DECOMPRESSED_MB": "8"})
    line = assert_one_line_error(ran, "train.txt.gz")
    # zeros are refused at the first streamed chunk (NUL bytes); a text bomb hits the cap (test_hostile_data)
    assert "NUL bytes" in line or "decompresses to more than the 8 MB limit" in line, line
    assert ran.peak_mb < baseline_mb + 64, (ran.peak_mb, baseline_mb)


def test_dev_zero_is_refused_at_once(home: Path, baseline_mb: float) -> None:
    ran = info("/dev/zero", home)
    assert_one_line_error(ran, "/dev/zero", "not a regular file")
    assert ran.peak_mb < baseline_mb + 32  # the old reader read until MemoryError


def test_symlink_to_dev_zero_is_refused(tmp_path: Path, home: Path, baseline_mb: float) -> None:
    link = tmp_path / "data.txt"
    link.symlink_to("/dev/zero")
    ran = info(link, home)
    assert_one_line_error(ran, "not a regular file")
    assert ran.peak_mb < baseline_mb + 32


def test_fifo_never_blocks(tmp_path: Path, home: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    ran = info(fifo, home)  # the old reader blocked forever on open()
    assert_one_line_error(ran, "a pipe or socket, not a regular file")


def test_plain_file_over_the_file_cap(write_file, home: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_file("big.txt", [f"{u} {u + 1} {u + 2}" for u in range(200_000)])  # about 3 MB
    ran = info(path, home, env={"BET_MAX_FILE_MB": "1"})
    assert_one_line_error(ran, "more than the 1 MB limit", "BET_MAX_FILE_MB")


def test_bad_cap_setting_names_the_variable(write_file, home: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_file("ok.txt", ["0 1 2", "1 2 3"])
    ran = info(path, home, env={"BET_MAX_FILE_MB": "lots"})
    assert_one_line_error(ran, "BET_MAX_FILE_MB must be a positive number")


def test_folder_where_a_file_is_expected(tmp_path: Path, home: Path) -> None:
    (tmp_path / "lg" / "train.txt").mkdir(parents=True)  # a folder named like the file
    (tmp_path / "lg" / "test.txt").write_text("0 1\n")
    ran = info(tmp_path / "lg", home)
    assert_one_line_error(ran, "train.txt: is a folder")


def test_sample_count_beyond_memory(home: Path, tmp_path: Path, baseline_mb: float) -> None:
    ran = run_bet("sample", "--sparsity", "0.9", "--count", "1000000", "--out", str(tmp_path / "a.npz"), home=home)
    assert_one_line_error(ran, "--count 1,000,000 (6,835 rows each) needs about", "GB available")
    assert ran.peak_mb < baseline_mb + 200 and not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize("command", ["train", "search"])
def test_training_that_cannot_fit_is_refused_with_the_estimate(command: str, home: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    args = ["--backbone", "lightgcn"] + (["--sparsity", "0.9", "--store", str(store)] if command == "search" else [])
    ran = run_bet(command, *args, home=home, env={"BET_MEMORY_MB": "16"})  # the table alone is 28 MB
    assert_one_line_error(ran, "training on gowalla-mini (6,835 rows) needs about", "more than the 0.02 GB available")
    assert not store.exists() or RunStore(store).list_runs() == []


def test_bad_memory_setting(home: Path) -> None:
    ran = run_bet("train", "--backbone", "lightgcn", home=home, env={"BET_MEMORY_MB": "-3"})
    assert_one_line_error(ran, "BET_MEMORY_MB must be a positive number")


@pytest.mark.parametrize("command", [["sample", "--sparsity", "0.9", "--out", "x.npz"], ["train", "--backbone", "ncf"]])
def test_d_max_beyond_int16_sizes(command: list[str], home: Path) -> None:
    ran = run_bet(*command, "--d-max", "40000", home=home)  # sizes are int16: 40000 came back negative
    assert_one_line_error(ran, "--d-max must be in [1, 4096], got 40000")


# -- user mistakes that used to print a traceback ---------------------------------------------
def test_csv_with_only_a_header(write_file, home: Path) -> None:  # type: ignore[no-untyped-def]
    ran = info(write_file("ratings.csv", "user,item,rating\n"), home)
    assert_one_line_error(ran, "ratings.csv: has a header but no interaction rows")


def test_id_too_large_for_int64(write_file, home: Path) -> None:  # type: ignore[no-untyped-def]
    ran = info(write_file("huge.txt", ["0 1 2", "1 99999999999999999999999"]), home)
    assert_one_line_error(ran, "huge.txt:2: id too large")


def test_binary_file(write_file, home: Path) -> None:  # type: ignore[no-untyped-def]
    ran = info(write_file("blob.txt", b"\x00" * 5000), home)
    assert_one_line_error(ran, "NUL bytes")


def test_five_megabyte_token_is_not_echoed(write_file, home: Path) -> None:  # type: ignore[no-untyped-def]
    ran = info(write_file("token.txt", ["0 1 2", "1 " + "x" * 5_000_000]), home)
    line = assert_one_line_error(ran, "token.txt:2: column 2 is not a non-negative integer id")
    assert "xxx" not in line and len(line) < 300  # described, never echoed


def test_secrets_file_is_echoed_at_most_briefly(write_file, home: Path) -> None:  # type: ignore[no-untyped-def]
    secret = "DB_PASSWORD=" + "hunter2" * 40
    ran = info(write_file(".env", [secret, "API_KEY=abc"]), home, "--format", "lightgcn")
    line = assert_one_line_error(ran, ".env:1: column 1 is not a non-negative integer id")
    assert "DB_PASSWORD" not in line and "hunter2" not in line  # nothing of the file's content


@pytest.mark.parametrize(("flag", "value"), [("--seed", "-5"), ("--split-seed", "-1"), ("--seed", "99999999999")])
def test_bad_seed_leaves_no_run(flag: str, value: str, home: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    ran = run_bet("search", "--sparsity", "0.9", flag, value, "--store", str(store), home=home)
    assert_one_line_error(ran, f"{flag} must be in [0, ")
    assert not store.exists() or RunStore(store).list_runs() == []  # nothing for --resume to fail on


def test_negative_seed_in_train(home: Path) -> None:
    assert_one_line_error(run_bet("train", "--backbone", "pop", "--seed", "-1", home=home), "--seed must be in")


# -- degenerate data --------------------------------------------------------------------------
@pytest.fixture
def singles(write_file) -> Path:  # type: ignore[no-untyped-def]
    """Every user and every item has one interaction: the paper split leaves validation empty."""
    return write_file("singles.txt", [f"{u} {u}" for u in range(200)])  # type: ignore[no-any-return]


def test_search_on_unrankable_data_is_refused_before_a_run(singles: Path, home: Path, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    ran = run_bet("search", "--sparsity", "0.5", "--dataset", str(singles), "--store", str(store), home=home)
    assert_one_line_error(ran, "singles.txt: the paper split leaves the validation set empty")
    assert not store.exists() or RunStore(store).list_runs() == []  # never a "completed" run with null metrics


def test_train_on_unrankable_data_is_refused(singles: Path, home: Path) -> None:
    ran = run_bet("train", "--backbone", "lightgcn", "--dataset", str(singles), home=home)
    assert_one_line_error(ran, "validation set empty")


def test_original_split_with_an_empty_test(tmp_path: Path, home: Path) -> None:
    folder = tmp_path / "lg"
    folder.mkdir()
    lines = "".join(f"{u} " + " ".join(str((u + j) % 30) for j in range(8)) + "\n" for u in range(30))
    (folder / "train.txt").write_text(lines)
    (folder / "test.txt").write_text(lines)  # every test pair is also a training pair: dropped
    ran = run_bet("train", "--backbone", "lightgcn", "--dataset", str(folder), "--split", "original", home=home)
    assert_one_line_error(ran, "the original split leaves the test set empty")


# -- damaged stores and bad output paths ------------------------------------------------------
def make_store(path: Path, runs: int = 1) -> str:
    """A store with ``runs`` completed runs, each with one evaluated action; returns the last id."""
    store = RunStore(path)
    rid = ""
    for i in range(runs):
        rid = store.create_run(kind="search", method="bet", dataset="gowalla-mini", backbone="lightgcn",
                               sparsity=0.9, seed=0, config={"pad": "x" * 3000, "i": i})  # fmt: skip
        action = Action(np.array([3, 2, 1], np.int16), np.array([4, 1], np.int16))
        store.add_action(rid, 1, action, iteration=1, metrics={"recall@20": 0.1}, fitness=0.1)
        store.update_run(rid, status="completed", result={"best_action_id": 1, "cost": action.cost})
        for _ in range(3):
            store.add_event(rid, "progress", {"pad": "y" * 1000})
    store.close()
    return rid


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A store whose schema and ``meta`` pages are intact (it opens) but whose every other page
    starts with garbage (any read of a run, an event or an action hits one)."""
    path = tmp_path_factory.mktemp("damaged") / "bet.sqlite"
    rid = make_store(path, runs=40)
    assert garble_store(path) > 20
    return path, rid


@pytest.mark.parametrize(
    "command",
    [["runs"], ["export", "--out", "x.csv", "--run"], ["search", "--resume"], ["search", "--sparsity", "0.9"]],
    ids=["runs", "export", "resume", "new-search"],
)
def test_damaged_store(command: list[str], damaged: tuple[Path, str], home: Path, tmp_path: Path) -> None:
    path, rid = damaged
    args = [a if a != "x.csv" else str(tmp_path / "x.csv") for a in command]
    if args[-1] in ("--run", "--resume"):
        args.append(rid)
    ran = run_bet(*args, "--store", str(path), home=home)
    assert_one_line_error(ran, f"the run store {path} is damaged", "PRAGMA integrity_check")


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = tmp_path_factory.mktemp("good") / "bet.sqlite"
    return path, make_store(path)


@pytest.mark.parametrize(
    ("out", "message"),
    [("folder", "is a folder"), ("file/x.csv", "cannot write --out"), ("/dev/full", "not a regular file")],
)
def test_export_to_a_bad_path(out: str, message: str, good_store: tuple[Path, str], home: Path, tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("a regular file, not a folder\n")
    target = out if out.startswith("/") else str(tmp_path / out)
    path, rid = good_store
    ran = run_bet("export", "--run", rid, "--store", str(path), "--format", "csv", "--out", target, home=home)
    assert_one_line_error(ran, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]  # no partial file left


def test_sample_to_dev_full(home: Path) -> None:
    ran = run_bet("sample", "--sparsity", "0.9", "--count", "2", "--out", "/dev/full", home=home)
    assert_one_line_error(ran, "--out /dev/full is not a regular file")


def test_export_sizes_writes_exactly_the_path_it_reports(
    good_store: tuple[Path, str], home: Path, tmp_path: Path
) -> None:
    path, rid = good_store
    out = tmp_path / "sizes"  # no .npz suffix: numpy's savez would have written sizes.npz
    ran = run_bet("export", "--run", rid, "--store", str(path), "--format", "sizes", "--out", str(out), home=home)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().endswith(f"→ {out}") and [p.name for p in tmp_path.iterdir()] == ["sizes"]
    with np.load(out) as z:
        assert z["user_sizes"].tolist() == [3, 2, 1] and z["item_sizes"].tolist() == [4, 1]


def test_sample_writes_exactly_the_path_it_reports(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "actions"
    ran = run_bet("sample", "--sparsity", "0.9", "--count", "3", "--out", str(out), "--json", home=home)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.splitlines()[-1])["out"] == str(out)
    assert [p.name for p in tmp_path.iterdir()] == ["actions"]
    with np.load(out) as z:
        assert z["user_sizes"].shape == (3, 3175)
