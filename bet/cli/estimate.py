"""``bet estimate``: how long a configured search would take on this machine, per phase."""

from __future__ import annotations

import argparse
import sys
import time

from tqdm import tqdm

from bet.cli.common import add_data_args, add_json_arg, emit, load_data
from bet.cli.search import add_search_args, search_config
from bet.errors import ConfigError
from bet.estimate import LONG_RUN, cached_timings, measure, plan, pretrain_resumes_at
from bet.load import BUSY_SLOWDOWN, cpu_cores, load_average, started_now
from bet.report.collect import fmt_seconds
from bet.runtime import resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "estimate",
        help="estimated duration of a search on this machine",
        description=(
            "Measure a few training steps and a validation pass (timed on a sample of users, "
            "scaled by users) of the backbone on the dataset (cached per machine), then estimate each phase of the "
            "configured search. "
            "Runs completed on this machine refine it: how long early stopping let their trainings run, and how their "
            "phases compared with the measured steps (the median of the most recent, each as if it had had the "
            "machine alone). The estimate is for the machine alone; when other work keeps it busy now, it also says "
            "what a run started now would take."
        ),
    )
    add_data_args(p)
    add_search_args(p)
    add_json_arg(p)
    p.set_defaults(func=cmd_estimate)


def cmd_estimate(args: argparse.Namespace) -> int:
    if args.sparsity is None:
        raise ConfigError("--sparsity C is required (e.g. 0.95 keeps 5% of the table)")
    cfg = search_config(args, args.sparsity)
    load = load_average()  # before this command's own work adds to it
    data = load_data(args)
    device = resolve_device(cfg.device)
    cached = cached_timings(data, cfg.backbone, device, d_max=cfg.d_max) is not None
    t0 = time.perf_counter()
    desc, fmt = f"measuring {cfg.backbone} on {data.name}", "{desc}: {n_fmt}/{total_fmt} stages [{elapsed}] {postfix}"
    with tqdm(desc=desc, bar_format=fmt, file=sys.stderr, leave=False, disable=cached) as bar:

        def show(done: int, total: int, what: str) -> None:
            bar.total = total
            bar.set_postfix_str(what, refresh=False)
            bar.update(done - bar.n)

        timings = measure(data, cfg.backbone, device, d_max=cfg.d_max, progress=show)
    phases = plan(cfg, data, timings)
    total = sum(phases.values())
    resumes = pretrain_resumes_at(cfg, data) if phases["pretrain"] > 0 else 0
    how = {
        "cached": cached,
        "seconds": round(time.perf_counter() - t0, 1),
        "steps": timings.steps,
        "eval_users": timings.eval_users,
        "valid_users": timings.valid_users,
        "eval_scaled": "linear in users",
        "compile_seconds": round(timings.compile, 1),
        "contention": timings.contention,  # above BUSY_CONTENTION: measured busy, timed again on one thread
        "observed_runs": len(timings.observed),
    }
    busy = 1.0 if device.type != "cpu" else started_now(load)
    out = {
        "preset": cfg.preset,
        "seconds": round(total, 1),
        "now": {
            "load": None if load is None else round(load, 2),
            "cores": cpu_cores(),
            "slowdown": round(busy, 2),
            "seconds": round(total * busy, 1),
        },
        "phases": {k: round(v, 1) for k, v in phases.items()},
        "long": total > LONG_RUN,
        "measured": how,
        "pretrain_resumes_at": resumes,  # the step its snapshot goes on from (0: from the start)
    }
    human = "  ".join(f"{k} {fmt_seconds(v)}" for k, v in phases.items() if v >= 0.5)
    warn = ""
    if total > LONG_RUN:
        faster = " --preset fast (a fraction of the steps, docs/results.md §7), or" if cfg.preset != "fast" else ""
        warn = (
            f"\n  over {LONG_RUN / 60:.0f} minutes: try{faster} fewer iterations (-T), shorter finetunes "
            "(--finetune-steps), fewer actions retrained (--retrain-top), or a GPU (--device cuda)"
        )
    note = (
        f"\n(measured{' earlier' if cached else ''}: {timings.steps} training steps per width; validation timed on "
        f"{timings.eval_users:,} of {timings.valid_users:,} users, scaled by users; "
        f"{timings.compile:.1f} s one-off compile left out; "
        + (
            f"refined by the {len(timings.observed)} most recent run(s) of it completed here)"
            if timings.observed
            else "no run of it completed here yet to refine it: early-stopped trainings assumed of typical length)"
        )
    )
    if timings.busy:
        note += (
            f"\n(measured while other work held the CPUs: the timed steps took {timings.contention:.1f}x their own "
            "CPU time, so they were timed again on one thread and that CPU time kept; a rough figure, measured "
            "again once the machine is idle)"
        )
    if resumes:
        note += (
            f"\n(the full model's pretraining goes on from its snapshot at step {resumes:,}: only the rest is counted)"
        )
    now = ""
    if busy > BUSY_SLOWDOWN:
        now = (
            f"\n  the machine is busy now (load {load:.1f} on {cpu_cores()} cores): a run started now would take about "
            f"{fmt_seconds(total * busy)} ({busy:.1f}x)"
        )
    emit(args, out, f"estimated {fmt_seconds(total)} on this machine alone: {human}{now}{warn}{note}")
    return 0
