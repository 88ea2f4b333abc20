"""Readers for interaction files: LightGCN format and delimited (csv/tsv/whitespace) tables.

Both return :class:`RawInteractions` with ids remapped to contiguous indices and duplicate
(user, item) pairs dropped. Every problem with a user's file raises :class:`DataError` naming the
file, the line and what was expected.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bet.data.limits import read_bounded
from bet.errors import DataError, shorten

LIGHTGCN_LINE = "'user_id item_id item_id ...' with integer ids"
HEADER_WORDS = {
    "user", "users", "user_id", "userid", "uid", "item", "items", "item_id", "itemid", "iid",
    "movie", "movieid", "movie_id", "business_id", "rating", "ratings", "timestamp", "time", "score",
}  # fmt: skip


@dataclass(frozen=True)
class RawInteractions:
    """Deduplicated interactions before splitting.

    ``users``/``items`` are int64 index arrays of equal length; ``is_test`` marks pairs that came
    from the source's own test file (None when the source has no split of its own).
    ``user_labels``/``item_labels`` map an index back to the id in the file.
    """

    users: np.ndarray
    items: np.ndarray
    n_users: int
    n_items: int
    is_test: np.ndarray | None
    user_labels: np.ndarray
    item_labels: np.ndarray
    source: str


def read_text(path: Path) -> str:
    """Read a plain or gzip-compressed text file (detected by its magic bytes, not its name).

    Regular files only, within the size caps of :mod:`bet.data.limits`.
    """
    raw = read_bounded(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(path, f"is not UTF-8 text (byte {exc.start})") from None
    del raw
    if not text.strip():
        raise DataError(path, "is empty", expected="one interaction record per line")
    if "\x00" in text[:20000]:
        raise DataError(path, "holds NUL bytes: a binary file, not text", expected="one interaction record per line")
    return text


def parse_lightgcn(path: Path, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``user item item …`` lines into (users, items) int64 arrays (file's own ids)."""
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise DataError(path, f"only one column ({shorten(fields[0])})", lineno, LIGHTGCN_LINE)
        try:
            ids = np.array(fields, dtype=np.int64)
        except ValueError:
            bad = next(f for f in fields if not f.lstrip("-").isdigit())
            what = "user id" if bad == fields[0] else "item id"
            raise DataError(path, f"{what} {shorten(bad)} is not an integer", lineno, LIGHTGCN_LINE) from None
        except OverflowError:
            raise DataError(path, "id too large (more than 18 digits)", lineno, LIGHTGCN_LINE) from None
        if (ids < 0).any():
            raise DataError(path, "negative id", lineno, LIGHTGCN_LINE)
        users.append(np.full(len(ids) - 1, ids[0], dtype=np.int64))
        items.append(ids[1:])
    if not users:
        raise DataError(path, "has no interactions", expected=LIGHTGCN_LINE)
    return np.concatenate(users), np.concatenate(items)


def sniff_delimiter(text: str) -> str:
    head = text[:20000]
    if "\t" in head:
        return "\t"
    if "," in head:
        return ","
    if ";" in head:
        return ";"
    return r"\s+"


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    if any(f.strip().strip('"').lower() in HEADER_WORDS for f in first):
        return True

    def numeric(fields: list[str]) -> bool:
        return all(f.strip().lstrip("-").replace(".", "", 1).isdigit() for f in fields[:2])

    return second is not None and numeric(second) and not numeric(first)


def parse_delimited(path: Path, text: str, min_rating: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Parse a delimited table whose first two columns are user and item ids (any strings).

    A header is detected from its words (``user``, ``item``, ``rating``…) or from a non-numeric
    first row above numeric rows. ``min_rating`` keeps rows whose third column (or the column named
    ``rating``) is at least that value. Returns the ids as string arrays.
    """
    sep = sniff_delimiter(text)
    lines = [ln for ln in text.splitlines()[:2] if ln.strip()]
    split = (lambda s: s.split()) if sep == r"\s+" else (lambda s: s.split(sep))
    header = _looks_like_header(split(lines[0]), split(lines[1]) if len(lines) > 1 else None)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=sep, header=None, dtype=str, keep_default_na=False,
            skip_blank_lines=False, engine="c" if sep != r"\s+" else "python",
            skiprows=1 if header else 0, on_bad_lines="error",
        )  # fmt: skip
    except pd.errors.EmptyDataError:
        raise DataError(
            path, "has a header but no interaction rows", expected="'user<sep>item[<sep>rating…]'"
        ) from None
    except pd.errors.ParserError as exc:
        raise DataError(path, f"inconsistent columns: {shorten(str(exc).strip(), quote=False)}") from None
    names = split(lines[0]) if header else []
    offset = 2 if header else 1  # frame row r is file line r + offset
    frame = frame[~(frame == "").all(axis=1)]
    if frame.empty:
        raise DataError(path, "has no interaction rows", expected="'user<sep>item[<sep>rating…]'")
    if frame.shape[1] < 2 or (frame.iloc[:, 1] == "").any():
        row = 0 if frame.shape[1] < 2 else int(np.flatnonzero(frame.iloc[:, 1] == "")[0])
        line = int(frame.index[row]) + offset
        raise DataError(path, "row has only one column", line, "at least two columns: user id, item id")
    users = frame.iloc[:, 0].str.strip().to_numpy()
    items = frame.iloc[:, 1].str.strip().to_numpy()
    if min_rating is not None:
        lowered = [n.strip().strip('"').lower() for n in names]
        col = lowered.index("rating") if "rating" in lowered else 2
        if frame.shape[1] <= col:
            raise DataError(path, f"--min-rating needs a rating column (column {col + 1})", offset)
        ratings = pd.to_numeric(frame.iloc[:, col], errors="coerce").to_numpy()
        if np.isnan(ratings).any():
            line = int(frame.index[int(np.flatnonzero(np.isnan(ratings))[0])]) + offset
            raise DataError(path, "rating is not a number", line, f"a number in column {col + 1}")
        keep = ratings >= min_rating
        users, items = users[keep], items[keep]
        if len(users) == 0:
            raise DataError(path, f"no interactions left after --min-rating {min_rating}")
    return users, items


def remap(users: np.ndarray, items: np.ndarray, is_test: np.ndarray | None, source: str) -> RawInteractions:
    """Remap ids to contiguous indices (ascending id order) and drop duplicate pairs.

    Where a pair appears in both the source's train and test, the train copy is kept.
    """
    user_labels, u = np.unique(users, return_inverse=True)
    item_labels, i = np.unique(items, return_inverse=True)
    key = u.astype(np.int64) * len(item_labels) + i
    order = np.lexsort((is_test,)) if is_test is not None else np.arange(len(key))
    _, first = np.unique(key[order], return_index=True)
    keep = np.sort(order[first])
    return RawInteractions(
        users=u[keep].astype(np.int64),
        items=i[keep].astype(np.int64),
        n_users=len(user_labels),
        n_items=len(item_labels),
        is_test=None if is_test is None else is_test[keep],
        user_labels=user_labels,
        item_labels=item_labels,
        source=source,
    )
