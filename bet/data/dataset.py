"""The split dataset every other module consumes: CSR matrices, frequencies, a fingerprint."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from bet.data.readers import RawInteractions
from bet.errors import DataError

#: How a dataset is divided into train/valid/test: the paper's rule or the file's own split.
SPLIT_RULES = ("paper", "original")


def _csr(users: np.ndarray, items: np.ndarray, *, n_users: int, n_items: int) -> sp.csr_matrix:
    """0/1 float32 CSR with sorted column indices (metrics rely on the sort)."""
    m = sp.csr_matrix((np.ones(len(users), dtype=np.float32), (users, items)), shape=(n_users, n_items))
    m.sum_duplicates()
    m.sort_indices()
    return m


@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset split into train / valid / test, each an ``(n_users, n_items)`` 0/1 CSR matrix.

    Frequencies count *training* interactions, since the sampler and the predictor may use only
    what the model is trained on.
    """

    name: str
    n_users: int
    n_items: int
    train: sp.csr_matrix
    valid: sp.csr_matrix
    test: sp.csr_matrix
    split: str
    seed: int
    source: str
    user_labels: np.ndarray = field(repr=False)
    item_labels: np.ndarray = field(repr=False)
    format: str = "lightgcn"  # how the source was read: "lightgcn" or "interactions" (bet.data.detect)

    @property
    def n_rows(self) -> int:
        """Rows of the embedding table: users + items."""
        return self.n_users + self.n_items

    @property
    def n_interactions(self) -> int:
        return int(self.train.nnz + self.valid.nnz + self.test.nnz)

    @cached_property
    def user_freq(self) -> np.ndarray:
        """``(n_users,)`` int64: training interactions per user."""
        return np.diff(self.train.indptr).astype(np.int64)

    @cached_property
    def item_freq(self) -> np.ndarray:
        """``(n_items,)`` int64: training interactions per item."""
        return np.bincount(self.train.indices, minlength=self.n_items).astype(np.int64)

    @cached_property
    def train_t(self) -> sp.csr_matrix:
        """Item-major copy of ``train`` (``(n_items, n_users)`` CSR)."""
        return self.train.T.tocsr()

    @cached_property
    def train_valid(self) -> sp.csr_matrix:
        """Training and validation interactions: what testing excludes from the ranking."""
        m = (self.train + self.valid).tocsr()
        m.sort_indices()
        return m

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the split's content; keys every cache built from this dataset."""
        h = hashlib.sha256(f"{self.n_users}:{self.n_items}:{self.split}:{self.seed}".encode())
        for m in (self.train, self.valid, self.test):
            h.update(m.indptr.tobytes())
            h.update(m.indices.tobytes())
        return h.hexdigest()[:16]

    def counts(self) -> dict[str, int | str]:
        """The summary ``bet info`` prints."""
        return {
            "name": self.name,
            "users": self.n_users,
            "items": self.n_items,
            "interactions": self.n_interactions,
            "train": int(self.train.nnz),
            "valid": int(self.valid.nnz),
            "test": int(self.test.nnz),
            "format": self.format,
        }


#: Interactions a user needs so that each split part gets one (paper: 2 train, 1 valid, 1 test).
MIN_PER_USER = {"paper": 4, "original": 5}


def check_evaluable(data: Dataset) -> None:
    """Refuse a split that leaves validation or test empty: nothing could be ranked, early
    stopping would have no signal and a run would "complete" with no metrics."""
    for part in ("valid", "test"):
        if getattr(data, part).nnz == 0:
            word = "validation" if part == "valid" else "test"
            need = MIN_PER_USER.get(data.split, 4)
            raise DataError(
                data.source,
                f"the {data.split} split leaves the {word} set empty, so nothing can be ranked",
                expected=f"some users with {need} or more interactions, or a larger file",
            )


def _round_half_up(x: np.ndarray) -> np.ndarray:
    return np.floor(x + 0.5).astype(np.int64)


def _positions(users: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random order inside each user's interactions: returns (order, the users in that order,
    rank within user); intermediates freed as it goes (this runs on every interaction)."""
    order = np.lexsort((rng.random(len(users)), users))
    sorted_users = users[order]
    rank = np.arange(len(order))
    rank -= np.searchsorted(sorted_users, sorted_users, side="left")
    return order, sorted_users, rank


def split_paper(raw: RawInteractions, seed: int) -> tuple[np.ndarray, ...]:
    """The paper's split: pool everything, then per user 50 / 25 / 25 % at random.

    A user with n interactions gets ``max(1, round(n/2))`` training items and
    ``round(3n/4) − round(n/2)`` validation items; the rest are test.
    Returns ``(part, )`` with part 0 = train, 1 = valid, 2 = test per interaction.
    """
    rng = np.random.default_rng(seed)
    n = np.bincount(raw.users, minlength=raw.n_users)
    order, u, rank = _positions(raw.users, rng)
    n_train = np.maximum(1, _round_half_up(n * 0.5))  # per user
    n_tv = np.maximum(n_train, _round_half_up(n * 0.75))
    ordered = (rank >= n_train[u]).astype(np.int8)  # 0 train, 1 valid, 2 test (n_tv >= n_train)
    ordered += rank >= n_tv[u]
    del u, rank
    part = np.empty(len(order), dtype=np.int8)
    part[order] = ordered
    return (part,)


def split_original(raw: RawInteractions, seed: int, valid_fraction: float = 0.1) -> tuple[np.ndarray, ...]:
    """The files' own train/test; validation = ``valid_fraction`` of each user's train, at random.

    Every user keeps at least one training interaction.
    """
    if raw.is_test is None:
        raise DataError(
            raw.source,
            "has no train/test split of its own",
            expected="--split paper, or a folder with train.txt and test.txt",
        )
    rng = np.random.default_rng(seed)
    train_idx = np.flatnonzero(~raw.is_test)
    n = np.bincount(raw.users[train_idx], minlength=raw.n_users)
    order, u, rank = _positions(raw.users[train_idx], rng)
    n_valid = np.minimum(_round_half_up(n * valid_fraction), np.maximum(n - 1, 0))
    part = np.where(raw.is_test, 2, 0).astype(np.int8)
    part[train_idx[order]] = np.where(rank < n_valid[u], 1, 0)
    return (part,)


def build_dataset(raw: RawInteractions, name: str, split: str = "paper", *, seed: int = 42) -> Dataset:
    """Split ``raw`` and build the CSR matrices."""
    if split == "paper":
        (part,) = split_paper(raw, seed)
    elif split == "original":
        (part,) = split_original(raw, seed)
    else:
        raise DataError(raw.source, f"unknown split {split!r}", expected=" or ".join(SPLIT_RULES))
    mats = [
        _csr(raw.users[part == p], raw.items[part == p], n_users=raw.n_users, n_items=raw.n_items) for p in (0, 1, 2)
    ]
    return Dataset(
        name=name,
        n_users=raw.n_users,
        n_items=raw.n_items,
        train=mats[0],
        valid=mats[1],
        test=mats[2],
        split=split,
        seed=seed,
        source=raw.source,
        user_labels=raw.user_labels,
        item_labels=raw.item_labels,
        format=raw.format,
    )
