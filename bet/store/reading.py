"""Reading the run store: opening it safely, runs as reported (a dead writer's run is
``interrupted``), their events, actions and packed tables. :class:`StoreReader` is the whole
store for a command that only reads (``read_only``); :class:`~bet.store.RunStore` adds writing."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
import threading
import time
import zlib
from pathlib import Path
from typing import Any

from bet.budget import Action
from bet.errors import StoreError
from bet.paths import bet_home
from bet.status import Status
from bet.store.opening import check_path, connect, make_parent, probe
from bet.store.record import RunRecord
from bet.store.schema import COLUMN_DEFAULTS, SCHEMA_VERSION, migrate, unpack_sizes

STALE_AFTER = 900.0  # seconds without a heartbeat before a run on another host counts as dead
HOST = socket.gethostname()


def default_path(create: bool = True) -> Path:
    """``$BET_HOME/bet.sqlite`` (``create=False``: without creating ``$BET_HOME``)."""
    return bet_home(create) / "bet.sqlite"


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StoreReader:
    """Thread-safe handle on one store file (a connection per thread). ``read_only``: for
    commands that only read — nothing is written or created (a missing store reads as empty)."""

    def __init__(self, path: str | Path | None = None, timeout: float = 30.0, read_only: bool = False):
        self.path = Path(path) if path is not None else default_path(create=not read_only)
        self.timeout = timeout
        self.read_only = read_only
        self._local = threading.local()
        self._lock = threading.Lock()
        exists = check_path(self.path)
        found, self._immutable = probe(self.path, timeout) if exists else (0, False)
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer BET Studio (schema {found} > {SCHEMA_VERSION}); upgrade to read it"
            )
        self._empty = read_only and found == 0  # nothing stored yet: every read finds nothing
        if read_only:
            return
        if not exists:
            make_parent(self.path)
        try:
            migrate(self.conn)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise StoreError(
                    f"{self.path}: the run store is locked by another program; try again when it is done"
                ) from None
            if "readonly" in str(exc) or "unable to open" in str(exc):
                raise StoreError(
                    f"{self.path}: cannot write the run store ({exc}): the file or its folder is read-only"
                ) from None
            raise StoreError(f"{self.path}: not a usable BET Studio run store ({exc})") from None
        except sqlite3.DatabaseError as exc:
            if "malformed" in str(exc):
                raise self._damaged(exc) from None
            raise StoreError(f"{self.path}: not a usable BET Studio run store ({exc})") from None

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, timeout=self.timeout, read_only=self.read_only, immutable=self._immutable)
            self._local.conn = conn
        return conn

    def _damaged(self, exc: Exception) -> StoreError:
        return StoreError(
            f"the run store {self.path} is damaged ({exc}); check it with: sqlite3 '{self.path}' "
            "'PRAGMA integrity_check' (or move it aside: a new store is created in its place)"
        )

    def _read(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        """All rows of a query; a locked or damaged store is a :class:`StoreError`, never a raw
        ``sqlite3`` traceback."""
        if self._empty:
            return []
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise StoreError(f"{self.path}: read failed ({exc}); another program holds a lock on it") from None
            raise self._damaged(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def _read_one(self, sql: str, args: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        rows = self._read(sql, args)
        return rows[0] if rows else None

    # -- reading ---------------------------------------------------------------------------
    def _effective(self, row: sqlite3.Row) -> RunRecord:
        """The run as reported: a :class:`RunRecord` whose writer died is ``interrupted``."""
        cols = {**COLUMN_DEFAULTS, **dict(row)}  # an older store read as it is (read-only: not migrated)
        try:
            cols["config"] = json.loads(cols["config"]) if cols["config"] else {}
            cols["result"] = json.loads(cols["result"]) if cols["result"] else None
            if not isinstance(cols["config"], dict) or not isinstance(cols["result"], dict | None):
                raise ValueError("a run's config and result must be JSON objects")
            run = RunRecord.of(cols)
        except ValueError as exc:
            raise self._damaged(exc) from None
        if not run.status.is_final:  # queued runs belong to the process that queued them
            same_host = run.host == HOST
            stale = (
                run.status is Status.RUNNING and run.heartbeat is not None and time.time() - run.heartbeat > STALE_AFTER
            )
            if (same_host and run.pid and not _pid_alive(run.pid)) or stale:
                error = run.error or "the process running it stopped without finishing"
                run = dataclasses.replace(run, status=Status.INTERRUPTED, error=error)
        return run

    def get_run(self, run_id: str) -> RunRecord:
        row = self._read_one("SELECT * FROM runs WHERE run_id=?", (run_id,))
        if row is None:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        return self._effective(row)

    def list_runs(self, **where: Any) -> list[RunRecord]:
        """Runs, newest first; keyword filters match columns exactly (``dataset="gowalla-mini"``);
        ``status`` matches the status as reported (a dead writer's run is ``interrupted``)."""
        status = where.pop("status", None)
        clause = " AND ".join(f"{k}=?" for k in where)
        sql = "SELECT * FROM runs" + (f" WHERE {clause}" if clause else "") + " ORDER BY created_at DESC"
        runs = [self._effective(r) for r in self._read(sql, tuple(where.values()))]
        return runs if status is None else [r for r in runs if r.status == status]

    def events(self, run_id: str, after: int = 0, kinds: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        sql = "SELECT seq, kind, t, payload FROM events WHERE run_id=? AND seq>?"
        args: list[Any] = [run_id, after]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        rows = self._read(sql + " ORDER BY seq", args)
        return [{"seq": r["seq"], "kind": r["kind"], "t": r["t"], **json.loads(r["payload"])} for r in rows]

    def actions(self, run_id: str) -> list[dict[str, Any]]:
        """Evaluated actions (no sizes), in evaluation order."""
        rows = self._read(
            "SELECT run_id, action_id, iteration, role, strategy, cost, predicted, fitness, metrics, seconds"
            " FROM actions WHERE run_id=? ORDER BY action_id",
            (run_id,),
        )
        out = []
        for r in rows:
            d = dict(r)
            d["metrics"] = json.loads(d["metrics"]) if d["metrics"] else None
            out.append(d)
        return out

    def action(self, run_id: str, action_id: int) -> Action:
        row = self._read_one(
            "SELECT dtype, user_sizes, item_sizes FROM actions WHERE run_id=? AND action_id=?", (run_id, action_id)
        )
        if row is None:
            raise StoreError(f"run {run_id} has no action {action_id}")
        try:
            return Action(unpack_sizes(row["dtype"], row["user_sizes"]), unpack_sizes(row["dtype"], row["item_sizes"]))
        except (zlib.error, ValueError, TypeError) as exc:
            raise self._damaged(exc) from None

    def table(self, run_id: str) -> bytes:
        """The packed embedding table of a finished run (``.npz`` bytes)."""
        row = self._read_one("SELECT data FROM tables WHERE run_id=?", (run_id,))
        if row is None:
            raise StoreError(f"run {run_id} has no packed table (only completed runs with an embedding table do)")
        return bytes(row["data"])

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
