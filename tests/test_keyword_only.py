"""Keyword-only arguments past the third (issue 24 §5), checked by parsing the source: a function
with more than three parameters (``self``/``cls`` not counted) takes at most three positionally,
the rest after a ``*`` — so a call site names what each value is (``budget_for(0.9, n_rows=n)``,
not ``budget_for(0.9, n, 128, 1)``). The few exceptions are listed in :data:`EXEMPT`, each with
its reason.

:data:`CHECKED` is the set of files held to the rule: every module of the engine and the
dashboard."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECKED = ["bet/**/*.py", "dashboard/**/*.py"]

MAX_POSITIONAL = 3

_AUTOGRAD = "a torch.autograd.Function's forward: torch passes .apply's arguments positionally"
EXEMPT = {
    "bet/backbones/base.py::_SpMM.forward": _AUTOGRAD,
    "bet/backbones/base.py::_Propagate.forward": _AUTOGRAD,
    "bet/backbones/base.py::_DotBPR.forward": _AUTOGRAD,
    "bet/backbones/ngcf_loss.py::NGCFStep.forward": _AUTOGRAD,
}


def checked_files(patterns: list[str] = CHECKED) -> list[Path]:
    return sorted({p for pattern in patterns for p in ROOT.glob(pattern)})


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def positional(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The parameters a caller may pass by position, ``self``/``cls`` left out."""
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args]
    return names[1:] if names and names[0] in ("self", "cls") else names


def functions(tree: ast.AST) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """Every function and method with its dotted name (``Class.method``, ``outer.inner``)."""
    found: list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def violations(source: str, name: str, exempt: dict[str, str] = EXEMPT) -> list[str]:
    """``name::qualname(params)`` for each function of ``source`` with too many positional parameters."""
    out = []
    for qualname, fn in functions(ast.parse(source)):
        params = positional(fn)
        if len(params) > MAX_POSITIONAL and f"{name}::{qualname}" not in exempt:
            out.append(f"{name}:{fn.lineno}::{qualname}({', '.join(params)})")
    return out


def test_checked_files_found() -> None:
    for pattern in CHECKED:
        assert list(ROOT.glob(pattern)), f"{pattern} matches no file (renamed?)"


@pytest.mark.parametrize("path", checked_files(), ids=rel)
def test_keyword_only_past_the_third(path: Path) -> None:
    bad = violations(path.read_text(), rel(path))
    assert not bad, f"put a '*' so that at most {MAX_POSITIONAL} parameters stay positional: {bad}"


def test_exemptions_are_current() -> None:
    """Each exemption names a checked function that still needs it (no stale entries)."""
    by_file = {rel(p): dict(functions(ast.parse(p.read_text()))) for p in checked_files()}
    for key in EXEMPT:
        name, qualname = key.split("::")
        assert name in by_file and qualname in by_file[name], f"{key} is not a checked function"
        assert len(positional(by_file[name][qualname])) > MAX_POSITIONAL, f"{key} needs no exemption"


def test_checker_catches_violations() -> None:
    """The check above would notice a violation (guards against a checker that sees nothing)."""
    source = (
        "def bad(a, b, c, d): ...\n"
        "def good(a, b, c, *, d, e): ...\n"
        "def few(a, b=1, c=2): ...\n"
        "class K:\n"
        "    def method(self, a, b, c): ...\n"
        "    def wide(self, a, b, c, d=0): ...\n"
        "    @staticmethod\n"
        "    def forward(ctx, a, b, c): ...\n"
        "def outer():\n"
        "    def inner(a, b, /, c, d): ...\n"
    )
    assert violations(source, "x.py", exempt={}) == [
        "x.py:1::bad(a, b, c, d)",
        "x.py:6::K.wide(a, b, c, d)",
        "x.py:8::K.forward(ctx, a, b, c)",
        "x.py:10::outer.inner(a, b, c, d)",
    ]
    assert violations(source, "x.py", exempt={"x.py::K.forward": "why", "x.py::bad": "why"}) == [
        "x.py:6::K.wide(a, b, c, d)",
        "x.py:10::outer.inner(a, b, c, d)",
    ]
