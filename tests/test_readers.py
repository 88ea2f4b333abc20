"""User datasets through ``load_dataset(path)``: every supported layout, and a specific
:class:`DataError` (file, line, what was expected) for every bad input."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from bet.data import Dataset, load_dataset, load_raw
from bet.errors import DataError

LIGHTGCN = ["0 1 2 3", "1 2 3", "2 1 4 5 6", "3 0 1"]
LIGHTGCN_PAIRS = {(int(ln.split()[0]), int(x)) for ln in LIGHTGCN for x in ln.split()[1:]}


def pairs(data: Dataset) -> set[tuple[str, str]]:
    """Every interaction as (user label, item label) strings, whatever the split."""
    m = (data.train + data.valid + data.test).tocoo()
    return {(str(data.user_labels[r]), str(data.item_labels[c])) for r, c in zip(m.row, m.col, strict=True)}


def as_str(p: set[tuple[int, int]]) -> set[tuple[str, str]]:
    return {(str(u), str(i)) for u, i in p}


def check_shapes(data: Dataset, n_users: int, n_items: int) -> None:
    assert (data.n_users, data.n_items) == (n_users, n_items)
    for m in (data.train, data.valid, data.test):
        assert isinstance(m, sp.csr_matrix) and m.shape == (n_users, n_items)
    assert (np.diff(data.train.indptr) >= 1).all()


def error_of(path: str | Path, **kw: object) -> str:
    with pytest.raises(DataError) as err:
        load_dataset(path, **kw)  # type: ignore[arg-type]
    return str(err.value)


# --- layouts that load ----------------------------------------------------------------------


def test_lightgcn_file(write_file) -> None:  # type: ignore[no-untyped-def]
    data = load_dataset(write_file("gowalla_like.txt", LIGHTGCN))
    check_shapes(data, 4, 7)
    assert data.name == "gowalla_like.txt"
    assert pairs(data) == as_str(LIGHTGCN_PAIRS)
    assert data.n_interactions == 11


@pytest.mark.parametrize("gz", [False, True])
def test_lightgcn_folder(write_file, gz: bool) -> None:  # type: ignore[no-untyped-def]
    suffix = ".gz" if gz else ""
    test = ["0 4", "1 5", "2 2", "3 3"]
    folder = write_file(f"ds/train.txt{suffix}", LIGHTGCN, gz=gz).parent
    write_file(f"ds/test.txt{suffix}", test, gz=gz)
    data = load_dataset(folder)
    check_shapes(data, 4, 7)
    assert data.name == "ds"
    test_pairs = {(int(ln.split()[0]), int(ln.split()[1])) for ln in test}
    assert pairs(data) == as_str(LIGHTGCN_PAIRS | test_pairs)
    raw = load_raw(folder)
    assert raw.is_test is not None and int(raw.is_test.sum()) == 4


def test_folder_pair_in_train_and_test_kept_once(write_file) -> None:  # type: ignore[no-untyped-def]
    folder = write_file("ds/train.txt", ["0 1 2", "1 2 3"]).parent
    write_file("ds/test.txt", ["0 1 3", "1 0"])  # (0, 1) is in both files
    raw = load_raw(folder)
    assert len(raw.users) == 6
    assert raw.is_test is not None and int(raw.is_test.sum()) == 2  # the train copy wins


def test_csv_with_header_and_string_ids(write_file) -> None:  # type: ignore[no-untyped-def]
    text = "user_id,item_id,rating\nalice,x,5\nbob,y,3\nalice,y,4\ncarol,x,1\nalice,x,5\n"
    data = load_dataset(write_file("ratings.csv", text))
    check_shapes(data, 3, 2)
    assert list(data.user_labels) == ["alice", "bob", "carol"]  # contiguous, ascending id order
    assert list(data.item_labels) == ["x", "y"]
    assert pairs(data) == {("alice", "x"), ("bob", "y"), ("alice", "y"), ("carol", "x")}  # duplicate dropped


def test_csv_min_rating_by_header_name(write_file) -> None:  # type: ignore[no-untyped-def]
    # The rating is the 4th column here: found by its header name, not by position.
    path = write_file("r.csv", "user,item,timestamp,rating\nu1,a,100,5\nu1,b,101,2\nu2,a,102,4\nu3,b,103,1\n")
    data = load_dataset(path, min_rating=4)
    assert pairs(data) == {("u1", "a"), ("u2", "a")}


def test_movielens_tab_file_with_min_rating(write_file) -> None:  # type: ignore[no-untyped-def]
    rows = ["196\t242\t3\t881250949", "186\t302\t3\t891717742", "22\t377\t1\t878887116", "196\t377\t5\t881250950"]
    path = write_file("u.data", rows)
    all_rows = load_dataset(path)
    check_shapes(all_rows, 3, 3)
    assert pairs(all_rows) == {("196", "242"), ("186", "302"), ("22", "377"), ("196", "377")}
    kept = load_dataset(path, min_rating=3)
    assert pairs(kept) == {("196", "242"), ("186", "302"), ("196", "377")}
    assert kept.n_users == 2  # user 22 had only a rating of 1
    assert list(kept.user_labels) == ["186", "196"]


def test_whitespace_file(write_file) -> None:  # type: ignore[no-untyped-def]
    data = load_dataset(write_file("pairs.txt", ["1 10", "1 11", "2 10", "2 12", "3 11", "3 11"]))
    check_shapes(data, 3, 3)
    assert pairs(data) == {("1", "10"), ("1", "11"), ("2", "10"), ("2", "12"), ("3", "11")}


def test_duplicates_dropped_in_lightgcn_file(write_file) -> None:  # type: ignore[no-untyped-def]
    data = load_dataset(write_file("dups.txt", ["0 1 1 2", "1 2 3 2", "0 2"]))
    assert data.n_interactions == 4  # (0,1) (0,2) (1,2) (1,3)


def test_sparse_ids_are_remapped(write_file) -> None:  # type: ignore[no-untyped-def]
    data = load_dataset(write_file("gaps.txt", ["5 100 900", "70 900 4000", "900 100 5"]))
    check_shapes(data, 3, 4)
    assert list(data.user_labels.astype(int)) == [5, 70, 900]
    assert list(data.item_labels.astype(int)) == [5, 100, 900, 4000]


# --- bad inputs -----------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "data.txt"
    msg = error_of(path)
    assert str(path) in msg and "no such file or folder" in msg
    assert "gowalla-mini" in msg  # says what it expected: a built-in name or a path


def test_empty_file(write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("empty.txt", "")
    msg = error_of(path)
    assert msg.startswith(str(path)) and "is empty" in msg and "expected" in msg


def test_blank_file(write_file) -> None:  # type: ignore[no-untyped-def]
    assert "is empty" in error_of(write_file("blank.txt", "\n  \n\n"))


def test_non_numeric_id_in_lightgcn_file(write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("lg.txt", ["0 1 2 3", "1 2 3", "2 1 x4 5", "3 0 1"])
    msg = error_of(path, fmt="lightgcn")
    assert msg.startswith(f"{path}:3:"), msg  # file and line number
    assert "column 3 is not a non-negative integer id" in msg and "x4" not in msg  # described, not echoed
    assert "expected 'user_id item_id item_id ...' with integer ids" in msg


def test_non_numeric_user_in_lightgcn_file_auto_detected(write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("lg.txt", ["0 1 2 3", "1 2 3", "u2 1 4 5", "3 0 1"])
    msg = error_of(path)
    assert msg.startswith(f"{path}:3:") and "column 1 is not a non-negative integer id" in msg and "u2" not in msg


def test_one_column_row_in_lightgcn_file(write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("lg.txt", ["0 1 2 3", "1 2 3", "2", "3 0 1"])
    msg = error_of(path)
    assert msg.startswith(f"{path}:3:"), msg
    assert "line has 1 column" in msg and "expected 2 or more" in msg


@pytest.mark.parametrize(
    ("name", "text", "line"),
    [
        ("with_header.csv", "user,item\n1,2\n3\n4,5\n", 3),
        ("no_header.tsv", "1\t2\n3\t4\n5\n", 3),
        ("semi.csv", "1;2\n3\n", 2),
    ],
)
def test_one_column_row_in_delimited_file(write_file, name: str, text: str, line: int) -> None:  # type: ignore[no-untyped-def]
    path = write_file(name, text)
    msg = error_of(path)
    assert msg.startswith(f"{path}:{line}:"), msg
    assert "line has only one column" in msg and "at least two columns" in msg


def test_no_users_left_after_min_rating(write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("u.data", ["196\t242\t3\t881250949", "186\t302\t4\t891717742"])
    msg = error_of(path, min_rating=4.5)
    assert msg.startswith(str(path)) and "no interactions left after --min-rating 4.5" in msg


def test_non_numeric_rating(write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("r.tsv", ["1\t2\t5", "1\t3\tgood", "2\t3\t4"])
    msg = error_of(path, min_rating=3)
    assert msg.startswith(f"{path}:2:") and "rating is not a number" in msg


def test_min_rating_on_lightgcn_file(write_file) -> None:  # type: ignore[no-untyped-def]
    msg = error_of(write_file("lg.txt", LIGHTGCN), min_rating=3)
    assert "--min-rating needs a rating column" in msg


def test_truncated_gzip(write_file) -> None:  # type: ignore[no-untyped-def]
    blob = gzip.compress("\n".join(LIGHTGCN * 50).encode())
    path = write_file("cut.txt.gz", blob[: len(blob) // 2])
    msg = error_of(path)
    assert msg.startswith(str(path)) and "not a readable gzip file" in msg


def test_garbage_with_gzip_magic(write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("fake.gz", b"\x1f\x8b this is not deflate data")
    assert "not a readable gzip file" in error_of(path)


def test_truncated_gzip_in_folder(write_file) -> None:  # type: ignore[no-untyped-def]
    folder = write_file("ds/train.txt.gz", LIGHTGCN, gz=True).parent
    blob = gzip.compress(b"0 4\n1 5\n" * 200)
    test = write_file("ds/test.txt.gz", blob[:-12])
    msg = error_of(folder)
    assert msg.startswith(str(test)) and "not a readable gzip file" in msg


def test_folder_without_test_file(write_file) -> None:  # type: ignore[no-untyped-def]
    folder = write_file("ds/train.txt", LIGHTGCN).parent
    msg = error_of(folder)
    assert str(folder) in msg and "test.txt" in msg


def test_binary_file(write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("blob.bin", bytes([0xFF, 0xFE, 0x00, 0x81]) * 10)
    msg = error_of(path)
    assert msg.startswith(str(path)) and "not UTF-8" in msg


def test_negative_id(write_file) -> None:  # type: ignore[no-untyped-def]
    msg = error_of(write_file("neg.txt", ["0 1 2", "1 -3 4"]), fmt="lightgcn")
    assert ":2:" in msg and "column 2 is not a non-negative integer id" in msg


def test_unknown_format(write_file) -> None:  # type: ignore[no-untyped-def]
    assert "unknown format 'parquet'" in error_of(write_file("x.txt", LIGHTGCN), fmt="parquet")
