"""Shared command-line plumbing: dataset/device options, JSON output, progress bars."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Generator
from typing import Any, TypeVar

from tqdm import tqdm

from bet.data import BUILTIN, FORMATS, SPLITS, Dataset, load_dataset
from bet.events import Event, TrainProgress
from bet.pipeline import DEVICES

T = TypeVar("T")


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
        choices=SPLITS,
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
    g.add_argument("--min-rating", type=float, default=None,
                   help="keep only rows whose rating (third column, or the column named 'rating') is at least this")  # fmt: skip


def add_device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", choices=DEVICES, help="where to train (default: auto = CUDA if present)")


def add_json_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")


def load_data(args: argparse.Namespace) -> Dataset:
    return load_dataset(args.dataset, args.split, args.split_seed, args.fmt, args.min_rating)


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


class Progress:
    """tqdm bars on stderr for a stream of events (one bar per phase/label)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.bar: tqdm | None = None
        self.key: tuple[str, str] | None = None

    def __call__(self, ev: Event) -> None:
        if self.quiet or not isinstance(ev, TrainProgress):
            return
        key = (ev.phase, ev.label)
        if key != self.key or self.bar is None or ev.step == 1:
            self.close()
            desc = ev.phase + (f" {ev.label}" if ev.label else "")
            self.bar = tqdm(
                total=ev.total_steps, desc=desc, unit="step", file=sys.stderr, leave=False, dynamic_ncols=True
            )
            self.key = key
        self.bar.update(ev.step - self.bar.n)
        post = {"loss": f"{ev.loss:.4f}"}
        if ev.valid:
            post["valid R@20"] = f"{ev.valid['recall@20']:.4f}"
        self.bar.set_postfix(post, refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def drive(gen: Generator[Event, None, T], progress: Progress) -> T:
    """Run an event generator to its end, showing progress; returns its result."""
    try:
        while True:
            progress(next(gen))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        progress.close()
