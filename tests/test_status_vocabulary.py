"""One vocabulary for run statuses, checked by parsing the source (as ``tests/test_vocabulary.py``
does for methods): outside the module that defines :class:`bet.Status` (``bet/status.py``)
no module of ``bet``, ``dashboard`` or ``bench`` spells a run status as a string where it carries
knowledge — compared with (``status == "completed"``, ``s in ("queued", "running")``), listed (a
tuple, list or set of statuses), used as a dict key or a lookup (``counts["failed"]``,
``by.get("stopped")``), or assigned (``status = "queued"``, ``update_run(rid, status="failed")``).
Those say ``Status.COMPLETED``, ``status.is_final``, ``status.is_resumable`` instead. A status
word as an argument (a message, a phase's label) is not knowledge and is left alone."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEFINITION = ROOT / "bet" / "status.py"
SOURCES = sorted(p for d in ("bet", "dashboard", "bench") for p in (ROOT / d).rglob("*.py") if p != DEFINITION)
STATUSES = {"queued", "running", "completed", "stopped", "failed", "interrupted"}


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def is_status(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value in STATUSES


def status_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, word)`` of every run status spelled as knowledge (see the module docstring)."""
    up = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    hits: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                elts = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                hits += [e for e in elts if is_status(e)]
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and not isinstance(up.get(node), ast.Compare):
            hits += [e for e in node.elts if is_status(e)]
        elif isinstance(node, ast.Dict):
            hits += [k for k in node.keys if is_status(k)]
        elif isinstance(node, ast.Subscript) and is_status(node.slice):
            hits.append(node.slice)
        elif isinstance(node, ast.Call) and node.args and is_status(node.args[0]):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                hits.append(node.args[0])
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and is_status(node.value):
            hits.append(node.value)  # type: ignore[arg-type]
        elif isinstance(node, ast.keyword) and node.arg == "status" and is_status(node.value):
            hits.append(node.value)
    return sorted({(h.lineno, str(h.value)) for h in hits})  # type: ignore[attr-defined]


def test_sources_found() -> None:
    names = {rel(p) for p in SOURCES}
    assert {"bet/report/sections.py", "dashboard/queries.py", "dashboard/views/live.py", "bench/make_study.py"} <= names
    assert rel(DEFINITION) not in names


def test_checker_catches_status_literals() -> None:
    """The check sees every form it forbids, and lets messages, labels and Status members be."""
    bad = """
if run.status == "completed": pass
if status in ("queued", "running"): pass
FINAL = ("completed", "stopped", "failed", "interrupted")
counts = {"failed": 0}
n = counts["stopped"]
m = by.get("queued")
status = "running"
store.update_run(rid, status="interrupted")
runs = stored(store, cfg, ("completed",))
"""
    expected = [
        (2, "completed"),
        (3, "queued"),
        (3, "running"),
        (4, "completed"),
        (4, "failed"),
        (4, "interrupted"),
        (4, "stopped"),
        (5, "failed"),
        (6, "stopped"),
        (7, "queued"),
        (8, "running"),
        (9, "interrupted"),
        (10, "completed"),
    ]
    assert status_literals(ast.parse(bad)) == expected
    fine = """
if run.status == Status.COMPLETED: pass
if not status.is_final: pass
print("interrupted", file=sys.stderr)
yield RunFinished(Status.STOPPED, "stopped before it started")
return Progress("queued", 0.0, "waiting for the runs before it", None)
phase = run.phase or "queued"
"""
    assert status_literals(ast.parse(fine)) == []


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_no_run_status_literal_outside_its_definition(path: Path) -> None:
    found = status_literals(ast.parse(path.read_text(), filename=str(path)))
    assert not found, f"{rel(path)}: say Status.X (or .is_final / .is_resumable), not the literal: {found}"
