"""The finetuning of a pick known early runs beside the predictor's learning and ranking
(bet.runtime.beside): a random pick needs no ranking, a greedy one is guessed by the predictor that
ranked the last iteration. The picks, updates and events are the same, in the same order."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Generator
from pathlib import Path

import numpy as np
import pytest
import torch

import bet.iteration
from bet.data import Dataset
from bet.events import CandidateEvaluated, CandidatesRanked, Event, PhaseChanged, PredictorUpdated, TrainProgress
from bet.runs import run_search
from bet.runtime import beside
from bet.selection import blind_picks, pick
from bet.store import RunStore
from tests.search_helpers import TINY


def test_blind_picks_are_the_picks_the_ranking_would_make() -> None:
    n = 40
    predicted, emb = np.random.default_rng(0).random(n), np.random.default_rng(1).random((n, 4))
    for selection, width in (("bet", 1), ("bet", 2), ("random", 1), ("random", 3)):
        for t in range(1, 11):
            first = (t - 1) * width
            blind = blind_picks(n, np.random.default_rng([7, t, 2]), first=first, width=width, selection=selection)
            ranked = pick(
                predicted, emb, np.random.default_rng([7, t, 2]), first=first, width=width, selection=selection,
                anchor=lambda: emb[0],
            )  # fmt: skip
            all_random = all(s == "random" for _, s in ranked)
            assert (blind is not None) == all_random, (selection, width, t)
            if blind is not None:
                assert blind == ranked
    # the paper's schedule (q = 1): only t mod 5 == 3 is random
    assert [
        t for t in range(1, 11) if blind_picks(n, np.random.default_rng(0), first=t - 1, width=1, selection="bet")
    ] == [3, 8]


def _gen(started: threading.Event, release: threading.Event) -> Generator[Event, None, int]:
    started.set()
    assert release.wait(5), "the helper ran only after the work"
    yield PhaseChanged("g", "1")
    yield PhaseChanged("g", "2")
    return 7


def _work(started: threading.Event, release: threading.Event) -> Generator[Event, None, int]:
    assert started.wait(5), "the helper did not start before the work"
    yield PhaseChanged("w", "1")
    release.set()
    return 8


def test_beside_runs_both_at_once_and_yields_the_work_first() -> None:
    started, release = threading.Event(), threading.Event()
    out: list[str] = []
    stream = beside(_gen(started, release), _work(started, release))
    while True:
        try:
            ev = next(stream)
        except StopIteration as done:
            result = done.value
            break
        assert isinstance(ev, PhaseChanged)
        out.append(ev.phase + ev.detail)
    assert out == ["w1", "g1", "g2"]
    assert result[:2] == (7, 8) and result[2] > 0


def test_beside_raises_the_helpers_error() -> None:
    def broken() -> Generator[Event, None, int]:
        yield PhaseChanged("g", "1")
        raise RuntimeError("helper failed")

    def work() -> Generator[Event, None, int]:
        yield PhaseChanged("w", "1")
        return 1

    with pytest.raises(RuntimeError, match="helper failed"):
        list(beside(broken(), work()))


def test_an_error_in_the_work_halts_the_helper() -> None:
    halt, ended = threading.Event(), threading.Event()

    def spinning() -> Generator[Event, None, int]:
        n = 0
        while not halt.is_set() and n < 500:  # 5 s at most
            time.sleep(0.01)
            n += 1
            yield PhaseChanged("g", str(n))
        ended.set()
        return n

    def failing() -> Generator[Event, None, int]:
        time.sleep(0.05)
        raise RuntimeError("work failed")
        yield PhaseChanged("w", "never")  # a generator

    with pytest.raises(RuntimeError, match="work failed"):
        list(beside(spinning(), failing(), halt=halt))
    assert halt.is_set() and ended.wait(1)


def test_torch_thread_counts_are_per_thread() -> None:
    """What lets a finetune (one thread) run beside the predictor's update: a thread count set on
    one thread does not change another's (torch's OpenMP backend)."""
    seen: dict[str, int] = {}
    set_there, checked = threading.Event(), threading.Event()

    def other() -> None:
        torch.set_num_threads(1)
        set_there.set()
        checked.wait(5)
        seen["other"] = torch.get_num_threads()

    old = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        th = threading.Thread(target=other)
        th.start()
        set_there.wait(5)
        seen["main"] = torch.get_num_threads()
        checked.set()
        th.join()
    finally:
        torch.set_num_threads(old)
    assert seen == {"main": 2, "other": 1}


def test_a_random_pick_is_finetuned_beside_the_learning(
    mini: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: dict[str, str] = {}
    real = bet.iteration.train_iter

    def spy(*args: object, **kw: object) -> Generator[Event, None, object]:
        threads[str(kw["label"])] = threading.current_thread().name
        return (yield from real(*args, **kw))  # type: ignore[arg-type]

    monkeypatch.setattr(bet.iteration, "train_iter", spy)
    stream: list[Event] = []
    run = run_search(TINY, RunStore(tmp_path / "s.sqlite"), data=mini, on_event=stream.append)
    assert run.status == "completed"
    assert threads["3/5"] == "bet-beside"  # t = 3 is the random pick
    # the stream reads as if in turn: t − 1 learned, t ranked, then t finetuned and evaluated
    for t in range(2, TINY.iterations + 1):
        learned = next(i for i, e in enumerate(stream) if isinstance(e, PredictorUpdated) and e.iteration == t - 1)
        ranked = next(i for i, e in enumerate(stream) if isinstance(e, CandidatesRanked) and e.iteration == t)
        steps = [i for i, e in enumerate(stream) if isinstance(e, TrainProgress) and e.label == f"{t}/5"]
        done = next(i for i, e in enumerate(stream) if isinstance(e, CandidateEvaluated) and e.iteration == t)
        assert learned < ranked < min(steps) <= max(steps) < done
    evaluated = [e for e in stream if isinstance(e, CandidateEvaluated)]
    assert all(0 <= e.overhead < e.seconds for e in evaluated)


def test_a_run_cut_after_its_random_pick_resumes_exactly(mini: Dataset, tmp_path: Path) -> None:
    """Cut when the random pick (t = 3) is evaluated but not yet learned: the resumed run replays
    it into the predictor and goes on as the uninterrupted one did."""
    cfg = dataclasses.replace(TINY, retrain_top=1)
    store = RunStore(tmp_path / "s.sqlite")
    whole = run_search(cfg, store, data=mini)
    stop = threading.Event()

    def on_event(ev: Event) -> None:
        if isinstance(ev, CandidateEvaluated) and ev.iteration == 3:
            stop.set()

    cut = run_search(cfg, store, data=mini, stop=stop, on_event=on_event)
    assert cut.status == "stopped" and len(store.actions(cut.run_id)) == 3
    resumed = run_search(None, store, data=mini, resume=cut.run_id)
    assert [a["fitness"] for a in store.actions(cut.run_id)] == [a["fitness"] for a in store.actions(whole.run_id)]
    assert resumed.result["test"] == whole.result["test"]


def _story(stream: list[Event]) -> list[tuple]:
    """What a search decides and learns, in order (not its timings)."""
    out: list[tuple] = []
    for e in stream:
        if isinstance(e, CandidateEvaluated):
            out.append(("E", e.iteration, e.action_id, e.fitness, e.predicted, e.strategy))
        elif isinstance(e, CandidatesRanked):
            out.append(("R", e.iteration, tuple(e.predicted), e.chosen))
        elif isinstance(e, PredictorUpdated):
            out.append(("U", e.iteration, e.loss, e.spearman))
        elif isinstance(e, TrainProgress) and e.phase == "finetune":
            out.append(("T", e.label, e.step, e.loss))
    return out


@pytest.mark.parametrize("right", [True, False], ids=["its-own-guesses", "wrong-guesses"])
def test_a_greedy_pick_guessed_early_changes_nothing(
    right: bool, mini: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guessing always (as if a step were always shorter than the learning), with the search's own
    guesses (right or not) or only wrong ones: the same story as a search that never guesses; a
    wrong guess's finetuning leaves no trace."""
    cfg = dataclasses.replace(TINY, retrain_top=1)
    plain: list[Event] = []
    monkeypatch.setattr(bet.iteration.SearchState, "worth_guessing", lambda self: False)
    run_search(cfg, RunStore(tmp_path / "a.sqlite"), data=mini, on_event=plain.append)
    monkeypatch.setattr(bet.iteration.SearchState, "worth_guessing", lambda self: True)
    propose, threads = bet.iteration.SearchState.propose, []

    def guessing(self: bet.iteration.SearchState, t: int) -> bet.iteration.Proposal:
        batch, prepared, guess = propose(self, t)
        return batch, prepared, guess if right or guess is None else (guess + 1) % len(batch)

    real = bet.iteration.finetuned

    def spy(*args: object, **kwargs: object) -> Generator[Event, None, object]:
        threads.append(threading.current_thread().name)
        return (yield from real(*args, **kwargs))  # type: ignore[arg-type]

    monkeypatch.setattr(bet.iteration.SearchState, "propose", guessing)
    monkeypatch.setattr(bet.iteration, "finetuned", spy)
    guessed: list[Event] = []
    run = run_search(cfg, RunStore(tmp_path / "b.sqlite"), data=mini, on_event=guessed.append)
    assert run.status == "completed"
    assert _story(guessed) == _story(plain)
    # t = 1, 2, 5 greedy (guessed), 3 random, 4 nearest; a wrong guess is finetuned again, here
    assert threads.count("bet-beside") == 4
    assert len(threads) == 8 if not right else 5 <= len(threads) <= 8
