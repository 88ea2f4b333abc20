"""Record what seeded searches decide and learn, to check that a speed-up changed none of it.

Runs three short seeded searches on gowalla-mini (``bet``, ``bet-random``, batched ``-q 2``) and
writes, per search, the stream of its rankings, evaluations, predictor updates and result (no
timings) as JSON. Run it on two commits, then compare:

    git worktree add /tmp/old <old commit>
    python bench/same_decisions.py --repo /tmp/old --out out/before.json   # bet from the old checkout
    python bench/same_decisions.py --out out/after.json                    # bet from this one
    python bench/same_decisions.py --compare out/before.json out/after.json

The comparison says, per search, whether the streams are identical, and if not, whether each kind
of event is (the order between kinds may differ, e.g. two updates after two evaluations).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent  # the repository this script is in
VARIANTS: dict[str, dict] = {"bet": {}, "bet-q2": {"parallel_candidates": 2}, "bet-random": {"selection": "random"}}


def story(ev: Any) -> list | None:
    from bet.events import CandidateEvaluated, CandidatesRanked, PredictorUpdated, RunFinished

    if isinstance(ev, CandidatesRanked):
        return ["ranked", ev.iteration, ev.predicted, ev.chosen, ev.also_chosen]
    if isinstance(ev, CandidateEvaluated):
        return ["evaluated", ev.iteration, ev.action_id, ev.fitness, ev.predicted, ev.strategy, ev.cost]
    if isinstance(ev, PredictorUpdated):
        return ["updated", ev.iteration, ev.loss, ev.spearman]
    if isinstance(ev, RunFinished):
        return ["finished", str(ev.status), ev.best_action_id, ev.test]
    return None


def record(iterations: int, finetune_steps: int) -> dict[str, list]:
    from bet.config import SearchConfig
    from bet.runs import run_search
    from bet.store import RunStore

    out: dict[str, list] = {}
    for name, extra in VARIANTS.items():
        cfg = SearchConfig(sparsity=0.95, iterations=iterations, finetune_steps=finetune_steps, retrain_top=1,
                           device="cpu", **extra)  # fmt: skip
        lines: list = []

        def keep(ev: Any, lines: list = lines) -> None:
            if (s := story(ev)) is not None:
                lines.append(s)

        run_search(cfg, RunStore(Path(tempfile.mkdtemp()) / "s.sqlite"), on_event=keep)
        out[name] = lines
    return out


def compare(a: dict[str, list], b: dict[str, list]) -> bool:
    same = True
    for name in sorted(set(a) | set(b)):
        x, y = a.get(name, []), b.get(name, [])
        if x == y:
            print(f"{name}: identical ({len(x)} events)")
            continue
        kinds = {
            k: [e for e in x if e[0] == k] == [e for e in y if e[0] == k]
            for k in ("ranked", "evaluated", "updated", "finished")
        }
        verdict = "the same events, in another order" if all(kinds.values()) else "DIFFERENT"
        same &= all(kinds.values())
        print(f"{name}: {verdict}: " + ", ".join(f"{k} {'same' if v else 'differ'}" for k, v in kinds.items()))
    return same


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, help="write the record here (JSON)")
    ap.add_argument("--repo", type=Path, default=ROOT, help="the checkout whose bet to run (default: this one)")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"))
    ap.add_argument("--iterations", type=int, default=12)
    ap.add_argument("--finetune-steps", type=int, default=40)
    args = ap.parse_args(argv)
    if args.compare:
        before, after = (json.loads(p.read_text()) for p in args.compare)
        return 0 if compare(before, after) else 1
    if args.out is None:
        ap.error("give --out FILE (record) or --compare BEFORE AFTER")
    sys.path.insert(0, str(args.repo.resolve()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record(args.iterations, args.finetune_steps)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
