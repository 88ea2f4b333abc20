"""Which format a single data file is in, decided from lines sampled across the whole file.

A LightGCN file holds one line per user, ``user item item …``, so its lines differ in length and
no user starts two lines; an interaction log holds one interaction per line, ``user item
[rating [timestamp …]]``, so its lines have one length and users come back. The first lines
alone can mislead (a log sorted by time may open with a thousand different users, a cut line
looks shorter), so :func:`sample_lines` takes the first lines *and* windows spread over the
file (a plain file; a gzip file, which cannot be sought, gives its first MB only), and
:func:`detect_format` applies these rules, first match wins:

1. a tab, comma or semicolon in the sample → ``interactions`` (a delimited table), except a
   tab-separated LightGCN file: integer ids only, lines of different lengths (rule 2) and each
   of two or more ids, no user on two lines;
2. no line length shared by 90 % of the sampled lines → ``lightgcn`` (lines of different lengths);
3. a header (a first line with a token that is not an ASCII integer above integer lines), or such
   tokens on most lines (string ids, decimal ratings) → ``interactions`` (LightGCN holds integer
   ids only; a few odd tokens among integers are mistakes, which the LightGCN reader names);
4. a user that starts two sampled lines → ``interactions``;
5. two columns → ``lightgcn`` (both readings give the same pairs; LightGCN keeps integer ids);
6. three or more columns, each line a new user: ``interactions`` when the third column looks
   like a rating (every value 0–10 while item ids go above 10), else ``lightgcn``.

The chosen format is kept on the data (``Dataset.format``) and shown by ``bet info``;
``--format lightgcn|interactions`` overrides the rules.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from bet.data.limits import open_regular
from bet.data.stream import head_lines

FORMATS_READ = ("lightgcn", "interactions")
DELIMITERS = ("\t", ",", ";")
WHITESPACE = r"\s+"
HEAD_BYTES = 256 << 10
WINDOWS = 16
WINDOW_BYTES = 32 << 10
MOSTLY = 0.9
RATING_MAX = 10


def sample_lines(path: Path) -> tuple[list[tuple[int, str]], list[str]]:
    """The first non-blank lines (numbered) and whole lines from windows spread over the rest."""
    head = head_lines(path, HEAD_BYTES)
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        if size <= HEAD_BYTES or os.pread(fd, 2, 0) == b"\x1f\x8b":
            return head, []
        rest: list[str] = []
        step = (size - HEAD_BYTES) // WINDOWS
        for k in range(WINDOWS):
            raw = os.pread(fd, min(WINDOW_BYTES, step), HEAD_BYTES + k * step)  # never overlapping
            lines = raw.decode("utf-8", "replace").replace("\r", "\n").split("\n")[1:-1]  # whole lines only
            rest += [ln for ln in lines if ln.strip()]
        return head, rest
    finally:
        os.close(fd)


def sniff_delimiter(lines: list[str]) -> str:
    """Tab, else comma, else semicolon, if any sampled line holds one; else whitespace."""
    for sep in DELIMITERS:
        if any(sep in ln for ln in lines):
            return sep
    return WHITESPACE


def _integer(token: str) -> bool:
    return token.isascii() and token.isdigit()


def detect_format(lines: list[str]) -> str:
    """``lightgcn`` or ``interactions`` for the sampled non-blank ``lines`` (rules above)."""
    if not lines:
        return "interactions"
    sep = sniff_delimiter(lines)
    rows = [ln.split() for ln in lines]
    width, count = Counter(len(r) for r in rows).most_common(1)[0]
    varying = count < MOSTLY * len(rows)
    odd = [not all(map(_integer, r)) for r in rows]  # lines holding a token that is not an integer id
    integers = not any(odd)
    header = odd[0] and not any(odd[1:])
    repeats = len({r[0] for r in rows}) < len(rows)
    if sep != WHITESPACE:
        tab_lightgcn = sep == "\t" and varying and integers and not repeats and min(map(len, rows)) >= 2
        return "lightgcn" if tab_lightgcn else "interactions"
    if varying:
        return "lightgcn"
    if header or sum(odd) > len(odd) / 2 or repeats:
        return "interactions"
    if width < 3:
        return "lightgcn"
    whole = [r for r, bad in zip(rows, odd, strict=True) if len(r) >= 3 and not bad]
    if not whole:
        return "lightgcn"
    rated = max(int(r[2]) for r in whole) <= RATING_MAX < max(int(r[1]) for r in whole)
    return "interactions" if rated else "lightgcn"
