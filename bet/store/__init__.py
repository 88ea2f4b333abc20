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
import sqlite3
import time
from datetime import datetime
from secrets import token_hex
from typing import Any

from bet.budget import Action
from bet.errors import StoreError
from bet.status import ACTIVE, RESUMABLE, Status
from bet.store.reading import HOST, StoreReader, default_path
from bet.store.record import Frozen, RunRecord, best_action
from bet.store.recorder import Listener, Recorder, record
from bet.store.schema import pack_sizes, unpack_sizes

__all__ = [
    "ACTIVE",
    "RESUMABLE",
    "Frozen",
    "Listener",
    "Recorder",
    "RunRecord",
    "RunStore",
    "Status",
    "StoreReader",
    "best_action",
    "default_path",
    "pack_sizes",
    "record",
    "unpack_sizes",
]


class RunStore(StoreReader):
    """Thread-safe handle on one store file (a connection per thread), for reading and writing."""

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """Execute one statement; returns the number of rows it changed."""
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only; this command cannot change it")
        try:
            return self.conn.execute(sql, args).rowcount
        except sqlite3.OperationalError as exc:
            hint = "; another program holds a lock on it" if "locked" in str(exc) else ""
            hint = "; the store file or its folder is read-only" if "readonly" in str(exc) else hint
            raise StoreError(f"{self.path}: write failed ({exc}){hint}") from None
        except sqlite3.DatabaseError as exc:  # a corrupt page, found while writing
            raise self._damaged(exc) from None

    # -- writing ---------------------------------------------------------------------------
    def create_run(
        self,
        *,
        kind: str,
        method: str,
        dataset: str,
        backbone: str,
        sparsity: float,
        seed: int,
        config: dict[str, Any],
        budget: int | None = None,
        iterations: int = 0,
        comparison_id: str | None = None,
        executor: str = "local",
        workers: int = 1,
        status: Status = Status.QUEUED,
        n_users: int | None = None,
        n_items: int | None = None,
        data_path: str | None = None,
        data_fingerprint: str | None = None,
    ) -> str:
        run_id = datetime.now().strftime("%Y%m%d-%H%M%S-") + token_hex(3)
        self._write(
            "INSERT INTO runs (run_id, kind, method, comparison_id, dataset, backbone, sparsity, budget, seed,"
            " config, status, iterations, created_at, executor, workers, pid, host, heartbeat, n_users, n_items,"
            " data_path, data_fingerprint) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                kind,
                method,
                comparison_id,
                dataset,
                backbone,
                float(sparsity),
                budget,
                seed,
                json.dumps(config),
                status,
                iterations,
                time.time(),
                executor,
                workers,
                os.getpid(),
                HOST,
                time.time(),
                n_users,
                n_items,
                data_path,
                data_fingerprint,
            ),
        )
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
        """Mark a run as running in this process (pid + host + heartbeat), atomically: only a
        queued run, or one this process took with :meth:`claim_resume`. A run that another live
        process runs is never taken over (:class:`StoreError` naming it)."""
        now, pid = time.time(), os.getpid()
        changed = self._write(
            "UPDATE runs SET status=?, started_at=?, heartbeat=?, pid=?, host=?, error=NULL, stop_requested=0"
            " WHERE run_id=? AND (status=? OR (status=? AND pid=? AND host=?))",
            (Status.RUNNING, now, now, pid, HOST, run_id, Status.QUEUED, Status.RUNNING, pid, HOST),
        )
        if changed != 1:
            raise self._taken(run_id)

    def claim_resume(self, run_id: str) -> dict[str, Any]:
        """Take a resumable run (stopped, failed, or interrupted: its writer died) for this
        process, atomically — a compare-and-set on the row as read, so of two processes resuming
        it at once exactly one wins and the other gets a :class:`StoreError` naming the winner.
        Returns the row's prior state, for :meth:`release`."""
        row = self._read_one("SELECT * FROM runs WHERE run_id=?", (run_id,))
        if row is None:
            raise StoreError(f"no run {run_id!r} in {self.path}")
        run = self._effective(row)
        if not run.status.is_resumable:
            raise self._taken(run_id, run)
        prior = {k: row[k] for k in ("status", "pid", "host", "heartbeat")}
        changed = self._write(
            "UPDATE runs SET status=?, pid=?, host=?, heartbeat=?"
            " WHERE run_id=? AND status=? AND pid IS ? AND host IS ? AND heartbeat IS ?",
            (Status.RUNNING, os.getpid(), HOST, time.time(), run_id, *prior.values()),
        )
        if changed != 1:  # another process claimed it between our read and our write
            raise self._taken(run_id)
        return prior

    def release(self, run_id: str, prior: dict[str, Any]) -> None:
        """Give back a run taken with :meth:`claim_resume` before it ran (e.g. its data was
        refused): it returns to its prior state, unless it is no longer ours."""
        self._write(
            "UPDATE runs SET status=?, pid=?, host=?, heartbeat=? WHERE run_id=? AND status=? AND pid=? AND host=?",
            (*prior.values(), run_id, Status.RUNNING, os.getpid(), HOST),
        )

    def _taken(self, run_id: str, run: RunRecord | None = None) -> StoreError:
        """Why ``run_id`` cannot be claimed: it is gone, another process has it, or it is final."""
        try:
            run = run or self.get_run(run_id)
        except StoreError as exc:
            return exc
        if not run.status.is_final:
            by = f"pid {run.pid}" + (f" on {run.host}" if run.host != HOST else "")
            doing = "queued by" if run.status is Status.QUEUED else "already being run (or resumed) by"
            return StoreError(f"run {run_id} is {doing} {by}; only one process may run it at a time")
        return StoreError(f"run {run_id} is {run.status}; only {', '.join(RESUMABLE)} runs can be resumed")

    def requeue(self, run_id: str) -> None:
        """Queue a resumable run again (its driver claims it when it starts)."""
        self.update_run(run_id, status=Status.QUEUED, error=None)

    def finish(
        self, run_id: str, status: Status, *, error: str | None = None, result: dict[str, Any] | None = None
    ) -> None:
        """Leave a run in a final ``status`` (the error is kept unless it completed)."""
        now = time.time()
        fields: dict[str, Any] = {"result": result} if result is not None else {}
        self.update_run(
            run_id,
            status=status,
            error=None if status is Status.COMPLETED else error,
            finished_at=now,
            heartbeat=now,
            phase="done" if status is Status.COMPLETED else str(status),
            **fields,
        )

    def interrupt(self, run_id: str, error: str) -> None:
        """Record a run ``interrupted``, saying why: the process executing it stopped before it
        ended (:mod:`bet.executors.interrupted`); a search can be resumed."""
        self.update_run(run_id, status=Status.INTERRUPTED, phase="interrupted", error=error)

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
        self,
        run_id: str,
        action_id: int,
        action: Action,
        *,
        iteration: int,
        role: str = "evaluated",
        strategy: str | None = None,
        predicted: float | None = None,
        fitness: float | None = None,
        metrics: dict[str, float] | None = None,
        seconds: float | None = None,
    ) -> None:
        dtype, users = pack_sizes(action.user_sizes)
        _, items = pack_sizes(action.item_sizes)
        self._write(
            "INSERT OR REPLACE INTO actions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                run_id,
                action_id,
                iteration,
                role,
                strategy,
                action.cost,
                predicted,
                fitness,
                json.dumps(metrics) if metrics is not None else None,
                seconds,
                dtype,
                users,
                items,
            ),
        )

    def add_table(self, run_id: str, action_id: int | None, *, cost: int, data: bytes) -> None:
        self._write("INSERT OR REPLACE INTO tables VALUES (?,?,?,?)", (run_id, action_id, cost, data))

    def delete_run(self, run_id: str) -> None:
        for table in ("events", "actions", "tables", "runs"):
            self._write(f"DELETE FROM {table} WHERE run_id=?", (run_id,))
