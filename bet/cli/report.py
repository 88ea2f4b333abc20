"""``bet report``: one self-contained HTML file about a run, a comparison or a sweep."""

from __future__ import annotations

import argparse
from pathlib import Path

from bet.cli.common import add_json_arg, emit
from bet.errors import ConfigError
from bet.report import render, select_runs, write
from bet.store import RunStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="write an HTML report to send",
        description="Write one self-contained HTML file (opens offline: inline figures, no script) about one or "
        "several runs: configuration, budget and packed size, results vs the reference runs in the store (picked by "
        "validation metrics), the recall-vs-budget frontier, size histograms, why this recall, provenance.",
    )  # fmt: skip
    p.add_argument("--run", action="append", default=[], metavar="RUN_ID", help="a run to report on (repeatable)")
    p.add_argument("--comparison", metavar="ID", help="every run of this comparison or sweep")
    p.add_argument("--store", type=Path, default=None)
    p.add_argument("--out", type=Path, required=True, metavar="FILE.html")
    add_json_arg(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    if args.out.is_dir():
        raise ConfigError(f"--out {args.out} is a folder; give a file name such as {args.out / 'report.html'}")
    store = RunStore(args.store)
    runs = select_runs(store, args.run, args.comparison)
    html = render(store, args.run, args.comparison)
    out = write(args.out, html)
    ids = [r["run_id"] for r in runs]
    emit(args, {"out": str(out), "bytes": out.stat().st_size, "runs": ids},
         f"report on {len(ids)} run(s) → {out} ({out.stat().st_size / 1e3:.0f} kB)")  # fmt: skip
    return 0
