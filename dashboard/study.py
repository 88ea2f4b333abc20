"""Recorded studies (no streamlit): the read-only stores shipped under ``assets/studies/`` (built by
``bench/make_study.py``), each a ``NAME.sqlite`` with its manifest ``NAME.json`` — where and when
its runs ran, the commands that reproduce them, the run it opens on. A session that opens one reads
every page from it; nothing can be started, stopped or resumed there.

``BET_STUDIES_DIR`` names another folder of studies (tests, a deployment that keeps them apart)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bet import RunStore

#: Where the shipped studies are (``BET_STUDIES_DIR`` overrides).
STUDIES = Path(__file__).resolve().parent.parent / "assets" / "studies"
#: Why a button that would change runs is off while a study is open.
READ_ONLY = "A recorded study is open: it is read-only. Return to the live store to start, stop or resume runs."


def folder() -> Path:
    text = os.environ.get("BET_STUDIES_DIR", "").strip()
    return Path(text).expanduser() if text else STUDIES


@dataclass(frozen=True)
class Study:
    """One recorded study: its store file and its manifest."""

    path: Path
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def title(self) -> str:
        return str(self.manifest.get("title") or f"Recorded study: {self.name}")

    @property
    def headline(self) -> str | None:
        run = self.manifest.get("headline")
        return str(run) if run else None

    @property
    def commands(self) -> list[str]:
        return [str(c) for c in self.manifest.get("commands") or []]

    def when(self) -> str:
        start, end = self.manifest.get("ran_from"), self.manifest.get("ran_to")
        if not start:
            return "at an unrecorded time"
        return f"from {start} to {end}" if end and end != start else f"on {start}"

    def summary(self) -> str:
        """One line of plain text: what ran, where and when."""
        runs = self.manifest.get("runs") or []
        table = sum(bool(r.get("in_table")) for r in runs)
        rows = (
            "each a row of docs/table1.csv"
            if table == len(runs)
            else (f"{table} of them rows of docs/table1.csv, the others their full-size or popularity references")
        )
        return (
            f"{len(runs)} runs ({rows}), recorded on {self.manifest.get('where') or 'an unrecorded machine'} "
            f"{self.when()}."
        )

    def key(self) -> tuple[str, int, int]:
        """What a cached open of the store depends on: a rebuilt study is opened again."""
        st = self.path.stat()
        return str(self.path), st.st_mtime_ns, st.st_size


def load(manifest: Path) -> Study | None:
    """The study a manifest describes; None when it cannot be read or its store is missing."""
    try:
        doc = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    name = str(doc.get("store") or manifest.with_suffix(".sqlite").name)
    store = manifest.parent / name
    if Path(name).name != name or not store.is_file():  # the store lies beside its manifest
        return None
    return Study(store, doc)


def available(where: Path | None = None) -> list[Study]:
    """The studies in ``where`` (default :func:`folder`), by name."""
    where = folder() if where is None else where
    try:
        manifests = sorted(where.glob("*.json"))
    except OSError:
        return []
    return [s for s in map(load, manifests) if s is not None]


def find(name: str | None) -> Study | None:
    return next((s for s in available() if s.name == name), None) if name else None


def open_store(study: Study) -> RunStore:
    """The study's store, read-only: nothing is written, nor created beside it (a packaged file in
    a read-only checkout opens too)."""
    return RunStore(study.path, read_only=True)
