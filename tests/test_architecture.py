"""The package's shape, checked by parsing the source: ``bet`` never imports the dashboard or a UI
library, and the library (everything but the command line) never prints."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BET = Path(__file__).resolve().parent.parent / "bet"
FORBIDDEN = ("streamlit", "plotly", "dashboard")
SOURCES = sorted(BET.rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(BET.parent).as_posix()


def is_library(path: Path) -> bool:
    """Everything in ``bet/`` except the command line (``bet/cli/``, ``bet/__main__.py``)."""
    r = rel(path)
    return not (r.startswith("bet/cli/") or r == "bet/__main__.py")


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call):  # importlib.import_module("…") / __import__("…")
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
            if name in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                found.append((node.lineno, str(node.args[0].value)))
    return found


def test_sources_found() -> None:
    names = {rel(p) for p in SOURCES}
    assert {"bet/__init__.py", "bet/metrics.py", "bet/cli/__init__.py", "bet/data/readers.py"} <= names
    assert any(not is_library(p) for p in SOURCES) and any(is_library(p) for p in SOURCES)


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_no_ui_imports(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [(line, mod) for line, mod in imported_modules(tree) if mod.split(".")[0] in FORBIDDEN]
    assert not bad, f"{rel(path)} imports {bad}"


@pytest.mark.parametrize("path", [p for p in SOURCES if is_library(p)], ids=rel)
def test_library_never_prints(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("print", "pprint")
    ]
    assert not calls, f"{rel(path)} calls print() on line(s) {calls}; use logging or events"


def test_checker_catches_violations() -> None:
    """The checks above would notice a violation (guards against a checker that sees nothing)."""
    tree = ast.parse("import streamlit as st\nfrom dashboard.charts import x\nimport plotly.express\nprint(1)\n")
    mods = [m.split(".")[0] for _, m in imported_modules(tree)]
    assert mods == ["streamlit", "dashboard", "plotly"]
    assert any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print" for n in ast.walk(tree))
