"""Shared command-line plumbing: dataset/device options, JSON output, progress bars."""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import threading
from collections.abc import Generator
from typing import Any, TypeVar

from tqdm import tqdm

from bet.cli.output import bytes_writer, write_output  # noqa: F401 (the commands use them)
from bet.config import LIMITS, check_range
from bet.data import BUILTIN, FORMATS, SPLITS, Dataset, check_evaluable, load_dataset
from bet.errors import ConfigError, shorten
from bet.estimate import available_memory, check_memory, training_bytes  # noqa: F401 (the CLI uses them)
from bet.events import (
    CandidateEvaluated,
    Event,
    PhaseChanged,
    PretrainFinished,
    RetrainFinished,
    RunFinished,
    TrainProgress,
)
from bet.frontier import FRONTIER_METHODS, parse_list
from bet.runtime import DEVICES
from bet.store import Status

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
    data = load_dataset(args.dataset, args.split, args.split_seed, args.fmt, args.min_rating)
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


class LineStart:
    """``sys.stderr`` as the command line uses it, knowing whether the next character starts a
    line (the last one written was a newline, or a carriage return on a terminal): an error or a
    warning after a progress bar then never shares its line, in a log file (where tqdm's ``\r``
    updates stay on one line) as on a terminal."""

    def __init__(self, stream: Any):
        self.stream = stream
        self.at_start = True
        self.tty = bool(getattr(stream, "isatty", lambda: False)())

    def write(self, text: str) -> int:
        if text:
            self.at_start = text.endswith("\n") or (self.tty and text.endswith("\r"))
        return int(self.stream.write(text))

    def fresh_line(self) -> None:
        if not self.at_start:
            self.write("\n")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class FreshLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Log records (the library's warnings) on a line of their own after a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(self.stream, LineStart):
            self.stream.fresh_line()
        super().emit(record)


class Progress:
    """tqdm bars on stderr for a stream of events: one bar per training (phase and label), so that
    trainings running side by side (a search's parallel retrains) each keep their own bar."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self.bars: dict[tuple[str, str], tqdm] = {}

    def __call__(self, ev: Event) -> None:
        if self.quiet or not isinstance(ev, TrainProgress):
            return
        key = (ev.phase, ev.label)
        bar = self.bars.get(key)
        if bar is None or ev.step < bar.n:  # a new training (or the same label started again)
            self.finish(key)
            desc = ev.phase + (f" {ev.label}" if ev.label else "")
            bar = self.bars[key] = tqdm(
                total=ev.total_steps, desc=desc, unit="step", file=sys.stderr, leave=False, dynamic_ncols=True
            )
        post = {"loss": f"{ev.loss:.4f}"}
        if ev.valid:
            post["valid R@20"] = f"{ev.valid['recall@20']:.4f}"
        bar.set_postfix(post, refresh=False)
        bar.update(ev.step - bar.n)
        if ev.step >= ev.total_steps:
            self.finish(key)

    def finish(self, key: tuple[str, str]) -> None:
        """Close the bar of one training (it ended, e.g. stopped early)."""
        if (bar := self.bars.pop(key, None)) is not None:
            bar.close()

    def close(self) -> None:
        for key in list(self.bars):
            self.finish(key)


def drive(gen: Generator[Event, None, T], progress: Progress) -> T:
    """Run an event generator to its end, showing progress; returns its result."""
    try:
        while True:
            progress(next(gen))
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    finally:
        progress.close()


class SearchProgress(Progress):
    """An iteration bar for the search, a step bar for each training, one line per milestone."""

    def __init__(self, iterations: int = 0, quiet: bool = False):
        super().__init__(quiet)
        self.iterations = iterations
        self.outer: tqdm | None = None
        self.best = float("-inf")
        self.best_valid: float | None = None  # the best finetuned candidate's validation R@20 (provisional)
        self.lock = threading.Lock()

    def __call__(self, ev: Event) -> None:
        if self.quiet:
            return
        with self.lock:
            self._handle(ev)

    def _handle(self, ev: Event) -> None:
        if isinstance(ev, PhaseChanged):
            self.close()
            if ev.phase == "retrain" and self.best_valid is not None:  # an answer before retraining ends
                tqdm.write(
                    f"  provisional: the best finetuned candidate has valid R@20 {self.best_valid:.4f} "
                    "(finetuned, not yet retrained)",
                    file=sys.stderr,
                )
            tqdm.write(f"[{ev.phase}] {ev.detail}", file=sys.stderr)
            if ev.phase == "search" and self.iterations:
                self.outer = tqdm(
                    total=self.iterations, desc="search", unit="it", file=sys.stderr, position=1, leave=False
                )
        elif isinstance(ev, PretrainFinished):
            src = "from cache" if ev.cached else f"in {ev.seconds:.0f}s"
            tqdm.write(f"  full model {src}: valid R@20 {ev.valid['recall@20']:.4f}", file=sys.stderr)
        elif isinstance(ev, CandidateEvaluated):
            if ev.iteration > 0 and ev.fitness > self.best:
                self.best, self.best_valid = ev.fitness, ev.valid.get("recall@20")
            if ev.iteration > 0 and self.outer is not None:
                self.outer.update(1)
                post = {"fitness": f"{ev.fitness:.4f}", "best": f"{self.best:.4f}"}
                if self.best_valid is not None:
                    post["best valid R@20"] = f"{self.best_valid:.4f}"
                self.outer.set_postfix(post, refresh=False)
        elif isinstance(ev, RetrainFinished):
            steps = ""
            for key in [k for k in self.bars if k[0] == "retrain" and k[1].startswith(f"{ev.rank}/")]:
                bar = self.bars[key]
                if bar.total and bar.n < bar.total:  # its bar would stay at its last step: say why
                    steps = (
                        f" after {bar.n:,} of at most {bar.total:,} steps"
                        " (early stopping: validation stopped improving)"
                    )
                self.finish(key)
            tqdm.write(
                f"  retrained #{ev.rank} (action {ev.action_id}): valid R@20 {ev.valid['recall@20']:.4f}{steps}",
                file=sys.stderr,
            )
        elif isinstance(ev, RunFinished):
            self.close()
            if ev.status != Status.COMPLETED:
                tqdm.write(f"  {ev.status}: {ev.reason}", file=sys.stderr)
        else:
            super().__call__(ev)

    def close(self) -> None:
        super().close()
        if self.outer is not None:
            self.outer.close()
            self.outer = None
