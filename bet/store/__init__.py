"""The run store: one SQLite file (WAL) holding runs, their events, evaluated actions and results.

One writer per run, any number of readers (the dashboard polls while a search writes, from
other threads or processes). Every evaluated action is committed as soon as it exists, so a
``kill -9`` loses nothing already evaluated, and ``--resume`` continues from it. A run whose
writer died is reported as ``interrupted`` (its pid is gone, or its heartbeat is stale), never as
``running`` forever.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import zlib
from datetime import datetime
from pathlib import Path
from secrets import token_hex
from typing import Any

from bet.budget import Action
from bet.errors import StoreError
from bet.paths import bet_home
from bet.store.recorder import Listener, Recorder, record
from bet.store.schema import SCHEMA_VERSION, Status, migrate, pack_sizes, unpack_sizes

__all__ = ["ACTIVE", "RESUMABLE", "Listener", "Recorder", "RunStore", "Status", "default_path", "record"]

ACTIVE = tuple(s for s in Status if not s.is_final)
RESUMABLE = tuple(s for s in Status if s.is_resumable)
STALE_AFTER = 900.0  # seconds without a heartbeat before a run on another host counts as dead
HOST = socket.gethostname()


def default_path() -> Path:
    return bet_home() / "bet.sqlite"


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


class RunStore:
    """Thread-safe handle on one store file (a connection per thread)."""

    def __init__(self, path: str | Path | None = None, timeout: float = 30.0):
        self.path = Path(path) if path is not None else default_path()
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self.conn
            found = migrate(conn)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise StoreError(
                    f"{self.path}: the run store is locked by another program; try again when it is done"
                ) from None
            raise StoreError(f"{self.path}: not a usable BET Studio run store ({exc})") from None
        except sqlite3.DatabaseError as exc:
            if "malformed" in str(exc):
                raise self._damaged(exc) from None
            raise StoreError(f"{self.path}: not a usable BET Studio run store ({exc})") from None
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer BET Studio (schema {found} > {SCHEMA_VERSION}); upgrade to read it"
            )

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self.path}: cannot open the run store ({exc})") from None
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def _damaged(self, exc: Exception) -> StoreError:
        return StoreError(
            f"the run store {self.path} is damaged ({exc}); check it with: sqlite3 '{self.path}' "
            "'PRAGMA integrity_check' (or move it aside: a new store is created in its place)"
        )

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        try:
            self.conn.execute(sql, args)
        except sqlite3.OperationalError as exc:
            hint = "; another program holds a lock on it" if "locked" in str(exc) else ""
            raise StoreError(f"{self.path}: write failed ({exc}){hint}") from None
        except sqlite3.DatabaseError as exc:  # a corrupt page, found while writing
            raise self._damaged(exc) from None

    def _read(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[sqlite3.Row]:
        """All rows of a query; a locked or damaged store is a :class:`StoreError`, never a raw
        ``sqlite3`` traceback."""
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

    # -- writing ---------------------------------------------------------------------------
    def create_run(
        self, *, kind: str, method: str, dataset: str, backbone: str, sparsity: float, seed: int,
        config: dict[str, Any], budget: int | None = None, iterations: int = 0,
        comparison_id: str | None = None, executor: str = "local", workers: int = 1, status: Status = Status.QUEUED,
        n_users: int | None = None, n_items: int | None = None,
    ) -> str:  # fmt: skip
        run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + token_hex(3)
        self._write(
            "INSERT INTO runs (run_id, kind, method, comparison_id, dataset, backbone, sparsity, budget, seed,"
            " config, status, iterations, created_at, executor, workers, pid, host, heartbeat, n_users, n_items)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, kind, method, comparison_id, dataset, backbone, float(sparsity), budget, seed,
             json.dumps(config), status, iterations, time.time(), executor, workers, os.getpid(), HOST, time.time(),
             n_users, n_items),
        )  # fmt: skip
        return run_id

    def update_run(self, run_id: str, **fields: Any) -> None:
        if not fields:
            return
        for key in ("result", "config"):
            if key in fields and not isinstance(fields[key], str | None):
                fields[key] = json.dumps(fields[key])
        cols = ", ".join(f"{k}=?" for k in fields)
        self._write(f"UPDATE runs SET {cols} WHERE run_id=?", (*fields.values(), run_id))

    # -- a run's life: queued → running → completed | stopped | failed (interrupted: its writer died)
    def claim(self, run_id: str) -> None:
        """Mark a run as running in this process (pid + host + heartbeat)."""
        now = time.time()
        self.update_run(run_id, status=Status.RUNNING, started_at=now, heartbeat=now, pid=os.getpid(), host=HOST,
                        error=None, stop_requested=0)  # fmt: skip

    def requeue(self, run_id: str) -> None:
        """Queue a resumable run again (its driver claims it when it starts)."""
        self.update_run(run_id, status=Status.QUEUED, error=None)

    def finish(
        self, run_id: str, status: Status, *, error: str | None = None, result: dict[str, Any] | None = None
    ) -> None:
        """Leave a run in a final ``status`` (the error is kept unless it completed)."""
        now = time.time()
        fields: dict[str, Any] = {"result": result} if result is not None else {}
        self.update_run(run_id, status=status, error=None if status is Status.COMPLETED else error, finished_at=now,
                        heartbeat=now, phase="done" if status is Status.COMPLETED else str(status), **fields)  # fmt: skip

    def request_stop(self, run_id: str) -> None:
        """Ask the process running ``run_id`` (any process using this store) to stop it cleanly."""
        self.get_run(run_id)
        self._write("UPDATE runs SET stop_requested=1 WHERE run_id=?", (run_id,))

    def stop_requested(self, run_id: str) -> bool:
        row = self._read_one("SELECT stop_requested FROM runs WHERE run_id=?", (run_id,))
        return bool(row and row[0])

    def add_event(self, run_id: str, kind: str, payload: dict[str, Any]) -> int:
        with self._lock:
            row = self._read_one("SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE run_id=?", (run_id,))
            seq = int(row[0]) if row is not None else 1
            self._write("INSERT INTO events VALUES (?,?,?,?,?)", (run_id, seq, kind, time.time(), json.dumps(payload)))
        return seq

    def add_action(
        self, run_id: str, action_id: int, action: Action, *, iteration: int, role: str = "evaluated",
        strategy: str | None = None, predicted: float | None = None, fitness: float | None = None,
        metrics: dict[str, float] | None = None, seconds: float | None = None,
    ) -> None:  # fmt: skip
        dtype, users = pack_sizes(action.user_sizes)
        _, items = pack_sizes(action.item_sizes)
        self._write(
            "INSERT OR REPLACE INTO actions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, action_id, iteration, role, strategy, action.cost, predicted, fitness,
             json.dumps(metrics) if metrics is not None else None, seconds, dtype, users, items),
        )  # fmt: skip

    def add_table(self, run_id: str, action_id: int | None, cost: int, data: bytes) -> None:
        self._write("INSERT OR REPLACE INTO tables VALUES (?,?,?,?)", (run_id, action_id, cost, data))

    def table(self, run_id: str) -> bytes:
        """The packed embedding table of a finished run (``.npz`` bytes)."""
        row = self._read_one("SELECT data FROM tables WHERE run_id=?", (run_id,))
        if row is None:
            raise StoreError(f"run {run_id} has no packed table (only completed runs with an embedding table do)")
        return bytes(row["data"])

    # -- reading ---------------------------------------------------------------------------
    def _effective(self, row: sqlite3.Row) -> dict[str, Any]:
        run = dict(row)
        try:
            run["config"] = json.loads(run["config"]) if run["config"] else {}
            run["result"] = json.loads(run["result"]) if run["result"] else None
        except ValueError as exc:
            raise self._damaged(exc) from None
        try:
            run["status"] = Status(run["status"])
        except ValueError as exc:
            raise self._damaged(exc) from None
        if not run["status"].is_final:  # queued runs belong to the process that queued them
            same_host = run["host"] == HOST
            stale = (
                run["status"] is Status.RUNNING
                and run["heartbeat"] is not None
                and time.time() - run["heartbeat"] > STALE_AFTER
            )
            if (same_host and run["pid"] and not _pid_alive(run["pid"])) or stale:
                run["status"] = Status.INTERRUPTED
                run["error"] = run["error"] or "the process running it stopped without finishing"
        return run

    def get_run(self, run_id: str) -> dict[str, Any]:
        row = self._read_one("SELECT * FROM runs WHERE run_id=?", (run_id,))
        if row is None:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        return self._effective(row)

    def list_runs(self, **where: Any) -> list[dict[str, Any]]:
        """Runs, newest first; keyword filters match columns exactly (``dataset="gowalla-mini"``);
        ``status`` matches the status as reported (a dead writer's run is ``interrupted``)."""
        status = where.pop("status", None)
        clause = " AND ".join(f"{k}=?" for k in where)
        sql = "SELECT * FROM runs" + (f" WHERE {clause}" if clause else "") + " ORDER BY created_at DESC"
        runs = [self._effective(r) for r in self._read(sql, tuple(where.values()))]
        return runs if status is None else [r for r in runs if r["status"] == status]

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

    def delete_run(self, run_id: str) -> None:
        for table in ("events", "actions", "tables", "runs"):
            self._write(f"DELETE FROM {table} WHERE run_id=?", (run_id,))

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
