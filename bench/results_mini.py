"""The measurements behind docs/results.md: BET vs SU / SR / MDE / full / pop on gowalla-mini with
LightGCN at several sparsities and seeds, plus the selection/predictor ablation.

Every point is a stored run; a point whose run already completed (same configuration) is reused,
so the script can be interrupted and re-run. Prints markdown tables (mean ± std over seeds).

    python bench/results_mini.py --store out/results.sqlite --seeds 0,1,2 --workers 2
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for `bet`

import argparse
import dataclasses
import time
from collections import defaultdict

import numpy as np
import scipy.stats as st

from bet.config import BaselineConfig, DataSpec, SearchConfig, baseline_config
from bet.executors import LocalExecutor
from bet.runs import Job, create_job, search_method
from bet.store import RunRecord, RunStore, Status

ABLATION = {"bet": {}, "bet-random": {"selection": "random"}, "bet-simple": {"predictor": "simple"},
            "bet-paper": {"predictor_training": "paper"}}  # fmt: skip


def done(store: RunStore, method: str, cfg: SearchConfig | BaselineConfig) -> RunRecord | None:
    for run in store.list_runs(method=method, status=Status.COMPLETED):
        if run.config == cfg.to_dict():
            return run
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", default="out/results.sqlite")
    ap.add_argument("--dataset", default="gowalla-mini")
    ap.add_argument("--backbone", default="lightgcn")
    ap.add_argument("--sparsities", default="0.8,0.9,0.95")
    ap.add_argument("--ablation-sparsity", type=float, default=0.95)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--report-only", action="store_true")
    args = ap.parse_args()
    store = RunStore(args.store)
    seeds = [int(s) for s in args.seeds.split(",")]
    sparsities = [float(c) for c in args.sparsities.split(",")]
    data_spec = DataSpec(args.dataset)
    data = data_spec.load()
    plan: list[tuple[str, SearchConfig | BaselineConfig]] = []
    for seed in seeds:
        base = SearchConfig(data=data_spec, backbone=args.backbone, seed=seed, device="cpu")
        plan += [(m, baseline_config(base, m)) for m in ("full", "pop")]
        for c in sparsities:
            plan.append(("bet", dataclasses.replace(base, sparsity=c)))
            plan += [(m, baseline_config(base, m, c)) for m in ("su", "sr", "mde")]
        for name, change in ABLATION.items():
            if name != "bet":
                cfg = dataclasses.replace(base, sparsity=args.ablation_sparsity, **change)
                plan.append((search_method(cfg), cfg))
    todo: list[Job] = []
    for method, cfg in plan:
        if done(store, method, cfg) is None and not args.report_only:
            todo.append(create_job(store, cfg, data, comparison_id="results-mini"))
    t0 = time.time()
    if todo:
        print(f"running {len(todo)} of {len(plan)} runs with {args.workers} workers…", flush=True)
        # full first (it pretrains and caches the shared models), then the rest
        todo.sort(key=lambda j: 0 if getattr(j.config, "method", "") == "full" else 1)
        first = [j for j in todo if getattr(j.config, "method", "") == "full"]
        LocalExecutor(args.workers).run(store, first, data)
        LocalExecutor(args.workers).run(store, [j for j in todo if j not in first], data)
    print(f"done in {time.time() - t0:.0f}s")
    report(store, plan)


def report(store: RunStore, plan: list[tuple[str, SearchConfig | BaselineConfig]]) -> None:
    cells: dict[tuple[str, float], list[dict[str, float]]] = defaultdict(list)
    spearman: dict[str, list[float]] = defaultdict(list)
    for method, cfg in plan:
        run = done(store, method, cfg)
        if run is None:
            continue
        cells[(method, run.sparsity)].append(run.result["test"])
        if run.kind == "search":
            acts = store.actions(run.run_id)
            pred, fit = [a["predicted"] for a in acts[10:]], [a["fitness"] for a in acts[10:]]
            spearman[method].append(float(st.spearmanr(pred, fit).statistic))
    print("\n| method | sparsity | n | test R@20 | test N@20 |\n|---|---|---|---|---|")
    for (method, c), tests in sorted(cells.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        r = np.array([t["recall@20"] for t in tests])
        n = np.array([t["ndcg@20"] for t in tests])
        print(f"| {method} | {c:g} | {len(tests)} | {r.mean():.4f} ± {r.std(ddof=1) if len(r) > 1 else 0:.4f} "
              f"| {n.mean():.4f} ± {n.std(ddof=1) if len(n) > 1 else 0:.4f} |")  # fmt: skip
    print("\nHeld-out predictor quality (Spearman of the prediction made before each action was evaluated vs its "
          "fitness, iterations 11-50):")  # fmt: skip
    for method, vals in sorted(spearman.items()):
        print(
            f"- {method}: {np.mean(vals):.3f} ± {np.std(vals, ddof=1) if len(vals) > 1 else 0:.3f} over {len(vals)} runs"
        )


if __name__ == "__main__":
    main()
