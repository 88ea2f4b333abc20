"""Built-in datasets: ``gowalla``, ``yelp2018`` (bundled in ``assets/``) and ``gowalla-mini``.

``gowalla-mini`` is the embedded default, derived deterministically from ``gowalla``
(see :data:`MINI_RULE`): small enough that a default BET search finishes in minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bet.data.readers import RawInteractions, parse_lightgcn, remap
from bet.errors import DataError
from bet.paths import ASSETS_DIR

#: sha256 of the gzip files as shipped (see each folder's PROVENANCE.md).
SHA256 = {
    "gowalla/train.txt.gz": "61fb99c1e8bcbd8c4a0ec56a079d033a18985317589e52cc952767b49b2506a7",
    "gowalla/test.txt.gz": "23368b745faf7cf0201859230872db6ccf13e23cbaf0c844de53c94b6f8888ea",
    "yelp2018/train.txt.gz": "cf1c4b41b9321246a6d99e509b809e6a2768277fe95bd10e39e608ded07e36e3",
    "yelp2018/test.txt.gz": "d5eb19d4311a3d48f49534bfbd9f5cfefc4d4c684bff7754648478f3aef69b41",
}


@dataclass(frozen=True)
class MiniRule:
    """How ``gowalla-mini`` is cut from Gowalla (train and test pooled first).

    Draw ``n_users`` users with ``np.random.default_rng(seed).choice(29858, n_users,
    replace=False)``, keep their interactions, then repeatedly drop items and users with fewer
    than ``k_core`` interactions until nothing changes; ids are remapped in ascending order.
    """

    seed: int = 42
    n_users: int = 8000
    k_core: int = 10


MINI_RULE = MiniRule()
BUILTIN = ("gowalla-mini", "gowalla", "yelp2018")
_verified: set[Path] = set()


def verify(path: Path, relname: str) -> None:
    """Check a bundled file against its recorded sha256 (once per process)."""
    if path in _verified:
        return
    if not path.exists():
        raise DataError(path, "bundled dataset file is missing", expected="a complete checkout with assets/")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256[relname]:
        raise DataError(
            path,
            (
                f"is corrupt: sha256 {digest[:12]}… does not match the recorded "
                f"{SHA256[relname][:12]}… (restore it from the repository)"
            ),
        )
    _verified.add(path)


def _load_bundled(name: str) -> RawInteractions:
    parts = []
    for split in ("train", "test"):
        rel = f"{name}/{split}.txt.gz"
        path = ASSETS_DIR / rel
        verify(path, rel)
        u, i = parse_lightgcn(path)
        parts.append((u, i, np.full(len(u), split == "test")))
    users, items, is_test = (np.concatenate(x) for x in zip(*parts, strict=True))
    return remap(users, items, is_test, source=str(ASSETS_DIR / name))


def _mini(rule: MiniRule = MINI_RULE) -> RawInteractions:
    full = _load_bundled("gowalla")
    picked = np.random.default_rng(rule.seed).choice(full.n_users, rule.n_users, replace=False)
    keep = np.isin(full.users, picked)
    u, i, t = full.users[keep], full.items[keep], full.is_test[keep]  # type: ignore[index]
    while True:
        ok = (np.bincount(i)[i] >= rule.k_core) & (np.bincount(u)[u] >= rule.k_core)
        if ok.all():
            break
        u, i, t = u[ok], i[ok], t[ok]
    return remap(u, i, t, source=f"gowalla-mini ({rule})")


def load_builtin(name: str) -> RawInteractions:
    if name == "gowalla-mini":
        return _mini()
    return _load_bundled(name)
