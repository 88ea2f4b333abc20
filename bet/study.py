"""A recorded study: the runs behind rows of ``docs/table1.csv`` copied out of a run store into a
small store of their own, for the dashboard to open read-only (no waiting hours for full Gowalla).

What is kept: each table row's run that completed in the source store, and the completed
references the story needs beside them (the full-size model, the popularity floor of the same
dataset and backbone) — their rows in ``runs``, all their ``events`` and evaluated ``actions``
(the sizes the histograms draw). What is left out: the packed embedding tables (tens of MB; a run
reproduced gives its own) and every other run. The runs of one dataset and backbone get one
comparison id (``study-<name>-<dataset>-<backbone>``), so the dashboard tells them as one story.

The source is read in one read-only transaction (a consistent snapshot, no write lock: a store
another process is writing keeps going), the study is written beside its target and checked
against the table (:func:`mismatches`) before it replaces the target — a study whose numbers
disagree with the table is never left behind. It is written in rollback-journal mode, so a
packaged copy in a read-only checkout opens read-only without creating anything beside it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bet.errors import StoreError
from bet.methods import once_methods
from bet.paper import table_row
from bet.store import RunRecord, RunStore, Status

#: The store's tables a study keeps (``tables``, the packed embedding tables, is left out).
KEPT_TABLES = ("runs", "events", "actions")
#: Completed runs kept beside the table's runs of the same dataset and backbone.
REFERENCES = once_methods()
#: The columns of a table row that must equal what the study's run gives (:func:`bet.paper.table_row`).
CHECKED = (
    "dataset",
    "backbone",
    "method",
    "preset",
    "seeds",
    "recall@20",
    "ndcg@20",
    "recall@5",
    "ndcg@5",
    "valid_recall@20",
    "budget",
    "cost",
    "early_stop",
    "config",
)


@dataclass
class Selection:
    """What a study holds: ``runs`` (the source's runs, table runs first), which of them have a
    row in the table (``in_table``: run id → that row), and the table's rows left out, with why."""

    runs: list[RunRecord] = field(default_factory=list)
    in_table: dict[str, dict[str, str]] = field(default_factory=dict)
    left_out: list[tuple[dict[str, str], str]] = field(default_factory=list)

    @property
    def run_ids(self) -> list[str]:
        return [r.run_id for r in self.runs]


def comparison_id(name: str, run: RunRecord) -> str:
    return f"study-{name}-{run.dataset}-{run.backbone}"


def select(
    runs: Mapping[str, RunRecord],
    rows: Sequence[Mapping[str, str]],
    source: str = "the store",
    *,
    leave_out: Mapping[str, str] | None = None,
) -> Selection:
    """The runs a study of ``rows`` (``docs/table1.csv``) keeps from ``runs`` (run id → run);
    ``leave_out``: run id → why it is not kept (a row of it is listed as left out, with the why)."""
    sel, leave_out = Selection(), leave_out or {}
    for row in rows:
        run = runs.get(row.get("run_id", ""))
        if row.get("run_id", "") in leave_out:
            sel.left_out.append((dict(row), leave_out[row.get("run_id", "")]))
        elif run is None:
            sel.left_out.append((dict(row), f"not in {source}"))
        elif run.status != Status.COMPLETED:
            sel.left_out.append((dict(row), f"{run.status} in {source}"))
        elif run.run_id not in sel.in_table:
            sel.in_table[run.run_id] = dict(row)
            sel.runs.append(run)
    cells = {(r.dataset, r.backbone) for r in sel.runs}
    refs = [
        r
        for r in runs.values()
        if r.method in REFERENCES
        and r.status == Status.COMPLETED
        and (r.dataset, r.backbone) in cells
        and r.run_id not in sel.in_table
        and r.run_id not in leave_out
    ]
    sel.runs += sorted(refs, key=lambda r: r.created_at)
    return sel


@contextlib.contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: every read inside it sees the same state of the store."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")


def _raw(conn: sqlite3.Connection, table: str, run_ids: Sequence[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    cur = conn.execute(f"SELECT * FROM {table} WHERE run_id IN ({','.join('?' * len(run_ids))})", tuple(run_ids))
    return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]


def _remove(path: Path) -> None:
    for p in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        p.unlink(missing_ok=True)


def _write(
    path: Path, data: Mapping[str, Sequence[tuple[list[str], list[tuple[Any, ...]]]]], groups: Mapping[str, str]
) -> None:
    """A new store at ``path`` (today's schema) holding ``data``'s rows (per table, one chunk per
    source store, each with its own columns); runs regrouped by ``groups``."""
    _remove(path)
    RunStore(path).close()  # the schema, as any store has it
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=DELETE")  # no -wal/-shm needed to read it
        conn.execute("BEGIN")
        for table, (cols, rows) in ((t, chunk) for t, chunks in data.items() for chunk in chunks):
            have = {c[1] for c in conn.execute(f"PRAGMA table_info({table})")}
            keep = [i for i, c in enumerate(cols) if c in have]  # an older source: the defaults fill in
            names = [cols[i] for i in keep]
            values = [[r[i] for i in keep] for r in rows]
            if table == "runs":
                at, rid = names.index("comparison_id"), names.index("run_id")
                for v in values:
                    v[at] = groups[v[rid]]
            conn.executemany(f"INSERT INTO {table} ({','.join(names)}) VALUES ({','.join('?' * len(names))})", values)
        conn.execute("COMMIT")
        conn.execute("VACUUM")
    finally:
        conn.close()


def held_runs(stores: Sequence[RunStore]) -> dict[str, tuple[RunRecord, int]]:
    """Run id → (the run, the index of the first of ``stores`` that holds it): where a study
    built from several stores takes each run."""
    held: dict[str, tuple[RunRecord, int]] = {}
    for i, store in enumerate(stores):
        for run in store.list_runs():
            held.setdefault(run.run_id, (run, i))
    return held


def build(
    source: Path | Sequence[Path],
    out: Path,
    *,
    rows: Sequence[Mapping[str, str]],
    name: str,
    leave_out: Mapping[str, str] | None = None,
) -> Selection:
    """Write the study of ``rows`` from the store at ``source`` — or from several stores, a run
    taken from the first that holds it (a study grows from the last one: its runs stay readable
    once their store is gone) — to ``out`` (replaced only once the new study is complete and agrees
    with ``rows``), without the runs of ``leave_out`` (see :func:`select`). Raises
    :class:`StoreError` when no row's run is in a source, or when the copy disagrees with the
    table (it is then removed)."""
    sources = [source] if isinstance(source, Path) else list(source)
    if any(s.resolve() == out.resolve() for s in sources):
        raise StoreError(f"{out}: the study cannot be written over its source store")
    readers = [RunStore(s, read_only=True) for s in sources]
    try:
        with contextlib.ExitStack() as snapshots:
            for reader in readers:
                snapshots.enter_context(_snapshot(reader.conn))
            held = held_runs(readers)
            where = " or ".join(str(s) for s in sources)
            sel = select({rid: run for rid, (run, _) in held.items()}, rows, where, leave_out=leave_out)
            if not sel.in_table:
                whys = sorted({why.split(":")[0] for _, why in sel.left_out})
                raise StoreError(
                    f"none of the table's {len(rows)} runs can be kept ({'; '.join(whys)}): nothing to record"
                )
            data: dict[str, list[tuple[list[str], list[tuple[Any, ...]]]]] = {t: [] for t in KEPT_TABLES}
            for i, reader in enumerate(readers):
                mine = [rid for rid in sel.run_ids if held[rid][1] == i]
                for t in KEPT_TABLES:
                    if mine:
                        data[t].append(_raw(reader.conn, t, mine))
    finally:
        for reader in readers:
            reader.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.building")
    try:
        _write(tmp, data, {r.run_id: comparison_id(name, r) for r in sel.runs})
        study = RunStore(tmp, read_only=True)
        try:
            checked, problems = mismatches(study, rows)
        finally:
            study.close()
        if problems or len(checked) != len(sel.in_table):
            raise StoreError("the study disagrees with the table: " + "; ".join(problems or ["rows not checked"]))
        os.replace(tmp, out)
    finally:
        _remove(tmp)
    return sel


def _same(a: Any, b: str) -> bool:
    text = "" if a is None else str(a)
    if text == b:
        return True
    try:
        return float(text) == float(b)
    except ValueError:
        return False


def mismatches(store: RunStore, rows: Sequence[Mapping[str, str]]) -> tuple[list[str], list[str]]:
    """Check ``store``'s runs against the table ``rows`` that name them: each row's numbers (test
    and validation metrics, budget, cost, configuration fingerprint, …: :data:`CHECKED`) must be
    what :func:`bet.paper.table_row` — the function that wrote the row — gives for the stored run.
    Rows of runs not in the store are skipped. Returns (run ids checked, problems)."""
    present = {r.run_id: r for r in store.list_runs()}
    checked: list[str] = []
    problems: list[str] = []
    for row in rows:
        run = present.get(row.get("run_id", ""))
        if run is None:
            continue
        checked.append(run.run_id)
        if run.status != Status.COMPLETED:
            problems.append(f"{run.run_id}: {run.status}, not completed")
            continue
        want = table_row(store, run, method=run.method, device=row.get("device", ""))
        for key in (*CHECKED, "sparsity"):
            if not _same(want[key], row.get(key, "")):
                problems.append(
                    f"{run.run_id} ({run.method}): {key} {row.get(key)!r} in the table, {want[key]!r} in the study"
                )
    return checked, problems
