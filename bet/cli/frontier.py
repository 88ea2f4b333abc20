"""``bet frontier``: BET and baselines at several budgets."""

from __future__ import annotations

import argparse
import os
import time

from bet.cli.common import SearchProgress, add_data_args, add_json_arg, emit, load_data
from bet.cli.search import add_search_args, graceful_stop, search_config
from bet.executors import EXECUTORS, make_executor
from bet.frontier import FRONTIER_METHODS, parse_list, run_frontier
from bet.store import RunStore, Status


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "frontier",
        help="recall vs budget for several methods",
        description=(
            "Run BET and the baselines (su: uniform, sr: random, mde: frequency-scaled, full: uncompressed, "
            "pop: no embeddings) at each sparsity; every point is a stored run."
        ),
    )
    add_data_args(p)
    add_search_args(p, sparsity=False)
    p.add_argument("--sparsities", required=True, help="comma-separated, e.g. 0.8,0.9,0.95")
    methods = ",".join(FRONTIER_METHODS)
    p.add_argument("--methods", default=methods, help=f"comma-separated subset of {methods}")
    p.add_argument("--executor", choices=EXECUTORS, default="local", help="local (this process) or ray (a Ray cluster)")
    p.add_argument(
        "--address",
        default=os.environ.get("RAY_ADDRESS"),
        help="Ray cluster address: auto, ray://host:port or host:port (default: $RAY_ADDRESS, else a local Ray)",
    )
    p.add_argument(
        "--workers", type=int, default=1, help="runs executed at once (local: threads; ray: concurrent tasks)"
    )
    add_json_arg(p)
    p.set_defaults(func=cmd_frontier)


def cmd_frontier(args: argparse.Namespace) -> int:
    sparsities = parse_list(args.sparsities)
    methods = parse_list(args.methods, str)
    base = search_config(args, sparsities[0] if sparsities else 0.9)
    store = RunStore(args.store)
    data = load_data(args)
    executor = make_executor(args.executor, args.workers, args.address)
    t0 = time.perf_counter()
    progress = SearchProgress(base.iterations, quiet=(args.workers or 1) > 1)
    with graceful_stop() as stop:
        rows = run_frontier(
            store, data, base, sparsities=sparsities, methods=methods, executor=executor, on_event=progress, stop=stop
        )
    progress.close()
    if args.json:
        emit(args, rows, "")
    else:
        print(
            f"{'method':8s} {'c':>6s} {'budget':>10s} {'cost':>10s} {'status':10s} {'test R@20':>9s} {'N@20':>7s}  run"
        )
        for r in rows:
            t = r["test"] or {}
            r20 = f"{t['recall@20']:.4f}" if t else "-"
            n20 = f"{t['ndcg@20']:.4f}" if t else "-"
            print(
                f"{r['method']:8s} {r['sparsity']:6.3f} {r['budget']:>10,} {r['cost'] or 0:>10,} {r['status']:10s} "
                f"{r20:>9s} {n20:>7s}  {r['run_id']}"
            )
        print(f"{len(rows)} runs in {time.perf_counter() - t0:.0f}s (store: {store.path})")
    return 0 if all(r["status"] == Status.COMPLETED for r in rows) else 1
