"""``bet info`` and ``bet train``."""

from __future__ import annotations

import argparse
import time

from bet.backbones import BACKBONES
from bet.baselines import budget_action
from bet.budget import D_MAX
from bet.cli.common import (
    Progress,
    add_data_args,
    add_device_arg,
    add_json_arg,
    check_memory,
    drive,
    emit,
    fmt_metrics,
    load_data,
    training_bytes,
)
from bet.config import BaselineConfig, run_budget
from bet.errors import ConfigError
from bet.evaluation import evaluate
from bet.methods import size_kinds
from bet.runtime import resolve_device
from bet.train import TrainConfig, train_sized


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="dataset statistics", description="Load a dataset, split it, print its size.")
    add_data_args(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "train",
        help="train one backbone with one size rule",
        description=(
            "Train a backbone from scratch with full-size, uniform, random or frequency-scaled "
            "embedding sizes, early-stopping on validation, and report test metrics."
        ),
    )
    add_data_args(p)
    p.add_argument("--backbone", required=True, choices=list(BACKBONES))
    p.add_argument(
        "--sparsity",
        type=float,
        default=None,
        metavar="C",
        help="fraction of the full table removed, in (0, 1); needs --sizes other than full",
    )
    p.add_argument(
        "--sizes",
        choices=list(size_kinds()),
        default=None,
        help="full (d_max for every row), uniform, random or frequency (default: full, or uniform with --sparsity)",
    )
    p.add_argument(
        "--epochs", type=int, default=300, help="maximum epochs; early stopping on validation (default: 300)"
    )
    p.add_argument(
        "--patience", type=int, default=5, help="evaluations without improvement before stopping (default: 5)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--d-max", type=int, default=D_MAX)
    add_device_arg(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_train)


def cmd_info(args: argparse.Namespace) -> int:
    data = load_data(args, evaluable=False)  # shows the counts, empty validation or test included
    c = data.counts()
    emit(args, c, "  ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}" for k, v in c.items()))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    sizes = args.sizes or ("full" if args.sparsity is None else "uniform")
    if args.epochs < 1:
        raise ConfigError("--epochs must be at least 1")
    if sizes == "full" and args.sparsity not in (None, 0.0):
        raise ConfigError("--sizes full keeps every dimension; with --sparsity choose uniform, random or frequency")
    if sizes != "full" and args.sparsity is None and args.backbone != "pop":
        raise ConfigError(f"--sizes {sizes} needs --sparsity C (e.g. 0.9 keeps 10% of the table)")
    data = load_data(args)
    if args.backbone != "pop":
        check_memory(training_bytes(data, args.d_max), f"training on {data.name} ({data.n_rows:,} rows)")
    device = resolve_device(args.device)
    sparsity = 0.0 if sizes == "full" else float(args.sparsity or 0.0)
    ref = BaselineConfig(
        backbone=args.backbone, method=size_kinds()[sizes], sparsity=sparsity, seed=args.seed, d_max=args.d_max
    )
    budget = run_budget(ref, data)  # the budget a stored run of these sizes has (full on NCF: both tables)
    t0 = time.perf_counter()
    action = None
    if args.backbone != "pop" and sizes != "full":
        action = budget_action(ref.method, data, budget, seed=args.seed, d_max=args.d_max, backbone=args.backbone)
    cfg = TrainConfig(epochs=args.epochs, patience=args.patience)
    gen = train_sized(data, args.backbone, action, cfg=cfg, seed=args.seed, device=device, d_max=args.d_max)
    model, result = drive(gen, Progress(quiet=False))
    test = evaluate(model, data, "test")
    out = {
        **test,
        "budget": budget,
        "cost": model.cost,
        "sparsity": sparsity,
        "sizes": "none" if args.backbone == "pop" else sizes,
        "backbone": args.backbone,
        "dataset": data.name,
        "steps": result.steps,
        "best_step": result.best_step,
        "valid": result.valid,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    human = (
        f"{args.backbone} on {data.name} ({out['sizes']} sizes, sparsity {sparsity}): cost {model.cost:,} "
        f"of budget {budget:,}; test {fmt_metrics(test)}; {out['seconds']:.1f}s"
    )
    emit(args, out, human)
    return 0
