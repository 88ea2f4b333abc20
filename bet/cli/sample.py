"""``bet sample``: draw budget-strict actions with BET's sampler into an .npz file."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import BinaryIO

import numpy as np

from bet.budget import D_MAX
from bet.cli.common import add_data_args, add_json_arg, check_memory, emit, load_data, write_output
from bet.config import SearchConfig, run_budget
from bet.errors import ConfigError
from bet.sampler import ActionSampler


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sample", help="sample budget-strict actions", description="Draw actions with BET's sampler into an .npz file."
    )
    add_data_args(p)
    p.add_argument("--sparsity", type=float, required=True, metavar="C")
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--d-max", type=int, default=D_MAX)
    p.add_argument(
        "--redraws", type=int, default=0, metavar="K", help="redraw a side over d_max up to K times (default 0: clip)"
    )
    p.add_argument("--out", type=Path, required=True, help="output .npz (arrays user_sizes, item_sizes, user_share)")
    add_json_arg(p)
    p.set_defaults(func=cmd_sample)


def cmd_sample(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise ConfigError("--count must be at least 1")
    data = load_data(args, evaluable=False)
    # The sampler's float64 working arrays: about 80 bytes per row of each action drawn.
    check_memory(args.count * data.n_rows * 80, f"--count {args.count:,} ({data.n_rows:,} rows each)")
    cfg = SearchConfig(sparsity=args.sparsity, d_max=args.d_max, redraws=args.redraws)  # a LightGCN search's
    sampler = ActionSampler.for_data(data, run_budget(cfg, data), cfg.d_max, redraws=cfg.redraws)
    t0 = time.perf_counter()
    batch = sampler.sample(args.count, np.random.default_rng(args.seed))
    seconds = time.perf_counter() - t0

    def write(fh: BinaryIO) -> None:  # a handle, so numpy adds no ".npz" to the name
        np.savez_compressed(
            fh,
            user_sizes=batch.user_sizes,
            item_sizes=batch.item_sizes,
            user_share=batch.user_share,
            user_family=np.array(batch.user_family),
            item_family=np.array(batch.item_family),
        )

    write_output(args.out, write)
    costs = batch.costs
    out = {
        "count": args.count,
        "budget": sampler.budget,
        "cost_min": int(costs.min()),
        "cost_max": int(costs.max()),
        "n_users": data.n_users,
        "n_items": data.n_items,
        "out": str(args.out),
        "seconds": round(seconds, 3),
    }
    emit(
        args,
        out,
        f"{args.count} actions, cost {costs.min():,}..{costs.max():,} of budget {sampler.budget:,} → {args.out}",
    )
    return 0
