"""``bet search``, and the search settings every search-running command shares (``bet sample``:
:mod:`bet.cli.sample`)."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from bet.backbones import BACKBONES
from bet.budget import D_MAX
from bet.cli.common import SearchProgress, add_data_args, add_device_arg, add_json_arg, emit, fmt_metrics
from bet.config import RETRAIN_FROM, DataSpec, SearchConfig
from bet.errors import ConfigError
from bet.predictor import PREDICTORS, TRAINING_MODES
from bet.presets import PRESETS, preset_settings
from bet.runs import job_events, prepare_resume, record, run_search
from bet.selection import SELECTIONS
from bet.store import RunStore, Status
from bet.train import AUTHORS_EARLY_STOP, EARLY_STOP

SEARCHABLE = [b for b in BACKBONES if b != "pop"]


def add_search_args(p: argparse.ArgumentParser, sparsity: bool = True) -> None:
    p.add_argument("--backbone", choices=SEARCHABLE, default="lightgcn")
    if sparsity:
        p.add_argument("--sparsity", type=float, metavar="C", help="fraction of the full table removed, in (0, 1)")
    g = p.add_argument_group("search (defaults: the --preset's; paper unless told)")
    g.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="paper",
        help=(
            "paper: the paper's settings, bit for bit (default); fast: multi-fidelity BET for real catalogues "
            "(T 20, 4-epoch finetunes scored on half the users, the top action warm-started; docs/results.md §7). "
            "Options given explicitly win over the preset"
        ),
    )
    g.add_argument("--iterations", "-T", type=int, default=None, help="search iterations T (paper 50, fast 20)")
    g.add_argument("--candidates", "-m", type=int, default=100, help="candidates sampled per iteration m (default 100)")
    g.add_argument("--finetune-epochs", type=int, default=None, help="finetune epochs h (paper: 10, NGCF 15; fast: 4)")
    g.add_argument(
        "--finetune-steps",
        type=int,
        default=None,
        help="finetune steps per candidate; overrides --finetune-epochs (default: h epochs, at least 100 steps)",
    )
    g.add_argument("--retrain-top", type=int, default=None, help="top actions retrained (paper 5, fast 1)")
    g.add_argument(
        "--retrain-from",
        choices=RETRAIN_FROM,
        default=None,
        help="retrain from scratch (paper) or warm-start from the pretrained rows truncated to the sizes (fast)",
    )
    g.add_argument(
        "--fitness-users",
        type=float,
        default=None,
        metavar="FRAC",
        help=(
            "score each candidate's fitness (and retraining's early stopping) on this fixed fraction of the "
            "validation users (paper 1, fast 0.5); final read-outs always use every user"
        ),
    )
    g.add_argument(
        "--parallel-candidates",
        "-q",
        type=int,
        default=1,
        metavar="Q",
        help=(
            "batched BET: finetune Q selected candidates per iteration at once (T·Q evaluated actions; "
            "default 1 = the paper's algorithm)"
        ),
    )
    g.add_argument(
        "--selection", choices=SELECTIONS, default="bet", help="bet: greedy/random/nearest rotation; random: ablation"
    )
    g.add_argument(
        "--predictor", choices=list(PREDICTORS), default="deepsets", help="fitness predictor (simple: ablation)"
    )
    g.add_argument(
        "--predictor-training",
        choices=TRAINING_MODES,
        default="fit",
        help="fit: 10 full-batch steps per iteration (default, measured better); paper: 2 single-pair steps",
    )
    g.add_argument(
        "--pretrain-epochs",
        type=int,
        default=None,
        help="most epochs for the full model (early stopping; 300 under either preset)",
    )
    g.add_argument(
        "--retrain-epochs",
        type=int,
        default=None,
        help="most epochs per retraining (early stopping; paper 300, fast 160: its references keep 300)",
    )
    g.add_argument(
        "--early-stop",
        choices=EARLY_STOP,
        default="ours",
        help=(
            "pretraining/retraining early stopping: ours (validate every 2 epochs, patience 5; default) or "
            "authors (every 2,000 steps, patience 3, as the authors' code)"
        ),
    )
    g.add_argument(
        "--redraws",
        type=int,
        default=0,
        metavar="K",
        help=(
            "a sampled side whose largest size exceeds d_max: 0 clips it (default); K > 0 redraws its "
            "family and β up to K times first, as the authors' code does (bet reproduce uses 20)"
        ),
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--d-max", type=int, default=D_MAX)
    add_device_arg(p)
    p.add_argument("--store", type=Path, default=None, help="run store file (default: $BET_HOME/bet.sqlite)")


def search_config(
    args: argparse.Namespace, sparsity: float, *, data: DataSpec | None = None, backbone: str | None = None
) -> SearchConfig:
    """The frozen search configuration from the command line (``data``/``backbone`` override)."""
    if data is None:
        data = DataSpec(args.dataset, args.split, args.split_seed, args.fmt, args.min_rating)
    stopping: dict[str, Any] = AUTHORS_EARLY_STOP if getattr(args, "early_stop", "ours") == "authors" else {}
    preset = preset_settings(getattr(args, "preset", "paper"))

    def given(name: str, key: str | None = None) -> Any:  # the option if given, else the preset's value
        value = getattr(args, name, None)
        return preset[key or name] if value is None else value

    fraction = getattr(args, "fitness_users", None)
    retrain = dataclasses.replace(preset["retrain"], **stopping)
    if args.retrain_epochs is not None:
        retrain = dataclasses.replace(retrain, epochs=args.retrain_epochs)
    if fraction is not None:  # one option for both samples: fitness and retraining's early stopping
        retrain = dataclasses.replace(retrain, eval_users=None if fraction >= 1 else fraction)
    pretrain = dataclasses.replace(preset["pretrain"], **stopping)
    if args.pretrain_epochs is not None:
        pretrain = dataclasses.replace(pretrain, epochs=args.pretrain_epochs)
    return SearchConfig(
        data=data,
        backbone=backbone or args.backbone,
        sparsity=sparsity,
        iterations=given("iterations"),
        candidates=args.candidates,
        finetune_epochs=given("finetune_epochs"),
        finetune_steps=args.finetune_steps,
        retrain_top=given("retrain_top"),
        parallel_candidates=args.parallel_candidates,
        selection=args.selection,
        predictor=args.predictor,
        predictor_training=args.predictor_training,
        seed=args.seed,
        device=args.device,
        d_max=args.d_max,
        redraws=args.redraws,
        pretrain=pretrain,
        retrain=retrain,
        preset=preset["preset"],
        fitness_users=None if fraction is not None and fraction >= 1 else given("fitness_users"),
        retrain_from=given("retrain_from"),
    ).validate()


@contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """First Ctrl-C (or SIGTERM, as ``kill`` or a service manager sends) asks the run to stop
    cleanly (within one training step); a second one aborts."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signals = (signal.SIGINT, signal.SIGTERM)
    main = threading.current_thread() is threading.main_thread()
    old = {sig: signal.signal(sig, handler) for sig in signals} if main else {}
    try:
        yield stop
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="run a BET search",
        description=(
            "Search per-user/per-item embedding sizes within a budget "
            "(BET), retrain the best actions from scratch, report the winner's test metrics. Every evaluated action "
            "is stored as it happens; a killed run continues with --resume RUN_ID."
        ),
    )
    add_data_args(p)
    add_search_args(p)
    p.add_argument(
        "--resume", metavar="RUN_ID", help="continue an interrupted or stopped search (its stored settings win)"
    )
    add_json_arg(p)
    p.set_defaults(func=cmd_search)


def cmd_search(args: argparse.Namespace) -> int:
    store = RunStore(args.store)
    if args.resume:
        # Claimed (atomically) and its data checked before the Ctrl-C handler: a Ctrl-C while
        # loading ends at once, and gives the run back as it was.
        job, data = prepare_resume(store, args.resume)
        assert isinstance(job.config, SearchConfig)  # resume_job refuses baselines
        progress, t0 = SearchProgress(job.config.iterations), time.perf_counter()
        with graceful_stop() as stop:
            run = record(store, job, job_events(job, data, stop), on_event=progress, stop=stop)
    else:
        if args.sparsity is None:
            raise ConfigError("--sparsity C is required (e.g. 0.9 keeps 10% of the table)")
        cfg = search_config(args, args.sparsity)
        progress, t0 = SearchProgress(cfg.iterations), time.perf_counter()
        with graceful_stop() as stop:
            run = run_search(cfg, store, stop=stop, on_event=progress)
    progress.close()
    res = run.result or {}
    out: dict[str, Any] = {
        "run_id": run.run_id,
        "status": run.status,
        "budget": run.budget,
        "cost": res.get("cost"),
        "iterations": run.iteration,
        "valid": res.get("valid"),
        "test": res.get("test"),
        "best_action_id": res.get("best_action_id"),
        "seconds": round(time.perf_counter() - t0, 2),
    }
    human = (
        f"run {run.run_id} {run.status}: cost {_count(out['cost'])} of budget {run.budget:,}; "
        f"test {fmt_metrics(out['test'])}; {out['seconds']:.0f}s (store: {store.path})"
    )
    emit(args, out, human)
    return 0 if run.status == Status.COMPLETED else 1


def _count(n: int | None) -> str:
    return "—" if n is None else f"{n:,}"
