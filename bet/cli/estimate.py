"""``bet estimate``: how long a configured search would take on this machine, per phase."""

from __future__ import annotations

import argparse

from bet.cli.common import add_data_args, add_json_arg, emit, load_data
from bet.cli.search import add_search_args, search_config
from bet.errors import ConfigError
from bet.estimate import LONG_RUN, measure, plan
from bet.runtime import resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "estimate", help="estimated duration of a search on this machine",
        description="Measure a few training steps and one validation pass of the backbone on the dataset "
        "(cached per machine), then estimate each phase of the configured search. Early-stopped trainings "
        "are assumed to run a typical length: an order of magnitude to plan by.",
    )  # fmt: skip
    add_data_args(p)
    add_search_args(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_estimate)


def cmd_estimate(args: argparse.Namespace) -> int:
    if args.sparsity is None:
        raise ConfigError("--sparsity C is required (e.g. 0.95 keeps 5% of the table)")
    cfg = search_config(args, args.sparsity)
    data = load_data(args)
    timings = measure(data, cfg.backbone, resolve_device(cfg.device), cfg.d_max)
    phases = plan(cfg, data, timings)
    total = sum(phases.values())
    out = {"seconds": round(total, 1), "phases": {k: round(v, 1) for k, v in phases.items()}, "long": total > LONG_RUN}
    human = "  ".join(f"{k} {v / 60:.1f} min" for k, v in phases.items() if v > 0)
    warn = f"  — over {LONG_RUN / 60:.0f} minutes" if total > LONG_RUN else ""
    emit(args, out, f"estimated {total / 60:.1f} min: {human}{warn}")
    return 0
