"""Store rows → what the report states: metrics, sizes in MB, the references of a run (picked by
validation, never by test), frontier points and provenance. Same numbers as the dashboard
(``dashboard/queries.py``, ``dashboard/settings.py``), without it."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bet.config import DataSpec
from bet.data import BUILTIN, Dataset
from bet.data.builtin import SHA256
from bet.errors import BetError
from bet.methods import METHODS, budgeted_methods, once_methods
from bet.store import RunStore, Status

Run = dict[str, Any]
Loader = Callable[[dict[str, Any]], Dataset | None]
#: The references the report names: the full model (100 % recall), uniform sizes, and MDE beside SU in the allocation.
FULL, SU, MDE = METHODS["full"], METHODS["su"], METHODS["mde"]


@dataclass
class Context:
    """What a run's report sections read: the store, its runs and how to load a run's data."""

    store: RunStore
    runs: list[Run]  # every run in the store (the references are chosen among them)
    load: Loader


def kept_fraction(run: Run) -> float | None:
    n = n_rows_of(run)
    return run["budget"] / (n * d_max_of(run)) if run.get("budget") and n else None


def metric(run: Run, key: str = "recall@20", split: str = "test") -> float | None:
    value = ((run.get("result") or {}).get(split) or {}).get(key)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def method_name(method: str) -> str:
    """The registry's label; a search variant outside it in capitals (``BET-SIMPLE``)."""
    return METHODS[method].label if method in METHODS else method.upper()


def d_max_of(run: Run) -> int:
    return int((run.get("config") or {}).get("d_max", 128))


def n_rows_of(run: Run) -> int | None:
    """Rows of the run's table (users + items), else recovered from its budget."""
    if run.get("n_users") is not None and run.get("n_items") is not None:
        return int(run["n_users"]) + int(run["n_items"])
    budget, c = run.get("budget"), run.get("sparsity")
    if not budget or c is None or c >= 1:
        return None
    return math.ceil(budget / ((1 - c) * d_max_of(run)) - 1e-9)


def packed_mb(params: int, n_rows: int, d_max: int = 128) -> float:
    """The packed table: float32 values + one byte per row for its size (two above 255)."""
    return (params * 4 + n_rows * (1 if d_max <= 255 else 2)) / 1e6


def cost_of(run: Run) -> int | None:
    """Parameters the run's table keeps (pop: none)."""
    if run["method"] in METHODS and not METHODS[run["method"]].table:
        return 0
    cost = (run.get("result") or {}).get("cost")
    return int(cost) if cost is not None else None


def label(run: Run) -> str:
    return (
        f"{method_name(run['method'])} · {run['backbone']} · {run['dataset']} · c={run['sparsity']:g} · {run['status']}"
    )


def data_key(run: Run) -> str:
    """What must match for two runs to be compared: dataset, split, seed of the split, backbone, d_max."""
    spec = dict((run.get("config") or {}).get("data") or {})
    return json.dumps([run["dataset"], run["backbone"], spec, d_max_of(run)], sort_keys=True, default=str)


def by_validation(run: Run) -> tuple[float, float, float]:
    return (metric(run, split="valid") or -1.0, metric(run, "ndcg@20", "valid") or -1.0, run["created_at"])


def references(run: Run, runs: Sequence[Run]) -> list[Run]:
    """Per method, the completed SU / SR / MDE run at the same budget and the full / pop run of the
    same dataset, split and backbone with the best *validation* recall@20 (then NDCG@20, then newest)."""
    key, picked = data_key(run), dict[str, Run]()
    budgeted, once = budgeted_methods("baseline"), once_methods()  # references at the run's budget, at any
    for r in runs:
        if r["run_id"] == run["run_id"] or r["status"] != Status.COMPLETED or data_key(r) != key:
            continue
        m = r["method"]
        fits = (m in budgeted and r.get("budget") == run.get("budget")) or m in once
        if fits and (m not in picked or by_validation(r) > by_validation(picked[m])):
            picked[m] = r
    return [picked[m] for m in (*budgeted, *once) if m in picked]


def frontier_points(runs: Sequence[Run], key: str) -> list[dict[str, Any]]:
    """Completed runs of one dataset/split/backbone: params kept, test and valid recall@20."""
    out = []
    for r in runs:
        test, cost = metric(r), cost_of(r)
        if r["status"] != Status.COMPLETED or test is None or cost is None or data_key(r) != key:
            continue
        out.append(
            {
                "run_id": r["run_id"],
                "method": r["method"],
                "params": cost,
                "budget": r.get("budget"),
                "test": test,
                "valid": metric(r, split="valid"),
                "run": r,
            }
        )
    return out


def when(t: float | None) -> str:
    return "–" if t is None else datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def duration(run: Run) -> float | None:
    start, end = run.get("started_at"), run.get("finished_at")
    return None if start is None or end is None else max(0.0, end - start)


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = round(s)
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def public_name(name: str) -> str:
    """A built-in's name, else only the file's name: a report never shows the machine's paths."""
    return name if name in BUILTIN else Path(str(name)).name


def public_config(config: dict[str, Any]) -> dict[str, Any]:
    cfg = json.loads(json.dumps(config, default=str))
    if isinstance(cfg.get("data"), dict) and "dataset" in cfg["data"]:
        cfg["data"]["dataset"] = public_name(cfg["data"]["dataset"])
    return cfg


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_checksums(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """sha256 of the files the dataset was read from: the bundled files' recorded digests for a
    built-in (gowalla-mini is cut from gowalla's), else the user's file(s) if still on disk."""
    name = str(spec.get("dataset", ""))
    if name in BUILTIN:
        folder = "gowalla" if name == "gowalla-mini" else name
        return [(rel, SHA256[rel]) for rel in sorted(SHA256) if rel.startswith(folder + "/")]
    path = Path(name).expanduser()
    try:
        if path.is_file():
            return [(path.name, _sha256(path))]
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.name.startswith(("train.", "test.")))
            return [(p.name, _sha256(p)) for p in files]
    except OSError:
        pass
    return []


def default_loader() -> Loader:
    """Loads (once per data spec) the dataset a run was trained on; ``None`` when it is gone."""
    cache: dict[str, Dataset | None] = {}

    def load(spec: dict[str, Any]) -> Dataset | None:
        k = json.dumps(spec, sort_keys=True, default=str)
        if k not in cache:
            try:
                cache[k] = DataSpec(**spec).load()
            except (BetError, TypeError, ValueError, OSError):
                cache[k] = None
        return cache[k]

    return load
