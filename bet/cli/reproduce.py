"""``bet reproduce``: paper Table 1 cells on the full datasets, ours beside the published numbers.

Each (cell, method) is an ordinary stored run, and each completed one is appended at once as a
row of ``--table`` (default ``docs/table1.csv``). Re-running is safe at every point:

* a row already in the table (same cell, method, seed, configuration and device) is skipped;
* a run of the same configuration that completed in the store is recorded without re-running;
* a BET search that was interrupted, stopped or failed is **resumed** from its stored actions;
* a baseline cut short is re-run from scratch (it has no intermediate state worth keeping).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

from bet.cli.common import SearchProgress, add_json_arg, emit
from bet.cli.search import add_search_args, graceful_stop, search_config
from bet.config import BaselineConfig, DataSpec, SearchConfig, baseline_config
from bet.data import Dataset
from bet.errors import ConfigError
from bet.executors import LocalExecutor
from bet.methods import METHODS
from bet.paper import CELLS, COLUMNS, TABLE1, append_row, config_hash, read_table, table_row
from bet.runs import Job, create_job, prepare_resume
from bet.runtime import resolve_device
from bet.store import RESUMABLE, RunRecord, RunStore, Status

#: The sampler rule for Table 1: the authors' redraw of a side over d_max (README, "Deviations").
TABLE1_REDRAWS = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="paper Table 1 cells, ours beside the paper's",
        description=(
            "Run BET and the references (SU, SR, MDE, full, pop; bet-random for the ablation) on paper "
            "Table 1 cells — full Gowalla / Yelp2018 with the paper's split and settings — append each completed "
            "run to a CSV table and print our test metrics beside the published ones. Interrupted cells resume. "
            "Hours per cell on a CPU."
        ),
    )
    p.add_argument(
        "--cells",
        default="gowalla/lightgcn/0.95,gowalla/lightgcn/0.9",
        help=(
            "comma-separated dataset/backbone/sparsity; 'all' for the 18 cells "
            "(default: LightGCN on Gowalla at 0.95, 0.9)"
        ),
    )
    p.add_argument(
        "--methods", default="su,sr,bet", help=f"comma-separated subset of {','.join(METHODS)} (default su,sr,bet)"
    )
    p.add_argument("--table", type=Path, default=Path("docs/table1.csv"), help="CSV the completed rows are appended to")
    add_search_args(p, sparsity=False)
    p.set_defaults(backbone=None, redraws=TABLE1_REDRAWS)
    p.add_argument("--dry-run", action="store_true", help="print the table from stored runs only; run nothing")
    add_json_arg(p)
    p.set_defaults(func=cmd_reproduce)


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


def cell_config(args: argparse.Namespace, cell: tuple[str, str, float], method: str) -> SearchConfig | BaselineConfig:
    """The run configuration of one (cell, method): BET with the command's search settings,
    ``bet-random`` the same with random selection, the references on the retraining schedule."""
    d, b, c = cell
    search = search_config(args, c, data=DataSpec(d), backbone=b)
    m = METHODS.get(method)
    if m is not None and m.kind == "search":  # BET, or an ablation of it (its own selection)
        return search if m.selection is None else dataclasses.replace(search, selection=m.selection)
    return baseline_config(search, method)  # full and pop: one run each per dataset and backbone


def _stored(store: RunStore, cfg: SearchConfig | BaselineConfig, statuses: tuple[Status, ...]) -> RunRecord | None:
    for run in store.list_runs(backbone=cfg.backbone):
        if run.status in statuses and run.config == cfg.to_dict():
            return run
    return None


def _run(store: RunStore, cfg: SearchConfig | BaselineConfig, data: Dataset, *, stop: Any) -> RunRecord:
    """Complete one (cell, method): reuse a completed run, resume an interrupted search, or start."""
    if (run := _stored(store, cfg, (Status.COMPLETED,))) is not None:
        return run
    job: Job | None = None
    if isinstance(cfg, SearchConfig) and (old := _stored(store, cfg, RESUMABLE)) is not None:
        job, _ = prepare_resume(store, old.run_id, data)  # claimed; refused if the data changed
    job = job or create_job(store, cfg, data)
    progress = SearchProgress(getattr(cfg, "iterations", 0))
    return LocalExecutor().run(store, [job], data, on_event=progress, stop=stop)[0]


def cmd_reproduce(args: argparse.Namespace) -> int:
    cells = parse_cells(args.cells)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods or not set(methods) <= set(METHODS):
        raise ConfigError(f"--methods takes a comma-separated subset of {', '.join(METHODS)}")
    store = RunStore(args.store)
    device = resolve_device(args.device).type
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    with graceful_stop() as stop:
        for cell in cells:
            data: Dataset | None = None
            for m in methods:
                cfg = cell_config(args, cell, m)
                done = [
                    r
                    for r in read_table(args.table)
                    if (r["dataset"], r["backbone"], r["method"], r["config"], r["device"], r["seeds"])
                    == (cell[0], cell[1], m, config_hash(cfg.to_dict()), device, str(args.seed))
                    and (METHODS[m].once or float(r["sparsity"]) == cell[2])
                ]
                run: RunRecord | None = None
                if done:
                    status, ours = "in table", {k: _num(done[-1].get(k)) for k in COLUMNS}
                else:
                    run = _stored(store, cfg, (Status.COMPLETED,))
                    if run is None and not args.dry_run and not stop.is_set():
                        data = data or cfg.data.load()
                        run = _run(store, cfg, data, stop=stop)
                    status = run.status if run is not None else "not run"
                    if run is not None and status == Status.COMPLETED:
                        append_row(args.table, table_row(store, run, method=m, device=device))
                    test = ((run.result if run is not None else None) or {}).get("test") or {}
                    ours = {k: test.get(k) for k in COLUMNS}
                rows.append(
                    {
                        "dataset": cell[0],
                        "backbone": cell[1],
                        "sparsity": cell[2],
                        "method": m,
                        "run_id": run.run_id if run is not None else None,
                        "status": status,
                        "ours": ours,
                        "paper": TABLE1.get((*cell, m), {}),
                    }
                )
    # Like search and frontier: 1 when a row is missing (stopped, failed, not run), so a script that
    # chains reproductions (`reproduce … && reproduce …`) stops where one was interrupted.
    code = 0 if all(r["status"] in (Status.COMPLETED, "in table") for r in rows) or args.dry_run else 1
    if args.json:
        emit(args, rows, "")
        return code
    head = " ".join(f"{k:>17s}" for k in COLUMNS)
    print(f"{'cell':24s} {'method':10s} {head}   (ours / paper)")
    for r in rows:
        vals = " ".join(f"{_fmt(r['ours'][k])}/{_fmt(r['paper'].get(k))}" for k in COLUMNS)
        print(
            f"{r['dataset'] + '/' + r['backbone'] + '/' + str(r['sparsity']):24s} "
            f"{r['method']:10s} {vals}   {r['status']}"
        )
    print(f"{time.perf_counter() - t0:.0f}s; store {store.path}; table {args.table}")
    return code


def _num(text: str | None) -> float | None:
    return float(text) if text else None


def _fmt(x: float | None) -> str:
    return "   --   " if x is None else f"{x:8.4f}"
