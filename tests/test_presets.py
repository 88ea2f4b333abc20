"""The ``paper`` and ``fast`` presets (issue 21): paper unchanged, fast's ingredients as designed."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from bet import cache
from bet.backbones import make_backbone
from bet.budget import budget_for
from bet.cli.reproduce import cell_config, register
from bet.config import PRETRAIN, RETRAIN, SearchConfig
from bet.data import Dataset
from bet.errors import ConfigError
from bet.evaluation import evaluate, evaluate_per_user, user_sample
from bet.frontier import frontier_jobs
from bet.paper import TABLE_COLUMNS, append_row, config_hash, read_table, upgrade_table
from bet.presets import FAST, PRESETS, apply_preset, default_preset, preset_settings
from bet.runs import run_search
from bet.store import RunStore
from bet.train import TrainConfig, fit
from tests.search_helpers import TINY, TINY_PRETRAIN


def reproduce_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["reproduce", *argv])


def test_the_paper_preset_is_the_paper_defaults() -> None:
    paper = preset_settings("paper")
    defaults = SearchConfig()
    assert {k: getattr(defaults, k) for k in paper} == paper
    assert apply_preset(defaults, "paper") == defaults


def test_paper_rows_keep_their_fingerprints() -> None:
    """Rows recorded before the presets existed are still found: the same configuration from the
    command line hashes as it did (docs/table1.csv's SU and BET rows)."""
    su = cell_config(reproduce_args(), ("gowalla", "lightgcn", 0.95), "su")
    assert config_hash(su.to_dict()) == "c7ed0173ae5b"
    bet = cell_config(
        reproduce_args("-T", "10", "--retrain-top", "1", "--pretrain-epochs", "40"), ("gowalla", "lightgcn", 0.9), "bet"
    )
    assert config_hash(bet.to_dict()) == "c4a82305acc4"
    # the references do not depend on the preset: fast's SU is the paper's SU, same row
    fast_su = cell_config(reproduce_args("--preset", "fast"), ("gowalla", "lightgcn", 0.95), "su")
    assert config_hash(fast_su.to_dict()) == "c7ed0173ae5b"
    fast_bet = cell_config(reproduce_args("--preset", "fast"), ("gowalla", "lightgcn", 0.95), "bet")
    assert config_hash(fast_bet.to_dict()) != config_hash(
        cell_config(reproduce_args(), ("gowalla", "lightgcn", 0.95), "bet").to_dict()
    )


def test_fast_sets_its_ingredients_and_explicit_options_win() -> None:
    cfg = cell_config(reproduce_args("--preset", "fast"), ("gowalla", "lightgcn", 0.95), "bet")
    assert isinstance(cfg, SearchConfig)
    assert (cfg.preset, cfg.iterations, cfg.finetune_epochs, cfg.retrain_top) == ("fast", 20, 4, 1)
    assert (cfg.fitness_users, cfg.retrain_from, cfg.retrain.eval_users) == (0.5, "pretrained", 0.5)
    assert cfg.pretrain == PRETRAIN  # the paper's pretraining: the same cached full model
    mine = cell_config(
        reproduce_args("--preset", "fast", "-T", "7", "--fitness-users", "1", "--retrain-from", "scratch"),
        ("gowalla", "lightgcn", 0.95), "bet",
    )  # fmt: skip
    assert isinstance(mine, SearchConfig)
    assert (mine.iterations, mine.fitness_users, mine.retrain.eval_users, mine.retrain_from) == (
        7,
        None,
        None,
        "scratch",
    )
    assert mine.retrain_top == 1 and mine.preset == "fast"


def test_bad_preset_values_are_refused() -> None:
    with pytest.raises(ConfigError, match="--preset must be one of"):
        preset_settings("quick")
    with pytest.raises(ConfigError, match="--fitness-users"):
        dataclasses.replace(TINY, fitness_users=0.0).validate()
    with pytest.raises(ConfigError, match="--retrain-from"):
        dataclasses.replace(TINY, retrain_from="finetuned").validate()
    assert set(PRESETS) == {"paper", "fast"} and FAST.settings["retrain_from"] == "pretrained"


def test_default_preset_by_size() -> None:
    assert default_preset(6_835) == "paper" and default_preset(70_839) == "fast"


def test_user_sample_is_fixed_and_scores_its_users_exactly(mini: Dataset) -> None:
    users = user_sample(mini, 0.5, seed=0)
    assert users is not None and np.array_equal(users, user_sample(mini, 0.5, seed=0))
    assert np.all(np.diff(users) > 0)  # sorted, distinct
    valid_users = np.flatnonzero(np.diff(mini.valid.indptr) > 0)
    assert set(users) <= set(valid_users) and abs(len(users) - len(valid_users) / 2) <= 1
    assert user_sample(mini, None, 0) is None and user_sample(mini, 1.0, 0) is None
    model = make_backbone("lightgcn", mini, seed=0, d_max=16, device="cpu")
    sampled, per_user = evaluate(model, mini, "valid", users=users), evaluate_per_user(model, mini, "valid")
    assert sampled["recall@20"] == pytest.approx(float(np.mean(per_user["recall@20"][users])), abs=1e-12)
    with pytest.raises(ValueError, match="test read-outs use every user"):
        evaluate(model, mini, "test", users=users)


def test_sampled_early_stopping_reports_exact_validation(mini: Dataset) -> None:
    model = make_backbone("lightgcn", mini, seed=0, d_max=16, device="cpu")
    res = fit(model, mini, TrainConfig(epochs=6, eval_every=2, patience=5, eval_users=0.5), seed=0)
    assert res.valid == evaluate(model, mini, "valid")  # every user, the restored best weights


def test_fast_search_warm_starts_its_retraining(mini: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BET_HOME", str(tmp_path))
    cfg = apply_preset(TINY, "fast")
    cfg = dataclasses.replace(
        cfg,
        iterations=3,
        finetune_epochs=None,
        pretrain=TINY_PRETRAIN,
        retrain=dataclasses.replace(cfg.retrain, epochs=4),
    )  # the fast ingredients, tiny lengths
    store = RunStore(tmp_path / "s.sqlite")
    run = run_search(cfg, store, data=mini)
    assert run.status == "completed" and 0 < run.result["cost"] <= budget_for(cfg.sparsity, n_rows=mini.n_rows)
    phases = [e for e in store.events(run.run_id) if e["kind"] == "phase" and e["phase"] == "retrain"]
    assert "from the pretrained rows" in phases[0]["detail"]
    # the winner's validation is on every user, as the paper preset's
    scratch = run_search(dataclasses.replace(cfg, retrain_from="scratch"), store, data=mini)
    assert scratch.result["valid"] != run.result["valid"]  # the warm start changes the retraining
    assert run.result["best_action_id"] in {a["action_id"] for a in store.actions(run.run_id)}


def test_a_frontier_runs_the_references_before_bet(mini: Dataset, tmp_path: Path) -> None:
    jobs = frontier_jobs(
        RunStore(tmp_path / "f.sqlite"), mini, TINY, sparsities=[0.9, 0.95], methods=["bet", "su", "sr", "full"]
    )
    methods = [(j.config.method if hasattr(j.config, "method") else "bet") for j in jobs]
    assert methods == ["full", "su", "su", "sr", "sr", "bet", "bet"]


def test_an_old_table_gains_the_preset_column(tmp_path: Path) -> None:
    old = tmp_path / "t.csv"
    header = [c for c in TABLE_COLUMNS if c != "preset"]
    old.write_text(",".join(header) + "\n" + ",".join("gowalla" if c == "dataset" else "1" for c in header) + "\n")
    upgrade_table(old)
    rows = read_table(old)
    assert list(rows[0]) == list(TABLE_COLUMNS) and rows[0]["preset"] == "paper" and rows[0]["dataset"] == "gowalla"
    before = old.read_text()
    upgrade_table(old)
    assert old.read_text() == before  # a current table is left alone
    append_row(old, {"dataset": "yelp2018", "preset": "fast"})
    assert [r["preset"] for r in read_table(old)] == ["paper", "fast"]


def test_new_schedule_field_leaves_the_model_cache_key(mini: Dataset) -> None:
    """Pretrained models cached before ``eval_users`` existed are still found (the key pinned
    from the code before it)."""
    assert (
        cache.model_key(mini, "lightgcn", d_max=128, cfg=PRETRAIN, seed=0) == "gowalla-mini-lightgcn-0fedba9bfe1a4c3a"
    )
    assert cache.model_key(mini, "lightgcn", d_max=128, cfg=dataclasses.replace(PRETRAIN, eval_users=0.5), seed=0) != (
        "gowalla-mini-lightgcn-0fedba9bfe1a4c3a"
    )


def test_estimate_names_its_preset_and_advises_on_a_long_run(tmp_path: Path) -> None:
    from tests.hostile_helpers import run_bet

    home = tmp_path / "home"
    paper = run_bet("estimate", "--sparsity", "0.9", "--device", "cpu", "-T", "3000", home=home)
    assert paper.returncode == 0, paper.stderr
    assert "over 10 minutes: try --preset fast" in paper.stdout and "fewer iterations (-T)" in paper.stdout
    fast = run_bet("estimate", "--sparsity", "0.9", "--device", "cpu", "--preset", "fast", "--json", home=home)
    assert json.loads(fast.stdout.splitlines()[-1])["preset"] == "fast"


def test_the_references_keep_the_papers_schedule_under_fast() -> None:
    """fast changes BET's own retraining (warm start, a 2x faster decay, 160 epochs, patience 10, half the users);
    SU/SR/MDE under fast train exactly as under paper (same rows in docs/table1.csv)."""
    fast = cell_config(reproduce_args("--preset", "fast"), ("gowalla", "lightgcn", 0.95), "bet")
    assert isinstance(fast, SearchConfig)
    assert (fast.retrain.lr_decay_every, fast.retrain.epochs, fast.retrain.eval_users) == (100, 160, 0.5)
    assert fast.retrain.patience == 10
    for method in ("su", "sr", "mde"):
        ref = cell_config(reproduce_args("--preset", "fast"), ("gowalla", "lightgcn", 0.95), method)
        paper = cell_config(reproduce_args(), ("gowalla", "lightgcn", 0.95), method)
        assert ref.train == paper.train == RETRAIN  # type: ignore[union-attr]
    authors = reproduce_args("--preset", "fast", "--early-stop", "authors")
    for method in ("bet", "su"):  # the early stopping chosen wins over fast's patience, for BET and the references
        cfg = cell_config(authors, ("gowalla", "lightgcn", 0.95), method)
        train = cfg.retrain if isinstance(cfg, SearchConfig) else cfg.train
        assert (train.patience, train.eval_every_steps) == (3, 2000)
    mine = cell_config(reproduce_args("--retrain-epochs", "30"), ("gowalla", "lightgcn", 0.95), "su")
    assert mine.train.epochs == 30  # type: ignore[union-attr]  # paper: the option reaches the references
