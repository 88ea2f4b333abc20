"""NGCF on full Gowalla: the training step against its floor and against the public NGCF-PyTorch.

All at BET's settings (d_max 128, 3 layers, node and message dropout 0.1, 10,000 users a batch,
BPR + L2 1e-3, Adam, lr 0.03), in one process, the variants alternating round by round (the
machine may be shared: alternating spreads any load over all of them); medians and ratios.

* **bet**: :class:`bet.backbones.NGCF`'s step as :func:`bet.train.train_iter` runs it (sampler,
  loss, backward, fused Adam; one torch thread, sparse products on the ``spmm`` thread count).
* **before**: the same model, the loss as it was written before issue 22
  (``tests.test_ngcf_speed.reference_loss``: autograd through every operation, on all rows).
* **floor**: only the step's arithmetic, on the bet model's tensors: per layer ``L e`` and the
  two ``(n_rows × d) @ (d × d)`` products forward, and backward the two input-gradient and two
  weight-gradient products and ``Lᵀ g`` — nothing else (no dropout, activation, normalisation,
  loss, optimiser).
* **reference**: ``NGCF`` of huangtinglin/NGCF-PyTorch imported from ``--ref-dir`` (never part
  of this repository: get it with ``git --git-dir <snapshot> show HEAD:NGCF/...``), on the same
  ``D^-1 (A + I)``, the same batches (our sampler: its Python sampler left out, which only helps
  it), at torch's default thread count. Skipped, with a note, when the folder is absent.

Evaluation: our full-ranking validation pass (``bet.evaluation.evaluate``: scores, exact
top-20, metrics) against the reference's test-time scoring as its ``batch_test.test`` does it
(a forward pass per block of ``2 × batch`` users, then ``rating``), on the same users; its
per-user ranking (``test_one_user``, run in a pool of ``cpu_count // 2`` processes) is timed on
``--rank-users`` users and extrapolated, when its ``utility`` package can load the data.

    python bench/ngcf_step.py                       # 3 rounds of 3 timed steps, 1 eval round
    python bench/ngcf_step.py --rounds 1 --steps 2 --json
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

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.ngcf_reference import reference_eval, reference_step  # noqa: E402
from bet.backbones import make_backbone  # noqa: E402
from bet.backbones.ngcf import NGCF  # noqa: E402
from bet.backbones.ngcf_layers import sparse_mm  # noqa: E402
from bet.data import Dataset, load_dataset  # noqa: E402
from bet.evaluation import evaluate  # noqa: E402
from bet.runtime import thread_count, torch_threads, tune_heap  # noqa: E402
from bet.train import BPRSampler  # noqa: E402

BATCH, D_MAX, LR = 10_000, 128, 0.03
Step = Callable[[], float]


def bet_step(data: Dataset, seed: int, before: bool = False) -> tuple[Step, NGCF]:
    model = make_backbone("ngcf", data, seed=seed, d_max=D_MAX)
    assert isinstance(model, NGCF)
    model.train()
    if before:
        from tests.test_ngcf_speed import reference_loss

        model.loss = lambda u, p, n: reference_loss(model, u, p, n)  # type: ignore[method-assign]
    sampler = BPRSampler(data.train, BATCH, np.random.default_rng(seed))
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=True)

    def step() -> float:  # the body of bet.train.train_iter's loop
        with torch_threads("train"):
            u, p, n = (torch.from_numpy(x) for x in sampler.sample())
            loss = model.loss(u, p, n)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return float(loss.detach())

    return step, model


def floor_step(model: NGCF) -> Step:
    """The step's arithmetic alone: sparse propagations and d×d products, forward and backward."""
    n = model.n_rows
    gen = torch.Generator().manual_seed(0)
    e = [torch.randn(n, D_MAX, generator=gen) for _ in range(model.layers)]
    g = torch.randn(n, D_MAX, generator=gen)
    out = torch.empty(n, D_MAX)
    props = [torch.empty(n, D_MAX) for _ in range(model.layers)]
    back = torch.empty(n, D_MAX)
    wgrad = torch.empty(D_MAX, D_MAX)
    weights = [(gc.weight.detach(), bi.weight.detach()) for gc, bi in zip(model.w_gc, model.w_bi, strict=True)]

    def step() -> float:
        with torch_threads("train"):
            for x, s, (w_gc, w_bi) in zip(e, props, weights, strict=True):
                sparse_mm(model.adj, x, s)
                torch.mm(s, w_gc.t(), out=out)
                torch.mm(s, w_bi.t(), out=out)  # (e ⊙ s) has the shape of s
            for s, (w_gc, w_bi) in zip(reversed(props), reversed(weights), strict=True):
                torch.mm(g, w_gc, out=out)
                torch.mm(g, w_bi, out=out)
                torch.mm(g.t(), s, out=wgrad)
                torch.mm(g.t(), s, out=wgrad)
                sparse_mm(model.adj_t, out, back)
        return 0.0

    return step


def timed(fn: Step, n: int) -> tuple[list[float], list[float], float]:
    """Wall and process CPU seconds of ``n`` calls, and the last call's value."""
    wall, cpu, last = [], [], 0.0
    for _ in range(n):
        t, c = time.perf_counter(), time.process_time()
        last = fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return wall, cpu, last


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per round and variant (default 3)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3; 0: evaluation only)")
    ap.add_argument("--eval-rounds", type=int, default=1, help="alternating evaluation rounds (default 1; 0: none)")
    ap.add_argument("--rank-users", type=int, default=200, help="users for the reference's ranking timing (0: skip)")
    ap.add_argument("--ref-dir", default="/tmp/ngcf_ref", help="NGCF-PyTorch checkout with NGCF/NGCF.py")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    args = ap.parse_args(argv)

    tune_heap()  # as the CLI runs
    data = load_dataset("gowalla")
    load0 = os.getloadavg()
    steps: dict[str, Step] = {}
    steps["bet"], model = bet_step(data, args.seed)
    steps["before"], _ = bet_step(data, args.seed, before=True)
    steps["floor"] = floor_step(model)
    note = None
    ref_dir = Path(args.ref_dir)
    if (ref_dir / "NGCF" / "NGCF.py").is_file():
        steps["reference"], ref_model = reference_step(ref_dir, data, model, BATCH, LR, args.seed)
    else:
        note = f"reference skipped: {ref_dir}/NGCF/NGCF.py is absent"
        ref_model = None
    times: dict[str, list[float]] = {v: [] for v in steps}
    cpus: dict[str, list[float]] = {v: [] for v in steps}
    losses: dict[str, float] = {}
    for fn in steps.values():
        fn()  # warm-up
    for r in range(args.rounds):
        for v, fn in steps.items():
            t, c, losses[v] = timed(fn, args.steps)
            times[v] += t
            cpus[v] += c
            print(
                f"round {r + 1} {v:9s}: median {statistics.median(t) * 1e3:6.0f} ms wall, "
                f"{statistics.median(c) * 1e3:6.0f} ms CPU",
                file=sys.stderr,
                flush=True,
            )

    evals: dict[str, list[float]] = {"bet": []}
    ranking: dict[str, Any] = {}
    for r in range(args.eval_rounds):
        model.eval()
        t = time.perf_counter()
        evaluate(model, data, "valid")
        evals["bet"].append(time.perf_counter() - t)
        print(f"eval round {r + 1}: bet {evals['bet'][-1]:.1f} s", file=sys.stderr, flush=True)
        if ref_model is not None:
            users = np.flatnonzero(np.diff(data.valid.indptr) > 0)
            secs, ranking = reference_eval(ref_dir, ref_model, users, 2 * BATCH, args.rank_users if r == 0 else 0)
            evals.setdefault("reference", []).append(secs)
            if ranking.get("note"):
                note = ranking["note"]
        print(f"eval round {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in evals.items()), file=sys.stderr)

    summary: dict[str, Any] = {"benchmark": "ngcf_step", "batch": BATCH, "d_max": D_MAX}
    summary["threads"] = {"train": thread_count("train"), "spmm": thread_count("spmm"), "eval": thread_count("eval")}
    summary["step_ms"] = {v: round(statistics.median(t) * 1e3, 1) for v, t in times.items() if t}
    summary["step_cpu_ms"] = {v: round(statistics.median(t) * 1e3, 1) for v, t in cpus.items() if t}
    summary["last_loss"] = {v: losses[v] for v in ("bet", "before") if v in losses}
    med, cpu = summary["step_ms"], summary["step_cpu_ms"]
    summary["ratios"] = {}
    for a, b in [("bet", "floor"), ("before", "floor"), ("bet", "before"), ("bet", "reference")]:
        if a in med and b in med:
            summary["ratios"][f"{a}/{b} step (wall)"] = round(med[a] / med[b], 3)
            summary["ratios"][f"{a}/{b} step (CPU)"] = round(cpu[a] / cpu[b], 3)
    if evals["bet"]:
        summary["eval_s"] = {k: round(statistics.median(v), 2) for k, v in evals.items()}
        if "reference" in evals:
            summary["ratios"]["bet eval/reference scoring"] = round(
                summary["eval_s"]["bet"] / summary["eval_s"]["reference"], 3
            )
            if "seconds" in ranking:
                total = summary["eval_s"]["reference"] + ranking["seconds"]
                summary["reference_eval_with_ranking_s"] = round(total, 1)
                summary["ratios"]["bet eval/reference full evaluation"] = round(summary["eval_s"]["bet"] / total, 4)
    summary["reference_ranking"] = ranking
    summary["note"] = note
    summary["loadavg_start_end"] = [round(load0[0], 2), round(os.getloadavg()[0], 2)]
    print(f"NGCF step on full Gowalla (batch {BATCH:,} users, d_max {D_MAX}); threads {summary['threads']}")
    for v, ms in med.items():
        print(f"  {v:9s} median step {ms:8.1f} ms wall, {cpu[v]:8.1f} ms CPU (all threads)")
    for k, x in summary["ratios"].items():
        print(f"  {k:38s} {x}")
    if evals["bet"]:
        print(f"  evaluation (s): {summary['eval_s']}  reference ranking: {ranking}")
    if note:
        print(f"  note: {note}")
    print(f"  load average at start/end: {summary['loadavg_start_end']} (2 cores; > 1: shared)")
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
