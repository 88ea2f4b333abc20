"""Datasets: built-ins and user files, split into train / valid / test.

>>> data = load_dataset("gowalla-mini")          # doctest: +SKIP
>>> data.train.shape, data.user_freq[:3]         # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bet.data.builtin import BUILTIN, MINI_RULE, load_builtin
from bet.data.dataset import SPLITS, Dataset, build_dataset
from bet.data.readers import RawInteractions, parse_delimited, parse_lightgcn, read_text, remap
from bet.errors import DataError

FORMATS = ("auto", "lightgcn", "interactions")
__all__ = ["BUILTIN", "FORMATS", "MINI_RULE", "SPLITS", "Dataset", "load_dataset", "load_raw"]


def _find(folder: Path, stem: str) -> Path:
    for name in (f"{stem}.txt", f"{stem}.txt.gz"):
        if (folder / name).exists():
            return folder / name
    raise DataError(folder, f"has no {stem}.txt or {stem}.txt.gz", expected="a folder holding train.txt and test.txt")


def detect_format(text: str) -> str:
    """``lightgcn`` or ``interactions`` for a single file (see README, "Your own data")."""
    head = text[:20000]
    if "\t" in head or "," in head or ";" in head:
        return "interactions"
    rows = [ln.split() for ln in head.splitlines()[:1000] if ln.strip()]
    if len({len(r) for r in rows}) > 1:
        return "lightgcn"  # one line per user, lines of different lengths
    firsts = [r[0] for r in rows]
    if not firsts[0].isdigit() and all(f.isdigit() for f in firsts[1:2]):
        return "interactions"  # a header line
    return "interactions" if len(set(firsts)) < len(firsts) else "lightgcn"


def load_raw(path: str | Path, fmt: str = "auto", min_rating: float | None = None) -> RawInteractions:
    """Read a user's dataset: a LightGCN folder/file or a delimited interactions file."""
    path = Path(path).expanduser()
    if fmt not in FORMATS:
        raise DataError(path, f"unknown format {fmt!r}", expected=" or ".join(FORMATS))
    if not path.exists():
        raise DataError(
            path, "no such file or folder", expected="a built-in name (" + ", ".join(BUILTIN) + ") or a path"
        )
    if path.is_dir():
        parts = []
        for stem in ("train", "test"):
            f = _find(path, stem)
            u, i = parse_lightgcn(f, read_text(f))
            parts.append((u, i, np.full(len(u), stem == "test")))
        users, items, is_test = (np.concatenate(x) for x in zip(*parts, strict=True))
        return remap(users, items, is_test, source=str(path))
    text = read_text(path)
    kind = detect_format(text) if fmt == "auto" else fmt
    if kind == "lightgcn":
        if min_rating is not None:
            raise DataError(path, "--min-rating needs a rating column; this is a LightGCN-format file")
        u, i = parse_lightgcn(path, text)
        return remap(u, i, None, source=str(path))
    us, its = parse_delimited(path, text, min_rating)
    return remap(us, its, None, source=str(path))


def load_dataset(
    name_or_path: str | Path,
    split: str = "paper",
    seed: int = 42,
    fmt: str = "auto",
    min_rating: float | None = None,
) -> Dataset:
    """Load a built-in dataset by name, or a user's file or folder, and split it.

    Raises :class:`~bet.errors.DataError` with a specific message for any bad input.
    """
    key = str(name_or_path)
    if key in BUILTIN:
        raw = load_builtin(key)
        name = key
    else:
        raw = load_raw(key, fmt, min_rating)
        name = Path(key).name
    if len(raw.users) == 0:
        raise DataError(raw.source, "no interactions left")
    return build_dataset(raw, name, split, seed)
