"""Progress bars for searches and sweeps (stderr, tqdm)."""

from __future__ import annotations

import sys
import threading

from tqdm import tqdm

from bet.cli.common import Progress
from bet.events import CandidateEvaluated, Event, PhaseChanged, PretrainFinished, RetrainFinished, RunFinished
from bet.store import Status


class SearchProgress(Progress):
    """An iteration bar for the search, a step bar for each training, one line per milestone."""

    def __init__(self, iterations: int = 0, quiet: bool = False):
        super().__init__(quiet)
        self.iterations = iterations
        self.outer: tqdm | None = None
        self.best = float("-inf")
        self.lock = threading.Lock()

    def __call__(self, ev: Event) -> None:
        if self.quiet:
            return
        with self.lock:
            self._handle(ev)

    def _handle(self, ev: Event) -> None:
        if isinstance(ev, PhaseChanged):
            self.close()
            tqdm.write(f"[{ev.phase}] {ev.detail}", file=sys.stderr)
            if ev.phase == "search" and self.iterations:
                self.outer = tqdm(
                    total=self.iterations, desc="search", unit="it", file=sys.stderr, position=1, leave=False
                )
        elif isinstance(ev, PretrainFinished):
            src = "from cache" if ev.cached else f"in {ev.seconds:.0f}s"
            tqdm.write(f"  full model {src}: valid R@20 {ev.valid['recall@20']:.4f}", file=sys.stderr)
        elif isinstance(ev, CandidateEvaluated):
            if ev.iteration > 0 and self.outer is not None:
                self.best = max(self.best, ev.fitness)
                self.outer.update(1)
                self.outer.set_postfix({"fitness": f"{ev.fitness:.4f}", "best": f"{self.best:.4f}"}, refresh=False)
        elif isinstance(ev, RetrainFinished):
            for key in [k for k in self.bars if k[0] == "retrain" and k[1].startswith(f"{ev.rank}/")]:
                self.finish(key)  # stopped early: its bar would stay at its last step
            tqdm.write(
                f"  retrained #{ev.rank} (action {ev.action_id}): valid R@20 {ev.valid['recall@20']:.4f}",
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
