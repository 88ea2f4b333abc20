"""How glibc's malloc settings change a LightGCN training step on full Gowalla (``bet.runtime.tune_heap``).

A step allocates tens of tensors of ``rows × width × 4`` bytes (70,839 rows: 19 MB at width 68,
36 MB at 128). Where malloc maps each such block afresh (the ``lean`` setting: every block of
4 MiB or more mapped and unmapped), the kernel faults in and zeroes every page again, every step.
Each setting runs in its own subprocess (its own heap and peak RSS), alternated ``--rounds``
times; the table gives medians and each setting's step time over ``tuned``'s.

    python bench/malloc_step.py                          # widths 68 and 128, one training and two at once
    python bench/malloc_step.py --widths 68 --parallel 1 --steps 20 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MODES = ("tuned", "lean", "default")


def child(mode: str, width: int, steps: int, parallel: int, dataset: str) -> dict[str, float]:
    from bet.runtime import tune_heap

    tune_heap(mode)  # before any tensor is allocated, as the CLI does
    import numpy as np
    import torch

    from bet.backbones import make_backbone
    from bet.data import load_dataset
    from bet.threads import concurrent
    from bet.train import TrainConfig, fit

    data = load_dataset(dataset)
    models = []
    for k in range(parallel):
        m = make_backbone("lightgcn", data, seed=k, d_max=128, device=torch.device("cpu"))
        sizes = np.random.default_rng(k).integers(1, width + 1, data.n_users + data.n_items)
        sizes[0] = width  # the widest row sets the trained width
        assert m.table is not None
        m.table.set_sizes(sizes)
        models.append(m)
    warm = 3
    marks: list[float] = []
    lock, all_warm = threading.Lock(), threading.Event()

    def on_event(ev: object) -> None:
        if getattr(ev, "step", 0) == warm:
            with lock:
                marks.append(time.perf_counter())
                if len(marks) == parallel:
                    all_warm.set()

    def usage() -> tuple[int, float, float]:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_minflt, r.ru_utime, r.ru_stime

    cfg = TrainConfig(steps=warm + steps, patience=0)
    if parallel > 1:
        concurrent(parallel)  # as selective retraining's merge does: spmm on one thread each
    threads = [
        threading.Thread(target=fit, args=(m, data, cfg), kwargs={"seed": k, "on_event": on_event})
        for k, m in enumerate(models)
    ]
    for t in threads:
        t.start()
    all_warm.wait()  # no polling: the waiting thread takes no CPU from the trainings timed
    t0, u0 = max(marks), usage()
    for t in threads:
        t.join()
    seconds, u1 = time.perf_counter() - t0, usage()
    n = steps * parallel
    return {
        "step_s": seconds / steps,  # wall seconds per step of each training (they run at once)
        "faults_per_step": (u1[0] - u0[0]) / n,
        "user_s_per_step": (u1[1] - u0[1]) / n,
        "sys_s_per_step": (u1[2] - u0[2]) / n,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--widths", default="68,128", help="widest row of the trained action (128: full width)")
    ap.add_argument("--parallel", default="1,2", help="trainings at once (selective retraining runs two)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--dataset", default="gowalla")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--child", nargs=3, metavar=("MODE", "WIDTH", "PARALLEL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        mode, width, parallel = args.child
        print(json.dumps(child(mode, int(width), args.steps, int(parallel), args.dataset)))
        return
    modes = args.modes.split(",")
    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        for parallel in (int(p) for p in args.parallel.split(",")):
            got: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
            for r in range(args.rounds):
                for mode in modes if r % 2 == 0 else modes[::-1]:  # alternate: load falls on all
                    cmd = [sys.executable, __file__, "--child", mode, str(width), str(parallel)]
                    cmd += ["--steps", str(args.steps), "--dataset", args.dataset]
                    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
                    got[mode].append(json.loads(out.strip().splitlines()[-1]))
            base = statistics.median(x["step_s"] for x in got[modes[0]])
            for mode in modes:
                med = {k: statistics.median(x[k] for x in got[mode]) for k in got[mode][0]}
                rows.append(
                    {"width": width, "parallel": parallel, "mode": mode, **med, "vs_" + modes[0]: med["step_s"] / base}
                )
    if args.json:
        print(json.dumps(rows))
        return
    print(f"LightGCN training step on {args.dataset}, {args.steps} steps, median of {args.rounds} runs per setting")
    print(
        f"{'width':>5} {'at once':>7} {'setting':>8} {'s/step':>7} {'vs ' + modes[0]:>9} {'faults/step':>11} {'user s':>7} {'sys s':>6} {'peak RSS':>9}"
    )
    for r in rows:
        print(
            f"{r['width']:>5} {r['parallel']:>7} {r['mode']:>8} {r['step_s']:>7.3f} {r['vs_' + modes[0]]:>8.2f}x "
            f"{r['faults_per_step']:>11,.0f} {r['user_s_per_step']:>7.3f} {r['sys_s_per_step']:>6.3f} {r['peak_rss_mib']:>6.0f} MiB"
        )


if __name__ == "__main__":
    main()
