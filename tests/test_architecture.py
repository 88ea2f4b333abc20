"""The package's shape, checked by parsing the source: ``bet`` never imports the dashboard or a UI
library, the library (everything but the command line) never prints, its modules import each
other without a cycle, no module runs past 300 lines, and the dashboard builds only on the public
names of ``bet`` (``bet.__all__``, and ``bet.report.__all__`` for the report it shares)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

BET = Path(__file__).resolve().parent.parent / "bet"
DASHBOARD = BET.parent / "dashboard"
FORBIDDEN = ("streamlit", "plotly", "dashboard")
SOURCES = sorted(BET.rglob("*.py"))
DASHBOARD_SOURCES = sorted(DASHBOARD.rglob("*.py"))
MAX_LINES = 300


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


def module_name(path: Path) -> str:
    parts = list(path.relative_to(BET.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(tree: ast.Module, own: str) -> set[str]:
    """The ``bet`` modules a module imports when it is imported (not inside functions, not under
    ``TYPE_CHECKING``); ``from bet.x import y`` counts ``bet.x.y`` when that is a module."""
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        stmts = [node] if not isinstance(node, ast.Try) else node.body
        for stmt in stmts:
            if isinstance(stmt, ast.Import):
                found |= {a.name for a in stmt.names}
            elif isinstance(stmt, ast.ImportFrom) and stmt.module and stmt.level == 0:
                found.add(stmt.module)
                found |= {f"{stmt.module}.{a.name}" for a in stmt.names}
    return {m for m in found if m.split(".")[0] == "bet" and m != own}


def test_no_import_cycles() -> None:
    modules = {module_name(p): p for p in SOURCES}
    graph = {
        name: {m for m in top_level_imports(ast.parse(p.read_text()), name) if m in modules and m != "bet"}
        for name, p in modules.items()
    }
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt.startswith(node + "."):  # a package importing its own submodules is its definition
                continue
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " → ".join([*path[path.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("path", SOURCES + DASHBOARD_SOURCES, ids=lambda p: p.relative_to(BET.parent).as_posix())
def test_modules_stay_short(path: Path) -> None:
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.name} has {n} lines (at most {MAX_LINES}): split it by what it does"


@pytest.mark.parametrize("path", DASHBOARD_SOURCES, ids=lambda p: p.relative_to(BET.parent).as_posix())
def test_dashboard_uses_only_public_names(path: Path) -> None:
    import bet
    import bet.report

    public = {"bet": set(bet.__all__), "bet.report": set(bet.report.__all__)}
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            bad += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "bet"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bet":
            allowed = public.get(node.module, set())
            bad += [(node.lineno, f"{node.module}.{a.name}") for a in node.names if a.name not in allowed]
    assert not bad, f"{path.name} imports {bad}, which bet/__init__.py does not name (add them there, or use those)"


def test_public_names_exist() -> None:
    import bet
    import bet.report

    assert all(hasattr(bet, n) for n in bet.__all__) and all(hasattr(bet.report, n) for n in bet.report.__all__)


#: The search loop: the modules that produce a run's events. They speak a run's words
#: (:mod:`bet.events`, :mod:`bet.status`) and never import the store — nor does anything they import.
SEARCH_LOOP = (
    "bet.search",
    "bet.iteration",
    "bet.retrain",
    "bet.baselines",
    "bet.train",
    "bet.predictor",
    "bet.sampler",
    "bet.selection",
    "bet.budget",
    "bet.events",
    "bet.status",
)


def every_import(tree: ast.AST) -> set[str]:
    """The modules a module imports anywhere (in functions and under ``TYPE_CHECKING`` too);
    ``from bet import store`` counts ``bet.store``."""
    found = {m for _, m in imported_modules(tree)}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_the_search_loop_never_imports_the_store() -> None:
    modules = {module_name(p): p for p in SOURCES}
    assert set(SEARCH_LOOP) <= set(modules)
    # "bet" itself (the package's face) names everything: an import of it is not followed
    graph = {
        n: {m for m in every_import(ast.parse(p.read_text())) if m in modules and m != "bet"}
        for n, p in modules.items()
    }
    for name in SEARCH_LOOP:
        bad = sorted(m for m in reachable(name, graph) if m == "bet.store" or m.startswith("bet.store."))
        assert not bad, f"{name} imports {bad} (directly or through what it imports); use bet.status / bet.events"
    assert "bet.store" in reachable("bet.runs", graph)  # the checker sees an import of the store


#: SQL that changes the ``runs`` table.
RUN_WRITES = re.compile(r"\b(UPDATE|INSERT\s+(?:OR\s+\w+\s+)?INTO|REPLACE\s+INTO|DELETE\s+FROM)\s+runs\b", re.I)
#: SQL that changes any table, passed to a connection's ``execute``.
SQL_WRITES = re.compile(r"\b(UPDATE|INSERT|REPLACE|DELETE)\b", re.I)
#: Outside ``bet/store``, the one module that executes writing SQL: it writes a *new* study file
#: whole from a snapshot of the store (``bet study``), never a run of a live store.
WRITES_A_NEW_FILE = {"bet/study.py"}


def run_state_writes(source: str, path: str) -> list[str]:
    """Where ``source`` changes a run's state other than through the store's methods: SQL that
    writes ``runs``, a connection's ``execute`` with writing SQL, ``update_run(status=…)``."""
    found = [f"SQL {m.group(0)!r}" for m in RUN_WRITES.finditer(source)]
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name in ("execute", "executemany", "executescript") and node.args and path not in WRITES_A_NEW_FILE:
            sql = ast.unparse(node.args[0])
            if SQL_WRITES.search(sql):
                found.append(f"line {node.lineno}: {name}({sql})")
        if name == "update_run" and any(k.arg in ("status", "phase") for k in node.keywords):
            found.append(f"line {node.lineno}: update_run(status=…): use the store's finish / requeue / interrupt")
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in SOURCES + DASHBOARD_SOURCES if not rel(p).startswith("bet/store/")],
    ids=lambda p: p.relative_to(BET.parent).as_posix(),
)
def test_only_the_store_changes_a_runs_state(path: Path) -> None:
    found = run_state_writes(path.read_text(), rel(path))
    assert not found, f"{rel(path)} changes runs itself: {found}; add a RunStore method and call it"


def test_the_run_state_checker_sees_writes() -> None:
    src = (
        'conn.execute("UPDATE runs SET status=? WHERE run_id=?", ("stopped", rid))\n'
        'store.conn.execute(f"DELETE FROM {table} WHERE run_id=?", (rid,))\n'
        'store.update_run(rid, status="queued", error=None)\n'
        "store.update_run(rid, retries=2)\n"
        'conn.execute("SELECT * FROM runs")\n'
    )
    found = run_state_writes(src, "bet/x.py")
    assert len(found) == 4 and "UPDATE runs" in found[0] and "DELETE" in found[2] and "update_run" in found[3]
    assert run_state_writes('conn.executemany(f"INSERT INTO {table} VALUES (?)", rows)\n', "bet/study.py") == []
