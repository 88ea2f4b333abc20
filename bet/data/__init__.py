"""Datasets: built-ins and user files, split into train / valid / test.

>>> data = load_dataset("gowalla-mini")          # doctest: +SKIP
>>> data.train.shape, data.user_freq[:3]         # doctest: +SKIP
"""

from __future__ import annotations

from numbers import Integral
from pathlib import Path

import numpy as np

from bet.data.builtin import BUILTIN, MINI_RULE, load_builtin
from bet.data.dataset import SPLIT_RULES, Dataset, build_dataset, check_evaluable
from bet.data.delimited import parse_delimited
from bet.data.detect import detect_format, sample_lines, sniff_delimiter
from bet.data.readers import RawInteractions, parse_lightgcn, remap
from bet.data.stream import data_lines
from bet.errors import ConfigError, DataError, shorten

FORMATS = ("auto", "lightgcn", "interactions")
__all__ = ["BUILTIN", "FORMATS", "MINI_RULE", "SPLIT_RULES", "Dataset", "check_evaluable", "load_dataset", "load_raw"]
MAX_SEED = 2**32 - 1
_last: tuple[tuple[object, ...], Dataset] | None = None  # the last dataset loaded, see load_dataset


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.txt", f"{stem}.txt.gz"):
        if (folder / name).exists():
            return folder / name
    raise DataError(folder, f"has no {stem}.txt or {stem}.txt.gz", expected="a folder holding train.txt and test.txt")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the filesystem, a NUL in it
        raise DataError(path, "is not a usable path") from None


def _identity(key: str) -> tuple[object, ...]:
    """What decides a source's content: its name for a built-in, else the file's (or the
    folder's files') size and modification time."""
    if key in BUILTIN:
        return (key,)
    path = Path(key).expanduser()
    try:
        files = [path] if not path.is_dir() else sorted(path.iterdir())
        return tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    except (OSError, ValueError):
        return (key, None)


def load_raw(path: str | Path, fmt: str = "auto", min_rating: float | None = None) -> RawInteractions:
    """Read a user's dataset: a LightGCN folder/file or a delimited interactions file (the format
    of a single file detected by :func:`bet.data.detect.detect_format` unless ``fmt`` names it)."""
    path = Path(path).expanduser()
    if fmt not in FORMATS:
        raise DataError(path, f"unknown format {fmt!r}", expected=" or ".join(FORMATS))
    if not _exists(path):
        raise DataError(
            path, "no such file or folder", expected="a built-in name (" + ", ".join(BUILTIN) + ") or a path"
        )
    if path.is_dir():
        if fmt == "interactions":
            raise DataError(path, "is a folder", expected="an interactions file (a folder holds LightGCN files)")
        if min_rating is not None:
            raise DataError(path, "--min-rating needs a rating column; this is a folder of LightGCN-format files")
        parts = []
        for stem in ("train", "test"):
            f = _find(path, stem)
            u, i = parse_lightgcn(f)
            parts.append((u, i, np.full(len(u), stem == "test")))
        users, items, is_test = (np.concatenate(x) for x in zip(*parts, strict=True))
        del parts
        return remap(users, items, is_test, source=str(path))
    head, rest = sample_lines(path)
    head = data_lines(head)
    if not head:
        raise DataError(path, "holds only comment lines ('#' first)", expected="one interaction record per line")
    lines = [ln for _, ln in head] + rest
    kind = detect_format(lines) if fmt == "auto" else fmt
    if kind == "lightgcn":
        if min_rating is not None:
            raise DataError(
                path,
                "--min-rating needs a rating column; this file reads as LightGCN format",
                expected="an interactions file (--format interactions if it is one)",
            )
        u, i = parse_lightgcn(path, skip=head[0][0] - 1)
        return remap(u, i, None, source=str(path))
    return parse_delimited(path, sniff_delimiter(lines), head, min_rating=min_rating)


def load_dataset(
    name_or_path: str | Path,
    split: str = "paper",
    *,
    seed: int = 42,
    fmt: str = "auto",
    min_rating: float | None = None,
) -> Dataset:
    """Load a built-in dataset by name, or a user's file or folder, and split it.

    Raises :class:`~bet.errors.DataError` with a specific message for any bad input. The last
    dataset loaded is kept, so the same one asked twice in a row (the CLI checks a file before a
    run, then the run loads it) is read once; a file that changed in between is read again.
    """
    global _last
    if not (isinstance(seed, Integral) and 0 <= seed <= MAX_SEED):
        raise ConfigError(f"--split-seed must be an integer in [0, {MAX_SEED}], got {shorten(seed, quote=False)}")
    key = str(name_or_path)
    memo = (key, split, seed, fmt, min_rating, _identity(key))
    if _last is not None and _last[0] == memo:
        return _last[1]
    if key in BUILTIN:
        raw = load_builtin(key)
        name = key
    else:
        raw = load_raw(key, fmt, min_rating)
        name = Path(key).name
    if len(raw.users) == 0:
        raise DataError(raw.source, "no interactions left")
    data = build_dataset(raw, name, split, seed=seed)
    _last = (memo, data)
    return data
