"""How long must a candidate be finetuned for its fitness to rank actions the way a full
retraining would? (Chooses ``MIN_FINETUNE_STEPS``; see docs/results.md.)

For one sparsity on gowalla-mini / LightGCN: sample actions with BET's sampler, finetune each from
the pretrained model for up to --max-steps steps recording validation quality at checkpoints,
retrain a subset from scratch (the selective-retraining schedule), and report the Spearman
correlation of fitness at each checkpoint with (a) fitness at the longest finetune and (b) the
retrained validation quality. Saves every record (with the sizes) to --out for offline analysis
of predictor training.

    python bench/finetune_length.py --sparsity 0.95 --actions 40 --retrain 12 --out out/ft095.npz

The `fast` preset's ingredients (docs/results.md §7): ``--users 0.5`` also scores every checkpoint
on the fixed half of the validation users the preset uses (Spearman of that against the longest
finetune on every user); ``--warm`` also retrains each picked action warm-started from the
pretrained rows (the preset's retraining) beside from scratch (``--no-scratch`` skips scratch,
for full-size data where one takes most of an hour):

    python bench/finetune_length.py --dataset gowalla --pretrain-epochs 40 --actions 10 --retrain 0 \
        --max-steps 530 --checkpoints 106,212,530 --users 0.5 --out out/ft-gowalla.npz
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
from bet.evaluation import evaluate, quality, user_sample
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
    ap.add_argument("--pretrain-epochs", type=int, default=PRETRAIN.epochs)
    ap.add_argument("--users", type=float, default=None, help="also score checkpoints on this fraction of users")
    ap.add_argument("--warm", action="store_true", help="also retrain warm-started from the pretrained rows")
    ap.add_argument("--no-scratch", action="store_true", help="skip retraining from scratch")
    args = ap.parse_args()
    import torch

    data = DataSpec(args.dataset).load()
    dev = torch.device("cpu")
    schedule = PRETRAIN.__class__(**{**PRETRAIN.__dict__, "epochs": args.pretrain_epochs})
    model, full_valid, _ = drain(pretrain(data, args.backbone, schedule, seed=args.seed, device=dev))
    q_full = quality(full_valid)
    sample = user_sample(data, args.users, args.seed)
    q_full_sample = quality(evaluate(model, data, "valid", users=sample)) if sample is not None else q_full
    state = {k: v.clone() for k, v in model.state_dict().items()}
    sampler = ActionSampler.for_data(data, budget_for(args.sparsity, n_rows=data.n_rows))
    batch = sampler.sample(args.actions, np.random.default_rng([args.seed, 999]))
    actions = [batch.action(i) for i in range(len(batch))]
    names = [f"sampled{i}" for i in range(len(batch))]
    for m in ("su", "mde"):
        actions.append(baseline_action(m, data, args.sparsity, seed=args.seed))
        names.append(m)
    checkpoints = [int(c) for c in args.checkpoints.split(",")]
    fit = np.zeros((len(actions), len(checkpoints)))
    fit_sample = np.zeros_like(fit)
    t0 = time.time()
    for a, action in enumerate(actions):
        model.load_state_dict(state)
        model.set_action(action)
        cfg = FINETUNE.__class__(**{**FINETUNE.__dict__, "steps": args.max_steps})
        gen = train_iter(model, data, cfg, seed=args.seed, phase="finetune")
        for ev in gen:
            if ev.step in checkpoints:
                model.eval()
                fit[a, checkpoints.index(ev.step)] = quality(evaluate(model, data, "valid")) / q_full
                if sample is not None:
                    fit_sample[a, checkpoints.index(ev.step)] = (
                        quality(evaluate(model, data, "valid", users=sample)) / q_full_sample
                    )
                model.train()
        print(f"[{time.time() - t0:6.0f}s] {names[a]:10s} " + " ".join(f"{x:.4f}" for x in fit[a]), flush=True)
    # retrain: SU, MDE and the top/bottom/middle of the longest finetune
    order = np.argsort(-fit[: args.actions, -1])
    pick = sorted(set(order[np.linspace(0, args.actions - 1, max(args.retrain - 2, 2)).astype(int)].tolist()))
    pick += [args.actions, args.actions + 1]
    if args.retrain == 0:
        pick = []
    retr_valid, retr_test = np.full(len(actions), np.nan), np.full(len(actions), np.nan)
    warm = {}
    warm_cfg = RETRAIN.__class__(**{**RETRAIN.__dict__, "eval_users": args.users})
    for a in pick:
        for how in (["scratch"] if not args.no_scratch else []) + (["warm"] if args.warm else []):
            t1 = time.time()
            m, res = drain(
                train_sized(
                    data, args.backbone, actions[a], cfg=RETRAIN if how == "scratch" else warm_cfg, seed=args.seed,
                    device=dev, phase="retrain", init=state if how == "warm" else None,
                )
            )  # fmt: skip
            q, r20 = quality(res.valid), evaluate(m, data, "test")["recall@20"]
            if how == "scratch":
                retr_valid[a], retr_test[a] = q, r20
            else:
                warm[names[a]] = {"valid_q": round(q, 4), "valid_r20": round(res.valid["recall@20"], 4),
                                  "test_r20": round(r20, 4), "steps": res.steps, "best_step": res.best_step}  # fmt: skip
            print(
                f"[{time.time() - t0:6.0f}s] retrain {how:7s} {names[a]:10s} valid q {q:.4f} R@20 "
                f"{res.valid['recall@20']:.4f} test R@20 {r20:.4f} steps {res.steps} (best {res.best_step}) "
                f"{time.time() - t1:.0f}s",
                flush=True,
            )
    sampled = np.arange(args.actions)
    report = {}
    for j, c in enumerate(checkpoints):
        vs_long = st.spearmanr(fit[sampled, j], fit[sampled, -1]).statistic
        mask = ~np.isnan(retr_valid)
        vs_retrain = st.spearmanr(fit[mask, j], retr_valid[mask]).statistic if mask.sum() > 2 else float("nan")
        report[c] = {"vs_longest": round(float(vs_long), 3), "vs_retrain": round(float(vs_retrain), 3)}
        if sample is not None:
            report[c]["sample_vs_longest"] = round(
                float(st.spearmanr(fit_sample[sampled, j], fit[sampled, -1]).statistic), 3
            )
            report[c]["sample_vs_same"] = round(
                float(st.spearmanr(fit_sample[sampled, j], fit[sampled, j]).statistic), 3
            )
    print(json.dumps({"sparsity": args.sparsity, "users": args.users, "spearman": report, "warm": warm}, indent=1))
    np.savez_compressed(
        args.out, fit=fit, fit_sample=fit_sample, checkpoints=checkpoints, names=names, retrain_valid=retr_valid, retrain_test=retr_test,
        user_sizes=np.stack([a.user_sizes for a in actions]), item_sizes=np.stack([a.item_sizes for a in actions]),
        user_share=np.r_[batch.user_share, np.nan, np.nan],
    )  # fmt: skip


if __name__ == "__main__":
    main()
