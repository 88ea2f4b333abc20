"""BPR training batches: users, a positive each, and a sampled negative."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


class BPRSampler:
    """Draws ``batch`` users from users with training items, a random training positive for
    each, and a uniformly random item the user has not interacted with in training as the
    negative (rejection sampling, vectorised: no loop over users).

    As in the authors' code, a batch holds ``batch`` *distinct* users when there are at least
    that many (full Gowalla / Yelp2018: 10,000 of ~30,000); on smaller data (gowalla-mini has
    3,175 users) users are drawn uniformly with replacement.
    """

    def __init__(self, train: sp.csr_matrix, batch: int, rng: np.random.Generator):
        self.indptr = train.indptr.astype(np.int64)
        self.indices = train.indices.astype(np.int64)
        self.n_items = train.shape[1]
        self.deg = np.diff(self.indptr)
        self.active = np.flatnonzero(self.deg > 0)
        if len(self.active) == 0:
            raise ValueError("no user has a training interaction")
        rows = np.repeat(np.arange(train.shape[0], dtype=np.int64), self.deg)
        self.keys = rows * self.n_items + self.indices  # sorted: CSR is row-major, sorted indices
        self.batch = batch
        self.rng = rng

    def _seen(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        q = users * self.n_items + items
        pos = np.minimum(np.searchsorted(self.keys, q), len(self.keys) - 1)
        return self.keys[pos] == q

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = self.rng
        if len(self.active) >= self.batch:
            users = self.active[rng.choice(len(self.active), self.batch, replace=False)]
        else:
            users = self.active[rng.integers(0, len(self.active), self.batch)]
        pos = self.indices[self.indptr[users] + (rng.random(self.batch) * self.deg[users]).astype(np.int64)]
        neg = rng.integers(0, self.n_items, self.batch)
        bad = np.flatnonzero(self._seen(users, neg))
        for _ in range(100):  # a user who saw every item would loop forever; cap it
            if len(bad) == 0:
                break
            neg[bad] = rng.integers(0, self.n_items, len(bad))
            bad = bad[self._seen(users[bad], neg[bad])]
        return users, pos, neg
