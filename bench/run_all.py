"""Run every benchmark in sequence (one at a time: they time a 2-core machine) and print a summary.

    python bench/run_all.py            # or: make bench
    python bench/run_all.py --quick    # fewer repeats, for a smoke run
    python bench/run_all.py --json out.json

Each benchmark also runs on its own (``python bench/<name>.py --help``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import eval_vs_matmul  # noqa: E402
import lightgcn_step  # noqa: E402
import search_time  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats (numbers are noisier)")
    ap.add_argument("--json", metavar="PATH", help="write all results to PATH as JSON")
    args = ap.parse_args(argv)

    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    print("=== A. full-ranking evaluation vs bare matmul (bench/eval_vs_matmul.py) ===", flush=True)
    results["eval_vs_matmul"] = eval_vs_matmul.main(["--repeats", "3" if args.quick else "5"])
    print("\n=== B. LightGCN training step, BET vs reference (bench/lightgcn_step.py) ===", flush=True)
    quick = ["--steps", "3", "--rounds", "1"] if args.quick else []
    results["lightgcn_step"] = lightgcn_step.main(quick)

    print("\n=== C. a default BET search on gowalla-mini (bench/search_time.py) ===", flush=True)
    search_time.main(["--iterations", "10"] if args.quick else [])

    a, b = results["eval_vs_matmul"], results["lightgcn_step"]
    print(f"\n=== summary ({time.perf_counter() - t0:.0f} s) ===")
    for key in sorted(k for k in a if k.startswith("threads_")):
        print(f"A. eval / matmul, {key.split('_')[1]} thread(s): {a[key]['ratio']:.3f}  (target ≤ {a['target_ratio']})")
    if "verify" in a:
        print(f"A. exactness vs torch.topk: {a['verify']}")
    print(f"B. BET step / reference step: {b['ratio_bet_over_reference']:.3f}  (target ≤ {b['target_ratio']}); "
          f"peak RSS {b['bet']['peak_rss_mib']} vs {b['reference']['peak_rss_mib']} MiB")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
