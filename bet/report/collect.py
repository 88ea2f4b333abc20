"""Store rows → what the report states: metrics, sizes in MB, the references of a run (picked by
validation, never by test), frontier points and provenance. Same numbers as the dashboard
(``dashboard/queries.py``, ``dashboard/settings.py``), without it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bet.config import DataSpec
from bet.data import BUILTIN, Dataset
from bet.data.builtin import SHA256
from bet.errors import BetError
from bet.methods import METHODS, budgeted_methods, once_methods
from bet.store import RunRecord, RunStore, Status

Loader = Callable[[Mapping[str, Any]], Dataset | None]
#: The references the report names: the full model (100 % recall), uniform sizes, and MDE beside SU in the allocation.
FULL, SU, MDE = METHODS["full"], METHODS["su"], METHODS["mde"]


@dataclass
class Context:
    """What a run's report sections read: the store, its runs and how to load a run's data."""

    store: RunStore
    runs: list[RunRecord]  # every run in the store (the references are chosen among them)
    load: Loader


def packed_mb(params: int, n_rows: int, d_max: int = 128) -> float:
    """The packed table: float32 values + one byte per row for its size (two above 255)."""
    return (params * 4 + n_rows * (1 if d_max <= 255 else 2)) / 1e6


def data_key(run: RunRecord) -> str:
    """What must match for two runs to be compared: dataset, split, seed of the split, backbone, d_max."""
    spec = dict(run.data_spec)
    return json.dumps([run.dataset, run.backbone, spec, run.d_max], sort_keys=True, default=str)


def by_validation(run: RunRecord) -> tuple[float, float, float]:
    return (run.metric(split="valid") or -1.0, run.metric("ndcg@20", "valid") or -1.0, run.created_at)


def references(run: RunRecord, runs: Sequence[RunRecord]) -> list[RunRecord]:
    """Per method, the completed SU / SR / MDE run at the same budget and the full / pop run of the
    same dataset, split and backbone with the best *validation* recall@20 (then NDCG@20, then newest)."""
    key, picked = data_key(run), dict[str, RunRecord]()
    budgeted, once = budgeted_methods("baseline"), once_methods()  # references at the run's budget, at any
    for r in runs:
        if r.run_id == run.run_id or r.status != Status.COMPLETED or data_key(r) != key:
            continue
        m = r.method
        fits = (m in budgeted and r.budget == run.budget) or m in once
        if fits and (m not in picked or by_validation(r) > by_validation(picked[m])):
            picked[m] = r
    return [picked[m] for m in (*budgeted, *once) if m in picked]


def frontier_points(runs: Sequence[RunRecord], key: str) -> list[dict[str, Any]]:
    """Completed runs of one dataset/split/backbone: params kept, test and valid recall@20."""
    out = []
    for r in runs:
        test, cost = r.metric(), r.params
        if r.status != Status.COMPLETED or test is None or cost is None or data_key(r) != key:
            continue
        out.append(
            {
                "run_id": r.run_id,
                "method": r.method,
                "params": cost,
                "budget": r.budget,
                "test": test,
                "valid": r.metric(split="valid"),
                "run": r,
            }
        )
    return out


def when(t: float | None) -> str:
    return "–" if t is None else datetime.fromtimestamp(t).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def duration(run: RunRecord) -> float | None:
    start, end = run.started_at, run.finished_at
    return None if start is None or end is None else max(0.0, end - start)


def fmt_seconds(s: float | None) -> str:
    if s is None:
        return "–"
    s = round(s)
    return f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def public_name(name: str) -> str:
    """A built-in's name, else only the file's name: a report never shows the machine's paths."""
    return name if name in BUILTIN else Path(str(name)).name


def public_config(config: Mapping[str, Any]) -> dict[str, Any]:
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


def source_checksums(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
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

    def load(spec: Mapping[str, Any]) -> Dataset | None:
        k = json.dumps(spec, sort_keys=True, default=str)
        if k not in cache:
            try:
                cache[k] = DataSpec(**spec).load()
            except (BetError, TypeError, ValueError, OSError):
                cache[k] = None
        return cache[k]

    return load
