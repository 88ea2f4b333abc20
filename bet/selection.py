"""Which candidate to evaluate (paper §3.4): greedy, random, or nearest to the best so far.

Iteration t (from 1) uses ``t mod 5``: 0, 1, 2 → greedy (highest predicted fitness), 3 → random,
4 → nearest neighbour: the candidate whose action embedding is closest (Euclidean) to the best
evaluated action's, **re-embedded with the current predictor** (the authors reuse a stale cached
embedding and swap 3 and 4; we follow the paper's order). ``--selection random`` always picks at
random (the ablation).

Batched BET (``--parallel-candidates q``) picks q distinct candidates per iteration, the j-th by
the schedule of evaluated action ``(t − 1)·q + j``, so the greedy/random/nearest mix over evaluated
actions is the paper's; q = 1 is the paper's algorithm.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SELECTIONS = ("bet", "random")
STRATEGIES = ("greedy", "random", "nearest")
Picks = list[tuple[int, str]]  # (candidate index, strategy), in action order


def strategy_for(iteration: int, selection: str = "bet", have_best: bool = True) -> str:
    if selection == "random":
        return "random"
    r = iteration % 5
    if r == 3:
        return "random"
    if r == 4 and have_best:
        return "nearest"
    return "greedy"


def choose(
    strategy: str,
    predicted: np.ndarray,
    rng: np.random.Generator,
    *,
    embeddings: np.ndarray | None = None,
    anchor: np.ndarray | None = None,
    exclude: list[int] | None = None,
) -> int:
    """Index of the chosen candidate among ``len(predicted)``, never one in ``exclude`` (the
    candidates already picked this iteration in batched mode)."""
    taken = np.asarray(exclude or [], dtype=np.int64)
    if len(taken) >= len(predicted):
        raise ValueError(f"cannot pick another of {len(predicted)} candidates: all are taken")
    if strategy == "greedy":
        p = np.array(predicted, dtype=np.float64)
        p[taken] = -np.inf
        return int(np.argmax(p))
    if strategy == "random":
        if not len(taken):
            return int(rng.integers(len(predicted)))
        left = np.setdiff1d(np.arange(len(predicted)), taken)
        return int(left[rng.integers(len(left))])
    if strategy == "nearest":
        if embeddings is None or anchor is None:
            raise ValueError("nearest needs candidate embeddings and the anchor's")
        dist = ((embeddings - anchor[None, :]) ** 2).sum(1).astype(np.float64)
        dist[taken] = np.inf
        return int(np.argmin(dist))
    raise ValueError(f"unknown strategy {strategy!r}")


def pick(
    predicted: np.ndarray,
    embeddings: np.ndarray,
    rng: np.random.Generator,
    *,
    first: int,
    width: int,
    selection: str,
    anchor: Callable[[], np.ndarray] | None,
) -> Picks:
    """``width`` distinct candidates, as (index, strategy): the j-th follows the schedule of
    evaluated action ``first + j``. ``anchor`` gives the best action's embedding (None: nothing
    evaluated yet, so no ``nearest``)."""
    picks: Picks = []
    for j in range(1, width + 1):
        strategy = strategy_for(first + j, selection, have_best=anchor is not None)
        near = anchor() if strategy == "nearest" and anchor is not None else None
        picks.append(
            (
                choose(strategy, predicted, rng, embeddings=embeddings, anchor=near, exclude=[i for i, _ in picks]),
                strategy,
            )
        )
    return picks


def blind_picks(n: int, rng: np.random.Generator, *, first: int, width: int, selection: str) -> Picks | None:
    """The picks among ``n`` candidates when every one of them is ``random`` (they need no
    prediction, so the predictor can learn and rank beside their finetuning), else None. The same
    picks :func:`pick` makes from the same ``rng``."""
    if any(strategy_for(first + j, selection) != "random" for j in range(1, width + 1)):
        return None
    return pick(np.zeros(n), np.zeros((n, 0)), rng, first=first, width=width, selection=selection, anchor=None)
