"""The BET search loop end to end on gowalla-mini with tiny settings."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from bet import observed
from bet.budget import budget_for
from bet.data import Dataset
from bet.embedding import unpack
from bet.events import CandidateEvaluated, Event
from bet.runs import run_search
from bet.selection import choose, strategy_for
from bet.store import RunStore
from tests.search_helpers import TINY


@pytest.fixture(scope="module")
def finished(mini: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[RunStore, dict]:
    store = RunStore(tmp_path_factory.mktemp("s") / "store.sqlite")
    return store, run_search(TINY, store, data=mini)


def test_search_completes_within_budget(finished: tuple[RunStore, dict], mini: Dataset) -> None:
    store, run = finished
    budget = budget_for(TINY.sparsity, n_rows=mini.n_rows)
    assert run.status == "completed" and run.budget == budget
    res = run.result
    assert 0 < res["cost"] <= budget
    assert set(res["test"]) == {f"{m}@{k}" for m in ("recall", "ndcg") for k in (5, 10, 20)}
    assert 0 < res["test"]["recall@20"] < 1
    actions = store.actions(run.run_id)
    assert [a["iteration"] for a in actions] == list(range(1, TINY.iterations + 1))
    assert all(a["cost"] <= budget for a in actions)
    assert res["best_action_id"] in {a["action_id"] for a in actions}
    # the packed table is the winner's: its sizes, within budget
    table, sizes, n_users = unpack(store.table(run.run_id))
    best = store.action(run.run_id, res["best_action_id"])
    assert np.array_equal(sizes, best.sizes) and sizes.sum() <= budget and n_users == mini.n_users
    assert table.shape == (mini.n_rows, 128) and np.count_nonzero(table) <= sizes.sum()


def test_winner_is_the_best_retrained_on_validation(finished: tuple[RunStore, dict]) -> None:
    """The search keeps only the best retrained model as it goes (memory): it must still be the
    one with the highest validation quality, ties going to the higher-ranked action."""
    store, run = finished
    retrained = [e for e in store.events(run.run_id) if e["kind"] == "retrain_finished"]
    assert len(retrained) == TINY.retrain_top >= 2
    best = max(retrained, key=lambda e: (e["quality"], -e["rank"]))
    assert run.result["best_action_id"] == best["action_id"]
    assert run.result["valid"] == best["valid"]


def test_event_log_tells_the_story(finished: tuple[RunStore, dict]) -> None:
    store, run = finished
    kinds = [e["kind"] for e in store.events(run.run_id)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    T = TINY.iterations
    assert kinds.count("candidates_ranked") == T and kinds.count("candidate_evaluated") == T
    assert kinds.count("predictor_updated") == T and kinds.count("retrain_finished") == TINY.retrain_top
    ranked = store.events(run.run_id, kinds=("candidates_ranked",))
    assert all(len(e["predicted"]) == TINY.candidates and 0 <= e["chosen"] < TINY.candidates for e in ranked)
    # paper order: t mod 5 in {0,1,2} greedy, 3 random, 4 nearest
    assert [e["strategy"] for e in ranked] == ["greedy", "greedy", "random", "nearest", "greedy"]
    greedy = [e for e in ranked if e["strategy"] == "greedy"]
    assert all(e["chosen"] == int(np.argmax(e["predicted"])) for e in greedy)
    evaluated = store.events(run.run_id, kinds=("candidate_evaluated",))
    assert all(0 <= e["overhead"] <= e["seconds"] for e in evaluated)


def test_same_seed_same_search_other_seed_differs(mini: Dataset, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    cfg = dataclasses.replace(TINY, iterations=3, retrain_top=1)
    a, b = run_search(cfg, store, data=mini), run_search(cfg, store, data=mini)
    c = run_search(dataclasses.replace(cfg, seed=1), store, data=mini)
    fa, fb, fc = ([x["fitness"] for x in store.actions(r.run_id)] for r in (a, b, c))
    assert fa == fb and a.result["test"] == b.result["test"]
    assert fa != fc


def test_stop_ends_the_run_cleanly(mini: Dataset, tmp_path: Path) -> None:
    store = RunStore(tmp_path / "s.sqlite")
    stop = threading.Event()
    seen: list[Event] = []

    def on_event(ev: Event) -> None:
        seen.append(ev)
        if isinstance(ev, CandidateEvaluated):
            stop.set()

    run = run_search(TINY, store, data=mini, stop=stop, on_event=on_event)
    assert run.status == "stopped"
    assert len(store.actions(run.run_id)) == 1  # nothing evaluated is lost
    last = store.events(run.run_id)[-1]
    assert last["kind"] == "run_finished" and last["status"] == "stopped"


def test_resume_continues_exactly_like_an_uninterrupted_run(
    mini: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BET_HOME", str(tmp_path / "home"))
    loads: dict[str, list[tuple[float | None, dict[str, float] | None]]] = {}
    keep = observed.observe

    def observe(
        store: RunStore, run_id: str, *, load: float | None = None, phase_loads: dict[str, float] | None = None
    ) -> bool:
        loads.setdefault(run_id, []).append((load, phase_loads))
        return keep(store, run_id, load=load, phase_loads=phase_loads)

    monkeypatch.setattr(observed, "observe", observe)
    store = RunStore(tmp_path / "s.sqlite")
    whole = run_search(TINY, store, data=mini)
    stop = threading.Event()
    count = [0]

    def on_event(ev: Event) -> None:
        if isinstance(ev, CandidateEvaluated):
            count[0] += 1
            if count[0] == 2:
                stop.set()

    cut = run_search(TINY, store, data=mini, stop=stop, on_event=on_event)
    assert cut.status == "stopped"
    resumed = run_search(None, store, data=mini, resume=cut.run_id)
    assert resumed.run_id == cut.run_id and resumed.status == "completed"
    fit_whole = [a["fitness"] for a in store.actions(whole.run_id)]
    fit_resumed = [a["fitness"] for a in store.actions(cut.run_id)]
    assert fit_resumed == fit_whole
    assert resumed.result["test"] == whole.result["test"]
    assert resumed.result["best_action_id"] == whole.result["best_action_id"]
    # the whole run teaches its speed with the load it ran beside, overall and per phase; the
    # resumed one (its load sampled over its last part only) the speed of the phases it began after
    # the resume only: not the search it was stopped in
    ((load, phases),) = loads[whole.run_id]
    assert load is not None and phases is not None and {"search", "retrain"} <= set(phases)
    ((load, phases),) = loads[cut.run_id]
    assert load is None and phases is not None and "retrain" in phases and "search" not in phases


def test_test_split_never_influences_the_choice(mini: Dataset, tmp_path: Path) -> None:
    """Scramble the test split: every choice (actions, fitness, winner) must stay the same."""
    rng = np.random.default_rng(0)
    scrambled = sp.random(mini.n_users, mini.n_items, density=0.003, format="csr", random_state=rng, dtype=np.float32)
    scrambled.data[:] = 1
    other = dataclasses.replace(mini, test=scrambled)
    cfg = dataclasses.replace(TINY, iterations=3)
    store = RunStore(tmp_path / "s.sqlite")
    a, b = run_search(cfg, store, data=mini), run_search(cfg, store, data=other)
    assert [x["fitness"] for x in store.actions(a.run_id)] == [x["fitness"] for x in store.actions(b.run_id)]
    assert a.result["best_action_id"] == b.result["best_action_id"]
    assert a.result["valid"] == b.result["valid"] and a.result["test"] != b.result["test"]


@pytest.mark.parametrize(
    ("selection", "predictor", "training", "method"),
    [
        ("random", "deepsets", "fit", "bet-random"),
        ("bet", "simple", "fit", "bet-simple"),
        ("bet", "deepsets", "paper", "bet-paper"),
    ],
)
def test_ablation_variants_run(
    mini: Dataset, tmp_path: Path, selection: str, predictor: str, training: str, method: str
) -> None:
    cfg = dataclasses.replace(
        TINY, iterations=3, retrain_top=1, selection=selection, predictor=predictor, predictor_training=training
    )
    store = RunStore(tmp_path / "s.sqlite")
    run = run_search(cfg, store, data=mini)
    assert run.status == "completed" and run.method == method
    strategies = [e["strategy"] for e in store.events(run.run_id, kinds=("candidates_ranked",))]
    assert strategies == (["random"] * 3 if selection == "random" else ["greedy", "greedy", "random"])


def test_selection_rules() -> None:
    assert [strategy_for(t) for t in range(1, 11)] == ["greedy", "greedy", "random", "nearest", "greedy"] * 2
    assert strategy_for(4, have_best=False) == "greedy"
    assert all(strategy_for(t, "random") == "random" for t in range(1, 6))
    rng = np.random.default_rng(0)
    pred = np.array([0.1, 0.9, 0.5])
    emb = np.array([[0.0, 0.0], [5.0, 5.0], [1.0, 1.1]])
    assert choose("greedy", pred, rng) == 1
    assert choose("nearest", pred, rng, embeddings=emb, anchor=np.array([1.0, 1.0])) == 2
    assert {choose("random", pred, rng) for _ in range(50)} == {0, 1, 2}


def test_predictor_fit_mode_learns_a_ranking(mini: Dataset) -> None:
    """On a synthetic fitness that is a known function of the user share, the default training
    ranks held-out actions well; this is the property the search relies on."""
    from bet.predictor import DeepSetsPredictor, PredictorTrainer
    from bet.sampler import ActionSampler

    batch = ActionSampler.for_data(mini, budget_for(0.9, n_rows=mini.n_rows)).sample(60, np.random.default_rng(0))
    fitness = 0.9 - 0.2 * batch.user_share  # items deserve the budget
    trainer = PredictorTrainer(DeepSetsPredictor(mini.user_freq, mini.item_freq, linear_output=True), mode="fit")
    for i in range(40):
        trainer.add(batch.user_sizes[i], batch.item_sizes[i], float(fitness[i]), rng=np.random.default_rng(i))
    pred, emb = trainer.predict(batch.user_sizes[40:], batch.item_sizes[40:])
    import scipy.stats as st

    assert emb.shape == (20, 64)
    assert st.spearmanr(pred, fitness[40:]).statistic > 0.8
    assert abs(float(np.mean(pred)) - float(np.mean(fitness[40:]))) < 0.05  # on the fitness scale


def test_thread_counts_do_not_change_results(mini: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sparse propagation and evaluation use two threads when free; they split work by output
    rows, so a run is bit for bit the same on one thread."""
    cfg = dataclasses.replace(TINY, iterations=2, retrain_top=1)
    store = RunStore(tmp_path / "s.sqlite")
    monkeypatch.setenv("BET_SPMM_THREADS", "2")
    monkeypatch.setenv("BET_EVAL_THREADS", "2")
    two = run_search(cfg, store, data=mini)
    monkeypatch.setenv("BET_SPMM_THREADS", "1")
    monkeypatch.setenv("BET_EVAL_THREADS", "1")
    one = run_search(cfg, store, data=mini)
    assert [a["fitness"] for a in store.actions(two.run_id)] == [a["fitness"] for a in store.actions(one.run_id)]
    assert two.result["test"] == one.result["test"]
