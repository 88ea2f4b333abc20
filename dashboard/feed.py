"""A run's events read incrementally (no streamlit): a page keeps one :class:`Feed` per run and each
poll asks the store only for the events newer than its cursor, instead of the whole log again."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from bet import RunStore

#: How many runs' feeds a session keeps (the least recently watched is dropped first).
KEEP = 8


class Feed:
    """The events of one run seen so far, by kind, and the cursor (last ``seq``) they end at."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.cursor = 0
        self._by_kind: dict[str, list[dict[str, Any]]] = {}

    def pull(self, store: RunStore) -> int:
        """Read the events after the cursor; returns how many were new."""
        new = store.events(self.run_id, after=self.cursor)
        for ev in new:
            self._by_kind.setdefault(ev["kind"], []).append(ev)
        if new:
            self.cursor = new[-1]["seq"]
        return len(new)

    def of(self, *kinds: str) -> list[dict[str, Any]]:
        """The events of these kinds, in the order they were stored."""
        if len(kinds) == 1:
            return list(self._by_kind.get(kinds[0], ()))
        return sorted((e for k in kinds for e in self._by_kind.get(k, ())), key=lambda e: e["seq"])

    def last_seq(self, *kinds: str) -> int:
        """``seq`` of the newest event of these kinds (0: none): what a figure built from them depends on."""
        return max((self._by_kind[k][-1]["seq"] for k in kinds if self._by_kind.get(k)), default=0)


def feed_for(feeds: OrderedDict[str, Feed], run_id: str, store: RunStore) -> Feed:
    """``run_id``'s feed from ``feeds`` (a session's), brought up to date."""
    f = feeds.pop(run_id, None) or Feed(run_id)
    feeds[run_id] = f
    while len(feeds) > KEEP:
        feeds.popitem(last=False)
    f.pull(store)
    return f
