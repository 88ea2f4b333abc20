"""Files the command line writes where the user says (``--out``, ``reproduce --table``): never over
a file BET depends on, and never half-written.

:func:`write_output` writes through a temporary file in the target's folder and renames it over the
target (``os.replace``), so a crash or a full disk leaves the old file, or none, never a partial one.
Before that, :func:`check_output` refuses a target that is — by path, through a symlink, or as a
hard link to the same file — one BET needs (:func:`protected`):

* the run store (``--store`` or ``$BET_HOME/bet.sqlite``) and its ``-wal``, ``-shm`` and
  ``-journal`` files;
* what BET keeps under ``$BET_HOME``: any file in its model cache, uploads, timings (and
  datasets) folders, and any ``*.sqlite*`` file directly in it (another store);
* the dataset of the command (a file, or the files of a dataset folder), the bundled ``assets/``,
  and the datasets the stored runs were built on (a run's ``--resume`` needs them unchanged).

Each refusal is one line naming the path and why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from bet.errors import ConfigError, shorten
from bet.paths import ASSETS_DIR, bet_home

#: Files of a SQLite database besides the main one.
SQLITE_SIDECARS = ("-wal", "-shm", "-journal")

#: The folders BET keeps under ``$BET_HOME`` (``bet.paths.cache_dir`` kinds, the dashboard's uploads).
HOME_FOLDERS = ("models", "timings", "uploads", "datasets")

#: Where only devices and kernel views live: never a file to replace.
SYSTEM_FOLDERS = (Path("/dev"), Path("/proc"), Path("/sys"))

#: What the running command protects besides its defaults (set by :func:`protect_for`).
_context: dict[str, object] = {}


def protect_for(args: argparse.Namespace) -> None:
    """Remember the command's store and dataset: :func:`check_output` protects them."""
    _context.clear()
    _context.update(store=getattr(args, "store", None), dataset=getattr(args, "dataset", None))


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare as given
        return path.absolute()


def _store_path() -> Path:
    store = _context.get("store")
    return Path(store) if isinstance(store, (str, Path)) else bet_home(create=False) / "bet.sqlite"


def _dataset_files(name: object) -> Iterator[Path]:
    """A dataset argument's files: the file itself, or the files directly in a dataset folder."""
    if not isinstance(name, (str, Path)) or not str(name):
        return
    path = Path(name).expanduser()
    try:
        if path.is_dir():
            yield from (p for p in path.iterdir() if p.is_file())
        elif path.exists():
            yield path
    except OSError:
        return


def _stored_datasets(store: Path) -> Iterator[object]:
    """The dataset paths of the runs in ``store``, read without changing it (nothing if it is
    absent, not a BET store or unreadable)."""
    if not store.is_file():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM runs").fetchall()
    except (sqlite3.Error, OSError, ValueError):
        return
    for row in rows:
        keys = row.keys()
        yield from (row[k] for k in ("dataset", "data_path") if k in keys)
        try:
            data = json.loads(row["config"]).get("data") or {} if "config" in keys else {}
        except (TypeError, ValueError, AttributeError):
            continue
        if isinstance(data, dict):
            yield data.get("dataset")


def protected() -> Iterator[tuple[Path, str]]:
    """Every file the running command must not write over, with why (see the module docstring)."""
    store = _store_path()
    yield store, "the run store"
    for suffix in SQLITE_SIDECARS:
        yield Path(f"{store}{suffix}"), "a file of the run store"
    for path in _dataset_files(_context.get("dataset")):
        yield path, "the dataset"
    for name in dict.fromkeys(_stored_datasets(store)):
        for path in _dataset_files(name):
            yield path, "the dataset of a stored run"


def _same_file(a: Path, b: Path) -> bool:
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)  # a hard link, or a path through a bind mount
    except OSError:  # one of them does not exist
        return False


def check_output(path: Path, option: str = "--out") -> None:
    """Refuse (:class:`ConfigError`) a target BET depends on; see the module docstring."""
    shown = shorten(str(path), quote=False)
    target = _resolved(path)
    for keep, why in protected():
        if _same_file(path, keep):
            raise ConfigError(
                f"{option} {shown} is {why} ({shorten(str(keep), quote=False)}); "
                "writing it would destroy it: give another file name"
            )
    home = _resolved(bet_home(create=False))
    kept = any(target.is_relative_to(home / kind) for kind in HOME_FOLDERS)
    if kept or (target.parent == home and ".sqlite" in target.name):
        raise ConfigError(
            f"{option} {shown} is inside BET_HOME ({home}), where BET keeps its stores and caches; write it elsewhere"
        )
    if target.is_relative_to(_resolved(ASSETS_DIR)):
        raise ConfigError(f"{option} {shown} is inside the bundled datasets folder; write it elsewhere")


def _named(path: Path, real: Path) -> bool:
    """Whether what ``path`` opens is the file at ``real`` (or neither exists): not so for a link
    through ``/proc/self/fd`` to an open, deleted or unnamed file, whose resolved name is made up."""
    try:
        opened = os.stat(path)
    except OSError:
        return True
    try:
        return os.path.samestat(opened, os.stat(real))
    except OSError:
        return False


def write_output(path: Path, write: Callable[[BinaryIO], None], option: str = "--out") -> int:
    """Write a file at exactly ``path`` (``write`` gets a binary handle) through a temporary file
    in the same folder, so a failed write leaves no partial file; returns its size in bytes.

    A symlink's target is written (as ``open(path, "w")`` would), not the link replaced. Refuses
    a file BET depends on (:func:`check_output`), a folder or anything but a regular file (a
    device, a FIFO, anything under /dev, /proc or /sys), and turns any OS error (no permission, a
    full disk) into a one-line :class:`ConfigError`.
    """
    shown = shorten(str(path), quote=False)
    real = Path(os.path.realpath(path))  # through a symlink: its target is replaced, never the link
    try:
        mode = real.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        mode = None
    except OSError as exc:
        raise ConfigError(f"cannot write {option} {shown}: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ConfigError(f"{option} {shown} is a folder; give a file name inside it")
    system = any(real.is_relative_to(top) for top in SYSTEM_FOLDERS)  # /dev/stdout -> /proc/self/fd/1
    if system or (mode is not None and not stat.S_ISREG(mode)) or not _named(path, real):
        raise ConfigError(f"{option} {shown} is not a regular file (a device or a pipe); give a file name")
    check_output(path, option)
    tmp = None
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=real.parent, prefix=f".{real.name[:100]}.", suffix=".part")
        with os.fdopen(fd, "wb") as fh:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fh.fileno(), 0o666 & ~umask)  # as a plain open() would create it, not mkstemp's 0600
            write(fh)
            size = fh.tell()
            fh.flush()
            os.fsync(fh.fileno())  # on disk before it replaces the old file
        os.replace(tmp, real)
        tmp = None
    except OSError as exc:
        raise ConfigError(f"cannot write {option} {shown}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return size


def bytes_writer(data: bytes) -> Callable[[BinaryIO], None]:
    """A ``write`` for :func:`write_output` that writes ``data``."""

    def write(fh: BinaryIO) -> None:
        fh.write(data)

    return write
