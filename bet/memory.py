"""What a run will hold in memory, per phase, and the refusal of what cannot fit before anything is
trained: ``BET_MEMORY_MB`` (a shared server's share) or what the machine can still hand out."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bet.config import SearchConfig
from bet.data import Dataset
from bet.errors import ConfigError, shorten


def available_memory() -> int:
    """Bytes BET may use: ``BET_MEMORY_MB`` if set (a shared server's share), else what this
    machine can still hand out without swapping (``MemAvailable``)."""
    text = os.environ.get("BET_MEMORY_MB", "").strip()
    if text:
        try:
            mb = float(text)
        except ValueError:
            mb = float("nan")
        if not 0 < mb < float("inf"):
            raise ConfigError(f"BET_MEMORY_MB must be a positive number of MB, got {shorten(text, 40)}")
        return int(mb * 2**20)
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def training_bytes(data: Dataset, d_max: int) -> int:
    """A lower bound on what training a full-width table keeps in memory: the table with its
    gradient, Adam's two moments and LightGCN's propagated layers (8 float32 copies of
    ``rows × d_max``), and the normalised graph (both directions, int32 indices, float32 values)."""
    return data.n_rows * d_max * 4 * 8 + int(data.train.nnz) * 2 * 12


#: Bytes per row of each candidate action while a pool is drawn and prepared: the sampler's working
#: arrays and the int16 sizes (measured peak ~27 on gowalla-mini, 3,000 actions) and the predictor's
#: int64 copy of the sizes (8).
POOL_BYTES_PER_ROW = 40


def pool_bytes(data: Dataset, candidates: int, d_max: int) -> int:
    """One candidate pool of ``m`` actions: per-row sizes and working arrays, plus the predictor's
    set features (DeepSets: float32 counts of ``d_max`` sizes × the rows' frequency groups).
    Measured on gowalla-mini: 693 MB for 3,000 actions; this gives 1,041 MB."""
    groups = len(np.unique(data.user_freq)) + len(np.unique(data.item_freq))
    return candidates * (data.n_rows * POOL_BYTES_PER_ROW + d_max * groups * 4)


def memory_needs(cfg: SearchConfig, data: Dataset, runs: int = 1) -> dict[str, tuple[int, str]]:
    """What each phase of a search holds at once, with what it is for: pretraining a full-width
    table (:func:`training_bytes`); the search's finetune(s) beside the pretrained table and two
    candidate pools (this iteration's and the next, drawn a step ahead); the top-k retrainings,
    two at a time. ``runs``: searches running at once in this process (``frontier --workers``)."""
    train = training_bytes(data, cfg.d_max)
    table = data.n_rows * cfg.d_max * 4
    pools = 2 * pool_bytes(data, cfg.candidates, cfg.d_max)
    rows, at_once = f"{data.n_rows:,} rows", (f" × {runs} runs at once" if runs > 1 else "")
    return {
        "pretrain": (runs * train, f"pretraining on {data.name} ({rows}){at_once}"),
        "search": (
            runs * (table + cfg.parallel_candidates * train + pools),
            f"the search (-m {cfg.candidates:,} candidates of {rows}, two pools at a time, "
            f"-q {cfg.parallel_candidates} finetune(s)){at_once}",
        ),
        "retrain": (
            runs * min(cfg.retrain_top, cfg.retrain_workers or 2) * train,
            (f"retraining the top {cfg.retrain_top} on {data.name} ({rows}, two at a time){at_once}"),
        ),
    }


def check_memory_needs(cfg: SearchConfig, data: Dataset, runs: int = 1) -> None:
    """Refuse, with the estimate, the first phase of the search that cannot fit."""
    for need, what in memory_needs(cfg, data, runs).values():
        check_memory(need, what)


def check_memory(need: int, what: str) -> None:
    """Refuse, with the estimate, what cannot fit: better now than swapping or an OOM kill later."""
    room = available_memory()
    if need > room:
        raise ConfigError(
            f"{what} needs about {need / 2**30:,.2f} GB, more than the {room / 2**30:,.2f} GB available "
            "(a smaller --d-max or dataset; BET_MEMORY_MB sets what BET may use)"
        )
