"""Which candidate to evaluate (paper §3.4): greedy, random, or nearest to the best so far.

Iteration t (from 1) uses ``t mod 5``: 0, 1, 2 → greedy (highest predicted fitness), 3 → random,
4 → nearest neighbour: the candidate whose action embedding is closest (Euclidean) to the best
evaluated action's, **re-embedded with the current predictor** (the authors reuse a stale cached
embedding and swap 3 and 4; we follow the paper's order). ``--selection random`` always picks at
random (the ablation).
"""

from __future__ import annotations

import numpy as np

SELECTIONS = ("bet", "random")
STRATEGIES = ("greedy", "random", "nearest")


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
    embeddings: np.ndarray | None = None,
    anchor: np.ndarray | None = None,
) -> int:
    """Index of the chosen candidate among ``len(predicted)``."""
    if strategy == "greedy":
        return int(np.argmax(predicted))
    if strategy == "random":
        return int(rng.integers(len(predicted)))
    if strategy == "nearest":
        if embeddings is None or anchor is None:
            raise ValueError("nearest needs candidate embeddings and the anchor's")
        return int(np.argmin(((embeddings - anchor[None, :]) ** 2).sum(1)))
    raise ValueError(f"unknown strategy {strategy!r}")
