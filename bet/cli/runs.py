"""``bet runs`` and ``bet export``."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from bet.cli.common import add_json_arg, bytes_writer, clean, emit, write_output
from bet.errors import ConfigError, StoreError
from bet.metrics import KS
from bet.store import RunStore

EXPORT_FORMATS = ("csv", "json", "table", "sizes")
METRIC_KEYS = [f"{m}@{k}" for k in KS for m in ("recall", "ndcg")]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list stored runs", description="List the runs in the store, newest first.")
    p.add_argument("--store", type=Path, default=None)
    p.add_argument("--dataset")
    p.add_argument("--backbone")
    p.add_argument("--status")
    add_json_arg(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser(
        "export",
        help="export a run",
        description=(
            "Export a run: its evaluated actions and metrics (csv, json), "
            "the best action's sizes (sizes: .npz) or its packed embedding table (table: .npz of the kept values)."
        ),
    )
    p.add_argument("--run", required=True, metavar="RUN_ID")
    p.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--store", type=Path, default=None)
    add_json_arg(p)
    p.set_defaults(func=cmd_export)


def cmd_runs(args: argparse.Namespace) -> int:
    store = RunStore(args.store, read_only=True)
    where = {k: getattr(args, k) for k in ("dataset", "backbone", "status") if getattr(args, k)}
    status = where.pop("status", None)
    runs = [r for r in store.list_runs(**where) if status is None or r.status == status]
    if args.json:
        emit(args, [r.to_dict() for r in runs], "")
        return 0
    if not runs:
        print(f"no runs in {store.path}")
        return 0
    print(f"{'run':24s} {'method':8s} {'dataset':14s} {'backbone':9s} {'c':>6s} {'status':11s} {'test R@20':>9s}")
    for r in runs:
        test = (r.result or {}).get("test") or {}
        r20 = f"{test['recall@20']:.4f}" if test.get("recall@20") is not None else "-"
        print(
            f"{r.run_id:24s} {r.method:8s} {r.dataset[:14]:14s} {r.backbone:9s} "
            f"{r.sparsity:6.3f} {r.status:11s} {r20:>9s}"
        )
    return 0


def action_rows(store: RunStore, run_id: str) -> list[dict[str, Any]]:
    rows = []
    for a in store.actions(run_id):
        row = {
            k: a[k] for k in ("action_id", "iteration", "role", "strategy", "cost", "predicted", "fitness", "seconds")
        }
        row.update({f"valid_{k}": (a["metrics"] or {}).get(k) for k in METRIC_KEYS})
        rows.append(row)
    return rows


def cmd_export(args: argparse.Namespace) -> int:
    store = RunStore(args.store, read_only=True)
    run = store.get_run(args.run)
    write: Callable[[BinaryIO], None]
    if args.format == "csv":
        rows = action_rows(store, args.run)
        if not rows:
            raise StoreError(f"run {args.run} has no evaluated actions yet")
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
        write = bytes_writer(buf.getvalue().encode())
        what = f"{len(rows)} actions"
    elif args.format == "json":
        events = store.events(args.run)
        doc = {"run": run.to_dict(), "actions": action_rows(store, args.run), "events": events}
        write = bytes_writer(json.dumps(clean(doc), indent=1).encode())
        what = f"run, {len(doc['actions'])} actions, {len(events)} events"
    elif args.format == "sizes":
        best = run.best_action_id
        if best is None:
            best = 0 if run.kind == "baseline" else None
        if best is None:
            raise StoreError(f"run {args.run} has no best action yet (status {run.status})")
        action = store.action(args.run, best)

        def write(fh: BinaryIO) -> None:  # a handle, so numpy adds no ".npz" to the name
            np.savez_compressed(fh, user_sizes=action.user_sizes, item_sizes=action.item_sizes)

        what = f"sizes of action {best} (cost {action.cost:,})"
    elif args.format == "table":
        data = store.table(args.run)
        write = bytes_writer(data)
        what = f"packed table, {len(data):,} bytes"
    else:  # argparse prevents this
        raise ConfigError(f"unknown format {args.format}")
    size = write_output(args.out, write)
    emit(args, {"run_id": args.run, "format": args.format, "out": str(args.out), "bytes": size}, f"{what} → {args.out}")
    return 0
