"""Build a recorded study for the dashboard: the runs behind docs/table1.csv, from a run store.

    python bench/make_study.py --dataset gowalla   # out/fast.sqlite + docs/table1.csv → assets/studies/gowalla-full.sqlite
    python bench/make_study.py --source STORE --table docs/table1.csv --out assets/studies/NAME.sqlite
    python bench/make_study.py --source out/fast3.sqlite --source out/fast.sqlite --dataset yelp2018 \
        --out assets/studies/yelp2018-full.sqlite --title "Recorded study: full Yelp2018"
    python bench/make_study.py --source out/fast.sqlite --source OLD_STUDY.sqlite   # runs from either

Writes the study store (:mod:`bet.study`: runs, events and evaluated actions of the table's runs
that completed in STORE, with their full-size and popularity references; no packed tables) and its
manifest ``NAME.json`` beside it: where and when the runs ran, the table rows it holds and those it
left out, and for each run the ``python -m bet reproduce`` command that reproduces it — checked by
building that command's configuration and comparing its fingerprint with the stored run's. A run
that no command of today's code rebuilds (an earlier version of its preset) is left out, with why.

The source is only read (one read-only snapshot): a store that ``bet reproduce`` is still writing
can be used as it is. Run it again whenever more runs have completed: the study is replaced.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bet import PRESETS, BetError, RunRecord, RunStore  # noqa: E402
from bet.cli import build_parser  # noqa: E402
from bet.cli.reproduce import cell_config  # noqa: E402
from bet.paper import CELLS, METHODS, config_hash, read_table  # noqa: E402
from bet.study import Selection, build, held_runs, select  # noqa: E402


def _utc(t: float | None) -> str | None:
    return None if t is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def _cell(run: RunRecord, sel: Selection) -> tuple[str, str, float] | None:
    """The Table 1 cell a run's command names: its own; a reference's (no budget) is a cell of the
    study's runs on the same dataset and backbone (full and pop run once per dataset and backbone);
    None off Table 1 (another dataset)."""
    d, b = run.dataset, run.backbone
    own = (d, b, float(run.sparsity))
    if own in CELLS:
        return own
    mine = sorted({float(r.sparsity) for r in sel.runs if (r.dataset, r.backbone) == (d, b)}, reverse=True)
    return next(((d, b, c) for c in mine if (d, b, c) in CELLS), next((c for c in CELLS if c[:2] == (d, b)), None))


def reproduce(run: RunRecord, sel: Selection) -> tuple[list[str], bool]:
    """The ``reproduce`` arguments for ``run``, and whether the configuration they build has the
    stored run's fingerprint (tried with the run's preset, or each preset where it names none);
    ([], False) for a run on no Table 1 cell."""
    cfg, cell = run.config, _cell(run, sel)
    if cell is None:
        return [], False
    row = sel.in_table.get(run.run_id, {})
    presets = [cfg["preset"]] if "preset" in cfg else list(PRESETS)  # a reference's config names none
    want = config_hash(cfg)
    args: list[str] = []
    for preset in presets:
        args = ["reproduce", "--cells", f"{cell[0]}/{cell[1]}/{cell[2]:g}", "--methods", run.method,
                "--preset", preset, "--device", str(cfg.get("device", "cpu"))]  # fmt: skip
        if run.seed:
            args += ["--seed", str(run.seed)]
        if row.get("early_stop") == "authors":
            args += ["--early-stop", "authors"]
        try:
            made = cell_config(build_parser().parse_args(args), cell, run.method)
        except (BetError, SystemExit):
            continue
        if config_hash(made.to_dict()) == want:
            return args, True
    return args, False


def superseded(sources: list[Path], rows: list[dict[str, str]]) -> dict[str, str]:
    """The runs (of the table, or references beside them) that no command of today's code
    reproduces — made by an earlier version of their preset (``fast`` until 2026-12-07 retrained
    the top 2 on a quicker anneal from a 40-epoch full model): a study's every run must be
    rerunnable from the command it shows. Run id → why it is left out."""
    readers = [RunStore(source, read_only=True) for source in sources]
    try:
        held = held_runs(readers)  # the run build() will take: from the first source holding it
    finally:
        for reader in readers:
            reader.close()
    first = select({rid: run for rid, (run, _) in held.items()}, rows, " or ".join(map(str, sources)))
    out = {}
    for run in first.runs:
        args, same = reproduce(run, first)
        if args and not same:
            out[run.run_id] = (
                f"made by an earlier version of its settings: today's `{command(args)}` builds another "
                f"configuration than the run's ({config_hash(run.config)})"
            )
    return out


def command(args: list[str]) -> str:
    return shlex.join(["python", "-m", "bet", *args])


def where(sel: Selection, note: str | None) -> str:
    hosts = sorted({str(r.host or "?") for r in sel.runs})
    devices = sorted({str(r.config.get("device", "?")) for r in sel.runs})
    text = f"host {', '.join(hosts)} · {', '.join(devices)}"
    if hosts == [socket.gethostname()]:  # built where it ran: say what the machine is
        text += f" ({os.cpu_count()} CPU cores, {platform.machine()})"
    return f"{text} · {note}" if note else text


def headline(sel: Selection) -> str | None:
    """The run the study opens on: BET at the tightest budget, LightGCN first (the paper's story)."""
    bets = [r for r in sel.runs if r.method == "bet"]
    best = max(bets, key=lambda r: (r.backbone == "lightgcn", r.sparsity, -r.created_at), default=None)
    return None if best is None else str(best.run_id)


def batch_commands(sel: Selection) -> list[str]:
    """One command per dataset, backbone and preset that reruns every table run of the study."""
    groups: dict[tuple[str, str, str, str], tuple[set[str], set[str]]] = {}
    for run in sel.runs:
        args, _ = reproduce(run, sel)
        if not args:
            continue
        preset, device = args[args.index("--preset") + 1], args[args.index("--device") + 1]
        cells, methods = groups.setdefault((run.dataset, run.backbone, preset, device), (set(), set()))
        cells.add(args[args.index("--cells") + 1])
        methods.add(run.method)
    return [
        command(["reproduce", "--cells", ",".join(sorted(cells, reverse=True)), "--methods",
                 ",".join(m for m in METHODS if m in methods), "--preset", preset, "--device", device])
        for (_, _, preset, device), (cells, methods) in sorted(groups.items())
    ]  # fmt: skip


def first_start(run: RunRecord) -> float | None:
    """When a run first started: its creation (``reproduce`` starts a run as it creates it). The
    record's ``started_at`` is its last (re)start: a run resumed across sessions (the Yelp2018 BET
    at 0.95, pretrained over three) would be dated by its last piece."""
    return run.created_at if run.started_at else None


def manifest(sel: Selection, out: Path, argv: list[str], note: str | None, title: str) -> dict[str, Any]:
    runs = []
    for r in sel.runs:
        args, same = reproduce(r, sel)
        result, row = r.result or {}, sel.in_table.get(r.run_id)
        runs.append({
            "run_id": r.run_id, "dataset": r.dataset, "backbone": r.backbone, "method": r.method,
            "sparsity": r.sparsity, "preset": args[args.index("--preset") + 1] if same else r.config.get("preset"),
            "budget": r.budget, "cost": result.get("cost"),
            "test_recall@20": (result.get("test") or {}).get("recall@20"),
            "valid_recall@20": (result.get("valid") or {}).get("recall@20"),
            "host": r.host, "device": r.config.get("device"), "started": _utc(first_start(r)),
            "finished": _utc(r.finished_at), "in_table": row is not None,
            "reproduce": command(args) if args else None, "reproduces_config": same,
        })  # fmt: skip
    starts = [s for s in map(first_start, sel.runs) if s]
    ends = [r.finished_at for r in sel.runs if r.finished_at]
    return {
        "title": title, "store": out.name, "built": _utc(time.time()), "build_command": shlex.join(argv),
        "where": where(sel, note), "ran_from": _utc(min(starts, default=None)), "ran_to": _utc(max(ends, default=None)),
        "headline": headline(sel), "table_rows": len(sel.in_table), "commands": batch_commands(sel), "runs": runs,
        "left_out": [{"run_id": row.get("run_id"), "method": row.get("method"), "backbone": row.get("backbone"),
                      "sparsity": row.get("sparsity"), "preset": row.get("preset"), "why": why}
                     for row, why in sel.left_out],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--source",
        type=Path,
        action="append",
        help="a run store to read (read-only; default out/fast.sqlite); repeat it to take runs from several, "
        "the first that holds a run giving it (an earlier study among them keeps its runs)",
    )
    p.add_argument("--table", type=Path, default=Path("docs/table1.csv"), help="the rows whose runs to keep")
    p.add_argument("--dataset", default=None, help="keep only the table's rows of this dataset (e.g. yelp2018)")
    p.add_argument("--out", type=Path, default=Path("assets/studies/gowalla-full.sqlite"), help="the study to write")
    p.add_argument("--title", default="Recorded study: full Gowalla", help="what the dashboard calls it")
    p.add_argument("--where", default=None, help="a note on the machine, e.g. 'shared 2-core VM, CPU only'")
    args = p.parse_args(argv)
    sources = args.source or [Path("out/fast.sqlite")]
    for source in sources:
        if not source.is_file():
            print(f"error: {source}: no such run store", file=sys.stderr)
            return 2
    rows = [r for r in read_table(args.table) if args.dataset in (None, r.get("dataset"))]
    if not rows:
        print(f"error: {args.table}: no rows{f' of dataset {args.dataset!r}' if args.dataset else ''}", file=sys.stderr)
        return 2
    try:
        sel = build(sources, args.out, rows=rows, name=args.out.stem, leave_out=superseded(sources, rows))
    except BetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    doc = manifest(sel, args.out, ["python", "bench/make_study.py", *(argv if argv is not None else sys.argv[1:])],
                   args.where, args.title)  # fmt: skip
    path = args.out.with_suffix(".json")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    os.replace(tmp, path)
    print(f"{args.out} ({args.out.stat().st_size / 1e6:.2f} MB) and {path}: {len(sel.runs)} runs, "
          f"{len(sel.in_table)} checked against {args.table}")  # fmt: skip
    for r in doc["runs"]:
        flag = "" if r["reproduces_config"] else "  (command does NOT rebuild this configuration)" if r["reproduce"] \
            else "  (no Table 1 cell: no reproduce command)"  # fmt: skip
        print(f"  {r['run_id']} {r['backbone']} {r['method']} c={r['sparsity']:g} test R@20 "
              f"{r['test_recall@20'] or float('nan'):.4f} {'table' if r['in_table'] else 'reference'}: {r['reproduce'] or ''}{flag}")  # fmt: skip
    for r in doc["left_out"]:
        print(f"  left out: {r['run_id']} {r['backbone']} {r['method']} c={r['sparsity']} ({r['why']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
