"""Readers for interaction files: LightGCN format and delimited (csv/tsv/whitespace) tables.

Both return :class:`RawInteractions` with ids remapped to contiguous indices and duplicate
(user, item) pairs dropped. Every problem with a user's file raises :class:`DataError` naming the
file, the line and what was expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bet.data.stream import iter_data
from bet.errors import DataError

LIGHTGCN_LINE = "'user_id item_id item_id ...' with integer ids"
NOT_ID = re.compile(r"[^0-9 \t\n\v\f]")  # what may not appear in a LightGCN file
LONG_ID = re.compile(r"[0-9]{19,}")  # may not fit an int64
NOT_ID_PROBLEM = "column {column} is not a non-negative integer id (ASCII digits only)"
TOO_LARGE_PROBLEM = "id too large in column {column} (more than 18 digits)"
INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class RawInteractions:
    """Deduplicated interactions before splitting.

    ``users``/``items`` are int64 index arrays of equal length; ``is_test`` marks pairs that came
    from the source's own test file (None when the source has no split of its own).
    ``user_labels``/``item_labels`` map an index back to the id in the file. ``format`` says how
    the source was read (:data:`bet.data.detect.FORMATS_READ`).
    """

    users: np.ndarray
    items: np.ndarray
    n_users: int
    n_items: int
    is_test: np.ndarray | None
    user_labels: np.ndarray
    item_labels: np.ndarray
    source: str
    format: str = "lightgcn"  # how the file was read: "lightgcn" or "interactions"


def bad_token(path: Path, chunk: str, *, start: int, pos: int, problem: str, expected: str) -> DataError:
    """The error for the token at offset ``pos`` of ``chunk`` (whose first line is number
    ``start``): ``problem`` with its ``{column}`` filled in, the line named, the token not quoted."""
    line_start = chunk.rfind("\n", 0, pos) + 1
    column = len(chunk[line_start : pos + 1].split())
    return DataError(
        path, problem.format(column=column), line=start + chunk.count("\n", 0, line_start), expected=expected
    )


def parse_lightgcn(path: Path, skip: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``user item item …`` lines into (users, items) int64 arrays (the file's own ids),
    chunk by chunk. Ids are ASCII digits only (no sign, no decimal point, no other script's
    digits) and fit an int64. The first ``skip`` lines (comments) are left out."""
    users: list[np.ndarray] = []
    items: list[np.ndarray] = []
    for start, chunk in iter_data(path, skip):
        bad = NOT_ID.search(chunk)
        if bad is not None:
            raise bad_token(path, chunk, start=start, pos=bad.start(), problem=NOT_ID_PROBLEM, expected=LIGHTGCN_LINE)
        for long in LONG_ID.finditer(chunk):
            if int(long.group()) > INT64_MAX:
                raise bad_token(
                    path, chunk, start=start, pos=long.start(), problem=TOO_LARGE_PROBLEM, expected=LIGHTGCN_LINE
                )
        ids, counts = _ids_and_counts(chunk)
        if (counts == 1).any():
            line = start + int(np.flatnonzero(counts == 1)[0])
            raise DataError(path, "line has 1 column", line=line, expected=f"2 or more: {LIGHTGCN_LINE}")
        counts = counts[counts > 0]
        firsts = np.cumsum(counts) - counts
        if len(ids) and ids.max() < 2**31:
            ids = ids.astype(np.int32)  # half the memory; the labels are int64 again in remap
        users.append(np.repeat(ids[firsts], counts - 1))
        keep = np.ones(len(ids), dtype=bool)
        keep[firsts] = False
        items.append(ids[keep])
        del ids, keep
    if not users or sum(len(u) for u in users) == 0:
        raise DataError(path, "has no interactions", expected=LIGHTGCN_LINE)
    return np.concatenate(users), np.concatenate(items)


def _ids_and_counts(chunk: str) -> tuple[np.ndarray, np.ndarray]:
    """The ids of a checked chunk (ASCII digits and whitespace only, no id past int64) and the
    number of ids on each of its lines, in numpy: no Python string per id, so a line of a
    million ids costs its ids' bytes, not a list of a million strings."""
    raw = np.frombuffer(chunk.encode("ascii"), dtype=np.uint8)
    digit = raw >= ord("0")  # whitespace is below "0"
    starts = digit.copy()
    starts[1:] &= ~digit[:-1]
    token_at = np.flatnonzero(starts)
    del digit, starts
    ends = np.flatnonzero(raw == ord("\n"))
    if len(raw) and raw[-1] != ord("\n"):
        ends = np.append(ends, len(raw))
    counts = np.diff(np.searchsorted(token_at, ends), prepend=0)
    ids = np.fromstring(chunk, dtype=np.int64, sep=" ")  # text mode: any whitespace separates
    if len(ids) != len(token_at):  # cannot happen for a checked chunk; never parse it wrong
        raise AssertionError("LightGCN chunk parsed to a different number of ids")
    return ids, counts


def distinct(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(ids, return_inverse=True)`` with an int32 inverse where it fits, and without
    sorting a copy when the ids are small non-negative integers (ranks, or dense ids as Gowalla's)."""
    small = np.int32 if len(ids) < 2**31 else np.int64
    if ids.dtype.kind in "iu" and len(ids) and ids.min() >= 0 and ids.max() < 4 * len(ids) + 1024:
        present = np.zeros(int(ids.max()) + 1, dtype=bool)
        present[ids] = True
        index = (np.cumsum(present) - 1).astype(small)
        return np.flatnonzero(present), index[ids]
    values, inverse = np.unique(ids, return_inverse=True)
    return values, inverse.astype(small)


def remap(
    users: np.ndarray,
    items: np.ndarray,
    is_test: np.ndarray | None,
    *,
    source: str,
    fmt: str = "lightgcn",
    labels: tuple[np.ndarray, np.ndarray] | None = None,
) -> RawInteractions:
    """Remap ids to contiguous indices (ascending id order) and drop duplicate pairs.

    Where a pair appears in both the source's train and test, the train copy is kept. With
    ``labels``, ``users``/``items`` are already ranks into those sorted label arrays (a delimited
    file's string ids, factorized while streaming). Intermediates are freed as soon as they are
    used: this runs on every interaction of the file at once.
    """
    user_ids, u = distinct(users)
    item_ids, i = distinct(items)
    key = u.astype(np.int64) * len(item_ids)
    del u
    key += i
    del i
    # the first copy of each pair (a train copy before a test copy): by key, then is_test, then position
    order = np.argsort(key, kind="stable") if is_test is None else np.lexsort((is_test, key))
    ordered = key[order]
    first = np.ones(len(order), dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    del ordered
    keep = order[first]
    del order, first
    keep.sort()
    key = key[keep]
    out_users = (key // len(item_ids)).astype(np.int64)
    out_items = (key % len(item_ids)).astype(np.int64)
    del key
    if labels is not None:
        user_ids, item_ids = labels[0][user_ids], labels[1][item_ids]
    else:  # the file's own integer ids, int64 whatever width they were parsed to
        user_ids, item_ids = user_ids.astype(np.int64), item_ids.astype(np.int64)
    return RawInteractions(
        users=out_users,
        items=out_items,
        n_users=len(user_ids),
        n_items=len(item_ids),
        is_test=None if is_test is None else is_test[keep],
        user_labels=user_ids,
        item_labels=item_ids,
        source=source,
        format=fmt,
    )
