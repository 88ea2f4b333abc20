"""A run as the store reports it: :class:`RunRecord`, frozen and typed — every column of a run row
as an attribute, its status a :class:`~bet.store.schema.Status` (a dead writer's run is
``interrupted``), its config and result read-only, and what pages, reports and commands derive
from a run (its ``d_max``, its table's rows, its metrics, its label, its best action) said once."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from bet.budget import D_MAX
from bet.methods import METHODS, method_name
from bet.status import Status

if TYPE_CHECKING:
    from bet.config import BaselineConfig, SearchConfig

#: An action row (:meth:`bet.store.StoreReader.actions`).
A = TypeVar("A", bound=Mapping[str, Any])


class Frozen(dict[str, Any]):
    """A read-only JSON object: a ``dict`` (so it serialises, compares equal to the dict it was
    read as, and unpacks as ``**kwargs``) whose every change raises :class:`TypeError`. Nested
    objects are frozen too, and lists are tuples."""

    def _refuse(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a stored run's config and result are read-only")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[Any, ...]:  # pickled / copied as a whole, never key by key
        return (Frozen, (dict(self),))

    def __copy__(self) -> Frozen:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Frozen:
        return self


def freeze(value: Any) -> Any:
    """``value`` (parsed JSON) with every object a :class:`Frozen` and every list a tuple."""
    if isinstance(value, dict):
        return Frozen({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """A plain, mutable copy of a frozen value (dicts and lists again)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    return value


#: A run's columns as rows were read (the columns migrations added first, then the original ones).
ROW_ORDER = (
    *("executor", "workers", "retries", "stop_requested", "n_users", "n_items", "data_path", "data_fingerprint"),
    *("run_id", "kind", "method", "comparison_id", "dataset", "backbone", "sparsity", "budget", "seed", "config"),
    *("status", "error", "phase", "iteration", "iterations", "step", "total_steps", "created_at", "started_at"),
    *("finished_at", "heartbeat", "pid", "host", "result"),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunRecord:
    """One run as reported by :meth:`bet.store.StoreReader.get_run` / ``list_runs``: its row's
    columns, ``status`` as reported, ``config`` (the frozen config it was created with, as stored:
    a read-only mapping, ``{}`` when none) and ``result`` (read-only; ``None`` until it has one).
    Change a copy with :func:`dataclasses.replace`."""

    run_id: str
    kind: str  # search | baseline
    method: str
    dataset: str
    backbone: str
    sparsity: float
    seed: int
    status: Status
    created_at: float
    config: Mapping[str, Any] = field(default_factory=Frozen)
    result: Mapping[str, Any] | None = None
    comparison_id: str | None = None
    budget: int | None = None
    error: str | None = None
    phase: str | None = None
    iteration: int = 0
    iterations: int = 0
    step: int = 0
    total_steps: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    heartbeat: float | None = None
    pid: int | None = None
    host: str | None = None
    executor: str = "local"
    workers: int = 1
    retries: int = 0
    stop_requested: int = 0
    n_users: int | None = None
    n_items: int | None = None
    data_path: str | None = None
    data_fingerprint: str | None = None

    def __post_init__(self) -> None:  # what it is given is frozen, and its status a Status
        object.__setattr__(self, "status", Status(self.status))
        if not isinstance(self.config, Frozen):
            object.__setattr__(self, "config", freeze(dict(self.config or {})))
        if self.result is not None and not isinstance(self.result, Frozen):
            object.__setattr__(self, "result", freeze(dict(self.result)))

    def __hash__(self) -> int:  # its config and result are unhashable dicts; equal runs share their id
        return hash(self.run_id)

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> RunRecord:
        """A record from a row's columns (``config`` / ``result`` parsed; ``status`` a string or a
        :class:`Status`); unknown columns are ignored. Raises ``ValueError`` on a bad status."""
        return cls(**{k: row[k] for k in ROW_ORDER if k in row})

    def to_dict(self) -> dict[str, Any]:
        """The run as a plain dict (config and result mutable copies), its keys in the order the
        store's rows were always handed out in (what ``--json`` prints)."""
        return {name: thaw(getattr(self, name)) for name in ROW_ORDER}

    # -- what callers derive from a run ------------------------------------------------------
    @property
    def d_max(self) -> int:
        """The largest embedding size of the run's table (the config's, else the default)."""
        return int(self.config.get("d_max", D_MAX))

    @property
    def data_spec(self) -> Mapping[str, Any]:
        """The stored data spec (dataset, split, split seed, format…); empty when none."""
        return self.config.get("data") or Frozen()

    @property
    def n_rows(self) -> int | None:
        """Rows of the run's table (users + items), else recovered from its budget."""
        if self.n_users is not None and self.n_items is not None:
            return int(self.n_users) + int(self.n_items)
        budget, c = self.budget, self.sparsity
        if not budget or c is None or c >= 1:
            return None
        return math.ceil(budget / ((1 - c) * self.d_max) - 1e-9)

    @property
    def kept_fraction(self) -> float | None:
        """The budget as a fraction of the full table (None: no budget or rows unknown)."""
        n = self.n_rows
        return self.budget / (n * self.d_max) if self.budget and n else None

    @property
    def cost(self) -> int | None:
        """Parameters the result's table keeps, as stored (None until there is a result)."""
        return (self.result or {}).get("cost")

    @property
    def params(self) -> int | None:
        """Parameters the run's table keeps (a method without a table, ``pop``: none)."""
        if self.method in METHODS and not METHODS[self.method].table:
            return 0
        cost = self.cost
        return int(cost) if cost is not None else None

    @property
    def best_action_id(self) -> int | None:
        """The action the run's result names (None until there is one)."""
        return (self.result or {}).get("best_action_id")

    def metric(self, key: str = "recall@20", split: str = "test") -> float | None:
        """A result metric (``split``: test or valid); None when absent or NaN."""
        value = ((self.result or {}).get(split) or {}).get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    def label(self, long: bool = False) -> str:
        """``METHOD · backbone · dataset · c=0.9 · status``; ``long``: the method as the registry
        labels it (``SU (uniform)``), as the report titles a run."""
        name = method_name(self.method) if long else self.method.upper()
        return f"{name} · {self.backbone} · {self.dataset} · c={self.sparsity:g} · {self.status}"

    def plain_config(self) -> dict[str, Any]:
        """A mutable copy of the stored config (plain dicts)."""
        return thaw(self.config)  # type: ignore[no-any-return]

    def settings(self) -> SearchConfig | BaselineConfig:
        """The stored config as its dataclass: a :class:`~bet.config.SearchConfig` for a search,
        else a :class:`~bet.config.BaselineConfig` (raises ``KeyError`` / ``TypeError`` on a config
        that is not one)."""
        from bet.config import BaselineConfig, SearchConfig

        load: Callable[[dict[str, Any]], SearchConfig | BaselineConfig]
        load = SearchConfig.from_dict if self.kind == "search" else BaselineConfig.from_dict
        return load(self.plain_config())


def best_action(actions: Sequence[A], run: RunRecord | None = None) -> A | None:
    """The run's result action once finished, else the fittest evaluated action so far, else the
    first (None without actions). ``actions``: :meth:`bet.store.StoreReader.actions` rows."""
    best_id = run.best_action_id if run is not None else None
    if best_id is not None:
        for a in actions:
            if a["action_id"] == best_id:
                return a
    scored = [a for a in actions if a.get("fitness") is not None and not math.isnan(a["fitness"])]
    if scored:
        return max(scored, key=lambda a: (a["fitness"], -a["action_id"]))
    return actions[0] if actions else None
