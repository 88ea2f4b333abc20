"""Progress on the command line: tqdm bars per training and for the search, phase lines, and log
records that start on a fresh line below a bar."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Generator
from typing import Any, TypeVar

from tqdm import tqdm

from bet.events import (
    CandidateEvaluated,
    Event,
    PhaseChanged,
    PretrainFinished,
    RetrainFinished,
    RunFinished,
    TrainProgress,
)
from bet.status import Status

T = TypeVar("T")


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
            desc = ev.phase + (f" {ev.label}" if ev.label else "") + (" (resumed)" if ev.resumed_from else "")
            bar = self.bars[key] = tqdm(
                total=ev.total_steps,
                initial=ev.resumed_from,  # a training going on from its snapshot: its rate counts from here
                desc=desc,
                unit="step",
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
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
