"""Methods behind one registry (as :data:`bet.backbones.BACKBONES` is for backbones): what each
method is called on screen, its colour, whether it needs a budget, and how its run trains. Every
list of methods, label and colour elsewhere is read from here (``tests/test_vocabulary.py``
checks that no other module spells a method's name as knowledge).

A run's events come from :func:`bet.search.bet_search` for a ``search`` method and from
:func:`bet.baselines.baseline_events` for a ``baseline``, which trains as :attr:`Method.trains` says.
"""

from __future__ import annotations

from dataclasses import dataclass

from bet.errors import ConfigError

#: ``search``: BET (a run of :func:`bet.search.bet_search`); ``baseline``: a reference action.
KINDS = ("search", "baseline")
#: How a method's run trains: ``search`` (finetunes candidates from the pretrained full model,
#: retrains the best), ``pretrain`` (its run *is* the full model's pretraining), ``scratch`` (one
#: sized table trained from scratch on the retraining schedule), ``nothing`` (no model to train).
TRAINS = ("search", "pretrain", "scratch", "nothing")


@dataclass(frozen=True, kw_only=True)
class Method:
    """One method: ``name`` (what run rows, configs and the command line call it), ``label`` (what
    pages and figures call it), ``colour`` (None: drawn in the chart's default colour), ``kind``,
    ``budgeted`` (needs a budget: one run per sparsity; else one run serves every budget),
    ``trains`` (:data:`TRAINS`), ``table`` (keeps an embedding table), ``sparsity`` (what the run
    row of a method without a budget records), ``sizes`` (its ``--sizes`` name: a reference action
    that needs no search), ``selection`` (a search variant's selection strategy; None: the
    command's) and ``ablation`` (run for Table 1's ablation, not in a frontier)."""

    name: str
    label: str
    colour: str | None
    kind: str
    budgeted: bool
    trains: str
    table: bool = True
    sparsity: float | None = None
    sizes: str | None = None
    selection: str | None = None
    ablation: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.trains not in TRAINS or (self.kind == "search") != (self.trains == "search"):
            raise ValueError(f"method {self.name!r}: kind {self.kind!r} does not fit trains {self.trains!r}")
        if self.budgeted == (self.sparsity is not None):
            raise ValueError(f"method {self.name!r}: a sparsity is recorded only by a method without a budget")

    @property
    def once(self) -> bool:
        """Runs once, whatever the budget (the references without one)."""
        return not self.budgeted

    @property
    def pretrained(self) -> bool:
        """Needs the pretrained full model (or is it): its config's pretraining schedule matters."""
        return self.trains in ("search", "pretrain")


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(name="bet", label="BET", colour="#d62728", kind="search", budgeted=True, trains="search"),
        Method(
            name="bet-random",
            label="BET-RANDOM",
            colour=None,
            kind="search",
            budgeted=True,
            trains="search",
            selection="random",
            ablation=True,
        ),
        Method(
            name="su",
            label="SU (uniform)",
            colour="#1f77b4",
            kind="baseline",
            budgeted=True,
            trains="scratch",
            sizes="uniform",
        ),
        Method(
            name="sr",
            label="SR (random)",
            colour="#9467bd",
            kind="baseline",
            budgeted=True,
            trains="scratch",
            sizes="random",
        ),
        Method(
            name="mde",
            label="MDE (∝ freq^0.5, simplified)",
            colour="#2ca02c",
            kind="baseline",
            budgeted=True,
            trains="scratch",
            sizes="frequency",
        ),
        Method(
            name="full",
            label="full size",
            colour="#444444",
            kind="baseline",
            budgeted=False,
            trains="pretrain",
            sparsity=0.0,
            sizes="full",
        ),
        Method(
            name="pop",
            label="popularity",
            colour="#8c564b",
            kind="baseline",
            budgeted=False,
            trains="nothing",
            table=False,
            sparsity=1.0,
        ),
    )
}

__all__ = [
    "METHODS",
    "Method",
    "budgeted_methods",
    "frontier_methods",
    "method",
    "method_colours",
    "method_labels",
    "method_name",
    "once_methods",
    "size_kinds",
]


def method(name: str) -> Method:
    """The registry's record of ``name``; an unknown name is a :class:`ConfigError` naming the known ones."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def budgeted_methods(kind: str | None = None) -> tuple[str, ...]:
    """The methods with a budget (one run per sparsity), of ``kind`` if given (``baseline``: SU, SR, MDE)."""
    return tuple(m.name for m in METHODS.values() if m.budgeted and kind in (None, m.kind))


def once_methods() -> tuple[str, ...]:
    """The references without a budget (``full``, ``pop``): one run serves every budget."""
    return tuple(m.name for m in METHODS.values() if m.once)


def frontier_methods() -> tuple[str, ...]:
    """The methods a frontier runs (every one but the ablations)."""
    return tuple(m.name for m in METHODS.values() if not m.ablation)


def method_labels() -> dict[str, str]:
    return {m.name: m.label for m in METHODS.values()}


def method_name(name: str) -> str:
    """The registry's label; a search variant outside it in capitals (``BET-SIMPLE``)."""
    return METHODS[name].label if name in METHODS else name.upper()


def method_colours() -> dict[str, str]:
    """Colours of the methods that have their own (the others take the chart's default)."""
    return {m.name: m.colour for m in METHODS.values() if m.colour is not None}


def size_kinds() -> dict[str, str]:
    """``--sizes`` names → methods: the reference actions that need no search (``full`` first)."""
    refs = sorted((m for m in METHODS.values() if m.sizes is not None), key=lambda m: m.budgeted)
    return {m.sizes: m.name for m in refs if m.sizes is not None}
