"""Full-ranking evaluation of ALL Gowalla users at d = 128 versus its lower bound, the bare dense
score matmul of the same shapes.

* **eval**: :func:`bet.metrics.ranked_items` with a :class:`bet.backbones.Scorer` of
  ``(29858, 128)`` user and ``(40981, 128)`` item embeddings, excluding each user's training items
  (``load_dataset("gowalla").train``): the exact top-20 of every user over all 40,981 items.
* **matmul**: the scores alone, ``U[block] @ V.T`` into one reused buffer, block by block: what
  any exact full ranking must at least compute. With 2 threads there are two ways to run it, and
  both are timed: torch's own 2 OpenMP threads, and 2 Python workers running torch
  single-threaded on half the users each (what ``ranked_items`` does); the ratio is taken against
  the faster one.

The variants run interleaved (A B C A B C …) so that load from other processes hits all of them
alike; medians over ``--repeats`` are reported, and their ratio (target ≤ 1.15). With 1 thread the
per-thread CPU time is reported too: it is far less sensitive to a busy machine than wall time.

Before timing, the result is checked against a plain ``torch.topk`` of the same masked block
scores: the ranked scores must be identical, value for value; item ids may differ only where two
scores are exactly equal (``topk`` leaves their order unspecified too).

    python bench/eval_vs_matmul.py                     # threads 1 and 2, 5 repeats
    python bench/eval_vs_matmul.py --threads 2 --repeats 9 --json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bet.backbones import Scorer  # noqa: E402
from bet.data import load_dataset  # noqa: E402
from bet.metrics import TopK, ranked_items  # noqa: E402

K = 20
D = 128


def embeddings(n_users: int, n_items: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random N(0, 0.1²) embeddings (the cost of an exact top-k does not depend on the values)."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n_users, D, generator=g) * 0.1, torch.randn(n_items, D, generator=g) * 0.1


def bare_matmul(u: torch.Tensor, v: torch.Tensor, block: int, workers: int = 1) -> None:
    """Scores only: ``u[s:s+block] @ v.T`` into a reused ``(block, n_items)`` buffer."""
    vt = v.T.contiguous()

    def part(lo: int, hi: int) -> None:
        buf = torch.empty(block, v.shape[0])
        for s in range(lo, hi, block):
            b = min(block, hi - s)
            torch.mm(u[s : s + b], vt, out=buf[:b])

    if workers == 1:
        part(0, u.shape[0])
        return
    per = -(-u.shape[0] // (workers * block)) * block
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            for job in [pool.submit(part, s, min(s + per, u.shape[0])) for s in range(0, u.shape[0], per)]:
                job.result()
    finally:
        torch.set_num_threads(old)


def verify(u: torch.Tensor, v: torch.Tensor, exclude: Any, top: np.ndarray, block: int) -> dict[str, int]:
    """Compare ``top`` with ``torch.topk`` of the same masked block scores (same padded matmul
    as ``ranked_items``, so the scores are bit-identical)."""
    n_items = v.shape[0]
    width = TopK.padded_width(n_items, K)
    items_t = torch.zeros(D, width)
    items_t[:, :n_items] = v.T
    same = ties = wrong = 0
    ex = exclude.tocsr()
    for s in range(0, u.shape[0], block):
        b = min(block, u.shape[0] - s)
        scores = torch.mm(u[s : s + b], items_t)[:, :n_items].contiguous()
        rows = np.repeat(np.arange(b), np.diff(ex.indptr[s : s + b + 1]))
        cols = ex.indices[ex.indptr[s] : ex.indptr[s + b]]
        scores[torch.from_numpy(rows), torch.from_numpy(cols.astype(np.int64))] = float("-inf")
        ref_vals, ref_idx = torch.topk(scores, K, dim=1)
        got = torch.from_numpy(top[s : s + b])
        got_vals = torch.gather(scores, 1, got.clamp(min=0))
        got_vals[got < 0] = float("-inf")
        ok_vals = (got_vals == ref_vals).all(1)
        ok_idx = (got == torch.where(torch.isfinite(ref_vals), ref_idx, -1)).all(1)
        same += int((ok_vals & ok_idx).sum())
        ties += int((ok_vals & ~ok_idx).sum())
        wrong += int((~ok_vals).sum())
    return {"identical_rows": same, "rows_differing_only_in_tied_scores": ties, "wrong_rows": wrong}


def timed(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, list[float]]]:
    """Interleaved runs: wall time and this thread's CPU time of each, ``repeats`` times."""
    out: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            w, c = time.perf_counter(), time.thread_time()
            fn()
            out[name]["cpu"].append(time.thread_time() - c)
            out[name]["wall"].append(time.perf_counter() - w)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch thread counts (default: 1 2)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats per variant (default 5)")
    ap.add_argument(
        "--block", type=int, nargs="+", default=[128, 64], help="users per block, all variants (default: 128 64)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-verify", action="store_true", help="skip the check against torch.topk")
    ap.add_argument("--json", action="store_true", help="print one JSON object as the last stdout line")
    args = ap.parse_args(argv)

    data = load_dataset("gowalla")
    u, v = embeddings(data.n_users, data.n_items, args.seed)
    users = np.arange(data.n_users)
    scorer = Scorer(users=u, items=v)
    summary: dict[str, Any] = {
        "benchmark": "eval_vs_matmul",
        "users": data.n_users,
        "items": data.n_items,
        "d": D,
        "k": K,
        "blocks": args.block,
        "excluded": int(data.train.nnz),
        "target_ratio": 1.15,
    }
    load0 = os.getloadavg()
    if not args.no_verify:
        torch.set_num_threads(max(args.threads))
        top = ranked_items(scorer, users, data.train, n_items=data.n_items, k=K, block=args.block[0])
        summary["verify"] = verify(u, v, data.train, top, args.block[0])
        print(f"check against torch.topk: {summary['verify']}", file=sys.stderr, flush=True)
        if summary["verify"]["wrong_rows"]:
            print("ERROR: ranked_items differs from torch.topk", file=sys.stderr)

    print(f"Full ranking of {data.n_users:,} users × {data.n_items:,} items, d = {D}, top-{K}")
    for threads in args.threads:
        torch.set_num_threads(threads)
        fns: dict[str, Callable[[], Any]] = {}
        for blk in args.block:
            fns[f"matmul b{blk}"] = lambda blk=blk: bare_matmul(u, v, blk)
            if threads > 1:
                fns[f"matmul b{blk} {threads} workers"] = lambda blk=blk, t=threads: bare_matmul(u, v, blk, workers=t)
            fns[f"eval b{blk}"] = lambda blk=blk: ranked_items(
                scorer, users, data.train, n_items=data.n_items, k=K, block=blk
            )
            fns[f"eval b{blk}"]()  # warm up (allocations, page faults)
        res = timed(fns, args.repeats)
        med = {name: statistics.median(r["wall"]) for name, r in res.items()}
        bound_name = min((n for n in med if n.startswith("matmul")), key=med.__getitem__)
        row: dict[str, Any] = {"median_s": {name: round(t, 3) for name, t in med.items()}, "lower_bound": bound_name}
        print(f"\n{threads} thread(s), medians of {args.repeats} (wall seconds):")
        for name, t in med.items():
            print(f"  {name:24s} {t:7.3f} s")
        for blk in args.block:
            ratio = med[f"eval b{blk}"] / med[bound_name]
            row[f"ratio_b{blk}"] = round(ratio, 3)
            print(f"  ratio eval b{blk} / fastest matmul ({bound_name}) = {ratio:.3f}  (target ≤ 1.15)")
        row["ratio"] = min(row[f"ratio_b{blk}"] for blk in args.block)
        if threads == 1:
            cpu = {name: statistics.median(r["cpu"]) for name, r in res.items()}
            row["cpu_s"] = {name: round(t, 3) for name, t in cpu.items()}
            for blk in args.block:
                row[f"cpu_ratio_b{blk}"] = round(cpu[f"eval b{blk}"] / cpu[f"matmul b{blk}"], 3)
                print(f"  CPU time, block {blk}: eval / matmul = {row[f'cpu_ratio_b{blk}']:.3f}")
        summary[f"threads_{threads}"] = row
    load1 = os.getloadavg()
    summary["loadavg_start_end"] = [round(load0[0], 2), round(load1[0], 2)]
    print(f"\nload average at start/end: {load0[0]:.2f} / {load1[0]:.2f} (2 cores; > 1 means other work shared them)")
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
