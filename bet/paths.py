"""Where BET Studio keeps things: the bundled assets and the per-user home ``$BET_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

from bet.errors import BetError, ConfigError

#: Folder with the bundled datasets (``assets/`` at the top of the repository).
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def ensure_dir(path: Path, what: str, error: type[BetError] = ConfigError) -> Path:
    """Create the folder ``path`` (and its parents); a path below a regular file, a file in its
    place or a folder we may not write is ``error`` naming ``what`` and the path, never an
    ``OSError`` traceback."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise error(f"{what} {path} is a file, not a folder") from None
    except NotADirectoryError:
        raise error(f"{what} {path} lies below a regular file, not a folder") from None
    except OSError as exc:
        raise error(f"{what} {path} cannot be created ({exc.strerror or exc})") from None
    return path


def bet_home(create: bool = True) -> Path:
    """``$BET_HOME`` (default ``~/.bet``): model cache and the run store. Created on demand
    (``create=False``: only named, for a reader that must create nothing)."""
    home = Path(os.environ.get("BET_HOME") or Path.home() / ".bet").expanduser()
    return ensure_dir(home, "BET_HOME") if create else home


def cache_dir(kind: str) -> Path:
    """A sub-folder of ``$BET_HOME`` for one kind of cached artefact (e.g. ``models``)."""
    return ensure_dir(bet_home() / kind, f"the {kind} cache folder")
