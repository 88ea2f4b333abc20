"""Where BET Studio keeps things: the bundled assets and the per-user home ``$BET_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

#: Folder with the bundled datasets (``assets/`` at the top of the repository).
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def bet_home() -> Path:
    """``$BET_HOME`` (default ``~/.bet``): model cache and the run store. Created on demand."""
    home = Path(os.environ.get("BET_HOME") or Path.home() / ".bet").expanduser()
    home.mkdir(parents=True, exist_ok=True)
    return home


def cache_dir(kind: str) -> Path:
    """A sub-folder of ``$BET_HOME`` for one kind of cached artefact (e.g. ``models``)."""
    path = bet_home() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path
