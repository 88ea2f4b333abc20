"""Shared command-line plumbing: dataset/device options, JSON output; progress bars
(:mod:`bet.cli.progress`, re-exported here)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from bet.cli.output import bytes_writer, write_output  # noqa: F401 (the commands use them)
from bet.cli.progress import FreshLineHandler, LineStart, Progress, SearchProgress, drive  # noqa: F401 (re-exported)
from bet.config import LIMITS, check_range
from bet.data import BUILTIN, FORMATS, SPLIT_RULES, Dataset, check_evaluable, load_dataset
from bet.errors import ConfigError, shorten
from bet.frontier import FRONTIER_METHODS, parse_list
from bet.memory import available_memory, check_memory, training_bytes  # noqa: F401 (the CLI uses them)
from bet.runtime import DEVICES


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--dataset",
        default="gowalla-mini",
        metavar="NAME_OR_PATH",
        help=f"built-in ({', '.join(BUILTIN)}) or a path to your own file/folder (default: gowalla-mini)",
    )
    g.add_argument(
        "--split",
        choices=SPLIT_RULES,
        default="paper",
        help="paper: pool and split each user 50/25/25 at random; original: the files' own train/test (default: paper)",
    )
    g.add_argument("--split-seed", type=int, default=42, help="seed of the random split (default: 42)")
    g.add_argument(
        "--format",
        dest="fmt",
        choices=FORMATS,
        default="auto",
        help="how to read a file of your own (default: auto-detect)",
    )
    g.add_argument(
        "--min-rating",
        type=float,
        default=None,
        help="keep only rows whose rating (third column, or the column named 'rating') is at least this",
    )


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES, help="where to train (default: auto = CUDA if present)")


def add_json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")


def load_data(args: argparse.Namespace, evaluable: bool = True) -> Dataset:
    """The dataset the arguments name; ``evaluable``: refuse a split with an empty validation or
    test set (nothing to early-stop on or to report) before any training starts."""
    data = load_dataset(args.dataset, args.split, seed=args.split_seed, fmt=args.fmt, min_rating=args.min_rating)
    if evaluable:
        check_evaluable(data)
    return data


def validate_args(args: argparse.Namespace) -> None:
    """Range checks shared by every command (:data:`bet.config.LIMITS`), before anything is loaded
    or stored (so a refused command never leaves a run behind)."""
    for name in LIMITS:
        if name != "sparsities":
            check_range(name, getattr(args, name, None))
    rating = getattr(args, "min_rating", None)
    if rating is not None and not math.isfinite(rating):
        raise ConfigError(f"--min-rating must be a finite number, got {rating}")
    if isinstance(getattr(args, "sparsities", None), str):
        try:
            sparsities = parse_list(args.sparsities)
        except ConfigError:  # its message quotes the whole list: 10,000 values would flood the line
            raise ConfigError(
                f"--sparsities: expected comma-separated numbers, got {shorten(args.sparsities)}"
            ) from None
        check_list("sparsities", sparsities, float)
    if isinstance(getattr(args, "methods", None), str) and args.command == "frontier":
        check_list("methods", parse_list(args.methods, str), str)


def check_list(name: str, values: list[Any], kind: type) -> None:
    """A comma-separated option: at most ``LIMITS[name]`` entries (sparsities; methods: its
    choices), none twice; sparsities finite and in (0, 1), methods known."""
    if name == "sparsities":
        if len(values) > LIMITS[name][1]:
            raise ConfigError(f"--sparsities lists {len(values):,} values; at most {LIMITS[name][1]} at once")
        bad = [v for v in values if not 0 < v < 1]  # NaN and inf fail too
        if bad:
            raise ConfigError(f"--sparsities must each be in (0, 1), got {shorten(bad[0])}")
    else:
        unknown = [m for m in values if m not in FRONTIER_METHODS]
        if unknown:
            raise ConfigError(f"--methods: unknown {shorten(unknown[0])}; choose from {', '.join(FRONTIER_METHODS)}")
    twice = [v for i, v in enumerate(values) if v in values[:i]]
    if twice:
        raise ConfigError(f"--{name} lists {shorten(twice[0])} twice")


def clean(obj: Any) -> Any:
    """JSON-safe: NaN → null, numpy scalars → Python numbers."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def emit(args: argparse.Namespace, result: Any, human: str) -> None:
    """``--json``: the result as the last stdout line; otherwise the human summary."""
    if getattr(args, "json", False):
        print(json.dumps(clean(result)), flush=True)
    else:
        print(human, flush=True)


def fmt_metrics(m: dict[str, float] | None, keys: tuple[str, ...] = ("recall@20", "ndcg@20")) -> str:
    if not m:
        return "-"
    return "  ".join(f"{k} {m[k]:.4f}" for k in keys if k in m)
