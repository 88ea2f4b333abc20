"""Small immutable events. Training and the search *yield* them and never know who listens;
the CLI turns them into progress bars, the run store persists them, the dashboard plots them.

Every event is a frozen dataclass with a ``kind`` tag; :func:`to_dict` / :func:`from_dict`
round-trip through JSON for the store.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

Metrics = dict[str, float]


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"


@dataclass(frozen=True)
class TrainProgress(Event):
    """One optimisation step (``valid`` is set on the steps that evaluated validation)."""

    kind: ClassVar[str] = "train_progress"
    phase: str  # pretrain | finetune | retrain | train
    step: int
    total_steps: int
    loss: float
    valid: Metrics | None = None
    label: str = ""
    resumed_from: int = 0  # the step a snapshot resumed this training at (bet.checkpoint); 0: from the start


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "run_started"
    run_id: str
    config: dict[str, Any]
    budget: int
    n_users: int
    n_items: int


@dataclass(frozen=True)
class PhaseChanged(Event):
    kind: ClassVar[str] = "phase"
    phase: str  # pretrain | search | retrain | baseline
    detail: str = ""


@dataclass(frozen=True)
class PretrainFinished(Event):
    kind: ClassVar[str] = "pretrain_finished"
    valid: Metrics
    quality: float
    cached: bool
    seconds: float


@dataclass(frozen=True)
class CandidatesRanked(Event):
    """All m candidates of iteration t scored by the predictor, and the one picked."""

    kind: ClassVar[str] = "candidates_ranked"
    iteration: int
    predicted: list[float]
    chosen: int
    strategy: str  # greedy | random | nearest
    costs: list[int] = field(default_factory=list)
    user_shares: list[float] = field(default_factory=list)
    also_chosen: list[int] = field(default_factory=list)  # batched BET: the other q − 1 picks


@dataclass(frozen=True)
class CandidateEvaluated(Event):
    kind: ClassVar[str] = "candidate_evaluated"
    iteration: int
    action_id: int
    cost: int
    predicted: float
    fitness: float
    valid: Metrics
    seconds: float  # the iteration, end to end (q > 1: this action's finetuning + its share of the rest)
    strategy: str = ""
    overhead: float = 0.0  # of ``seconds``, outside finetuning and evaluation (learn, rank, select, record)
    eval_seconds: float = 0.0  # of ``seconds``, the validation evaluation
    # The sizes travel with the event for the store; they are not part of its JSON payload.
    action: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class PredictorUpdated(Event):
    kind: ClassVar[str] = "predictor_updated"
    iteration: int
    loss: float
    spearman: float | None  # predicted vs actual over all evaluated actions so far


@dataclass(frozen=True)
class RetrainFinished(Event):
    kind: ClassVar[str] = "retrain_finished"
    rank: int
    action_id: int
    valid: Metrics
    quality: float
    seconds: float


@dataclass(frozen=True)
class TablePacked(Event):
    """The result's embedding table, packed (:func:`bet.embedding.pack`): stored for export,
    never part of the event log."""

    kind: ClassVar[str] = "table_packed"
    action_id: int | None
    cost: int
    data: bytes = field(compare=False, repr=False)


@dataclass(frozen=True)
class RunFinished(Event):
    kind: ClassVar[str] = "run_finished"
    status: str  # completed | stopped | failed
    reason: str = ""
    best_action_id: int | None = None
    valid: Metrics | None = None
    test: Metrics | None = None
    cost: int | None = None
    seconds: float = 0.0


#: Where a run's time goes, in order: the phases the estimate plans and the stored events measure.
TIME_PHASES = ("pretrain", "finetune", "evaluation", "predictor", "retrain", "baseline")

EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        TrainProgress,
        RunStarted,
        PhaseChanged,
        PretrainFinished,
        CandidatesRanked,
        CandidateEvaluated,
        PredictorUpdated,
        RetrainFinished,
        TablePacked,
        RunFinished,
    )
}


def to_dict(event: Event) -> dict[str, Any]:
    """JSON-ready payload (large arrays such as an action's sizes are left out)."""
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name not in ("action", "data")}
    return {"kind": event.kind, **data}


def from_dict(data: dict[str, Any]) -> Event:
    fields = dict(data)
    cls = EVENT_TYPES[fields.pop("kind")]
    return cls(**fields)
