"""One budget (issue 24 §3), checked by parsing the source: a run's budget is computed in exactly
one function, :func:`bet.config.run_budget` (where a configuration meets its data), and carried
from there as a required value. Everywhere else in ``bet/`` and ``dashboard/``:

* nothing calls (or imports) the budget arithmetic :func:`bet.budget.budget_for`;
* nothing works a budget out by hand (a sparsity multiplied with rows or ``d_max``);
* no ``budget`` parameter is optional, and no ``x if x is not None else <budget>`` / ``x or
  <budget>`` falls back to computing one again.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "bet").rglob("*.py"), *(ROOT / "dashboard").rglob("*.py")])

#: The one function that computes a budget, and the arithmetic it calls.
HOME, ONE = "bet/config.py", "run_budget"
ARITHMETIC, LOW = "bet/budget.py", "budget_for"
#: What may name the arithmetic besides the one function: its definition's module, and the
#: package's public re-export (for scripts and tests).
MAY_NAME = {ARITHMETIC, "bet/__init__.py"}
#: Rows of a table: multiplied with a sparsity, they make a budget.
TABLE = {"n_rows", "d_max", "n_users", "n_items", "full_params"}
#: The store keeps what it is handed (a row written by another tool may lack a budget).
OPTIONAL_OK = ("bet/store/",)


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def names_in(node: ast.AST) -> set[str]:
    """Every identifier under ``node``: names, attributes, imported names."""
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
        elif isinstance(n, ast.alias):
            out.add(n.name.rsplit(".", 1)[-1])
    return out


def functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def computes(node: ast.AST) -> bool:
    """Whether ``node`` calls the one function or the arithmetic."""
    return any(isinstance(n, ast.Call) and names_in(n.func) & {ONE, LOW} for n in ast.walk(node))


def arithmetic_uses(path: str, tree: ast.AST) -> list[str]:
    """Where ``budget_for`` is named outside the one function (its own module and the re-export
    excepted)."""
    if path in MAY_NAME:
        return []
    inside = set()
    if path == HOME:
        for f in functions(tree):
            if f.name == ONE:
                inside |= {id(n) for n in ast.walk(f)}
    found = []
    for n in ast.walk(tree):
        named = (
            (isinstance(n, ast.Name) and n.id == LOW)
            or (isinstance(n, ast.Attribute) and n.attr == LOW)
            or (isinstance(n, ast.alias) and n.name.rsplit(".", 1)[-1] == LOW)
        )
        if named and id(n) not in inside and not (path == HOME and isinstance(n, ast.alias)):
            found.append(f"{path}:{getattr(n, 'lineno', '?')} names {LOW}")
    return found


def by_hand(path: str, tree: ast.AST) -> list[str]:
    """A product of a sparsity and a table's rows or width: a budget worked out by hand."""
    if path == ARITHMETIC:
        return []
    found, seen = [], set()
    for n in ast.walk(tree):  # outermost first: a product is reported once, not each factor
        if isinstance(n, ast.BinOp) and isinstance(n.op, (ast.Mult, ast.FloorDiv)) and id(n) not in seen:
            ids = names_in(n)
            if any("sparsity" in i for i in ids) and ids & TABLE:
                found.append(f"{path}:{n.lineno} computes a budget by hand: {ast.unparse(n)}")
                seen |= {id(m) for m in ast.walk(n)}
    return found


def optional(annotation: ast.expr | None, default: ast.expr | None) -> bool:
    if isinstance(default, ast.Constant) and default.value is None:
        return True
    return annotation is not None and "None" in ast.unparse(annotation)


def fallbacks(path: str, tree: ast.AST) -> list[str]:
    """An optional ``budget`` parameter, or an expression that computes the budget when a value
    is missing (``b if b is not None else run_budget(…)``, ``b or budget_for(…)``)."""
    found = []
    if not path.startswith(OPTIONAL_OK):
        for f in functions(tree):
            a = f.args
            positional = [*a.posonlyargs, *a.args]
            defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
            pairs = [*zip(positional, defaults, strict=True), *zip(a.kwonlyargs, a.kw_defaults, strict=True)]
            for arg, default in pairs:
                if arg.arg == "budget" and optional(arg.annotation, default):
                    found.append(f"{path}:{f.lineno} {f.name}() takes an optional budget")
    for n in ast.walk(tree):
        either = isinstance(n, ast.IfExp) and (computes(n.body) or computes(n.orelse))
        fills = isinstance(n, ast.BoolOp) and isinstance(n.op, ast.Or) and any(computes(v) for v in n.values[1:])
        if either or fills:
            found.append(f"{path}:{n.lineno} falls back to computing a budget: {ast.unparse(n)}")
    return found


def violations(path: str, source: str) -> list[str]:
    tree = ast.parse(source, filename=path)
    return arithmetic_uses(path, tree) + by_hand(path, tree) + fallbacks(path, tree)


def test_sources_found() -> None:
    names = {rel(p) for p in SOURCES}
    assert {HOME, ARITHMETIC, "bet/runs.py", "bet/search.py", "dashboard/settings.py"} <= names


def test_the_one_function_exists_and_uses_the_arithmetic() -> None:
    tree = ast.parse((ROOT / HOME).read_text())
    (one,) = [f for f in functions(tree) if f.name == ONE]
    assert computes(one) and LOW in names_in(one)


def test_the_budget_is_computed_in_one_function() -> None:
    found = [v for p in SOURCES for v in violations(rel(p), p.read_text())]
    assert not found, "the budget is computed outside bet.config.run_budget:\n" + "\n".join(found)


def test_checker_catches_violations() -> None:
    """Each rule notices what it is for (guards against a checker that sees nothing)."""
    cases = {
        "from bet import budget_for\n": "names budget_for",
        "import bet\nb = bet.budget_for(0.9, 10)\n": "names budget_for",
        "b = int((1 - cfg.sparsity) * data.n_rows * cfg.d_max)\n": "by hand",
        "def f(budget: int | None = None): ...\n": "optional budget",
        "def f(*, budget=None): ...\n": "optional budget",
        "b = job.budget if job.budget is not None else run_budget(cfg, data)\n": "falls back",
        "b = budget or run_budget(cfg, data)\n": "falls back",
    }
    for source, expected in cases.items():
        found = violations("dashboard/x.py", source)
        assert len(found) == 1 and expected in found[0], (source, found)
    one = "from bet.budget import budget_for\n\ndef run_budget(cfg, data):\n    return budget_for(cfg.sparsity, 1)\n"
    assert violations(HOME, one) == []
    assert violations(HOME, one + "\ndef other(cfg, data):\n    return budget_for(0.5, 1)\n") != []
    assert violations("dashboard/x.py", "def f(budget: int, *, d_max: int = 128): ...\n") == []
