"""Bounded reading of a user's data file: regular files only, gzip decompressed in a stream, and
caps on the bytes read and the bytes decompressed.

A data file is read in pieces and parsed as it streams, but an unbounded read is a way to take down
a shared server: ``/dev/zero`` or a FIFO typed as a path, or a gzip bomb (a few hundred KB that
inflate to gigabytes). The caps default far above the bundled datasets (the largest, Yelp2018's
``train.txt.gz``, is 2.9 MB and 6.6 MB decompressed) and are raised with environment variables:

* ``BET_MAX_FILE_MB`` (default :data:`DEFAULT_FILE_MB`): the size of the file on disk;
* ``BET_MAX_DECOMPRESSED_MB`` (default :data:`DEFAULT_DECOMPRESSED_MB`): a gzip file's content.
"""

from __future__ import annotations

import gzip
import os
import stat
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from bet.errors import ConfigError, DataError

DEFAULT_FILE_MB = 1024
DEFAULT_DECOMPRESSED_MB = 1024
FILE_VAR = "BET_MAX_FILE_MB"
DECOMPRESSED_VAR = "BET_MAX_DECOMPRESSED_MB"
CHUNK = 1 << 20
MB = 1 << 20


def cap_mb(var: str, default: int) -> float:
    """The cap in MB set by environment variable ``var`` (a positive number), else ``default``."""
    text = os.environ.get(var, "").strip()
    if not text:
        return float(default)
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{var} must be a positive number of MB, got {text[:40]!r}")
    return value


def _too_big(path: Path, what: str, *, var: str, limit: float) -> DataError:
    return DataError(
        path, f"{what} more than the {limit:g} MB limit on data files (set {var}=N in the environment to raise it)"
    )


def open_regular(path: Path) -> int:
    """Open ``path`` for reading and return the descriptor, refusing anything but a regular file.

    Opened non-blocking and checked on the open descriptor, so a FIFO never blocks and a symlink
    to ``/dev/zero`` is caught too.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except IsADirectoryError:
        raise DataError(path, "is a folder", expected="a file") from None
    except FileNotFoundError:
        raise DataError(path, "no such file or folder") from None
    except OSError as exc:
        raise DataError(path, f"cannot be read: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if stat.S_ISREG(mode):
        os.set_blocking(fd, True)
        return fd
    os.close(fd)
    if stat.S_ISDIR(mode):
        raise DataError(path, "is a folder", expected="a file")
    kind = "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a pipe or socket"
    raise DataError(path, f"is {kind}, not a regular file", expected="a data file")


def read_bounded(path: Path) -> bytearray:
    """The content of ``path`` (a gzip file decompressed, detected by its magic bytes), or a
    :class:`DataError` past the caps, before reading or inflating more than one chunk too many."""
    out = bytearray()
    for chunk in iter_bytes(path):
        out += chunk
    return out


def iter_bytes(path: Path, chunk: int = CHUNK) -> Iterator[bytes]:
    """The content of ``path`` in pieces of about ``chunk`` bytes (a gzip file inflated as a
    stream), so a reader holds one piece at a time; a :class:`DataError` past the caps, before
    reading or inflating more than one piece too many."""
    max_file = cap_mb(FILE_VAR, DEFAULT_FILE_MB)
    max_text = cap_mb(DECOMPRESSED_VAR, DEFAULT_DECOMPRESSED_MB)
    fd = open_regular(path)
    with os.fdopen(fd, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > max_file * MB:
            raise _too_big(path, f"is {size / MB:,.0f} MB,", var=FILE_VAR, limit=max_file)
        try:
            magic = fh.read(2)
            fh.seek(0)
            if magic == b"\x1f\x8b":
                yield from _inflate(path, fh, max_text=max_text, chunk=chunk)
                return
            total = 0
            while piece := fh.read(chunk):
                total += len(piece)
                if total > max_file * MB:  # the file may have grown since fstat
                    raise _too_big(path, "is", var=FILE_VAR, limit=max_file)
                yield piece
        except OSError as exc:
            raise DataError(path, f"cannot be read: {exc.strerror or exc}") from None


def _inflate(path: Path, fh: BinaryIO, *, max_text: float, chunk: int) -> Iterator[bytes]:
    limit = int(max_text * MB)
    total = 0
    try:
        with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
            while piece := gz.read(chunk):
                total += len(piece)
                if total > limit:
                    raise _too_big(path, "decompresses to", var=DECOMPRESSED_VAR, limit=max_text)
                yield piece
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(path, f"is not a readable gzip file ({exc})") from None
