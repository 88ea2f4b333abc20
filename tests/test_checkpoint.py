"""Training snapshots: an interrupted training — stopped on request or its process gone — goes
on from its snapshot and ends with exactly the weights and result of one never interrupted."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from bet import cache
from bet.backbones import Backbone, make_backbone
from bet.baselines import budget_action
from bet.checkpoint import Checkpoint
from bet.data import Dataset
from bet.events import TrainProgress
from bet.train import TrainConfig, TrainResult, pretrain, train_sized

CFG = TrainConfig(steps=24, batch_users=512, eval_every_steps=6, patience=2, eval_users=0.5)


def run(
    mini: Dataset, backbone: str, *, checkpoint: Checkpoint | None = None, until: int | None = None, stop: bool = False
) -> tuple[Backbone, TrainResult] | None:
    """Train an SU-sized model; with ``until``, abandon it after that step (``stop``: by a stop
    request, else as a killed process would) and return None."""
    action = budget_action("su", mini, 40_000, seed=0, backbone=backbone)
    halt = threading.Event()
    gen = train_sized(
        mini, backbone, action, cfg=CFG, seed=0, device=torch.device("cpu"), stop=halt, checkpoint=checkpoint
    )
    try:
        while True:
            ev = next(gen)
            if until is not None and isinstance(ev, TrainProgress) and ev.step == until:
                if not stop:
                    gen.close()  # the process is gone: nothing after this step runs
                    return None
                halt.set()
    except StopIteration as done:
        if until is not None:
            assert done.value[1].stopped
            return None
        return done.value  # type: ignore[no-any-return]


def same(a: tuple[Backbone, TrainResult], b: tuple[Backbone, TrainResult]) -> None:
    (ma, ra), (mb, rb) = a, b
    assert (ra.steps, ra.best_step, ra.valid) == (rb.steps, rb.best_step, rb.valid)
    for (k, x), y in zip(ma.state_dict().items(), mb.state_dict().values(), strict=True):
        assert torch.equal(x, y), k


@pytest.mark.parametrize(
    ("backbone", "stop"),
    [("lightgcn", True), ("lightgcn", False), ("ngcf", False)],  # NGCF: its own dropout stream is restored too
    ids=["stopped", "killed", "ngcf-killed"],
)
def test_resumed_training_ends_as_one_never_interrupted(
    mini: Dataset, tmp_path: Path, backbone: str, *, stop: bool
) -> None:
    whole = run(mini, backbone)
    assert whole is not None
    snap = Checkpoint(tmp_path / "t.pt", every_s=0 if not stop else 1e9)  # killed: only what was written before
    assert run(mini, backbone, checkpoint=snap, until=11, stop=stop) is None
    assert snap.path.exists() and snap.load() is not None and snap.load().step == 11  # type: ignore[union-attr]
    resumed = run(mini, backbone, checkpoint=Checkpoint(snap.path, every_s=1e9))
    assert resumed is not None
    same(resumed, whole)
    assert not snap.path.exists(), "the snapshot is removed when the training ends"


def test_an_unreadable_snapshot_is_ignored(mini: Dataset, tmp_path: Path) -> None:
    bad = tmp_path / "t.pt"
    bad.write_bytes(b"not a snapshot")
    resumed = run(mini, "lightgcn", checkpoint=Checkpoint(bad, every_s=1e9))
    whole = run(mini, "lightgcn")
    assert resumed is not None and whole is not None
    same(resumed, whole)  # started over


def test_a_stopped_pretraining_goes_on_next_time(mini: Dataset) -> None:
    cfg = TrainConfig(epochs=3, eval_every=1, patience=2)
    dev = torch.device("cpu")
    halt = threading.Event()
    gen = pretrain(mini, "lightgcn", cfg, seed=7, device=dev, stop=halt)
    steps = []
    try:
        while True:
            ev = next(gen)
            if isinstance(ev, TrainProgress):
                steps.append(ev.step)
                if ev.step == 4:
                    halt.set()
    except StopIteration as done:
        assert not done.value[2]
    key = cache.model_key(mini, "lightgcn", d_max=128, cfg=cfg, seed=7)
    assert not cache.exists(key) and Checkpoint.named(key).path.exists()
    gen = pretrain(mini, "lightgcn", cfg, seed=7, device=dev)
    later = []
    try:
        while True:
            ev = next(gen)
            later.append((ev.step, ev.resumed_from))  # type: ignore[attr-defined]
    except StopIteration as done:
        model, _, cached = done.value
    assert not cached and later[0] == (5, 4) and cache.exists(key) and not Checkpoint.named(key).path.exists()
    fresh = make_backbone("lightgcn", mini, seed=7)
    alone = train_sized(mini, "lightgcn", None, cfg=cfg, seed=7, device=dev)
    try:
        while True:
            next(alone)
    except StopIteration as done:
        fresh = done.value[0]
    for x, y in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_the_cli_bar_of_a_resumed_training_starts_where_it_was() -> None:
    from bet.cli.progress import Progress

    progress = Progress()
    progress(TrainProgress("pretrain", 3_401, 23_700, 0.02, resumed_from=3_400))
    bar = progress.bars[("pretrain", "")]
    assert (bar.n, bar.total) == (3_401, 23_700) and "(resumed)" in bar.desc
    assert bar.format_dict["initial"] == 3_400  # its rate counts from the resume, not from step 0
    progress.close()


@pytest.mark.parametrize("start", ["scratch", "pretrained"])
def test_a_search_stopped_while_retraining_goes_on_from_its_snapshots(
    mini: Dataset, tmp_path: Path, start: str
) -> None:
    """Resumed, each retraining continues from the step it was stopped at (not from step 0) and
    the search ends with the same winner and metrics as one never stopped; its snapshots go."""
    import dataclasses

    from bet.events import Event
    from bet.paths import cache_dir
    from bet.runs import run_search
    from bet.store import RunStore
    from tests.search_helpers import TINY

    cfg = dataclasses.replace(TINY, retrain_from=start, seed=3)
    whole = run_search(cfg, RunStore(tmp_path / "whole.sqlite"), data=mini)
    snapshots = set(cache_dir("checkpoints").glob("*.pt"))
    store, stop = RunStore(tmp_path / "stopped.sqlite"), threading.Event()
    reached: dict[str, int] = {}

    def stop_mid_retraining(ev: Event) -> None:
        if isinstance(ev, TrainProgress) and ev.phase == "retrain":
            reached[ev.label] = ev.step
            if ev.step == 5:
                stop.set()

    first = run_search(cfg, store, data=mini, stop=stop, on_event=stop_mid_retraining)
    assert first.status == "stopped" and reached, "stopped while retraining"
    assert len(set(cache_dir("checkpoints").glob("*.pt")) - snapshots) == len(reached)
    resumed_from: dict[str, int] = {}

    def first_steps(ev: Event) -> None:
        if isinstance(ev, TrainProgress) and ev.phase == "retrain":
            resumed_from.setdefault(ev.label, ev.resumed_from)

    done = run_search(None, store, data=mini, resume=first.run_id, on_event=first_steps)
    assert done.status == "completed"
    kept = {e["label"]: e["resumed_from"] for e in store.events(done.run_id, kinds=("train_progress",))}
    assert {k: v for k, v in kept.items() if v} == reached, "each resume is recorded (the dashboard shows it)"
    assert {k: resumed_from[k] for k in reached} == reached and max(reached.values()) >= 5
    assert whole.result is not None and done.result is not None
    for k in ("best_action_id", "valid", "test", "cost"):
        assert done.result[k] == whole.result[k], k
    assert set(cache_dir("checkpoints").glob("*.pt")) == snapshots, "snapshots are removed once trained"


def test_snapshots_of_trainings_abandoned_long_ago_are_pruned() -> None:
    """What the dashboard deletes when it starts (BET_SNAPSHOT_DAYS, default 14): snapshots not
    written for that long and partial files of a killed write; a live training's snapshot stays."""
    import os
    import time

    from bet.checkpoint import prune_snapshots
    from bet.paths import cache_dir
    from dashboard.housekeeping import snapshot_days

    folder, now = cache_dir("checkpoints"), time.time()
    files = {name: folder / name for name in ("old.pt", "live.pt", "killed.tmp", "writing.tmp", "notes.txt")}
    ages = {"old.pt": 15, "live.pt": 0.01, "killed.tmp": 2, "writing.tmp": 0.001, "notes.txt": 400}
    for name, path in files.items():
        path.write_bytes(b"x")
        os.utime(path, (now - 86400 * ages[name],) * 2)
    try:
        gone = prune_snapshots(snapshot_days(), now=now)
        assert sorted(p.name for p in gone) == ["killed.tmp", "old.pt"]
        assert all(files[n].exists() for n in ("live.pt", "writing.tmp", "notes.txt"))  # not ours: kept
    finally:
        for path in files.values():
            path.unlink(missing_ok=True)
