"""Which files a page may name (no streamlit): server paths only inside the folders the operator
allows (``BET_DATA_DIRS``), upload names the filesystem accepts, dataset names as pages show them.

A server path is resolved (symlinks, ``..``) before it is checked, and every way it can be refused
— missing, outside the allowed folders, a symlink inside a folder pointing out — gives the same
message, so the page never tells which paths exist on the server.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

from bet import ConfigError

#: The one message for a server path that is missing or not allowed (which of the two is not said).
NOT_ALLOWED = "no such file or folder inside the folders this server allows (BET_DATA_DIRS)"
#: Why the server-path source is off.
OFF_UNSET = "Server paths are off: set BET_DATA_DIRS to allow server paths (folders separated by ':')."
OFF_MULTI = "Server paths are off while several people use this server: upload the file instead."
#: Bytes an upload's stored name may take (the filesystem allows 255; the model cache adds to it).
NAME_BYTES = 100


def data_dirs() -> list[Path]:
    """``BET_DATA_DIRS`` (``os.pathsep``-separated), each resolved; empty: server paths are off."""
    text = os.environ.get("BET_DATA_DIRS", "")
    out = []
    for part in text.split(os.pathsep):
        if part.strip():
            try:
                out.append(Path(part.strip()).expanduser().resolve())
            except (OSError, RuntimeError, ValueError):
                continue
    return out


def _inside(path: Path, dirs: list[Path]) -> bool:
    return any(path == d or path.is_relative_to(d) for d in dirs)


def server_path(text: str, dirs: list[Path] | None = None) -> Path:
    """The resolved file or folder ``text`` names, when it lies inside an allowed folder (a
    relative path is taken inside the first one); a folder's entries must resolve inside too.
    Raises :class:`~bet.errors.ConfigError` with :data:`NOT_ALLOWED` otherwise."""
    dirs = data_dirs() if dirs is None else dirs
    if not dirs:
        raise ConfigError(OFF_UNSET)
    try:
        if "\x00" in text:
            raise ValueError("NUL")
        raw = Path(text).expanduser() if text.startswith("~") else Path(text)
        path = (raw if raw.is_absolute() else dirs[0] / raw).resolve()
        ok = _inside(path, dirs) and (path.is_file() or path.is_dir())
        if ok and path.is_dir():
            ok = all(_inside(child.resolve(), dirs) for child in path.iterdir())
    except (OSError, RuntimeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(NOT_ALLOWED)
    return path


def upload_name(name: str) -> str:
    """A name the filesystem stores safely for an uploaded file called ``name``: its last path
    component, letters (any script), digits and ``._-`` kept, anything else (spaces, NUL, control
    characters, markdown or HTML signs) as ``_``, no leading dots, the stem cut so the whole stays
    under :data:`NAME_BYTES` bytes (the suffix kept); ``upload.txt`` when nothing is left."""
    base = unicodedata.normalize("NFC", re.split(r"[/\\]", name or "")[-1])
    safe = re.sub(r"[^\w.-]+", "_", base).strip("._-")
    safe = re.sub(r"\.{2,}", ".", safe)
    if not safe:
        return "upload.txt"
    stem, dot, suffix = safe.partition(".")
    suffix = suffix[-20:].lstrip(".")
    dot = dot if suffix else ""
    room = NAME_BYTES - len((dot + suffix).encode())
    stem = stem.encode()[:room].decode(errors="ignore") or "upload"
    return stem + dot + suffix


def shown_name(dataset: str) -> str:
    """A dataset as pages show it: a built-in's name, a file's or folder's name (never the
    folders above it, which say where the server keeps its files)."""
    text = str(dataset)
    return Path(text).name if ("/" in text or "\\" in text) else text


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+!|~$])")


def md(text: object) -> str:
    """``text`` escaped for st.markdown (and captions, subheaders): shown as written, never as a
    link, an image (a request to another host), a formula or HTML."""
    return _MARKDOWN.sub(r"\\\1", str(text))
