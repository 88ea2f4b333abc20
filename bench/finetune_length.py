"""How long must a candidate be finetuned for its fitness to rank actions the way a full
retraining would? (Chooses ``MIN_FINETUNE_STEPS``; see docs/results.md.)

For one sparsity on gowalla-mini / LightGCN: sample actions with BET's sampler, finetune each from
the pretrained model for up to --max-steps steps recording validation quality at checkpoints,
retrain a subset from scratch (the selective-retraining schedule), and report the Spearman
correlation of fitness at each checkpoint with (a) fitness at the longest finetune and (b) the
retrained validation quality. Saves every record (with the sizes) to --out for offline analysis
of predictor training.

    python bench/finetune_length.py --sparsity 0.95 --actions 40 --retrain 12 --out out/ft095.npz
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for `bet`

import argparse
import json
import time

import numpy as np
import scipy.stats as st

from bet.baselines import baseline_action
from bet.budget import budget_for
from bet.config import PRETRAIN, RETRAIN, DataSpec
from bet.evaluation import evaluate, quality
from bet.sampler import ActionSampler
from bet.train import FINETUNE, pretrain, train_iter, train_sized


def drain(gen):  # type: ignore[no-untyped-def]
    try:
        while True:
            next(gen)
    except StopIteration as done:
        return done.value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="gowalla-mini")
    ap.add_argument("--backbone", default="lightgcn")
    ap.add_argument("--sparsity", type=float, default=0.95)
    ap.add_argument("--actions", type=int, default=40)
    ap.add_argument("--retrain", type=int, default=12)
    ap.add_argument("--max-steps", type=int, default=300)
    ap.add_argument("--checkpoints", default="25,50,100,150,200,300")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="out/finetune_length.npz")
    args = ap.parse_args()
    import torch

    data = DataSpec(args.dataset).load()
    dev = torch.device("cpu")
    model, full_valid, _ = drain(pretrain(data, args.backbone, PRETRAIN, seed=args.seed, device=dev))
    q_full = quality(full_valid)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    sampler = ActionSampler.for_data(data, budget_for(args.sparsity, data.n_rows))
    batch = sampler.sample(args.actions, np.random.default_rng([args.seed, 999]))
    actions = [batch.action(i) for i in range(len(batch))]
    names = [f"sampled{i}" for i in range(len(batch))]
    for m in ("su", "mde"):
        actions.append(baseline_action(m, data, args.sparsity, args.seed))
        names.append(m)
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    fit = np.zeros((len(actions), len(checkpoints)))
    t0 = time.time()
    for a, action in enumerate(actions):
        model.load_state_dict(state)
        model.set_action(action)
        cfg = FINETUNE.__class__(**{**FINETUNE.__dict__, "steps": args.max_steps})
        gen = train_iter(model, data, cfg, seed=args.seed, phase="finetune")
        for ev in gen:
            if ev.step in checkpoints:
                fit[a, checkpoints.index(ev.step)] = quality(evaluate(model, data, "valid")) / q_full
        print(f"[{time.time() - t0:6.0f}s] {names[a]:10s} " + " ".join(f"{x:.4f}" for x in fit[a]), flush=True)
    # retrain: SU, MDE and the top/bottom/middle of the longest finetune
    order = np.argsort(-fit[: args.actions, -1])
    pick = sorted(set(order[np.linspace(0, args.actions - 1, max(args.retrain - 2, 2)).astype(int)].tolist()))
    pick += [args.actions, args.actions + 1]
    retr_valid, retr_test = np.full(len(actions), np.nan), np.full(len(actions), np.nan)
    for a in pick:
        m, res = drain(
            train_sized(data, args.backbone, actions[a], RETRAIN, seed=args.seed, device=dev, phase="retrain")
        )
        retr_valid[a] = quality(res.valid)
        retr_test[a] = evaluate(m, data, "test")["recall@20"]
        print(
            f"[{time.time() - t0:6.0f}s] retrain {names[a]:10s} valid q {retr_valid[a]:.4f} test R@20 {retr_test[a]:.4f} steps {res.steps}",
            flush=True,
        )
    sampled = np.arange(args.actions)
    report = {}
    for j, c in enumerate(checkpoints):
        vs_long = st.spearmanr(fit[sampled, j], fit[sampled, -1]).statistic
        mask = ~np.isnan(retr_valid)
        vs_retrain = st.spearmanr(fit[mask, j], retr_valid[mask]).statistic
        report[c] = {"vs_longest": round(float(vs_long), 3), "vs_retrain": round(float(vs_retrain), 3)}
    print(json.dumps({"sparsity": args.sparsity, "spearman": report}, indent=1))
    np.savez_compressed(
        args.out, fit=fit, checkpoints=checkpoints, names=names, retrain_valid=retr_valid, retrain_test=retr_test,
        user_sizes=np.stack([a.user_sizes for a in actions]), item_sizes=np.stack([a.item_sizes for a in actions]),
        user_share=np.r_[batch.user_share, np.nan, np.nan],
    )  # fmt: skip


if __name__ == "__main__":
    main()
