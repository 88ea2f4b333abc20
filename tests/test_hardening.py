"""Hardening beyond the command line's refusals: SIGTERM stops a search like Ctrl-C, the
bounded reader stops inflating at its cap, a damaged store is a StoreError everywhere, a cached
model of other shapes is a miss (never a partial load), identical uploads at once all succeed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from pathlib import Path

import pytest
import torch

from bet import cache
from bet.backbones import make_backbone
from bet.data import Dataset, check_evaluable, load_dataset
from bet.data.limits import read_bounded
from bet.errors import ConfigError, DataError, StoreError
from bet.paths import cache_dir
from bet.store import RunStore
from tests.hostile_helpers import ROOT, garble_store, stop_with, write_bomb

TINY = [f"{u} " + " ".join(str((u * 7 + j) % 50) for j in range(8)) for u in range(40)]


# -- signals ----------------------------------------------------------------------------------
def test_sigterm_stops_a_search_cleanly(tmp_path: Path) -> None:
    """SIGTERM (``kill``, a service manager) is a clean stop: the run is recorded ``stopped`` and
    resumable, the process exits promptly, no traceback (it used to die with 143, run ``running``)."""
    store_path = tmp_path / "s.sqlite"
    env = {**os.environ, "BET_HOME": str(tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    args = ["search", "--dataset", "gowalla-mini", "--sparsity", "0.9", "--iterations", "50", "--candidates", "4",
            "--finetune-steps", "5", "--retrain-top", "1", "--pretrain-epochs", "2000", "--retrain-epochs", "1",
            "--store", str(store_path)]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "bet", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:  # wait until it is training
            if store_path.exists() and any(r.step > 0 for r in RunStore(store_path).list_runs()):
                break
            time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()
        seconds = stop_with(proc, signal.SIGTERM, timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate()
    assert proc.returncode == 1, err[-2000:]  # a search that did not complete; not -15 / 143
    assert "Traceback" not in err and seconds < 120
    (run,) = RunStore(store_path).list_runs()
    assert run.status == "stopped", run


# -- bounded reading --------------------------------------------------------------------------
def test_inflating_stops_at_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = write_bomb(tmp_path / "bomb.gz", 64)
    monkeypatch.setenv("BET_MAX_DECOMPRESSED_MB", "4")
    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="decompresses to more than the 4 MB limit"):
            read_bounded(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, peak  # the cap and a chunk or two, not the 64 MB content


def test_reads_within_the_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.txt.gz"
    write_bomb(path, 2)
    monkeypatch.setenv("BET_MAX_DECOMPRESSED_MB", "2.5")
    assert len(read_bounded(path)) == 2 * 2**20
    monkeypatch.setenv("BET_MAX_FILE_MB", "0")
    with pytest.raises(ConfigError, match="BET_MAX_FILE_MB must be a positive number"):
        read_bounded(path)


def test_split_seed_and_unrankable_splits(tmp_path: Path) -> None:
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(TINY) + "\n")
    with pytest.raises(ConfigError, match="--split-seed must be an integer"):
        load_dataset(path, seed=-1)
    check_evaluable(load_dataset(path))  # 8 interactions a user: every part has some
    singles = tmp_path / "singles.txt"
    singles.write_text("".join(f"{u} {u}\n" for u in range(30)))
    data = load_dataset(singles)  # loading works (bet info shows it) ...
    with pytest.raises(DataError, match="validation set empty"):
        check_evaluable(data)  # ... but nothing can be ranked on it


# -- damaged store ----------------------------------------------------------------------------
def test_damaged_store_is_a_store_error_for_reads_and_writes(tmp_path: Path) -> None:
    path = tmp_path / "bet.sqlite"
    store = RunStore(path)
    rid = store.create_run(kind="search", method="bet", dataset="d", backbone="lightgcn", sparsity=0.9, seed=0,
                           config={"pad": "x" * 20000})  # fmt: skip
    store.close()
    assert garble_store(path) > 3
    store = RunStore(path)
    for call in (store.list_runs, lambda: store.get_run(rid), lambda: store.add_event(rid, "x", {})):
        with pytest.raises(StoreError, match=r"is damaged .*PRAGMA integrity_check"):
            call()


# -- model cache ------------------------------------------------------------------------------
@pytest.fixture
def tiny(tmp_path: Path) -> Dataset:
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(TINY) + "\n")
    return load_dataset(path)


def test_cached_model_of_other_shapes_is_a_miss_and_loads_nothing(tiny: Dataset) -> None:
    model = make_backbone("ncf", tiny, seed=0, d_max=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert len(before) > 2
    cache.save(model, "shapes-test", {"valid": {}})
    assert cache.load(model, "shapes-test") == {"valid": {}}  # the same shapes: a hit
    bad = {k: torch.zeros_like(v) for k, v in before.items()}
    first = next(iter(bad))
    bad[first] = torch.zeros(*(s + 1 for s in bad[first].shape))  # one tensor of another shape
    torch.save({"state": bad, "meta": {"valid": {}}}, cache_dir("models") / "shapes-bad.pt")
    assert cache.load(model, "shapes-bad") is None
    for k, v in model.state_dict().items():  # load_state_dict would have zeroed the others
        assert torch.equal(v, before[k]), k
    torch.save({"state": {k: v for k, v in bad.items() if k != first}, "meta": {}},
               cache_dir("models") / "shapes-missing.pt")  # fmt: skip
    assert cache.load(model, "shapes-missing") is None


# -- uploads ----------------------------------------------------------------------------------
def test_identical_uploads_at_once_all_succeed() -> None:
    from dashboard import settings

    data = os.urandom(8 << 20)
    barrier = threading.Barrier(4)
    results: list[Path | BaseException] = []

    def upload() -> None:
        barrier.wait()
        try:
            results.append(settings.save_upload("same.txt", data))
        except BaseException as exc:  # noqa: BLE001 — collected, asserted below
            results.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(isinstance(r, Path) for r in results), results
    (path,) = set(results)
    assert isinstance(path, Path) and path.read_bytes() == data
    assert not list(path.parent.glob("*.part"))


def test_heap_tuning_applies_on_glibc_and_can_be_chosen_or_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    import platform

    from bet.errors import ConfigError
    from bet.runtime import tune_heap

    monkeypatch.setenv("BET_MALLOC", "default")
    assert tune_heap() is False
    monkeypatch.setenv("BET_MALLOC", "fast")
    with pytest.raises(ConfigError, match="BET_MALLOC must be one of tuned, lean, default, got 'fast'"):
        tune_heap()
    monkeypatch.delenv("BET_MALLOC")
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt is glibc's")
    assert tune_heap() is True
    assert tune_heap("lean") is True
    assert tune_heap("tuned") is True  # the process's setting stays the default one
