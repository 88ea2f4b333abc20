"""The run store's SQLite schema and its migrations.

``SCHEMA_VERSION`` is kept in ``meta``. Opening an older store applies the missing migrations in
one transaction (nothing is dropped); a store from a newer BET Studio is refused rather than
misread.
"""

from __future__ import annotations

import sqlite3
import zlib

import numpy as np

SCHEMA_VERSION = 4


#: Version 1: the original layout.
V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- search | baseline
    method TEXT NOT NULL,            -- bet | su | sr | mde | full | pop
    comparison_id TEXT,              -- runs started together (a sweep / a backbone comparison)
    dataset TEXT NOT NULL,
    backbone TEXT NOT NULL,
    sparsity REAL NOT NULL,
    budget INTEGER,
    seed INTEGER NOT NULL,
    config TEXT NOT NULL,            -- JSON of the frozen config
    status TEXT NOT NULL,            -- queued | running | completed | stopped | failed | interrupted
    error TEXT,
    phase TEXT,
    iteration INTEGER NOT NULL DEFAULT 0,
    iterations INTEGER NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    heartbeat REAL,
    pid INTEGER,
    host TEXT,
    result TEXT                      -- JSON: valid, test, cost, best_action_id, seconds
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    t REAL NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS actions (
    run_id TEXT NOT NULL,
    action_id INTEGER NOT NULL,
    iteration INTEGER NOT NULL,
    role TEXT NOT NULL,              -- evaluated | baseline
    strategy TEXT,
    cost INTEGER NOT NULL,
    predicted REAL,
    fitness REAL,
    metrics TEXT,                    -- JSON validation metrics
    seconds REAL,
    dtype TEXT NOT NULL,             -- uint8 | uint16
    user_sizes BLOB NOT NULL,        -- zlib-compressed
    item_sizes BLOB NOT NULL,
    PRIMARY KEY (run_id, action_id)
);
CREATE TABLE IF NOT EXISTS tables (
    run_id TEXT PRIMARY KEY,
    action_id INTEGER,
    cost INTEGER NOT NULL,
    data BLOB NOT NULL               -- the packed embedding table (.npz bytes)
);
CREATE INDEX IF NOT EXISTS runs_by_comparison ON runs (comparison_id);
"""

#: Each entry upgrades from version i+1 to i+2.
MIGRATIONS = [
    # 1 → 2: where a run executed (local / ray) and with how many workers.
    """
    ALTER TABLE runs ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE runs ADD COLUMN workers INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE runs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
    """,
    # 2 → 3: a stop asked for by another process (the dashboard, a second CLI), and the table's
    # row counts (so sizes in MB are known for every run).
    """
    ALTER TABLE runs ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE runs ADD COLUMN n_users INTEGER;
    ALTER TABLE runs ADD COLUMN n_items INTEGER;
    """,
    # 3 → 4: the dataset a run was built on — its absolute path and its split's fingerprint — so
    # that --resume refuses changed or different data (runs stored before have neither).
    """
    ALTER TABLE runs ADD COLUMN data_path TEXT;
    ALTER TABLE runs ADD COLUMN data_fingerprint TEXT;
    """,
]

#: The columns the migrations add, with the values a run stored before them reads as.
COLUMN_DEFAULTS = {
    "executor": "local",
    "workers": 1,
    "retries": 0,
    "stop_requested": 0,
    "n_users": None,
    "n_items": None,
    "data_path": None,
    "data_fingerprint": None,
}


def current_version(conn: sqlite3.Connection) -> int:
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0


def create_v1(conn: sqlite3.Connection) -> None:
    """Write a version-1 store (used on a new file, and by tests of the migration)."""
    for stmt in filter(str.strip, V1.split(";")):
        conn.execute(stmt)
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', '1')")


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the store to :data:`SCHEMA_VERSION`; returns the version found."""
    found = current_version(conn)
    if found >= SCHEMA_VERSION:  # nothing to do: no write lock taken
        return found
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = current_version(conn)  # another process may have migrated meanwhile
        if found == 0:
            create_v1(conn)
            version = 1
        else:
            version = found
        for step in MIGRATIONS[version - 1 :]:
            for stmt in filter(str.strip, step.split(";")):
                conn.execute(stmt)
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def pack_sizes(sizes: np.ndarray) -> tuple[str, bytes]:
    dtype = "uint8" if sizes.max(initial=0) <= 255 else "uint16"
    return dtype, zlib.compress(np.asarray(sizes, dtype=dtype).tobytes(), 6)


def unpack_sizes(dtype: str, blob: bytes) -> np.ndarray:
    return np.frombuffer(zlib.decompress(blob), dtype=dtype).astype(np.int16)
