"""How close ``bet estimate`` (:func:`bet.estimate.plan`) comes to what runs take: estimate /
measured for a few configurations (target: within 25 %, issue 23 §1), as a markdown table.

    python bench/estimate_accuracy.py [--only demo,t3,...] [--home DIR]
    python bench/estimate_accuracy.py --store out/fast.sqlite [--store MORE.sqlite] [--dataset gowalla] [--preset fast] [--before]

Without ``--store`` it runs, one after the other on gowalla-mini, in a fresh ``BET_HOME`` (``--home``
to keep one) so that the timings are measured afresh: the dashboard demo's LightGCN search (the
first run: it pretrains), ``-T 3 -m 10 --retrain-top 1``, the default search at c = 0.95 (paper
settings, T = 50), the ``fast`` preset at 0.95 (warm-started retraining), an NCF search (it
pretrains NCF) and an SU reference. Before each run it plans the run twice: from the measured
timings alone (what a first estimate on this machine says) and with what the runs before it in
this benchmark took (:mod:`bet.observed`: the refresh); measured is the wall time of the run in this
process (Python start and data loading left out: seconds of a CLI run).

With ``--store`` it reads the completed runs already recorded there (e.g. full-Gowalla runs of the
``fast`` preset) and plans each from its stored config against the timings this machine has
cached for it (never measured here: a run with none is listed as such; ``bet estimate`` once on
the same dataset and backbone caches them), as the run began (pretraining only when it
pretrained), twice: from the timings alone, and with what the store's *other* runs of the same
dataset and backbone took (leave one out; ``--before``: only those that finished before it, as
a plan made when it started would have seen them), each as this machine's ``observed`` file keeps it
where it does (with the load it ran under: its speed counts, not just its length). Measured: the
seconds its events record (summed over resumed segments).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for `bet`

if "--store" not in sys.argv and "--home" not in sys.argv:  # a fresh BET_HOME before bet is imported
    os.environ["BET_HOME"] = tempfile.mkdtemp(prefix="bet-estimate-")

from bet.config import BaselineConfig, DataSpec, SearchConfig, baseline_config
from bet.data import Dataset
from bet.errors import BetError
from bet.estimate import plan, typical_width
from bet.events import TIME_PHASES
from bet.observed import KEEP, recent, record_of
from bet.paper import phase_seconds
from bet.presets import apply_preset
from bet.runs import run_baseline, run_search
from bet.runtime import resolve_device
from bet.store import RunStore, Status
from bet.timings import cached_for, cached_timings, measure

Config = SearchConfig | BaselineConfig
MINI = DataSpec("gowalla-mini")
_BASE = SearchConfig(data=MINI, device="cpu")


def configs() -> dict[str, tuple[str, Config]]:
    demo = dataclasses.replace(_BASE, sparsity=0.9, iterations=12, retrain_top=2,
                               retrain=dataclasses.replace(_BASE.retrain, epochs=30))  # fmt: skip
    t3 = dataclasses.replace(_BASE, sparsity=0.9, iterations=3, candidates=10, retrain_top=1)
    default = dataclasses.replace(_BASE, sparsity=0.95)
    fast = dataclasses.replace(apply_preset(default, "fast"))
    ncf = dataclasses.replace(_BASE, backbone="ncf", sparsity=0.9, iterations=10, retrain_top=2)
    su = baseline_config(dataclasses.replace(_BASE, sparsity=0.9), "su")
    return {
        "demo": ("LightGCN, demo (c 0.9, T 12, top 2 ≤ 30 epochs; pretrains)", demo),
        "t3": ("LightGCN, -T 3 -m 10 --retrain-top 1 (c 0.9)", t3),
        "default": ("LightGCN, default search (c 0.95, paper, T 50, top 5)", default),
        "fast": ("LightGCN, --preset fast (c 0.95, T 20, top 2 warm)", fast),
        "ncf": ("NCF, c 0.9, T 10, top 2 (pretrains)", ncf),
        "su": ("LightGCN, SU reference (c 0.9)", su),
    }


def _row(name: str, cold: float, learned: float, measured: float, note: str = "") -> str:
    def ratio(x: float) -> str:
        return f"{x / measured:.2f}" if measured > 0 else "–"

    return f"| {name} | {cold:.1f} | {learned:.1f} | {measured:.1f} | **{ratio(cold)}** | **{ratio(learned)}** |" + (
        f" {note} |" if note else " |"
    )


HEADER = (
    "| configuration | estimate, timings only (s) | estimate, with observed runs (s) | measured (s) "
    "| timings only / measured | with observed / measured | note |\n|---|---|---|---|---|---|---|"
)


def run_mini(only: list[str]) -> None:
    print(f"BET_HOME={os.environ.get('BET_HOME')}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}\n")
    print(HEADER)
    data = MINI.load()
    store = RunStore(Path(tempfile.mkdtemp(prefix="bet-estimate-store-")) / "runs.sqlite")
    details, trained = [], []
    for name, (label, cfg) in configs().items():
        if only and name not in only:
            continue
        t = measure(data, cfg.backbone, resolve_device(cfg.device), d_max=cfg.d_max)
        cold = plan(cfg, data, dataclasses.replace(t, observed=()))
        learned = plan(cfg, data, t)
        t0 = time.perf_counter()
        run = (run_search if isinstance(cfg, SearchConfig) else run_baseline)(cfg, store, data=data)  # type: ignore[operator]
        wall = time.perf_counter() - t0
        note = f"{len(t.observed)} observed" + ("; pretrains" if learned["pretrain"] > 0 else "")
        if run.status != Status.COMPLETED:
            note += f"; {run.status}"
        print(_row(label, sum(cold.values()), sum(learned.values()), wall, note), flush=True)
        details.append((name, cold, learned, phase_seconds(store, run), wall))
        got = record_of(store, run.run_id)
        if got is not None:
            spe = (cfg.pretrain if isinstance(cfg, SearchConfig) else cfg.train).steps_per_epoch(data)
            epochs = {k: [round(s / spe, 1) for s in v] if isinstance(v, list) else round(v / spe, 1)
                      for k, v in got[1]["steps"].items()}  # fmt: skip
            trained.append(f"| {name} | {epochs} | {got[1]['width']} | {typical_width(cfg, data)} |")
    print(
        "\nPer phase, seconds: timings only / with observed runs / measured (the run's events; the rest of "
        "the wall time is outside the phases: loading the cached model, the first pool, the test pass…)\n"
    )
    print("| run | " + " | ".join(TIME_PHASES) + " | outside the phases |")
    print("|---" * (len(TIME_PHASES) + 2) + "|")
    for name, cold, learned, measured, wall in details:
        cells = [f"{cold[p]:.1f} / {learned[p]:.1f} / {measured[p]:.1f}" if cold[p] or measured[p] else "–"
                 for p in TIME_PHASES]  # fmt: skip
        print(f"| {name} | " + " | ".join(cells) + f" | {wall - sum(measured.values()):.1f} |")
    print("\nWhat early stopping and the search decided (bet.observed): epochs trained, mean widths trained\n")
    print("| run | epochs | widths | typical sampled width |\n|---|---|---|---|")
    print("\n".join(trained))


def _pretrained(events: list[dict[str, Any]], cfg: Config) -> bool:
    """Whether the run found its full model cached (it planned no pretraining)."""
    if isinstance(cfg, SearchConfig):
        return any(e["kind"] == "pretrain_finished" and e["cached"] for e in events)
    return not any(e["kind"] == "train_progress" and e["phase"] == "pretrain" for e in events)


def run_store(paths: list[Path], dataset: str | None, preset: str | None, *, before: bool = False) -> None:
    held = [
        (store, r)
        for store in (RunStore(path, read_only=True) for path in paths)
        for r in store.list_runs(status=Status.COMPLETED)
        if dataset is None or r.dataset == dataset
    ]
    records = {}
    kept: dict[str, dict[str, Any]] = {}  # this machine's records by run id, each key's file read once
    for store, r in held:
        try:
            got = record_of(store, r.run_id)
        except (BetError, KeyError, TypeError, ValueError):
            got = None
        if got is not None:  # the machine's own record of it keeps the load it ran under (speed, not just length)
            if got[0] not in kept:
                kept[got[0]] = {rec["run_id"]: rec for rec in recent(got[0])}
            records[r.run_id] = (got[0], kept[got[0]].get(r.run_id, got[1]))
    print(f"{', '.join(map(str, paths))}: {len(held)} completed runs; {os.cpu_count()} CPUs here\n")
    print(HEADER)
    loaded: dict[DataSpec, Dataset] = {}
    for store, r in sorted(held, key=lambda held_run: held_run[1].finished_at or 0):
        cfg = r.settings()
        if preset is not None and isinstance(cfg, SearchConfig) and cfg.preset != preset:
            continue
        label = f"{r.method} {r.backbone} {r.dataset} c={r.sparsity:g} ({r.run_id})"
        if r.method == "pop":
            continue
        device = resolve_device(cfg.device)
        if (
            cached_for(r.data_fingerprint or "", cfg.backbone, device, d_max=cfg.d_max) is None
        ):  # data not loaded for nothing
            print(f"| {label} | – | – | – | – | – | no timings cached here for its data (`bet estimate` once) |")
            continue
        try:
            data = loaded.get(cfg.data) or loaded.setdefault(cfg.data, cfg.data.load())
        except BetError as exc:
            print(f"| {label} | – | – | – | – | – | data not here: {exc} |")
            continue
        t = cached_timings(data, cfg.backbone, device, d_max=cfg.d_max)
        if t is None:
            print(f"| {label} | – | – | – | – | – | no timings cached here (`bet estimate` once) |")
            continue
        events = store.events(r.run_id)
        measured = sum(e.get("seconds", 0.0) for e in events if e["kind"] == "run_finished")
        mine = records.get(r.run_id, (None, None))[0]
        others = [
            rec
            for k, rec in records.values()
            if k == mine and rec["run_id"] != r.run_id and (not before or rec["at"] < (r.finished_at or 0))
        ]
        others = sorted(others, key=lambda rec: rec["at"])[-KEEP:]
        pretrained = _pretrained(events, cfg)
        cold = sum(plan(cfg, data, dataclasses.replace(t, observed=()), pretrained=pretrained).values())
        learned = sum(plan(cfg, data, dataclasses.replace(t, observed=tuple(others)), pretrained=pretrained).values())
        print(_row(label, cold, learned, measured, f"{len(others)} others observed"), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(configs())}")
    ap.add_argument("--home", help="BET_HOME to use (default: a fresh one, so timings are measured afresh)")
    ap.add_argument(
        "--store",
        type=Path,
        action="append",
        help="read completed runs from this store (repeatable) instead of running any",
    )
    ap.add_argument("--dataset", help="with --store: only runs on this dataset")
    ap.add_argument("--preset", help="with --store: only searches of this preset (references are kept)")
    ap.add_argument("--before", action="store_true", help="with --store: learn only from runs that finished before")
    args = ap.parse_args()
    if args.home:
        os.environ["BET_HOME"] = args.home
    if args.store is not None:
        run_store(args.store, args.dataset, args.preset, before=args.before)
    else:
        run_mini([s for s in args.only.split(",") if s])


if __name__ == "__main__":
    main()
