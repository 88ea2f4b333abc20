"""Paper Table 1: the published numbers of the BET paper (WSDM 2024; test R@5 / N@5 / R@20 /
N@20), and the rows of our reproduction of it (``docs/table1.csv``, written by ``bet reproduce``).

Keyed by ``(dataset, backbone, sparsity, method)``. Two cells carry obvious typos in the paper
(NGCF/Gowalla/0.95 BET N@20 printed as .9980; CIESS Yelp/LightGCN/0.95 R@20 as .6570); the
values below are as printed, see ``../shared/reference/bet-paper.md`` §6.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bet.events import TIME_PHASES
from bet.methods import METHODS  # Table 1's methods: BET, its random-selection ablation, the references
from bet.store import RunRecord, RunStore, Status

COLUMNS = ("recall@5", "ndcg@5", "recall@20", "ndcg@20")

_ROWS = """
gowalla lightgcn 0.8 su .0756 .1219 .1674 .1400
gowalla lightgcn 0.8 sr .0708 .1150 .1583 .1323
gowalla lightgcn 0.8 bet .0797 .1303 .1753 .1483
gowalla lightgcn 0.9 su .0646 .1041 .1477 .1217
gowalla lightgcn 0.9 sr .0617 .1013 .1403 .1171
gowalla lightgcn 0.9 bet .0736 .1212 .1620 .1376
gowalla lightgcn 0.95 su .0446 .0727 .1085 .0872
gowalla lightgcn 0.95 sr .0500 .0834 .1178 .0975
gowalla lightgcn 0.95 bet .0627 .1037 .1374 .1171
gowalla ngcf 0.8 su .0619 .0961 .1466 .1170
gowalla ngcf 0.8 sr .0512 .0815 .1223 .0982
gowalla ngcf 0.8 bet .0643 .1039 .1454 .1204
gowalla ngcf 0.9 su .0589 .0935 .1380 .1115
gowalla ngcf 0.9 sr .0466 .0764 .1123 .0911
gowalla ngcf 0.9 bet .0623 .1012 .1426 .1177
gowalla ngcf 0.95 su .0527 .0870 .1213 .1007
gowalla ngcf 0.95 sr .0438 .0739 .1040 .0859
gowalla ngcf 0.95 bet .0528 .0883 .1172 .9980
gowalla ncf 0.8 su .0481 .0662 .1235 .0916
gowalla ncf 0.8 sr .0478 .0656 .1243 .0910
gowalla ncf 0.8 bet .0511 .0723 .1294 .0973
gowalla ncf 0.9 su .0413 .0548 .1112 .0796
gowalla ncf 0.9 sr .0399 .0536 .1069 .0769
gowalla ncf 0.9 bet .0434 .0648 .1122 .0845
gowalla ncf 0.95 su .0336 .0478 .0952 .0682
gowalla ncf 0.95 sr .0329 .0489 .0918 .0674
gowalla ncf 0.95 bet .0388 .0616 .0963 .0756
yelp2018 lightgcn 0.8 su .0289 .0665 .0822 .0758
yelp2018 lightgcn 0.8 sr .0253 .0588 .0783 .0698
yelp2018 lightgcn 0.8 bet .0310 .0726 .0873 .0816
yelp2018 lightgcn 0.9 su .0230 .0544 .0722 .0648
yelp2018 lightgcn 0.9 sr .0210 .0476 .0642 .0573
yelp2018 lightgcn 0.9 bet .0284 .0674 .0816 .0762
yelp2018 lightgcn 0.95 su .0217 .0494 .0624 .0571
yelp2018 lightgcn 0.95 sr .0195 .0465 .0583 .0540
yelp2018 lightgcn 0.95 bet .0255 .0596 .0727 .0676
yelp2018 ngcf 0.8 su .0223 .0517 .0665 .0603
yelp2018 ngcf 0.8 sr .0212 .0499 .0618 .0573
yelp2018 ngcf 0.8 bet .0254 .0601 .0741 .0685
yelp2018 ngcf 0.9 su .0205 .0528 .0622 .0592
yelp2018 ngcf 0.9 sr .0195 .0449 .0573 .0524
yelp2018 ngcf 0.9 bet .0246 .0586 .0736 .0676
yelp2018 ngcf 0.95 su .0196 .0496 .0573 .0545
yelp2018 ngcf 0.95 sr .0175 .0415 .0528 .0486
yelp2018 ngcf 0.95 bet .0216 .0505 .0639 .0588
yelp2018 ncf 0.8 su .0131 .0226 .0465 .0351
yelp2018 ncf 0.8 sr .0101 .0183 .0342 .0268
yelp2018 ncf 0.8 bet .0194 .0451 .0620 .0554
yelp2018 ncf 0.9 su .0119 .0201 .0416 .0309
yelp2018 ncf 0.9 sr .0089 .0170 .0309 .0242
yelp2018 ncf 0.9 bet .0173 .0400 .0565 .0499
yelp2018 ncf 0.95 su .0091 .0174 .0303 .0238
yelp2018 ncf 0.95 sr .0078 .0145 .0275 .0216
yelp2018 ncf 0.95 bet .0170 .0404 .0545 .0491
"""

TABLE1: dict[tuple[str, str, float, str], dict[str, float]] = {
    (d, b, float(c), m): dict(zip(COLUMNS, map(float, vals), strict=True))
    for d, b, c, m, *vals in (line.split() for line in _ROWS.strip().splitlines())
}

CELLS = sorted({(d, b, c) for d, b, c, _ in TABLE1})


# --- our reproduction: docs/table1.csv -------------------------------------------------------

#: Columns of ``docs/table1.csv`` (one row per measured cell and method).
TABLE_COLUMNS = (
    "dataset",
    "backbone",
    "sparsity",
    "method",
    "preset",
    "seeds",
    "recall@20",
    "ndcg@20",
    "paper_recall@20",
    "paper_ndcg@20",
    "recall@5",
    "ndcg@5",
    "paper_recall@5",
    "paper_ndcg@5",
    "valid_recall@20",
    "budget",
    "cost",
    "hours",
    "early_stop",
    "device",
    "date",
    "run_id",
    "config",
)


#: Settings added after rows were recorded, with their defaults: at the default they are left out
#: of the fingerprint, so every earlier row keeps its hash (the ``paper`` preset is unchanged).
_ADDED: dict[str, tuple[Any]] = {"preset": ("paper",), "fitness_users": (None,), "retrain_from": ("scratch",)}


def config_hash(config: Mapping[str, Any]) -> str:
    """A short fingerprint of what decides a run's numbers (the device is its own column)."""
    spec = {k: v for k, v in config.items() if k not in ("device", "retrain_workers") and _ADDED.get(k, ()) != (v,)}
    for key in ("pretrain", "retrain", "train"):  # schedules: a field added later, at its default, is left out
        if isinstance(spec.get(key), dict):
            spec[key] = {k: v for k, v in spec[key].items() if not (k == "eval_users" and v is None)}
    method = METHODS.get(config["method"]) if isinstance(config.get("method"), str) else None
    if method is not None and not method.pretrained:  # trained from scratch: no pretrained model
        spec.pop("pretrain", None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def phase_seconds(store: RunStore, run: RunRecord) -> dict[str, float]:
    """Where a stored run's time went, from its events (summed over resumed segments):
    ``pretrain`` (0 when the cached model was used), ``finetune``, ``evaluation`` (validation of
    each candidate), ``predictor`` (ranking, selection and the predictor's update), ``retrain``
    (wall time of the parallel retraining phase), ``baseline`` (a reference run's training)."""
    out = dict.fromkeys(TIME_PHASES, 0.0)
    retrain_from = None
    for ev in store.events(run.run_id):
        kind = ev["kind"]
        if kind == "pretrain_finished" and not ev["cached"]:
            out["pretrain"] += ev["seconds"]
        elif kind == "candidate_evaluated" and ev["iteration"] > 0:
            evaluation, rest = ev.get("eval_seconds", 0.0), ev.get("overhead", 0.0)
            out["finetune"] += ev["seconds"] - evaluation - rest  # ``seconds`` holds all three
            out["evaluation"] += evaluation
            out["predictor"] += rest
        elif kind == "phase" and ev["phase"] == "retrain":
            retrain_from = ev["t"]
        elif kind == "run_finished" and ev["status"] == Status.COMPLETED:
            if retrain_from is not None:
                out["retrain"] += ev["t"] - retrain_from
            elif run.kind == "baseline":
                out["baseline"] += ev.get("seconds", 0.0)
    return out


def table_row(store: RunStore, run: RunRecord, *, method: str, device: str) -> dict[str, Any]:
    """One ``docs/table1.csv`` row for a completed run (test metrics are a read-out only)."""
    result = run.result or {}
    test, valid = result.get("test") or {}, result.get("valid") or {}
    cell = (run.dataset, run.backbone, float(run.sparsity), method)
    paper = TABLE1.get(cell, {})

    def num(x: float | None) -> str:
        return "" if x is None else f"{x:.4f}"

    return {
        "dataset": run.dataset,
        "backbone": run.backbone,
        "sparsity": run.sparsity,
        "method": method,
        "preset": run.config.get("preset", "paper"),
        "seeds": run.seed,
        "recall@20": num(test.get("recall@20")),
        "ndcg@20": num(test.get("ndcg@20")),
        "paper_recall@20": num(paper.get("recall@20")),
        "paper_ndcg@20": num(paper.get("ndcg@20")),
        "recall@5": num(test.get("recall@5")),
        "ndcg@5": num(test.get("ndcg@5")),
        "paper_recall@5": num(paper.get("recall@5")),
        "paper_ndcg@5": num(paper.get("ndcg@5")),
        "valid_recall@20": num(valid.get("recall@20")),
        "budget": run.budget,
        "cost": result.get("cost"),
        "hours": f"{sum(phase_seconds(store, run).values()) / 3600:.3f}",
        "device": device,
        "early_stop": "authors"
        if (run.config.get("retrain") or run.config.get("train") or {}).get("eval_every_steps")
        else "ours",
        "date": time.strftime("%Y-%m-%d"),
        "run_id": run.run_id,
        "config": config_hash(run.config),
    }


def read_table(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def upgrade_table(path: Path) -> None:
    """Rewrite a table written before a column was added (``preset``: its rows are ``paper``) with
    today's columns, atomically (a temporary file renamed over it); a current table is left alone."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) == TABLE_COLUMNS:
            return
        rows = [{"preset": "paper", **row} for row in reader]
    tmp = path.with_name(f".{path.name}.upgrade")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=TABLE_COLUMNS, lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: row.get(k) or "" for k in TABLE_COLUMNS} for row in rows)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def append_row(path: Path, row: dict[str, Any]) -> None:
    """Append one row, writing the header first for a new file; written and flushed as one line,
    so an interrupted reproduction never leaves half a row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    upgrade_table(path)
    new = not path.exists() or path.stat().st_size == 0
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TABLE_COLUMNS, lineterminator="\n")
    if new:
        writer.writeheader()
    writer.writerow({k: row.get(k, "") for k in TABLE_COLUMNS})
    with path.open("a", newline="") as fh:
        fh.write(buf.getvalue())
        fh.flush()
        os.fsync(fh.fileno())
