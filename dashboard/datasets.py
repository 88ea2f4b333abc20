"""Loaded datasets shared by every session of the server (no streamlit): a dataset loads once under
its own lock — a slow upload being read blocks only the sessions that want that same file — and at
most :func:`default_limit` stay loaded (the least recently used one is dropped first; a run keeps
its own reference, so dropping never disturbs a run)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from bet import Dataset, DataSpec
from dashboard import env


def default_limit() -> int:
    """``BET_DASHBOARD_DATASETS`` (default 4): how many loaded datasets the server keeps."""
    return env.integer("BET_DASHBOARD_DATASETS", 4, low=1, high=1000)


class DatasetCache:
    """Thread-safe, bounded, one lock per dataset."""

    def __init__(self, limit: int | None = None):
        self.limit = limit or default_limit()
        self._lock = threading.Lock()  # guards the two dicts only, never held while loading
        self._items: OrderedDict[DataSpec, Dataset] = OrderedDict()
        self._loading: dict[DataSpec, threading.Lock] = {}

    def __contains__(self, spec: DataSpec) -> bool:
        with self._lock:
            return spec in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def _cached(self, spec: DataSpec) -> Dataset | None:
        with self._lock:
            data = self._items.get(spec)
            if data is not None:
                self._items.move_to_end(spec)
            return data

    def get(self, spec: DataSpec) -> Dataset:
        """The loaded (and split) dataset; raises :class:`~bet.errors.DataError` for bad input."""
        data = self._cached(spec)
        if data is not None:
            return data
        with self._lock:
            lock = self._loading.setdefault(spec, threading.Lock())
        with lock:  # one loader per dataset; others wait for it, other datasets load meanwhile
            data = self._cached(spec)
            if data is not None:
                return data
            data = spec.load()
            with self._lock:
                self._items[spec] = data
                while len(self._items) > self.limit:
                    self._items.popitem(last=False)
            return data
