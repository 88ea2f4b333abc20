"""Batched BET (``--parallel-candidates q``): q distinct candidates per iteration finetuned at once,
the paper's selection schedule over evaluated actions, and resume from a half-finished iteration."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from bet.data import Dataset
from bet.errors import ConfigError
from bet.events import CandidateEvaluated
from bet.runs import load_population, run_search
from bet.search import bet_search
from bet.selection import choose, strategy_for
from bet.store import RunStore
from tests.search_helpers import TINY

BATCHED = dataclasses.replace(TINY, iterations=3, retrain_top=2, parallel_candidates=2)


@pytest.fixture(scope="module")
def batched(mini: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, dict]:
    store = RunStore(tmp_path_factory.mktemp("batched") / "s.sqlite")
    return store, run_search(BATCHED, store, data=mini)


def test_batched_search_evaluates_q_distinct_actions_per_iteration(batched: tuple[RunStore, dict]) -> None:
    store, run = batched
    assert run.status == "completed" and run.method == "bet-q2"
    acts = store.actions(run.run_id)
    assert [a["action_id"] for a in acts] == [1, 2, 3, 4, 5, 6]
    assert [a["iteration"] for a in acts] == [1, 1, 2, 2, 3, 3]
    assert [a["strategy"] for a in acts] == [strategy_for(i) for i in range(1, 7)]  # greedy×2, random, nearest, …
    assert all(a["cost"] <= run.budget for a in acts) and run.result["cost"] <= run.budget
    for t in (1, 2, 3):
        a, b = (store.action(run.run_id, i) for i in (2 * t - 1, 2 * t))
        same = np.array_equal(a.user_sizes, b.user_sizes) and np.array_equal(a.item_sizes, b.item_sizes)
        assert not same, f"iteration {t} evaluated one action twice"
    ranked = store.events(run.run_id, kinds=("candidates_ranked",))
    assert len(ranked) == 3
    assert all(len(e["also_chosen"]) == 1 and e["also_chosen"][0] != e["chosen"] for e in ranked)


def test_batched_resume_from_a_half_finished_iteration(batched: tuple[RunStore, dict], mini: Dataset) -> None:
    """Actions 1–3 stored (iteration 2 half done): the resumed search re-ranks iteration 2 exactly
    as before, keeps action 3 without finetuning it again, and ends where the whole run ended."""
    store, run = batched
    whole = load_population(store, run.run_id)
    gen = bet_search(BATCHED, mini, resume=whole[:3], budget=run.budget)  # the run's, as stored
    evaluated: list[int] = []
    try:
        while True:
            ev = next(gen)
            if isinstance(ev, CandidateEvaluated):
                evaluated.append(ev.action_id)
    except StopIteration as done:
        result = done.value
    assert evaluated == [4, 5, 6]
    assert [e.fitness for e in result.population] == [e.fitness for e in whole]
    assert result.best_action_id == run.result["best_action_id"] and result.test == run.result["test"]


def test_choose_never_picks_an_excluded_candidate() -> None:
    rng = np.random.default_rng(0)
    pred = np.array([0.1, 0.9, 0.5, 0.7])
    emb = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 1.1], [1.2, 1.0]])
    assert choose("greedy", pred, rng, exclude=[1]) == 3
    assert choose("greedy", pred, rng, exclude=[1, 3]) == 2
    assert choose("nearest", pred, rng, embeddings=emb, anchor=np.array([1.0, 1.0]), exclude=[2]) == 3
    assert {choose("random", pred, rng, exclude=[0, 2]) for _ in range(60)} == {1, 3}
    with pytest.raises(ValueError, match="all are taken"):
        choose("greedy", pred, rng, exclude=[0, 1, 2, 3])


def test_parallel_candidates_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"-q/--parallel-candidates must be in \[1, 1000\], got 0"):
        dataclasses.replace(TINY, parallel_candidates=0).validate()
    with pytest.raises(ConfigError, match=r"--parallel-candidates \(17\) cannot exceed --candidates \(16\)"):
        dataclasses.replace(TINY, parallel_candidates=17).validate()
