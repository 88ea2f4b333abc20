"""NCF at the speed of its arithmetic (issue 22, part 1), on full Gowalla at d_max 128.

Everything is measured in one process, alternating the things compared (the machine may be shared:
alternation spreads other load over both sides), and reports medians and their ratios:

1. **kernels**: the scores of one block of 64 users against all 40,981 items, one
   thread (what each of ``ranked_items``' two workers computes per call): ``old`` (the scorer before
   issue 22: ``ReLU(hu + hi)`` materialised per 3-user block, then ``@ w``), ``tiled`` (plain torch
   tiles), ``compiled`` (``torch.compile``-d fused tile) and ``abs`` (``ReLU(x) = (x + |x|)/2``: a
   rank-1 linear part plus ``Σ w|hu + hi|`` as two L1 distances, ``torch.cdist(p=1)``);
2. **passes**: a full-ranking validation pass of NCF (the library's scorer) against LightGCN's
   full-width pass (the target: ≤ 3×); the old NCF pass on a user sample, scaled to all users;
3. **steps**: one training step (batch 10,000, fused Adam, one thread, as ``train_iter``) of NCF
   (gather-then-multiply), of NCF before issue 22 (every row's halves, then gather) and of
   LightGCN at full width (the target: NCF ≤ LightGCN);
4. **exactness**: old vs new scores on a user sample (max abs diff, ≤ 1e-4) and their top-20
   after excluding training items (identical fraction), and the old vs new gradients of one batch.

    python bench/ncf_speed.py                  # about 2 minutes on 2 idle cores
    python bench/ncf_speed.py --repeats 5 --sample 512 --profile --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bet.backbones import Scorer, make_backbone  # noqa: E402
from bet.backbones.ncf import NCF  # noqa: E402
from bet.backbones.ncf_kernel import NCFScores, compiled_tile  # noqa: E402
from bet.data import load_dataset  # noqa: E402
from bet.evaluation import evaluate  # noqa: E402
from bet.metrics import ranked_items  # noqa: E402
from bet.runtime import torch_threads  # noqa: E402
from bet.train import BPRSampler  # noqa: E402

BATCH, LR = 10_000, 0.001


def old_scorer(model: NCF) -> Scorer:
    """NCF's scorer before issue 22 (commit 3f8492a), verbatim but for names."""
    with torch.no_grad():
        _, _, hu, hi, gu, gi = model._parts()
    gi_t, w_m, b0 = gi.T.contiguous(), model.out.weight[0, model.d_max :].detach(), model.out.bias[0].detach()
    block = max(1, (1 << 24) // max(1, hi.numel()))

    @torch.no_grad()
    def score(users: torch.Tensor) -> torch.Tensor:
        out = gu[users] @ gi_t + b0
        for s in range(0, len(users), block):
            u = users[s : s + block]
            out[s : s + block] += torch.relu(hu[u].unsqueeze(1) + hi.unsqueeze(0)) @ w_m
        return out

    return Scorer(fn=score)


class OldNCF(NCF):
    """NCF with the training loss before issue 22 (every row's halves, then the batch gathered):
    the reference ``tests/test_ncf_scorer.py`` checks the new loss against."""

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        from tests.test_ncf_scorer import old_loss

        return old_loss(self, users, pos, neg)


def abs_identity(hb: torch.Tensor, hi: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``Σ w ReLU(hu + hi) = ½ Σ w (hu + hi) + ½ Σ w |hu + hi|``; with ``a = |w| hu``,
    ``b = −|w| hi`` the second sum is ``L1(a⁺, b⁺) − L1(a⁻, b⁻)`` over the columns where ``w``
    is positive / negative."""
    pos, aw = w > 0, w.abs()
    a, b = hb * aw, hi * aw
    lin = (hb @ w).unsqueeze(1) + (hi @ w).unsqueeze(0)
    l1 = torch.cdist(a[:, pos], -b[:, pos], p=1) - torch.cdist(a[:, ~pos], -b[:, ~pos], p=1)
    return 0.5 * (lin + l1)


def alternate(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Wall times of each function, run in turn ``repeats`` times (A B C A B C …)."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - t)
    return out


def med(xs: list[float]) -> float:
    return statistics.median(xs)


def step_fn(model: Any, data: Any, seed: int) -> Callable[[], float]:
    """One step exactly as :func:`bet.train.train_iter` runs it (one torch thread)."""
    sampler = BPRSampler(data.train, BATCH, np.random.default_rng(seed))
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)
    model.train()

    def step() -> float:
        u, p, n = (torch.from_numpy(x) for x in sampler.sample())
        with torch_threads("train"):
            loss = model.loss(u, p, n)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return float(loss.detach())

    return step


def gradient_gap(new: NCF, old: NCF, data: Any) -> dict[str, float]:
    """Largest |old − new| gradient entry per parameter on one batch (same weights)."""
    old.load_state_dict(new.state_dict())
    u, p, n = (torch.from_numpy(x) for x in BPRSampler(data.train, BATCH, np.random.default_rng(9)).sample())
    grads = []
    for model in (new, old):
        model.zero_grad(set_to_none=True)
        model.loss(u, p, n).backward()
        grads.append({k: v.grad for k, v in model.named_parameters() if v.grad is not None})
    gap = {k: float((grads[0][k] - grads[1][k]).abs().max()) for k in grads[0]}
    scale = {k: float(grads[1][k].abs().max()) for k in grads[1]}
    new.zero_grad(set_to_none=True)
    old.zero_grad(set_to_none=True)
    return {"max_abs": max(gap.values()), "max_rel_to_largest": max(gap[k] / max(scale[k], 1e-30) for k in gap)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="alternated rounds of each comparison (default 3)")
    ap.add_argument("--steps", type=int, default=5, help="timed training steps per model and round (default 5)")
    ap.add_argument("--sample", type=int, default=256, help="users for the old pass and exactness (default 256)")
    ap.add_argument("--profile", action="store_true", help="print torch.profiler tables of both NCF steps")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    data = load_dataset("gowalla")
    ncf, lgc = make_backbone("ncf", data, seed=0), make_backbone("lightgcn", data, seed=0)
    old_ncf = OldNCF(data, ncf.d_max, ncf.device, generator=torch.Generator().manual_seed(0))
    old_ncf.load_state_dict(ncf.state_dict())
    assert isinstance(ncf, NCF)
    res: dict[str, Any] = {"benchmark": "ncf_speed", "users": data.n_users, "items": data.n_items, "threads": 2}

    # 3. training steps (first: they move NCF's weights off their init for the checks below)
    steps = {"ncf": step_fn(ncf, data, 0), "ncf_old": step_fn(old_ncf, data, 0), "lightgcn": step_fn(lgc, data, 0)}
    alternate(steps, 2)  # warm-up
    st = alternate({k: (lambda f=f: [f() for _ in range(args.steps)]) for k, f in steps.items()}, args.repeats)
    res["step_ms"] = {k: round(med(v) / args.steps * 1e3, 1) for k, v in st.items()}
    res["step_ratio_ncf_over_lightgcn"] = round(res["step_ms"]["ncf"] / res["step_ms"]["lightgcn"], 3)
    res["step_ratio_old_over_new"] = round(res["step_ms"]["ncf_old"] / res["step_ms"]["ncf"], 2)
    res["gradient_gap"] = gradient_gap(ncf, old_ncf, data)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        for name in ("ncf_old", "ncf"):
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                steps[name]()
            print(
                f"--- profile of one {name} step ---\n"
                + prof.key_averages().table(sort_by="cpu_time_total", row_limit=12)
            )

    # 1. kernels on one block of 64 users, one thread
    t = time.perf_counter()
    with torch.no_grad():
        _, _, hu, hi, gu, gi = ncf._parts()
        w, b0 = ncf.out.weight[0, ncf.d_max :].detach(), ncf.out.bias[0].detach()
        compiled_tile(ncf.d_max)
    res["compile_s"] = round(time.perf_counter() - t, 2)  # cold, or from inductor's disk cache
    users = torch.arange(64)
    tiled, comp = (NCFScores((hu, hi, gu, gi), w, b0, kernel=k) for k in ("tiled", "compiled"))
    old, gi_t = old_scorer(ncf), gi.T.contiguous()
    kernels = {
        "old": lambda: old(users),
        "tiled": lambda: tiled(users),
        "compiled": lambda: comp(users),
        "abs": lambda: torch.addmm(b0, gu[users], gi_t) + abs_identity(hu[users], hi, w),
    }
    torch.set_num_threads(1)
    with torch.no_grad():
        ref = kernels["old"]()
        res["kernel_max_abs_diff"] = {k: float((fn() - ref).abs().max()) for k, fn in kernels.items()}
        kt = alternate(kernels, args.repeats)
    torch.set_num_threads(2)
    res["kernel_ms_per_64_users"] = {k: round(med(v) * 1e3, 1) for k, v in kt.items()}
    res["kernel_used"] = comp.kernel

    # 2. full validation passes (2 threads, as evaluate runs them), alternated
    passes = {"ncf": lambda: evaluate(ncf, data, "valid"), "lightgcn": lambda: evaluate(lgc, data, "valid")}
    pt = alternate(passes, args.repeats)
    res["pass_s"] = {k: round(med(v), 2) for k, v in pt.items()}
    res["pass_ratio_ncf_over_lightgcn"] = round(res["pass_s"]["ncf"] / res["pass_s"]["lightgcn"], 2)
    res["ncf_scorer_kernel"] = ncf.last_kernel
    valid_users = np.flatnonzero(np.diff(data.valid.indptr) > 0)
    sample = np.random.default_rng(0).choice(valid_users, args.sample, replace=False)
    new_s, old_s = ncf.scorer(), old_scorer(ncf)
    with torch_threads("eval"):
        tops = {}
        for name, sc in (("new", new_s), ("old", old_s)):
            t = time.perf_counter()
            tops[name] = ranked_items(sc, sample, data.train, n_items=data.n_items, k=20, block=64)
            res[f"sample_pass_s_{name}"] = round(time.perf_counter() - t, 2)
    scale = len(valid_users) / args.sample
    res["old_pass_s_scaled"] = round(res["sample_pass_s_old"] * scale, 1)
    res["pass_ratio_old_over_new"] = round(res["old_pass_s_scaled"] / res["pass_s"]["ncf"], 1)

    # 4. exactness on the sample
    diffs = []
    for s in range(0, len(sample), 16):
        u = torch.from_numpy(sample[s : s + 16])
        diffs.append(float((new_s(u) - old_s(u)).abs().max()))
    res["score_max_abs_diff"] = max(diffs)
    res["top20_identical_fraction"] = float((tops["new"] == tops["old"]).all(1).mean())
    res["sample_users"] = args.sample
    res["loadavg_start_end"] = [round(load0[0], 2), round(os.getloadavg()[0], 2)]
    report(res)
    if args.json:
        print(json.dumps(res))
    return res


def report(r: dict[str, Any]) -> None:
    k, p, s = r["kernel_ms_per_64_users"], r["pass_s"], r["step_ms"]
    print(f"NCF on full Gowalla ({r['users']:,} users x {r['items']:,} items, d_max 128, 2 cores)")
    print("scores of 64 users x all items, 1 thread (ms): " + ", ".join(f"{n} {v}" for n, v in k.items()))
    print(f"  compile (once per process): {r['compile_s']} s; max |diff| vs old: {r['kernel_max_abs_diff']}")
    print(f"validation pass: NCF {p['ncf']} s ({r['ncf_scorer_kernel']}), LightGCN full width {p['lightgcn']} s")
    print(f"  NCF / LightGCN = {r['pass_ratio_ncf_over_lightgcn']} (target <= 3)")
    print(
        f"  old NCF pass: {r['sample_pass_s_old']} s on {r['sample_users']} users, scaled to all: "
        f"{r['old_pass_s_scaled']} s = {r['pass_ratio_old_over_new']}x the new pass "
        f"(new on the same sample: {r['sample_pass_s_new']} s)"
    )
    print(
        f"training step (ms, 1 thread, batch {BATCH:,}): NCF {s['ncf']}, NCF before {s['ncf_old']}, LightGCN {s['lightgcn']}"
    )
    print(
        f"  NCF / LightGCN = {r['step_ratio_ncf_over_lightgcn']} (target <= 1); old / new = {r['step_ratio_old_over_new']}"
    )
    print(f"  gradients old vs new on one batch: {r['gradient_gap']}")
    print(
        f"exactness on {r['sample_users']} users: max |score diff| {r['score_max_abs_diff']:.2e} (<= 1e-4), "
        f"top-20 identical {r['top20_identical_fraction']:.3f}"
    )
    print(f"load average start/end: {r['loadavg_start_end']} (2 cores; > 1 means other work shared them)")


if __name__ == "__main__":
    main()
