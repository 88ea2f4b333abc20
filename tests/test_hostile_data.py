"""Hostile and mistaken data files (issue 20): every one is read right or refused with one line
naming the file, the line and what was expected, never quoting the file's content; the format a
file was read as is said; parsing memory is a small multiple of the file."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import json
import lzma
from pathlib import Path

import numpy as np
import pytest

import bet.data as bet_data
from bet import cache
from bet.backbones import make_backbone
from bet.cache import model_key, safe_name
from bet.config import PRETRAIN
from bet.data import Dataset, check_evaluable, load_dataset
from bet.data.detect import detect_format
from bet.errors import DataError
from tests.hostile_helpers import assert_one_line_error, run_bet

LIGHTGCN = ["0 1 2 3", "1 2 3", "2 1 4 5 6"]  # lines of different lengths: read as LightGCN
ID_PROBLEM = "is not a non-negative integer id"
BAD_IDS = ["²", "٣", "３", "--5", "+3", "1e3", "0x10", "3.0", "-3", "x4", "1,5"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-data-home")


def error_of(path: Path, **kw: object) -> str:
    """The DataError's message, with the path cut off (the rest must not quote the file)."""
    with pytest.raises(DataError) as err:
        load_dataset(path, **kw)  # type: ignore[arg-type]
    msg = str(err.value)
    assert msg.startswith(str(path)), msg
    return msg[len(str(path)) :]


def pairs(data: Dataset) -> set[tuple[str, str]]:
    m = (data.train + data.valid + data.test).tocoo()
    return {(str(data.user_labels[r]), str(data.item_labels[c])) for r, c in zip(m.row, m.col, strict=True)}


# --- ids: a class of mistakes, each named by line and column -------------------------------


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize("column", [1, 2, 4])
def test_bad_id_names_line_and_column_not_the_value(write_file, bad: str, column: int) -> None:  # type: ignore[no-untyped-def]
    fields = ["7", "8", "9", "10"]
    fields[column - 1] = bad
    path = write_file("ids.txt", [*LIGHTGCN, " ".join(fields)])
    msg = error_of(path, fmt="lightgcn")
    assert msg.startswith(f":4: column {column} {ID_PROBLEM}"), msg
    assert bad not in msg and "expected 'user_id item_id" in msg


@pytest.mark.parametrize(("big", "ok"), [(str(2**63 - 1), True), (str(2**63), False), ("9" * 40, False)])
def test_ids_beyond_int64(write_file, big: str, ok: bool) -> None:  # type: ignore[no-untyped-def]
    path = write_file("big.txt", [*LIGHTGCN, f"3 {big} 1"])
    if ok:
        assert str(2**63 - 1) in set(map(str, load_dataset(path).item_labels))
    else:
        msg = error_of(path)
        assert msg.startswith(":4: id too large in column 2") and big not in msg


REFUSED = [  # (file name, content, what the message says after the path)
    ("sup.txt", "0 1 2\n1 ² 3 4\n", [":2: column 2 " + ID_PROBLEM]),
    ("dash.txt", "0 1 2\n--5 3 4 5\n", [":2: column 1 " + ID_PROBLEM]),
    (".env", "AWS_SECRET_ACCESS_KEY=abc123xyz\nREGION=x\n", [":1: line has only one column"]),
    ("blank_lead.txt", "\n\n\n0 1 2\n1 ² 3 4\n", [":5: column 2 " + ID_PROBLEM]),
    ("u16.csv", "\ufeffuser,item\n1,2\n".encode("utf-16"), [": is UTF-16 text", "save or convert it as UTF-8"]),
    ("latin1.csv", "u,i\n1,2\n3,caf\xe9\n".encode("latin-1"), [":3: is not UTF-8 text"]),
    ("mixed.txt", "1\t2\n3,4\n", [":2: line has only one column"]),
    ("extra.csv", "user,item\n\n1,2\n3,4,zz\n", [":4: line has 3 columns", "expected 2"]),
    ("header.tsv", "user\titem\trating\n", [": has a header but no interaction rows"]),
    ("notes.txt", "# just\n# comments\n", [": holds only comment lines"]),
    ("empty.txt.gz", gzip.compress(b"", mtime=0), [": is empty"]),
    ("t.txt.bz2", bz2.compress(b"0 1 2\n" * 50), [": is bzip2-compressed; only gzip is read"]),
    ("t.txt.xz", lzma.compress(b"0 1 2\n" * 50), [": is xz-compressed; only gzip is read"]),
    ("open.csv", 'u,i\n1,2\n3,"4\n5,6\n', [":3: a quote is left open until the end of the file"]),
    ("spans.csv", 'u,i\n1,2\n"a\nb",3\n4,5\n', [":3: an id in quotes runs over several lines"]),
]
SECRETS = ("AWS_SECRET", "abc123", "²", "--5", "caf", "zz")
ON_THE_CLI = ("sup.txt", "dash.txt", ".env", "blank_lead.txt")  # the examples, end to end


@pytest.mark.parametrize(("name", "content", "fragments"), REFUSED)
def test_refused_naming_file_and_line_without_content(
    write_file, name: str, content: str | bytes, fragments: list[str]
) -> None:  # type: ignore[no-untyped-def]
    msg = error_of(write_file(name, content))
    assert all(f in msg for f in fragments), msg
    assert not any(s in msg for s in SECRETS), msg


@pytest.mark.parametrize(("name", "content", "fragments"), [c for c in REFUSED if c[0] in ON_THE_CLI])
def test_cli_refuses_with_one_line(write_file, home: Path, name: str, content: str, fragments: list[str]) -> None:  # type: ignore[no-untyped-def]
    path = write_file(name, content)
    line = assert_one_line_error(run_bet("info", "--dataset", str(path), home=home), *fragments)
    assert not any(s in line.replace(str(path), "") for s in SECRETS), line


def test_nul_bytes_far_into_a_file_are_refused_at_their_line(write_file) -> None:  # type: ignore[no-untyped-def]
    rows = [f"{u} {u + 1} {u + 2}" for u in range(200_000)]
    rows[150_000] = "7 8\x009"
    assert error_of(write_file("nul.txt", rows)).startswith(":150001: holds NUL bytes")


def test_a_text_gzip_bomb_hits_the_cap(write_file, home: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_file("bomb.txt.gz", "1 2 3\n" * 3_000_000, gz=True)  # 18 MB of text
    ran = run_bet("info", "--dataset", str(path), home=home, env={"BET_MAX_DECOMPRESSED_MB": "4"})
    assert_one_line_error(ran, "decompresses to more than the 4 MB limit", "BET_MAX_DECOMPRESSED_MB")


# --- formats: detected from the whole file, said, and never a silent misreading ------------


def test_space_log_whose_head_has_no_repeated_user_is_read_as_interactions(write_file) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(0)
    first = [f"{u} {1000 + u % 700} {1 + u % 5} {900000000 + u}" for u in range(20_000)]  # new users only
    later = [
        f"{u} {1000 + rng.integers(700)} {rng.integers(1, 6)} 9{k:08d}"
        for k, u in enumerate(rng.integers(20_000, size=20_000))
    ]
    data = load_dataset(write_file("log.txt", first + later))
    assert data.format == "interactions"
    assert data.n_items <= 700 and set(data.item_labels) >= {"1000", "1699"}  # ratings are not items


@pytest.mark.parametrize(
    ("lines", "fmt"),
    [
        (["1 10 5", "2 11 3", "3 12 4"], "interactions"),  # a rating: every value 0-10 while items go above
        (["1 10 4.5", "2 11 3.5"], "interactions"),  # a decimal third column
        (["user item rating", "1 10 5", "2 11 3"], "interactions"),  # a header
        (["5 100 900", "70 900 4000", "900 100 5"], "lightgcn"),  # two items per user
        (["0 1 1 2", "1 2 3 2", "0 2"], "lightgcn"),  # lines of different lengths
        (["alice x 5", "bob y 3"], "interactions"),  # string ids on every line
        (["0\t1\t2\t3", "1\t2", "2\t3\t4"], "lightgcn"),  # tab-separated, one line per user
        (["1\t2\t5", "1\t3", "2\t3\t4", "2\t4"], "interactions"),  # some ratings missing; users repeat
    ],
)
def test_detection_rules(write_file, lines: list[str], fmt: str) -> None:  # type: ignore[no-untyped-def]
    assert load_dataset(write_file("d.txt", lines)).format == fmt


def test_a_stray_word_among_integer_ids_is_a_mistake_named_by_the_lightgcn_reader(write_file) -> None:  # type: ignore[no-untyped-def]
    assert detect_format(["1 2", "foo bar", "3 4"]) == "lightgcn"  # not a log with string ids
    assert error_of(write_file("typo.txt", ["1 2", "foo bar", "3 4"])).startswith(f":2: column 1 {ID_PROBLEM}")
    assert error_of(write_file("typo3.txt", ["0 1 2", "1 2 3", "2 1 oops"])).startswith(f":3: column 3 {ID_PROBLEM}")


def test_bom_is_stripped(write_file) -> None:  # type: ignore[no-untyped-def]
    bom = b"\xef\xbb\xbf"
    plain = load_dataset(write_file("a.txt", LIGHTGCN))
    with_bom = load_dataset(write_file("b.txt", bom + "\n".join(LIGHTGCN).encode()))
    assert (with_bom.format, with_bom.fingerprint, pairs(with_bom)) == ("lightgcn", plain.fingerprint, pairs(plain))
    csv = load_dataset(write_file("c.csv", bom + b"1,2\n3,4\n5,6\n"))
    assert pairs(csv) == {("1", "2"), ("3", "4"), ("5", "6")}  # the first row is not taken for a header
    header = load_dataset(write_file("h.csv", bom + b"user_id,item_id\n1,2\n3,4\n"))
    assert pairs(header) == {("1", "2"), ("3", "4")}


@pytest.mark.parametrize("lines", [LIGHTGCN, ["user,item,rating", "a,x,1", "b,y,2", "a,y,3"]])
def test_line_endings_blank_lines_and_comments_change_nothing(write_file, lines: list[str]) -> None:  # type: ignore[no-untyped-def]
    plain = load_dataset(write_file("lf.txt", lines))
    for k, variant in enumerate(
        [
            "\r\n".join(lines),
            "\r".join(lines) + "\r",
            "\n\n  \n" + "\n".join(lines),
            "# source: x\n\n" + "\n".join(lines),
        ]
    ):
        other = load_dataset(write_file(f"v{k}.txt", variant))
        assert (other.format, other.fingerprint, pairs(other)) == (plain.format, plain.fingerprint, pairs(plain)), k


def test_info_says_the_format(write_file, home: Path) -> None:  # type: ignore[no-untyped-def]
    ran = run_bet("info", "--dataset", str(write_file("r.csv", "u,i\n1,2\n")), "--json", home=home)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.strip().splitlines()[-1])["format"] == "interactions"


def test_folder_is_lightgcn_and_refuses_what_does_not_apply(write_file) -> None:  # type: ignore[no-untyped-def]
    folder = write_file("ds/train.txt", LIGHTGCN).parent
    write_file("ds/test.txt", ["0 4", "1 5"])
    assert load_dataset(folder).format == "lightgcn"
    assert "--min-rating needs a rating column" in error_of(folder, min_rating=3)
    assert "--format interactions if it is one" in error_of(write_file("lg.txt", LIGHTGCN), min_rating=3)
    assert "is a folder" in error_of(folder, fmt="interactions")


# --- degenerate but well-formed files ------------------------------------------------------


def test_duplicates_one_user_and_one_item(write_file) -> None:  # type: ignore[no-untyped-def]
    dups = load_dataset(write_file("dups.csv", "u,i\n1,2\n1,2\n1,3\n1,2\n"))
    assert dups.n_interactions == 2
    one_user = load_dataset(write_file("one_user.txt", ["1 2 5", "1 3 4", "1 4 3"]))
    assert (one_user.n_users, one_user.n_items, one_user.format) == (1, 3, "interactions")
    with pytest.raises(DataError, match="leaves the validation set empty"):
        check_evaluable(one_user)
    one_item = load_dataset(write_file("one_item.csv", "u,i\n1,9\n2,9\n3,9\n"))
    assert (one_item.n_users, one_item.n_items) == (3, 1)


def test_a_file_changed_between_detection_and_parsing(write_file, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    path = write_file("moving.txt", LIGHTGCN)
    sample = bet_data.sample_lines

    def then_rewrite(p: Path) -> object:
        out = sample(p)
        p.write_text("a,b\nc,d\n")  # now a CSV, while a LightGCN parse is about to start
        return out

    monkeypatch.setattr(bet_data, "sample_lines", then_rewrite)
    assert error_of(path).startswith(f":1: column 1 {ID_PROBLEM}")


def test_quoted_numbers_in_the_first_row_are_data_not_a_header(write_file) -> None:  # type: ignore[no-untyped-def]
    assert pairs(load_dataset(write_file("q.csv", '"1","2"\n"3","4"\n'))) == {("1", "2"), ("3", "4")}


# --- path-derived names ---------------------------------------------------------------------


def test_a_file_name_with_a_newline_or_bad_bytes_stays_one_line(tmp_path: Path, home: Path) -> None:
    path = tmp_path / "new\nline.txt"
    path.write_text("0 1 2\n")
    assert_one_line_error(run_bet("info", "--dataset", str(path), "--min-rating", "3", home=home), "new\\nline.txt")
    assert "bad\\xff.txt:" in str(DataError("bad\udcff.txt", "x"))


def test_model_cache_key_of_a_long_or_odd_name_is_bounded(mini: Dataset) -> None:
    assert safe_name("gowalla-mini") == "gowalla-mini" and safe_name("u.data") == "u.data"  # keys kept
    for name in ["x" * 236, "é" * 120, ".env", "a b", "..", "-rf"]:
        key = model_key(dataclasses.replace(mini, name=name), "lightgcn", d_max=128, cfg=PRETRAIN, seed=0)
        assert len(f"{key}.pt".encode()) <= 100 and "/" not in key and not key.startswith((".", "-")), key
    assert safe_name("x" * 236) != safe_name("x" * 235)


def test_model_cache_of_a_file_with_a_236_character_name(tmp_path: Path) -> None:
    path = tmp_path / ("d" * 232 + ".txt")
    path.write_text("".join(f"{u} " + " ".join(str((u + k) % 40) for k in range(8)) + "\n" for u in range(30)))
    data = load_dataset(path)
    model = make_backbone("lightgcn", data, seed=0, d_max=8)
    key = model_key(data, "lightgcn", d_max=8, cfg=PRETRAIN, seed=0)
    assert not cache.exists(key)  # was: OSError ENAMETOOLONG
    cache.save(model, key, {"valid": {}})
    assert cache.exists(key) and cache.load(model, key) == {"valid": {}}


# --- memory ---------------------------------------------------------------------------------


def test_parsing_memory_is_a_small_multiple_of_the_file(tmp_path: Path, home: Path) -> None:
    """A 40 MB interaction CSV: the old reader peaked at ~14x the file above the interpreter (a
    65 MB file: 906 MB); streamed, typed and factorized it is ~3x. Checked with k = 4."""
    rng = np.random.default_rng(0)
    n = 1_600_000
    cols = [rng.integers(0, 150_000, n), rng.integers(0, 40_000, n), rng.integers(1, 6, n), rng.integers(8e8, 9e8, n)]
    path = tmp_path / "big.csv"
    with path.open("w") as fh:
        for k in range(0, n, 200_000):
            fh.write("".join(map("{},{},{},{}\n".format, *(c[k : k + 200_000] for c in cols))))
    size_mb = path.stat().st_size / 2**20
    assert 30 < size_mb < 60
    baseline = run_bet("info", "--dataset", str(tmp_path / "missing.csv"), home=home).peak_mb
    ran = run_bet("info", "--dataset", str(path), "--json", home=home)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.peak_mb < baseline + 4 * size_mb, (ran.peak_mb, baseline, size_mb)
