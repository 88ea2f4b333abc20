"""Uploaded files, saved where a run's config can find them again: ``$BET_HOME/uploads``."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from bet import bet_home
from dashboard.paths import upload_name


def uploads_dir() -> Path:
    path = bet_home() / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_upload(name: str, data: bytes) -> Path:
    """Keep an uploaded file under ``$BET_HOME/uploads/<content hash>/<its name>``: re-uploading
    the same file reuses it, a stored run's config still points at it later, and the dataset (so
    every run on it) is named after the file the user uploaded. A different file under a name
    already taken gets ``name-2`` (``u-2.data``), so two uploads never share a name. The name is
    stored as :func:`dashboard.paths.upload_name` makes it safe (any name: long, ``../``, NUL)."""
    safe = upload_name(name)
    folder = uploads_dir() / hashlib.sha256(data).hexdigest()[:12]
    taken = {p.name for p in uploads_dir().glob("*/*") if p.parent != folder}
    stem, dot, suffix = safe.partition(".")
    final, k = safe, 2
    while final in taken:
        final, k = f"{stem}-{k}{dot}{suffix}", k + 1
    path = folder / final
    if not path.exists():
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{final}.{secrets.token_hex(4)}.part"  # one per writer: two sessions may race
        tmp.write_bytes(data)
        tmp.replace(path)
    return path
