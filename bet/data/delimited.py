"""Delimited interaction files (csv, tsv, semicolons, whitespace): ``user<sep>item[<sep>rating…]``.

Read as a stream: pandas parses chunks of :data:`ROWS` rows from :func:`bet.data.stream.iter_chunks`,
and each chunk's user and item ids (strings: any kind of id) are factorized into one growing
table of distinct ids, so what is kept is two int64 columns and the distinct ids, never a Python
string per field of the file. The result is the same as reading the whole table at once: ids are
ordered as strings (ascending), the interactions in file order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from bet.data.readers import RawInteractions, remap
from bet.data.stream import iter_data
from bet.errors import DataError

ROWS = 50_000
ROW = "'user<sep>item[<sep>rating…]'"
HEADER_WORDS = {
    "user",
    "users",
    "user_id",
    "userid",
    "uid",
    "item",
    "items",
    "item_id",
    "itemid",
    "iid",
    "movie",
    "movieid",
    "movie_id",
    "business_id",
    "rating",
    "ratings",
    "timestamp",
    "time",
    "score",
}
_PANDAS_LINE = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_PANDAS_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


class _Text:
    """A file-like view of :func:`iter_chunks` for pandas (``read(n)`` only)."""

    def __init__(self, path: Path, skip: int) -> None:
        self._chunks = iter_data(path, skip)
        self._buf = ""

    def read(self, n: int = -1) -> str:
        while n < 0 or len(self._buf) < n:
            piece = next(self._chunks, None)
            if piece is None:
                break
            self._buf += piece[1]
        cut = len(self._buf) if n < 0 else n
        out, self._buf = self._buf[:cut], self._buf[cut:]
        return out

    def __iter__(self) -> Iterator[str]:  # pandas asks for it; it reads with read()
        return iter(())


def split_fields(line: str, sep: str) -> list[str]:
    return line.split() if sep == r"\s+" else line.split(sep)


def _numeric(fields: list[str]) -> bool:
    return all(f.strip().strip('"').lstrip("-").replace(".", "", 1).isdigit() for f in fields[:2])


def find_header(lines: list[tuple[int, str]], sep: str) -> int:
    """The number of the header line among the first non-blank ``lines`` (0 for none): a line
    of header words (``user``, ``item``, ``rating``…), or a non-numeric first line above numeric ones."""
    if not lines:
        return 0
    first = split_fields(lines[0][1], sep)
    if any(f.strip().strip('"').lower() in HEADER_WORDS for f in first):
        return lines[0][0]
    if len(lines) > 1 and _numeric(split_fields(lines[1][1], sep)) and not _numeric(first):
        return lines[0][0]
    return 0


class _Ids:
    """A column's ids, chunk by chunk: one table of the distinct ids (first-seen order) and int32
    codes into it; :meth:`ranked` turns the codes into ranks in ascending string order at the end."""

    def __init__(self) -> None:
        self.table: dict[str, int] = {}
        self.codes: list[np.ndarray] = []

    def add(self, column: pd.Series) -> None:
        local, uniques = pd.factorize(column, sort=False)
        table = self.table
        glob = np.fromiter((table.setdefault(x, len(table)) for x in uniques), dtype=np.int64, count=len(uniques))
        self.codes.append(glob[local].astype(np.int32 if len(table) < 2**31 else np.int64))

    def __len__(self) -> int:
        return sum(len(c) for c in self.codes)

    def ranked(self) -> tuple[np.ndarray, np.ndarray]:
        """The codes as ranks of the ids in ascending string order, and the distinct ids in that
        order (an object array of ``str``)."""
        ids = np.empty(len(self.table), dtype=object)
        ids[:] = list(self.table)
        self.table = {}
        order = np.argsort(ids, kind="stable")
        rank = np.empty(len(order), dtype=np.int32 if len(order) < 2**31 else np.int64)
        rank[order] = np.arange(len(order))
        ranks = np.concatenate([rank[c] for c in self.codes])
        self.codes = []
        return ranks, ids[order]


def parse_delimited(path: Path, sep: str, lines: list[tuple[int, str]], *, min_rating: float | None) -> RawInteractions:
    """Read a delimited table whose first two columns are user and item ids (any strings).

    ``lines`` are the file's first non-blank lines (for the header). ``min_rating`` keeps rows
    whose third column (or the column named ``rating``) is at least that value.
    """
    header = find_header(lines, sep)
    if header and len(lines) < 2:
        raise DataError(path, "has a header but no interaction rows", expected=ROW)
    skip = lines[1][0] - 1 if header else lines[0][0] - 1  # the lines above the first row of data
    names = [n.strip().strip('"').lower() for n in split_fields(lines[0][1], sep)] if header else []
    col = names.index("rating") if "rating" in names else 2
    users, items = _Ids(), _Ids()
    width = None
    try:
        reader = pd.read_csv(
            _Text(path, skip),
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            skip_blank_lines=False,
            engine="c",
            on_bad_lines="error",
            chunksize=ROWS,
        )
        for frame in reader:
            frame = frame[~(frame == "").all(axis=1)]
            if frame.empty:
                continue
            width = width or frame.shape[1]
            first_line = int(frame.index[0]) + skip + 1  # frame row r is file line r + skip + 1
            if frame.shape[1] < 2 or (frame.iloc[:, 1] == "").any():
                row = 0 if frame.shape[1] < 2 else int(np.flatnonzero((frame.iloc[:, 1] == "").to_numpy())[0])
                line = int(frame.index[row]) + skip + 1
                raise DataError(
                    path, "line has only one column", line=line, expected="at least two columns: user id, item id"
                )
            if frame.shape[1] != width:
                raise DataError(
                    path, f"line has {frame.shape[1]} columns", line=first_line, expected=f"{width}, as the lines above"
                )
            spans = frame.iloc[:, 0].str.contains("\n", regex=False) | frame.iloc[:, 1].str.contains("\n", regex=False)
            if spans.any():
                line = int(frame.index[int(np.flatnonzero(spans.to_numpy())[0])]) + skip + 1
                raise DataError(
                    path, "an id in quotes runs over several lines (a quote left open?)", line=line, expected=ROW
                )
            if min_rating is not None:
                frame = _rated(path, frame, col, min_rating=min_rating, skip=skip)
            users.add(frame.iloc[:, 0].str.strip())
            items.add(frame.iloc[:, 1].str.strip())
    except pd.errors.EmptyDataError:
        raise DataError(path, "has a header but no interaction rows", expected=ROW) from None
    except pd.errors.ParserError as exc:
        found = _PANDAS_LINE.search(str(exc))
        if found is None:
            quote = _PANDAS_QUOTE.search(str(exc))
            if quote is None:
                raise DataError(path, "cannot be read as a table", expected=ROW) from None
            opened = int(quote.group(1)) + skip + 1
            raise DataError(path, "a quote is left open until the end of the file", line=opened, expected=ROW) from None
        want, at, saw = found.groups()  # pandas counts the lines it was given
        raise DataError(
            path, f"line has {saw} columns", line=int(at) + skip, expected=f"{want}, as the lines above"
        ) from None
    if width is None:
        raise DataError(path, "has no interaction rows", expected=ROW)
    if len(users) == 0:
        raise DataError(path, f"no interactions left after --min-rating {min_rating}")
    u, user_ids = users.ranked()
    i, item_ids = items.ranked()
    return remap(u, i, None, source=str(path), fmt="interactions", labels=(user_ids, item_ids))


def _rated(path: Path, frame: pd.DataFrame, col: int, *, min_rating: float, skip: int) -> pd.DataFrame:
    if frame.shape[1] <= col:
        raise DataError(path, f"--min-rating needs a rating column (column {col + 1})", line=skip + 1)
    ratings = pd.to_numeric(frame.iloc[:, col], errors="coerce").to_numpy(dtype=float)
    if np.isnan(ratings).any():
        line = int(frame.index[int(np.flatnonzero(np.isnan(ratings))[0])]) + skip + 1
        raise DataError(path, "rating is not a number", line=line, expected=f"a number in column {col + 1}")
    return frame[ratings >= min_rating]
