"""``bet report``: one self-contained HTML file about a run, a comparison or a sweep."""

from __future__ import annotations

import argparse
from pathlib import Path

from bet.cli.common import add_json_arg, bytes_writer, emit, write_output
from bet.report import render, select_runs
from bet.store import RunStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write an HTML report to send",
        description=(
            "Write one self-contained HTML file (opens offline: inline figures, no script) about one or "
            "several runs: configuration, budget and packed size, results vs the reference runs in the store "
            "(picked by validation metrics), the recall-vs-budget frontier, size histograms, why this recall, "
            "provenance."
        ),
    )
    p.add_argument("--run", action="append", default=[], metavar="RUN_ID", help="a run to report on (repeatable)")
    p.add_argument("--comparison", metavar="ID", help="every run of this comparison or sweep")
    p.add_argument("--store", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True, metavar="FILE.html")
    add_json_arg(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    store = RunStore(args.store, read_only=True)
    ids = [r.run_id for r in select_runs(store, args.run, args.comparison)]
    html = render(store, args.run, args.comparison)
    size = write_output(args.out, bytes_writer(html.encode("utf-8")))  # exactly --out, or a one-line error
    emit(
        args,
        {"out": str(args.out), "bytes": size, "runs": ids},
        f"report on {len(ids)} run(s) → {args.out} ({size / 1e3:.0f} kB)",
    )
    return 0
