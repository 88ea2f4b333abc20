"""``bet reproduce``: paper Table 1 cells on the full datasets, ours beside the published numbers.

Runs are ordinary stored runs; a cell whose run (same method and configuration) already
completed in the store is reused, so re-running only prints.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bet.cli.common import add_json_arg, emit
from bet.cli.progress import SearchProgress
from bet.cli.search import add_search_args, graceful_stop, search_config
from bet.config import BaselineConfig, DataSpec, SearchConfig
from bet.errors import ConfigError
from bet.executors import LocalExecutor
from bet.jobs import Job, create_job, search_method
from bet.paper import CELLS, COLUMNS, TABLE1
from bet.store import RunStore


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce", help="paper Table 1 cells, ours beside the paper's",
        description="Run BET (and optionally SU/SR) on paper Table 1 cells — full Gowalla / Yelp2018 with the paper's "
        "split and settings — and print our test metrics beside the published ones. Hours per cell on a CPU.",
    )  # fmt: skip
    p.add_argument(
        "--cells",
        default="gowalla/lightgcn/0.9,gowalla/lightgcn/0.95",
        help="comma-separated dataset/backbone/sparsity; 'all' for the 18 cells (default: LightGCN on Gowalla at 0.9, 0.95)",
    )
    p.add_argument("--methods", default="bet", help="comma-separated subset of bet,su,sr")
    add_search_args(p, sparsity=False)
    p.set_defaults(backbone=None)
    p.add_argument("--dry-run", action="store_true", help="print the table from stored runs only; run nothing")
    add_json_arg(p)
    p.set_defaults(func=cmd_reproduce)  # fmt: skip


def parse_cells(text: str) -> list[tuple[str, str, float]]:
    if text == "all":
        return list(CELLS)
    cells = []
    for part in text.split(","):
        try:
            d, b, c = part.strip().split("/")
            cell = (d, b, float(c))
        except ValueError:
            raise ConfigError(f"a cell is dataset/backbone/sparsity, e.g. gowalla/lightgcn/0.9; got {part!r}") from None
        if cell not in CELLS:
            raise ConfigError(
                f"{part} is not a Table 1 cell; cells are {', '.join(f'{d}/{b}/{c}' for d, b, c in CELLS)}"
            )
        cells.append(cell)
    return cells


def _config(args: argparse.Namespace, cell: tuple[str, str, float], method: str) -> SearchConfig | BaselineConfig:
    d, b, c = cell
    search = search_config(args, c, data=DataSpec(d), backbone=b)
    if method == "bet":
        return search
    return BaselineConfig(
        search.data, b, method, c, args.seed, args.device, args.d_max, search.retrain, search.pretrain
    )


def _done(store: RunStore, cfg: SearchConfig | BaselineConfig, method: str) -> dict[str, Any] | None:
    for run in store.list_runs(method=method, backbone=cfg.backbone, status="completed"):
        if run["config"] == cfg.to_dict():
            return run
    return None


def cmd_reproduce(args: argparse.Namespace) -> int:
    cells = parse_cells(args.cells)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not set(methods) <= {"bet", "su", "sr"}:
        raise ConfigError("--methods takes bet, su and sr (the methods of Table 1 we implement)")
    store = RunStore(args.store)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with graceful_stop() as stop:
        for cell in cells:
            data = None
            for m in methods:
                cfg = _config(args, cell, m)
                run = _done(store, cfg, search_method(cfg) if isinstance(cfg, SearchConfig) else m)
                if run is None and not args.dry_run and not stop.is_set():
                    data = data or cfg.data.load()
                    job: Job = create_job(store, cfg, data)
                    run = LocalExecutor().run(store, [job], data, SearchProgress(getattr(cfg, "iterations", 0)), stop)[
                        0
                    ]
                test = ((run or {}).get("result") or {}).get("test") or {}
                paper = TABLE1.get((*cell, m), {})
                rows.append({
                    "dataset": cell[0], "backbone": cell[1], "sparsity": cell[2], "method": m,
                    "run_id": (run or {}).get("run_id"), "status": (run or {}).get("status", "not run"),
                    "ours": {k: test.get(k) for k in COLUMNS}, "paper": paper,
                })  # fmt: skip
    if args.json:
        emit(args, rows, "")
        return 0
    head = " ".join(f"{k:>17s}" for k in COLUMNS)
    print(f"{'cell':24s} {'method':6s} {head}   (ours / paper)")
    for r in rows:
        vals = " ".join(
            f"{(r['ours'][k] if r['ours'][k] is not None else float('nan')):8.4f}/{r['paper'].get(k, float('nan')):.4f}"
            for k in COLUMNS
        )
        print(
            f"{r['dataset'] + '/' + r['backbone'] + '/' + str(r['sparsity']):24s} {r['method']:6s} {vals}   {r['status']}"
        )
    print(f"{time.perf_counter() - t0:.0f}s; store {store.path}")
    return 0
