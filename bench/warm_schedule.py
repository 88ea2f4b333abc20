"""How fast does a retraining warm-started from the pretrained rows converge, by learning-rate
schedule? (Chooses the ``fast`` preset's retraining schedule; docs/results.md §7.)

Takes the best evaluated action of a stored search, warm-starts it from the cached pretrained full
model truncated to its sizes, trains with the given schedule and prints validation R@20 (on the
preset's fixed half of the users) at every evaluation, then the exact read-outs of the best
weights (validation on every user; test as a read-out only).

    python bench/warm_schedule.py --store out/fast.sqlite --run RUN_ID --lr 0.03 --decay 0.95 \\
        --every 50 --steps 2500 --pretrain-epochs 40
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for `bet`

import argparse
import dataclasses
import json
import time

import torch

from bet.config import PRETRAIN, RETRAIN, SearchConfig
from bet.evaluation import evaluate
from bet.runtime import tune_heap
from bet.store import RunStore
from bet.train import pretrain, train_sized


def drain(gen):  # type: ignore[no-untyped-def]
    events = []
    try:
        while True:
            events.append(next(gen))
    except StopIteration as done:
        return done.value, events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, required=True)
    ap.add_argument("--run", required=True)
    ap.add_argument("--lr", type=float, default=RETRAIN.lr)
    ap.add_argument("--decay", type=float, default=RETRAIN.lr_decay)
    ap.add_argument("--every", type=int, default=RETRAIN.lr_decay_every)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--patience", type=int, default=RETRAIN.patience)
    ap.add_argument("--pretrain-epochs", type=int, default=40)
    ap.add_argument("--scratch", action="store_true", help="from scratch instead (the comparison)")
    args = ap.parse_args()
    tune_heap()  # as the CLI: table-sized tensors reused from the heap (docs/results.md §7.5)
    store = RunStore(args.store)
    run = store.get_run(args.run)
    cfg = SearchConfig.from_dict(run.config)
    data = cfg.data.load()
    dev = torch.device("cpu")
    schedule = dataclasses.replace(PRETRAIN, epochs=args.pretrain_epochs)
    model, _, cached = drain(pretrain(data, cfg.backbone, schedule, seed=cfg.seed, device=dev))[0]
    assert cached, "pretrain the full model first (bet reproduce --methods full)"
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    best = max(store.actions(args.run), key=lambda a: a["fitness"])
    action = store.action(args.run, best["action_id"])
    train = dataclasses.replace(
        RETRAIN, steps=args.steps, lr=args.lr, lr_decay=args.decay, lr_decay_every=args.every,
        patience=args.patience, eval_users=0.5,
    )  # fmt: skip
    t0 = time.perf_counter()
    (fitted, res), events = drain(
        train_sized(
            data, cfg.backbone, action, cfg=train, seed=cfg.seed, device=dev, init=None if args.scratch else state
        )
    )
    curve = [(e.step, round(e.valid["recall@20"], 4)) for e in events if getattr(e, "valid", None)]
    out = {
        "lr": args.lr, "decay": args.decay, "every": args.every, "scratch": args.scratch, "action": best["action_id"],
        "steps": res.steps, "best_step": res.best_step, "valid_r20_all_users": round(res.valid["recall@20"], 4),
        "test_r20": round(evaluate(fitted, data, "test")["recall@20"], 4),
        "seconds": round(time.perf_counter() - t0, 1), "curve_half_users": curve,
    }  # fmt: skip
    print(json.dumps(out))


if __name__ == "__main__":
    main()
