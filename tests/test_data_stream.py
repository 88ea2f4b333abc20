"""The streamed reading under every parser (bet/data/stream.py): chunks of whole lines whatever
the piece size, line ends of any kind, and lines far longer than a chunk."""

from __future__ import annotations

import time

import pytest

from bet.data import load_raw
from bet.data.stream import iter_chunks


@pytest.mark.parametrize(
    "content",
    [b"1 2\r\n3 4\r5 6", b"\xef\xbb\xbf1 2\r\r\n3\n", "é\r\n\u00e9 1\r".encode(), b"\n\n0 1\n", b"7 8 9"],
)
def test_chunks_are_whole_lines_whatever_the_piece_size(write_file, content: bytes) -> None:  # type: ignore[no-untyped-def]
    path = write_file("f.txt", content)
    whole = list(iter_chunks(path))
    for size in (1, 2, 3, 7):
        pieces = list(iter_chunks(path, size))
        assert "".join(t for _, t in pieces) == "".join(t for _, t in whole)
        line = 1
        for k, (start, text) in enumerate(pieces):  # each piece starts at the line it says, and ends one
            assert start == line and (text.endswith("\n") or k == len(pieces) - 1)
            line += text.count("\n")
    assert "\r" not in "".join(t for _, t in whole) and "\ufeff" not in "".join(t for _, t in whole)


def test_a_line_of_a_million_ids(write_file) -> None:  # type: ignore[no-untyped-def]
    n = 1_000_000
    path = write_file("wide.txt", ["0 " + " ".join(map(str, range(1, n + 1))), "1 2 3"])
    t0 = time.monotonic()
    raw = load_raw(path)
    assert time.monotonic() - t0 < 30  # the old reader re-joined a long line per MB read
    assert (raw.n_users, raw.n_items, len(raw.users)) == (2, n, n + 2)
    assert raw.format == "lightgcn" and int(raw.item_labels[-1]) == n
