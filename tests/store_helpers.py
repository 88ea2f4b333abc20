"""Small stores and datasets for the store and resume hostile tests."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np

from bet.config import DataSpec, SearchConfig
from bet.runs import create_job
from bet.store import RunStore, Status

#: ``bet search`` settings that finish in seconds (a resumed search runs to its end).
TINY_SEARCH = ["--iterations", "2", "--candidates", "4", "--finetune-steps", "2", "--retrain-top", "1",
               "--pretrain-epochs", "2", "--retrain-epochs", "2", "--device", "cpu"]  # fmt: skip


def snapshot(path: Path) -> tuple[bytes, int, list[str]]:
    """A file's bytes, its modification time and what lies beside it."""
    return path.read_bytes(), path.stat().st_mtime_ns, sorted(os.listdir(path.parent))


def foreign_db(path: Path) -> Path:
    """Another program's SQLite database (rollback journal, its own tables)."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users VALUES (1, 'ann')")
    conn.commit()
    conn.close()
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return path


def tiny_data(path: Path, seed: int = 0, users: int = 60) -> Path:
    """A small LightGCN-format file: ``users`` users with 12 of 40 items each."""
    rng = np.random.default_rng(seed)
    rows = [" ".join(map(str, [u, *sorted(rng.choice(40, 12, replace=False))])) for u in range(users)]
    path.write_text("\n".join(rows) + "\n")
    return path


def tiny_config(dataset: str) -> SearchConfig:
    from tests.search_helpers import TINY_PRETRAIN, TINY_RETRAIN

    return SearchConfig(
        data=DataSpec(dataset), sparsity=0.9, iterations=2, candidates=4, finetune_steps=2, retrain_top=1,
        pretrain=TINY_PRETRAIN, retrain=TINY_RETRAIN, device="cpu",
    )  # fmt: skip


def stopped_search(store: RunStore, cfg: SearchConfig) -> str:
    """A search stored as stopped before its first action (resumable)."""
    job = create_job(store, cfg, cfg.data.load())
    store.finish(job.run_id, Status.STOPPED, error="stopped")
    return job.run_id
