"""Where a Table 1 cell's time goes: the per-phase table of the runs in ``docs/table1.csv``.

    python bench/table1_phases.py --store out/table1.sqlite --table docs/table1.csv \
        [--pretrain-log out/pretrain-gowalla.jsonl] [--rss-log out/rss.log]

Reads the stored runs' events (:func:`bet.paper.phase_seconds`): pretrain (0 when the cached
model was used), finetune, evaluation (validation of each candidate), predictor (ranking,
selection, update), retrain (wall time of the parallel retraining), baseline (a reference run's
training); adds the full model's pretraining from ``bench/pretrain_full.py``'s log, the peak
RSS from ``bench/rss_watch.sh``'s log, and checks the issue-9 targets: a cell (BET search +
retraining + SU + SR) ≤ 90 min, pretraining ≤ 45 min, peak RSS ≤ 2 GB.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for `bet`

from bet.errors import StoreError
from bet.events import TIME_PHASES
from bet.paper import phase_seconds, read_table
from bet.store import RunStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, default=Path("out/table1.sqlite"))
    ap.add_argument("--table", type=Path, default=Path("docs/table1.csv"))
    ap.add_argument("--pretrain-log", type=Path, default=Path("out/pretrain-gowalla.jsonl"))
    ap.add_argument("--rss-log", type=Path, default=Path("out/rss.log"))
    args = ap.parse_args()
    store = RunStore(args.store)
    print("| cell | method | early stop | " + " | ".join(f"{p} (min)" for p in TIME_PHASES) + " | total (min) |")
    print("|---" * (len(TIME_PHASES) + 4) + "|")
    cells: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
    for row in read_table(args.table):
        try:
            run = store.get_run(row["run_id"])
        except StoreError:  # a row measured with another store (e.g. on the GPU machine)
            continue
        sec = phase_seconds(store, run)
        total = sum(sec.values())
        cell = (row["dataset"], row["backbone"], row["sparsity"])
        if row["method"] in ("bet", "su", "sr"):
            cells[(*cell, row.get("early_stop", ""))][row["method"]] = total
        vals = " | ".join(f"{sec[p] / 60:.1f}" for p in TIME_PHASES)
        print(f"| {'/'.join(cell)} | {row['method']} | {row.get('early_stop', '')} | {vals} | {total / 60:.1f} |")
    print()
    for (*cell, stopping), parts in cells.items():
        total = sum(parts.values())
        have = " + ".join(f"{m} {parts[m] / 60:.1f}" for m in ("bet", "su", "sr") if m in parts)
        if len(parts) < 3:
            print(f"cell {'/'.join(cell)} ({stopping} early stopping): incomplete, {have} min so far")
            continue
        verdict = "met" if total <= 90 * 60 else "not met"
        print(
            f"cell {'/'.join(cell)} ({stopping} early stopping): {have} = {total / 60:.1f} min (target ≤ 90: {verdict})"
        )
    if args.pretrain_log.exists():
        recs = [json.loads(line) for line in args.pretrain_log.read_text().splitlines() if line.strip()]
        done = [r for r in recs if r["event"] == "done" and not r.get("cached")]
        valid = [r for r in recs if r["event"] == "valid"]
        if done:
            minutes = done[-1]["train_s"] / 60
            steps = valid[-1]["step"] if valid else "?"
            verdict = "met" if minutes <= 45 else "not met"
            print(f"pretraining: {minutes:.1f} min, {steps} steps, peak RSS {done[-1]['peak_rss_mib']} MiB "
                  f"(target ≤ 45 min: {verdict})")  # fmt: skip
    if args.rss_log.exists():
        peaks: dict[str, int] = {}
        for line in args.rss_log.read_text().splitlines():
            m = re.search(r"pid=(\d+) hwm_mib=(\d+) cmd=(.*)", line)
            if m:
                peaks[m.group(3).strip()] = max(peaks.get(m.group(3).strip(), 0), int(m.group(2)))
        for cmd, mib in peaks.items():
            print(f"peak RSS {mib} MiB ({'≤' if mib <= 2048 else '>'} 2 GB): {cmd}")


if __name__ == "__main__":
    main()
