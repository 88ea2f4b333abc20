"""One LightGCN training step on full Gowalla: BET Studio's step versus a reference step written
in the style of the public LightGCN-PyTorch code (gusye1234/LightGCN-PyTorch).

Both at BET's settings: d_max 128, 3 layers, batch of 10,000 users, BPR + L2 1e-4, Adam, one torch
thread. Each variant runs in its own subprocess so that its peak RSS (``ru_maxrss``) is its own;
the parent alternates the two ``--rounds`` times (the machine may be shared: alternating spreads
any load over both) and prints median step times, their ratio (target ≤ 0.6×) and peak RSS. Both
run under the CLI's malloc setting (``bet.runtime.tune_heap``; ``BET_MALLOC=lean`` for the old one).

* **bet**: :class:`bet.backbones.LightGCN` (budgeted table, CSR propagation as one fused autograd
  node, BPR with a scatter backward), the vectorised :class:`bet.train.BPRSampler`, fused
  Adam, exactly as :func:`bet.train.train_iter` runs a step.
* **reference**: ``nn.Embedding`` tables; a coalesced COO ``D^-1/2 A D^-1/2`` and
  ``torch.sparse.mm`` per layer with autograd through it; layer mean via ``stack``; positives and
  negatives drawn per user in a Python loop (``UniformSample_original_python``); embedding lookups
  by indexing; ``reg = ½(‖u₀‖² + ‖i₀⁺‖² + ‖i₀⁻‖²) / B`` × 1e-4; ``torch.optim.Adam``.

    python bench/lightgcn_step.py                 # both variants, 2 rounds of 8 timed steps
    python bench/lightgcn_step.py --steps 4 --rounds 1 --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BATCH = 10_000
D_MAX = 128
LAYERS = 3
REG = 1e-4
LR = 0.03


def rss_mib() -> float:
    """Current resident set size (MiB)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- the reference step, LightGCN-PyTorch style ---------------------------------------------


def reference_step_factory(data: Any, seed: int) -> Any:
    import numpy as np
    import scipy.sparse as sp
    import torch
    from torch import nn

    n_users, n_items = data.n_users, data.n_items
    torch.manual_seed(seed)
    np.random.seed(seed)

    class RefLightGCN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding_user = nn.Embedding(n_users, D_MAX)
            self.embedding_item = nn.Embedding(n_items, D_MAX)
            nn.init.normal_(self.embedding_user.weight, std=0.1)
            nn.init.normal_(self.embedding_item.weight, std=0.1)
            # getSparseGraph(): D^-1/2 A D^-1/2 as a coalesced COO tensor.
            r = data.train.tocsr().astype(np.float32)
            adj = sp.bmat([[None, r], [r.T, None]], format="csr")
            rowsum = np.asarray(adj.sum(axis=1)).ravel()
            d_inv = np.power(rowsum, -0.5, where=rowsum > 0, out=np.zeros_like(rowsum))
            norm = (sp.diags(d_inv) @ adj @ sp.diags(d_inv)).tocoo().astype(np.float32)
            index = torch.stack([torch.from_numpy(norm.row).long(), torch.from_numpy(norm.col).long()])
            self.Graph = torch.sparse_coo_tensor(index, torch.from_numpy(norm.data), norm.shape).coalesce()

        def computer(self) -> tuple[torch.Tensor, torch.Tensor]:
            all_emb = torch.cat([self.embedding_user.weight, self.embedding_item.weight])
            embs = [all_emb]
            for _ in range(LAYERS):
                all_emb = torch.sparse.mm(self.Graph, all_emb)
                embs.append(all_emb)
            light_out = torch.mean(torch.stack(embs, dim=1), dim=1)
            users, items = torch.split(light_out, [n_users, n_items])
            return users, items

        def bpr_loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, ...]:
            all_users, all_items = self.computer()
            users_emb, pos_emb, neg_emb = all_users[users], all_items[pos], all_items[neg]
            u0, p0, n0 = self.embedding_user(users), self.embedding_item(pos), self.embedding_item(neg)
            reg_loss = (1 / 2) * (u0.norm(2).pow(2) + p0.norm(2).pow(2) + n0.norm(2).pow(2)) / float(len(users))
            pos_scores = torch.sum(torch.mul(users_emb, pos_emb), dim=1)
            neg_scores = torch.sum(torch.mul(users_emb, neg_emb), dim=1)
            loss = torch.mean(torch.nn.functional.softplus(neg_scores - pos_scores))
            return loss, reg_loss

    train = data.train.tocsr()
    all_pos = [train.indices[train.indptr[u] : train.indptr[u + 1]] for u in range(n_users)]

    def uniform_sample(batch: int) -> np.ndarray:
        """UniformSample_original_python, for one batch of users."""
        users = np.random.randint(0, n_users, batch)
        s = []
        for user in users:
            pos_for_user = all_pos[user]
            if len(pos_for_user) == 0:
                continue
            positem = pos_for_user[np.random.randint(0, len(pos_for_user))]
            while True:
                negitem = np.random.randint(0, n_items)
                if negitem in pos_for_user:
                    continue
                break
            s.append([user, positem, negitem])
        return np.array(s)

    model = RefLightGCN()
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    def step() -> float:
        s = torch.from_numpy(uniform_sample(BATCH)).long()
        users, pos, neg = s[:, 0], s[:, 1], s[:, 2]
        loss, reg_loss = model.bpr_loss(users, pos, neg)
        loss = loss + reg_loss * REG
        opt.zero_grad()
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


# --- BET Studio's step ----------------------------------------------------------------------


def bet_step_factory(data: Any, seed: int) -> Any:
    import numpy as np
    import torch

    from bet.backbones import make_backbone
    from bet.train import BPRSampler

    model = make_backbone("lightgcn", data, seed=seed, d_max=D_MAX)
    model.train()
    sampler = BPRSampler(data.train, BATCH, np.random.default_rng(seed))
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)

    def step() -> float:  # the body of bet.train.train_iter's loop
        u, p, n = (torch.from_numpy(x) for x in sampler.sample())
        loss = model.loss(u, p, n)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


FACTORIES = {"bet": bet_step_factory, "reference": reference_step_factory}


def run_variant(variant: str, steps: int, warmup: int, seed: int) -> dict[str, Any]:
    """In this process: build the variant on full Gowalla, time ``steps`` steps."""
    import torch

    from bet.data import load_dataset
    from bet.runtime import tune_heap

    tune_heap()  # both variants under the heap the CLI runs with ($BET_MALLOC, else tuned)
    torch.set_num_threads(1)
    data = load_dataset("gowalla")
    rss_data = rss_mib()
    t0 = time.perf_counter()
    step = FACTORIES[variant](data, seed)
    build_s = time.perf_counter() - t0
    losses, times = [], []
    for i in range(warmup + steps):
        t = time.perf_counter()
        losses.append(step())
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return {
        "variant": variant,
        "step_s": times,
        "median_step_s": statistics.median(times),
        "build_s": build_s,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "rss_after_data_mib": rss_data,
        "peak_rss_mib": peak_rss_mib(),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=8, help="timed steps per round and variant (default 8)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating subprocess rounds (default 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    ap.add_argument("--variant", choices=list(FACTORIES), help=argparse.SUPPRESS)  # child mode
    args = ap.parse_args(argv)
    if args.variant:
        print(json.dumps(run_variant(args.variant, args.steps, args.warmup, args.seed)), flush=True)
        return {}

    load0 = os.getloadavg()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in FACTORIES}
    for r in range(args.rounds):
        for variant in FACTORIES:
            cmd = [sys.executable, __file__, "--variant", variant, "--steps", str(args.steps)]
            cmd += ["--warmup", str(args.warmup), "--seed", str(args.seed)]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
            if proc.returncode != 0:
                sys.exit(f"{variant} failed:\n{proc.stderr}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[variant].append(res)
            print(
                f"round {r + 1} {variant:9s}: median step {res['median_step_s'] * 1e3:8.1f} ms  "
                f"peak RSS {res['peak_rss_mib']:7.0f} MiB  (loss {res['first_loss']:.4f} -> {res['last_loss']:.4f})",
                file=sys.stderr,
                flush=True,
            )
    load1 = os.getloadavg()
    summary: dict[str, Any] = {"benchmark": "lightgcn_step", "batch": BATCH, "d_max": D_MAX, "threads": 1}
    for variant, rs in runs.items():
        all_times = [t for r in rs for t in r["step_s"]]
        summary[variant] = {
            "median_step_ms": round(statistics.median(all_times) * 1e3, 1),
            "min_step_ms": round(min(all_times) * 1e3, 1),
            "peak_rss_mib": round(max(r["peak_rss_mib"] for r in rs)),
            "rss_after_data_mib": round(max(r["rss_after_data_mib"] for r in rs)),
            "steps": len(all_times),
        }
    ratio = summary["bet"]["median_step_ms"] / summary["reference"]["median_step_ms"]
    summary["ratio_bet_over_reference"] = round(ratio, 3)
    summary["target_ratio"] = 0.6
    summary["loadavg_start_end"] = [round(load0[0], 2), round(load1[0], 2)]

    print(f"LightGCN step on full Gowalla (batch {BATCH:,} users, d_max {D_MAX}, 1 torch thread)")
    print(f"{'variant':10s} {'median step':>12s} {'min step':>10s} {'peak RSS':>10s} {'RSS after data':>15s}")
    for variant in FACTORIES:
        s = summary[variant]
        print(
            f"{variant:10s} {s['median_step_ms']:10.1f}ms {s['min_step_ms']:8.1f}ms "
            f"{s['peak_rss_mib']:7d}MiB {s['rss_after_data_mib']:12d}MiB"
        )
    verdict = "meets" if ratio <= 0.6 else "misses"
    print(f"ratio bet / reference = {ratio:.3f}  ({verdict} the target ≤ 0.6)")
    print(f"load average at start/end: {load0[0]:.2f} / {load1[0]:.2f} (2 cores; > 1 means other work shared them)")
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
