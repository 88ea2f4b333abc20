"""A small process-wide memo for things the pages rebuild on every poll (Plotly figures): built once
per key — the key names the data it was built from, so a poll whose data did not change reuses it.
Bounded (least recently used first out) and thread-safe; no streamlit."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
LIMIT = 256

_lock = threading.Lock()
_items: OrderedDict[Hashable, Any] = OrderedDict()


def get(key: Hashable, build: Callable[[], T]) -> T:
    """``build()``'s value for ``key``, built at most once while it stays among the last
    :data:`LIMIT` keys used. Callers must not mutate what it returns."""
    with _lock:
        if key in _items:
            _items.move_to_end(key)
            return _items[key]  # type: ignore[no-any-return]
    value = build()
    with _lock:
        _items[key] = value
        while len(_items) > LIMIT:
            _items.popitem(last=False)
    return value
