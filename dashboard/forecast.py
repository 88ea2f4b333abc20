"""What a configured run will need, said in the page's words: the memory of each phase (checked
before Start) and the time of each (estimated on this machine), and the time left in a running one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from bet import BaselineConfig, Dataset, SearchConfig, cached_for, check_memory, measure, plan, resolve_device
from bet import memory_needs as engine_memory_needs

#: ``progress(backbone)``: who hears the stages of measuring ``backbone`` (:data:`bet.timings.Progress`:
#: ``(done, total, what)`` as each starts).
Progress = Callable[[str], Callable[[int, int, str], None]]


def memory_needs(cfg: SearchConfig, data: Dataset) -> dict[str, tuple[int, str]]:
    """What each phase of the configured search holds in memory at once (the engine's own model,
    :func:`bet.memory_needs`, as ``bet search`` checks it), said in the page's words: training a
    full-width table, and during the search also two candidate pools of ``m`` actions (this
    iteration's and the next, drawn a step ahead)."""
    needs = engine_memory_needs(cfg, data)
    rows = f"{data.n_rows:,} rows"
    said = {
        "pretrain": f"pretraining on {data.name} ({rows})",
        "search": (
            f"the search's candidate pools (m = {cfg.candidates:,} actions of {rows}, two at a time) "
            f"with {cfg.parallel_candidates} finetune(s)"
        ),
        "retrain": f"retraining the top {cfg.retrain_top} on {data.name} ({rows})",
    }
    return {phase: (need, said[phase]) for phase, (need, _) in needs.items()}


def check_memory_needs(cfg: SearchConfig, data: Dataset) -> None:
    """Raise :class:`~bet.errors.ConfigError` (with the estimate) for the first phase that cannot
    fit in the memory BET may use (``BET_MEMORY_MB``, else what the machine has available)."""
    for need, what in memory_needs(cfg, data).values():
        check_memory(need, what)


def estimate(
    cfg: SearchConfig | BaselineConfig, backbones: list[str], data: Dataset, *, progress: Progress | None = None
) -> dict[str, float]:
    """Estimated seconds per phase of the runs Start would queue (one per backbone, one after
    another), from this machine's measured step and evaluation times (:mod:`bet.estimate`); a
    reference run (``BaselineConfig``) too, for the time left in a batch. ``progress(backbone)``
    hears each stage of measuring ``backbone`` (none when the timings are cached)."""
    total: dict[str, float] = {}
    device = resolve_device(cfg.device)
    for backbone in backbones:
        one = dataclasses.replace(cfg, backbone=backbone)
        heard = None if progress is None else progress(backbone)
        for phase, secs in plan(one, data, measure(data, backbone, device, d_max=cfg.d_max, progress=heard)).items():
            total[phase] = total.get(phase, 0.0) + secs
    return total


def measured_busy(cfg: SearchConfig | BaselineConfig, backbones: list[str], data: Dataset) -> bool:
    """Whether a timing behind :func:`estimate` was taken while other work held the CPUs: the cache
    entries :func:`estimate` read or wrote, read back as they are (nothing measured, no runs read)."""
    device = resolve_device(cfg.device)
    return any(
        (t := cached_for(data.fingerprint, b, device, d_max=cfg.d_max)) is not None and t.busy for b in backbones
    )


#: Order of a search's phases, and which planned phases each one covers.
PHASES = {"pretrain": ("pretrain",), "search": ("finetune", "evaluation", "predictor"), "retrain": ("retrain",)}


#: Phases whose own ETA counts every step early stopping allows (an upper bound: it usually stops sooner).
EARLY_STOPPED = ("pretrain", "retrain")


def remaining(phase: str, phase_eta: float | None, planned: dict[str, float]) -> float | None:
    """Seconds left in the whole run: the current phase's own ETA (or its planned length) plus
    the planned length of the phases after it. An early-stopped phase's own ETA, an upper bound
    (every step early stopping allows), is capped by the phase's planned length (the plan knows
    how long such trainings ran here, :mod:`bet.observed`)."""
    if phase not in PHASES:
        return phase_eta
    names = list(PHASES)
    own = sum(planned.get(p, 0.0) for p in PHASES[phase])
    here = own if phase_eta is None else phase_eta
    if phase_eta is not None and phase in EARLY_STOPPED and own > 0:
        here = min(phase_eta, own)
    later = sum(planned.get(p, 0.0) for ph in names[names.index(phase) + 1 :] for p in PHASES[ph])
    return here + later
