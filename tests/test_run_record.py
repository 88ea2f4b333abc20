"""A run out of the store is a frozen, typed :class:`bet.RunRecord` (issue 24 §1): nothing hands a
run dict out of the store, a run cannot be changed where it is read, its status is a
:class:`bet.Status` (a dead writer's run ``interrupted``), and what pages and reports derive from a
run — ``d_max``, the table's rows, metrics, the label, the best action — is said once and agrees
with the copies it replaced (kept below as they were, to compare against)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import math
import os
import pickle
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest

import bet
from bet import RunRecord, RunStore, Status, best_action
from bet.methods import METHODS
from bet.paper import config_hash
from bet.store import StoreReader
from bet.store.schema import COLUMN_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
CONFIG = {"d_max": 64, "iterations": 3, "data": {"dataset": "d", "split": "paper"}, "pretrain": {"epochs": 2}}
RESULT = {"valid": {"recall@20": 0.21, "ndcg@20": 0.1}, "test": {"recall@20": 0.22}, "cost": 900, "best_action_id": 2}


def stored_run(tmp_path: Path, **kw: Any) -> tuple[RunStore, str]:
    store = RunStore(tmp_path / "s.sqlite")
    args: dict[str, Any] = dict(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0)
    args.update(config=CONFIG, budget=1000, n_users=10, n_items=20, **kw)
    rid = store.create_run(**args)
    store.finish(rid, Status.COMPLETED, result=RESULT)
    return store, rid


def test_a_run_is_frozen_where_it_is_read(tmp_path: Path) -> None:
    store, rid = stored_run(tmp_path)
    run = store.get_run(rid)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = Status.FAILED  # type: ignore[misc]
    with pytest.raises((AttributeError, TypeError)):  # slots: none can be added (3.11 says TypeError)
        run.note = "x"  # type: ignore[attr-defined]
    for change in (
        lambda: run.config.__setitem__("d_max", 1),  # type: ignore[index]
        lambda: run.config["data"].__setitem__("dataset", "other"),
        lambda: run.config.update(d_max=1),  # type: ignore[attr-defined]
        lambda: run.result["test"].pop("recall@20"),  # type: ignore[index]
    ):
        with pytest.raises(TypeError, match="read-only"):
            change()
    assert store.get_run(rid) == run and run.d_max == 64
    changed = dataclasses.replace(run, status=Status.RUNNING, iteration=2)  # a modified copy, as pages build one
    assert changed.status is Status.RUNNING and run.status is Status.COMPLETED and changed.config == run.config


def test_a_run_is_typed(tmp_path: Path) -> None:
    store, rid = stored_run(tmp_path)
    for run in (store.get_run(rid), store.list_runs()[0], StoreReader(store.path, read_only=True).get_run(rid)):
        assert isinstance(run, RunRecord) and type(run.status) is Status and run.status is Status.COMPLETED
        assert isinstance(run.sparsity, float) and isinstance(run.budget, int) and isinstance(run.created_at, float)
        assert isinstance(run.config, typing.Mapping) and isinstance(run.result, typing.Mapping)
        assert run.config == CONFIG and run.result == RESULT  # what was stored, as read
    made = RunRecord(
        run_id="x",
        kind="search",
        method="bet",
        dataset="d",
        backbone="lightgcn",
        sparsity=0.9,
        seed=0,
        status="running",
        created_at=0.0,
        config={"data": {"dataset": "d"}},
    )  # type: ignore[arg-type]
    assert made.status is Status.RUNNING and made.result is None
    with pytest.raises(TypeError):  # what it is given is frozen too
        made.config["data"]["dataset"] = "e"


def test_an_interrupted_writers_run_is_reported_interrupted(tmp_path: Path) -> None:
    store, rid = stored_run(tmp_path)
    store.update_run(rid, status=Status.QUEUED, result=None)
    store.claim(rid)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store.update_run(rid, pid=int(dead.stdout))
    run = store.get_run(rid)
    assert run.status is Status.INTERRUPTED and run.error == "the process running it stopped without finishing"
    assert [r.run_id for r in store.list_runs(status=Status.INTERRUPTED)] == [rid]
    assert store.list_runs(status=Status.RUNNING) == []
    assert store.conn.execute("SELECT status FROM runs").fetchone()[0] == "running"  # reported, not stored
    store.update_run(rid, pid=os.getpid())
    assert store.get_run(rid).status is Status.RUNNING  # this process is alive


def test_the_dict_a_run_prints_as_keeps_the_rows_columns_in_order(tmp_path: Path) -> None:
    store, rid = stored_run(tmp_path)
    row = dict(store.conn.execute("SELECT * FROM runs WHERE run_id=?", (rid,)).fetchone())
    as_read = {**COLUMN_DEFAULTS, **row}  # how a run dict was built before RunRecord (--json prints it)
    out = store.get_run(rid).to_dict()
    assert list(out) == list(as_read)
    assert out == {**as_read, "config": CONFIG, "result": RESULT}
    out["config"]["d_max"] = 1  # a plain copy
    assert json.dumps(out) and store.get_run(rid).d_max == 64


def test_a_run_survives_pickling_copying_and_json(tmp_path: Path) -> None:
    store, rid = stored_run(tmp_path)
    run = store.get_run(rid)
    assert pickle.loads(pickle.dumps(run)) == run and copy.deepcopy(run) == run  # streamlit's caches
    assert len({run, store.get_run(rid)}) == 1  # hashable (by its id), equal when read twice
    assert json.dumps(run.config, sort_keys=True) == json.dumps(CONFIG, sort_keys=True)
    assert config_hash(run.config) == config_hash(CONFIG)  # docs/table1.csv fingerprints unchanged


# -- what RunRecord replaced, as it was: the derived values must agree --------------------------
def old_d_max_of(run: dict[str, Any]) -> int:  # bet/report/collect.py (and five copies elsewhere)
    return int((run.get("config") or {}).get("d_max", 128))


def old_n_rows_of(run: dict[str, Any]) -> int | None:  # bet/report/collect.py
    if run.get("n_users") is not None and run.get("n_items") is not None:
        return int(run["n_users"]) + int(run["n_items"])
    budget, c = run.get("budget"), run.get("sparsity")
    if not budget or c is None or c >= 1:
        return None
    return math.ceil(budget / ((1 - c) * old_d_max_of(run)) - 1e-9)


def old_metric(run: dict[str, Any], key: str = "recall@20", split: str = "test") -> float | None:
    value = ((run.get("result") or {}).get(split) or {}).get(key)
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def old_cost_of(run: dict[str, Any]) -> int | None:
    if run["method"] in METHODS and not METHODS[run["method"]].table:
        return 0
    cost = (run.get("result") or {}).get("cost")
    return int(cost) if cost is not None else None


def old_report_label(run: dict[str, Any]) -> str:  # bet/report/collect.py
    name = METHODS[run["method"]].label if run["method"] in METHODS else run["method"].upper()
    return f"{name} · {run['backbone']} · {run['dataset']} · c={run['sparsity']:g} · {run['status']}"


def old_dashboard_label(run: dict[str, Any]) -> str:  # dashboard/queries.py
    r = run
    return f"{r['method'].upper()} · {r['backbone']} · {r['dataset']} · c={r['sparsity']:g} · {r['status']}"


def old_best_row(run: dict[str, Any], actions: list[dict[str, Any]]) -> dict[str, Any] | None:  # report
    best_id = (run.get("result") or {}).get("best_action_id")
    for a in actions:
        if best_id is not None and a["action_id"] == best_id:
            return a
    scored = [a for a in actions if a.get("fitness") is not None and not math.isnan(a["fitness"])]
    if scored:
        return max(scored, key=lambda a: (a["fitness"], -a["action_id"]))
    return actions[0] if actions else None


def old_best_action(actions: list[dict[str, Any]], run: dict[str, Any] | None = None) -> dict[str, Any] | None:
    best_id = ((run or {}).get("result") or {}).get("best_action_id")  # dashboard/queries.py
    if best_id is not None:
        for a in actions:
            if a["action_id"] == best_id:
                return a
    scored = [a for a in actions if a.get("fitness") is not None and not math.isnan(a["fitness"])]
    if scored:
        return max(scored, key=lambda a: (a["fitness"], -a["action_id"]))
    return actions[0] if actions else None


VARIANTS: list[dict[str, Any]] = [
    {},
    {"config": {}, "budget": 1000},  # no d_max: the default
    {"config": {"d_max": 300}, "n_users": None, "n_items": None, "budget": 3000},  # rows from the budget
    {"n_users": None, "budget": None, "result": None, "status": "running"},
    {"method": "pop", "kind": "baseline", "sparsity": 1.0, "budget": 0, "result": {"test": {"recall@20": 0.07}}},
    {"method": "bet-simple", "result": {**RESULT, "test": {"recall@20": math.nan}, "best_action_id": None}},
    {"method": "su", "kind": "baseline", "status": "interrupted", "sparsity": 0.95},
    {"method": "full", "kind": "baseline", "sparsity": 0.0, "result": {**RESULT, "best_action_id": 7}},
]
ACTIONS = [
    {"action_id": 1, "fitness": 0.8},
    {"action_id": 2, "fitness": 0.86},
    {"action_id": 3, "fitness": math.nan},
    {"action_id": 4, "fitness": 0.86},
]


@pytest.mark.parametrize("changes", VARIANTS, ids=range(len(VARIANTS)))
def test_derived_values_agree_with_what_they_replaced(changes: dict[str, Any]) -> None:
    old = {
        "run_id": "r",
        "kind": "search",
        "method": "bet",
        "dataset": "d",
        "backbone": "lightgcn",
        "sparsity": 0.9,
        "seed": 0,
        "status": "completed",
        "created_at": 1.0,
        "budget": 1000,
        "n_users": 10,
        "n_items": 20,
        "config": CONFIG,
        "result": RESULT,
        **changes,
    }
    run = RunRecord.of(old)
    assert run.d_max == old_d_max_of(old) and run.n_rows == old_n_rows_of(old) and run.params == old_cost_of(old)
    for key, split in (("recall@20", "test"), ("recall@20", "valid"), ("ndcg@20", "valid"), ("ndcg@20", "test")):
        assert run.metric(key, split) == old_metric(old, key, split)
    assert run.label() == old_dashboard_label(old) and run.label(long=True) == old_report_label(old)
    assert run.cost == (old.get("result") or {}).get("cost")
    for actions in (ACTIONS, ACTIONS[2:3], [], [*ACTIONS, {"action_id": 7, "fitness": None}]):
        assert best_action(actions, run) is old_best_action(actions, old) is old_best_row(old, actions)
        assert best_action(actions) is old_best_action(actions)


# -- the store's interface and the codebase say RunRecord, never a run dict ---------------------
def test_the_store_hands_out_run_records_only() -> None:
    for cls in (StoreReader, RunStore):
        hints = {name: typing.get_type_hints(getattr(cls, name)) for name in ("get_run", "list_runs")}
        assert hints["get_run"]["return"] is RunRecord
        assert hints["list_runs"]["return"] == list[RunRecord]
        for name in dir(cls):  # no public method hands a run out as a dict
            fn = getattr(cls, name)
            if name.startswith("_") or not callable(fn) or "run" not in name:
                continue
            back = typing.get_type_hints(fn).get("return")
            assert back in (RunRecord, list[RunRecord], str, bool, type(None)), (cls.__name__, name, back)
    for fn in (bet.record, bet.run_search, bet.run_baseline):
        assert typing.get_type_hints(fn)["return"] is RunRecord, fn
    assert {"RunRecord", "Status", "best_action"} <= set(bet.__all__)


def run_dict_aliases(tree: ast.AST) -> list[str]:
    """Names bound to ``dict[...]`` / ``Dict[...]`` / ``dict`` whose name says "run"."""
    found = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        base = value.value if isinstance(value, ast.Subscript) else value
        if isinstance(base, ast.Name) and base.id in ("dict", "Dict"):
            found += [t.id for t in targets if isinstance(t, ast.Name) and "run" in t.id.lower()]
    return found


def test_no_module_defines_a_run_dict_alias() -> None:
    assert run_dict_aliases(ast.parse("Run = dict[str, Any]\nRuns = dict\nX = dict[str, int]\n")) == ["Run", "Runs"]
    for path in sorted([*(ROOT / "bet").rglob("*.py"), *(ROOT / "dashboard").rglob("*.py")]):
        assert not run_dict_aliases(ast.parse(path.read_text())), path


def test_the_config_reads_back_as_its_dataclass(tmp_path: Path) -> None:
    search = bet.SearchConfig(sparsity=0.95, iterations=7)
    base = bet.baseline_config(search, "su")
    store = RunStore(tmp_path / "s.sqlite")
    kw: dict[str, Any] = dict(dataset="d", backbone="lightgcn", sparsity=0.95, seed=0)
    sid = store.create_run(kind="search", method="bet", config=search.to_dict(), **kw)
    bid = store.create_run(kind="baseline", method="su", config=base.to_dict(), **kw)
    assert store.get_run(sid).settings() == search and store.get_run(bid).settings() == base
    assert store.get_run(sid).config == search.to_dict()  # as stored: what bet reproduce compares
    odd = store.create_run(kind="search", method="bet", config={}, **kw)  # a hand-made row: read, not parsed
    assert store.get_run(odd).config == {} and store.get_run(odd).d_max == 128
    with pytest.raises(KeyError):
        store.get_run(odd).settings()
