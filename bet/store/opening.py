"""Opening a run store without harming what is there.

A store path must name a regular file (or nothing yet): a folder, a device such as ``/dev/null``
or a pipe is refused, and so is a path below a regular file. An existing file is *probed*
read-only before anything is written: it must be a BET Studio store, or an empty SQLite file —
another program's database, or a file that is not SQLite at all, is refused and left exactly as
it was (no table added, no journal mode switched, not even its modification time). Commands that
only read open the store read-only (``mode=ro``, or ``immutable`` where even that fails), so a
read-only file or folder still serves them and nothing is created beside it.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path
from urllib.parse import quote

from bet.errors import ECHO_LIMIT, StoreError
from bet.paths import ensure_dir

SQLITE_MAGIC = b"SQLite format 3\x00"
BET_TABLES = {"meta", "runs", "events", "actions", "tables"}


def shown(path: Path) -> str:
    """A path for a one-line message: a very long one keeps its end."""
    text = str(path)
    return text if len(text) <= 3 * ECHO_LIMIT else "…" + text[-3 * ECHO_LIMIT + 1 :]


def check_path(path: Path) -> bool:
    """Whether a store file exists at ``path``; refuses a path that cannot be one."""
    try:
        mode = path.stat().st_mode  # follows a symbolic link: its target must be a regular file
    except FileNotFoundError:
        if path.is_symlink():
            raise StoreError(f"{path}: a symbolic link to a missing file; give the run store's file itself") from None
        return False
    except NotADirectoryError:
        raise StoreError(f"{path}: the run store's path lies below a regular file, not a folder") from None
    except OSError as exc:  # a name too long, a loop of links, no permission
        raise StoreError(f"{shown(path)}: cannot use it as the run store ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise StoreError(f"{str(path)!r} is a folder; the run store is a file (e.g. {path / 'bet.sqlite'})")
    if not stat.S_ISREG(mode):
        raise StoreError(f"{path} is not a regular file (a device, a pipe or a socket); the run store is a file")
    return True


def make_parent(path: Path) -> None:
    """Create the store's folder (a writer's store may be new)."""
    ensure_dir(path.parent, "the run store's folder", StoreError)


def uri(path: Path, immutable: bool = False) -> str:
    """A read-only SQLite URI for ``path`` (``immutable``: not even a lock or a ``-shm`` file)."""
    return f"file:{quote(str(path.absolute()))}?" + ("immutable=1" if immutable else "mode=ro")


def _locked(path: Path, exc: Exception) -> StoreError:
    return StoreError(f"{path}: the run store is locked by another program ({exc}); try again when it is done")


def _not_a_store(path: Path, why: str) -> StoreError:
    return StoreError(f"{path}: not a usable BET Studio run store ({why}); it was left untouched")


def probe(path: Path, timeout: float) -> tuple[int, bool]:
    """Read an existing store file without writing to it: its schema version (0: an empty file,
    a new store) and whether it must be opened ``immutable`` (a read-only place where even a
    ``mode=ro`` connection cannot open it). Anything that is not a BET Studio store is refused."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StoreError(f"{path}: cannot read the run store ({exc.strerror or exc})") from None
    if not head:
        return 0, False
    if head != SQLITE_MAGIC:
        raise _not_a_store(path, "not an SQLite database")
    error: Exception | None = None
    for immutable in (False, True):
        conn = sqlite3.connect(uri(path, immutable), uri=True, timeout=timeout, isolation_level=None)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not names:
                return 0, immutable
            if not BET_TABLES.issubset(names):
                raise _not_a_store(path, f"an SQLite database of another program: {len(names)} tables, not BET's")
            row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None or not str(row[0]).isdigit():
                raise _not_a_store(path, "its meta table has no schema version")
            return int(row[0]), immutable
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise _locked(path, exc) from None
            error = exc  # e.g. a -shm file it may not create: try immutable
        except sqlite3.DatabaseError as exc:
            raise _not_a_store(path, str(exc)) from None
        finally:
            conn.close()
    raise _not_a_store(path, str(error))


def _open(path: Path, *, timeout: float, read_only: bool, immutable: bool) -> sqlite3.Connection:
    if read_only:
        conn = sqlite3.connect(
            uri(path, immutable), uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        try:
            # Switch to WAL only when it is not already: the switch takes a lock that a store in
            # use by another process may briefly refuse ("disk I/O error" while it checkpoints).
            if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error:
            conn.close()
            raise
    conn.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
    return conn


#: Opening a store another process is writing can meet a transient ``disk I/O error`` (seen once
#: in a dashboard worker started while the server checkpointed): tried again before giving up.
TRANSIENT_TRIES = 5


def connect(path: Path, *, timeout: float, read_only: bool, immutable: bool) -> sqlite3.Connection:
    """A connection: read-only as probed, or a writer's (WAL, normal sync) on a checked file."""
    for attempt in range(TRANSIENT_TRIES):
        try:
            conn = _open(path, timeout=timeout, read_only=read_only, immutable=immutable)
            break
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise _locked(path, exc) from None
            if "disk I/O error" in str(exc) and attempt + 1 < TRANSIENT_TRIES:
                time.sleep(0.05 * 2**attempt)
                continue
            hint = "" if read_only or os.access(path.parent, os.W_OK) else "; its folder is read-only"
            raise StoreError(f"{path}: cannot open the run store ({exc}){hint}") from None
    conn.row_factory = sqlite3.Row
    return conn
