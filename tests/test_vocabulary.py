"""One vocabulary for methods, checked by parsing the source: outside the registry
(``bet/methods.py``) no module of ``bet`` or ``dashboard`` spells a method's name where it carries
knowledge — compared with (``m == "full"``, ``m in ("full", "pop")``), listed (a tuple, list or set
of methods), used as a dict key, or looked up in a map of its own (``NAMES["mde"]``,
``by.get("su")``). Those ask the registry instead: ``METHODS[name].once``, ``budgeted_methods()``,
``method_labels()`` … A lookup *in the registry* (``METHODS["su"]``, ``method("su")``) is allowed:
an unknown name fails there. Other words that happen to be spelled like a method (the ``pop``
backbone, ``--sizes full``, ``--selection bet``) are told apart by what they are compared with or
assigned to (:data:`OTHER_MEANINGS`)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "bet" / "methods.py"
SOURCES = sorted(p for p in [*(ROOT / "bet").rglob("*.py"), *(ROOT / "dashboard").rglob("*.py")] if p != REGISTRY)
#: Method names; ``bet`` is also the package's and a selection strategy's name, so it counts only
#: where it is compared, a dict key, looked up, or listed beside another method's name.
NAMES = {"bet", "bet-random", "su", "sr", "mde", "full", "pop"}
#: Where one of these words is in the expression around the literal (for an assignment: the whole
#: statement), the literal is that thing's name, not a method's.
OTHER_MEANINGS = ("backbone", "BACKBONES", "sizes", "selection", "SELECTIONS")
#: Lookups that go through the registry (an unknown name fails there).
REGISTRY_LOOKUPS = ("METHODS", "method")


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def context(node: ast.AST, up: dict[ast.AST, ast.AST]) -> str:
    """The source that says what ``node`` names: for a comparison, the comparison and the
    iterables of the comprehension around it (``[b for b in BACKBONES if b != "pop"]``); for a
    listed name or a key, its collection, or the whole statement where that is assigned."""
    inner = node
    while inner in up and not isinstance(up[inner], ast.stmt) and not isinstance(inner, (ast.Compare, ast.Dict)):
        if isinstance(inner, (ast.Tuple, ast.List, ast.Set)) and not isinstance(up[inner], (ast.Tuple, ast.List)):
            break
        inner = up[inner]
    text = [ast.unparse(inner)]
    at = inner
    while at in up and not isinstance(at, ast.stmt):
        at = up[at]
        if isinstance(at, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            text += [ast.unparse(g.iter) for g in at.generators]
    if isinstance(at, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and up.get(inner) is at:
        text.append(ast.unparse(at))
    return " ".join(text)


def is_name(node: ast.AST, bet_too: bool = True) -> bool:
    return isinstance(node, ast.Constant) and node.value in NAMES and (bet_too or node.value != "bet")


def method_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, name)`` of every method name used as knowledge (see the module docstring)."""
    up, found = parents(tree), []
    for node in ast.walk(tree):
        hits: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            for operand in (node.left, *node.comparators):
                elts = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                hits += [e for e in elts if is_name(e)]
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and not isinstance(up.get(node), ast.Compare):
            names = [e for e in node.elts if is_name(e)]
            hits += names if any(is_name(e, bet_too=False) for e in names) else []
        elif isinstance(node, ast.Dict):
            hits += [k for k in node.keys if k is not None and is_name(k)]
        elif isinstance(node, ast.Subscript) and is_name(node.slice):
            if not (isinstance(node.value, ast.Name) and node.value.id in REGISTRY_LOOKUPS):
                hits.append(node.slice)
        elif isinstance(node, ast.Call) and node.args and is_name(node.args[0]):
            fn = node.func
            if isinstance(fn, ast.Attribute) and fn.attr == "get":
                hits.append(node.args[0])
        for hit in hits:
            if not any(word in context(hit, up) for word in OTHER_MEANINGS):
                found.append((hit.lineno, str(hit.value)))  # type: ignore[attr-defined]
    return sorted(set(found))


def test_sources_found() -> None:
    names = {rel(p) for p in SOURCES}
    assert {"bet/frontier.py", "bet/report/collect.py", "dashboard/charts.py"} <= names
    assert REGISTRY.exists() and rel(REGISTRY) not in names


def test_checker_catches_method_literals() -> None:
    """The check sees every form it forbids, and lets the registry's lookups and other meanings be."""
    bad = """
ONCE = ("full", "pop")
if run["method"] == "su": pass
if m in ("full", "pop"): pass
NAMES = {"mde": "MDE"}
x = NAMES["sr"]
y = by.get("bet-random")
z = m != "bet"
w = points["method"].isin(["full", "pop"])
"""
    expected = ["full", "pop", "su", "full", "pop", "mde", "sr", "bet-random", "bet", "full", "pop"]
    assert [name for _, name in method_literals(ast.parse(bad))] == expected
    fine = """
SELECTIONS = ("bet", "random")
if backbone == "pop": pass
SEARCHABLE = [b for b in BACKBONES if b != "pop"]
if sizes == "full": pass
FULL = METHODS["full"]
mde = method("mde")
name = "-".join(["bet", *parts])
"""
    assert method_literals(ast.parse(fine)) == []


@pytest.mark.parametrize("path", SOURCES, ids=rel)
def test_no_method_literals_outside_the_registry(path: Path) -> None:
    found = method_literals(ast.parse(path.read_text(), filename=str(path)))
    assert not found, (
        f"{rel(path)} spells method names on line(s) {found}: ask bet.methods (METHODS[name].once, "
        "budgeted_methods(), method_labels(), …) instead"
    )


def test_registry_lists_the_methods_in_one_order() -> None:
    from bet.methods import METHODS, budgeted_methods, frontier_methods, once_methods, size_kinds

    assert list(METHODS) == ["bet", "bet-random", "su", "sr", "mde", "full", "pop"]
    assert once_methods() == ("full", "pop") and budgeted_methods("baseline") == ("su", "sr", "mde")
    assert budgeted_methods() == ("bet", "bet-random", "su", "sr", "mde")
    assert frontier_methods() == ("bet", "su", "sr", "mde", "full", "pop")  # the ablation runs in Table 1 only
    assert size_kinds() == {"full": "full", "uniform": "su", "random": "sr", "frequency": "mde"}
    assert [m.name for m in METHODS.values() if m.kind == "search"] == ["bet", "bet-random"]
    assert {m.name: m.sparsity for m in METHODS.values() if m.once} == {"full": 0.0, "pop": 1.0}


def test_labels_and_colours_are_one_each() -> None:
    from bet.methods import METHODS, method_colours, method_labels

    labels, colours = method_labels(), method_colours()
    assert len(set(labels.values())) == len(METHODS) and len(set(colours.values())) == len(colours)
    assert "simplified" in labels["mde"] and "^0.5" in labels["mde"]  # docs/dashboard.md: MDE is simplified
    assert set(colours) == set(METHODS) - {"bet-random"}  # drawn in the chart's default colour


def test_unknown_method_names_the_known_ones() -> None:
    from bet.errors import ConfigError
    from bet.methods import method

    assert method("su").budgeted and not method("pop").table and method("full").trains == "pretrain"
    with pytest.raises(
        ConfigError, match=r"unknown method 'pep'; choose one of bet, bet-random, su, sr, mde, full, pop"
    ):
        method("pep")


def test_a_record_that_contradicts_itself_is_refused() -> None:
    from bet.methods import Method

    with pytest.raises(ValueError, match="does not fit"):
        Method(name="x", label="X", colour=None, kind="search", budgeted=True, trains="scratch")
    with pytest.raises(ValueError, match="sparsity"):
        Method(name="x", label="X", colour=None, kind="baseline", budgeted=False, trains="nothing")
