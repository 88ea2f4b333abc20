"""Full-ranking Recall@k and NDCG@k.

Every item is ranked for every user, after the user's excluded items (training items; training
and validation items when testing) are removed. Recall@k = hits in the top k / number of truth
items; NDCG@k uses binary gains and the ideal DCG of ``min(|truth|, k)`` hits. Users with no
truth item get NaN and are left out of the means.

The top-k search runs block by block so memory stays bounded, and avoids a full ``topk`` over
every row: the block's scores are viewed as ``C`` strided chunks, the per-chunk maxima pick the k
chunks that can hold the top k (the k-th largest chunk maximum is a lower bound on the k-th score),
and only those ``k·C`` candidates are ranked exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from bet.backbones.base import Scorer

KS = (5, 10, 20)
_CHUNK = 64  # items per strided chunk (~sqrt(n_items / k) balances the two top-k passes)


def _truth_keys(truth: sp.csr_matrix) -> np.ndarray:
    truth = truth.tocsr()
    truth.sort_indices()
    rows = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(truth.indptr))
    return rows * truth.shape[1] + truth.indices


def metrics_from_topk(
    top: np.ndarray, truth: sp.csr_matrix, users: np.ndarray, ks: Sequence[int] = KS
) -> dict[str, np.ndarray]:
    """Per-user metrics from ranked item lists ``top`` ``(len(users), ≥max(ks))`` (−1 = none).

    ``truth`` is the full ``(n_users, n_items)`` matrix; row ``users[j]`` is user j's truth.
    """
    n_items = truth.shape[1]
    keys = _truth_keys(truth)
    kmax = max(ks)
    cand = users.astype(np.int64)[:, None] * n_items + np.where(top[:, :kmax] >= 0, top[:, :kmax], 0)
    pos = np.minimum(np.searchsorted(keys, cand), max(len(keys) - 1, 0))
    hit = (keys[pos] == cand) & (top[:, :kmax] >= 0) if len(keys) else np.zeros(cand.shape, bool)
    n_true = np.diff(truth.indptr)[users].astype(np.float64)
    has = n_true > 0
    disc = 1.0 / np.log2(np.arange(kmax) + 2.0)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        hk = hit[:, :k]
        recall = hk.sum(1) / np.maximum(n_true, 1)
        dcg = (hk * disc[:k]).sum(1)
        idcg = np.concatenate([[0.0], np.cumsum(disc[:k])])[np.minimum(n_true, k).astype(np.int64)]
        ndcg = dcg / np.maximum(idcg, 1e-12)
        out[f"recall@{k}"] = np.where(has, recall, np.nan)
        out[f"ndcg@{k}"] = np.where(has, ndcg, np.nan)
    return out


def _rows_of(m: sp.csr_matrix, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(local row, column) of every stored entry in rows ``users`` of ``m``, vectorised."""
    lo, counts = m.indptr[users], np.diff(m.indptr)[users]
    starts = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    idx = starts + np.arange(int(counts.sum()))
    return np.repeat(np.arange(len(users)), counts), m.indices[idx].astype(np.int64)


class TopK:
    """Blocked top-k over all items with exclusions; reuses one padded score buffer."""

    def __init__(self, n_items: int, k: int, block: int, device: torch.device):
        self.n_items, self.k, self.block, self.device = n_items, min(k, n_items), block, device
        self.chunked = n_items >= 8 * k * _CHUNK
        self.width = -(-n_items // _CHUNK) * _CHUNK if self.chunked else n_items
        self.groups = self.width // _CHUNK
        self.buf = torch.empty(block, self.width, device=device)
        self.stride = torch.arange(_CHUNK, device=device) * self.groups

    def select(self, scores: torch.Tensor) -> torch.Tensor:
        """Top-k item indices ``(B, k)``, best first, of a ``(B, width)`` buffer view."""
        b = scores.shape[0]
        if not self.chunked:
            return torch.topk(scores[:, : self.n_items], self.k, dim=1).indices
        scores[:, self.n_items :] = float("-inf")
        chunk_max = scores.view(b, _CHUNK, self.groups).amax(1)
        best = torch.topk(chunk_max, self.k, dim=1, sorted=False).indices
        cand = (best.unsqueeze(-1) + self.stride).view(b, -1)
        order = torch.topk(torch.gather(scores, 1, cand), self.k, dim=1).indices
        return torch.gather(cand, 1, order)


def ranked_items(
    scorer: Scorer,
    users: np.ndarray,
    exclude: sp.csr_matrix,
    n_items: int,
    k: int = max(KS),
    block: int = 128,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Top-``k`` items ``(len(users), k)`` per user, best first, excluded items never returned
    (−1 pads when a user has fewer than k rankable items)."""
    dev = torch.device(device)
    tk = TopK(n_items, k, block, dev)
    out = np.full((len(users), k), -1, dtype=np.int64)
    items_t = None
    if scorer.fn is None:
        assert scorer.items is not None and scorer.users is not None
        items_t = torch.zeros(tk.width, scorer.items.shape[1], device=dev)
        items_t[:n_items] = scorer.items
        items_t = items_t.T.contiguous()
    ex = exclude.tocsr()
    for s in range(0, len(users), block):
        u = users[s : s + block]
        buf = tk.buf[: len(u)]
        u_t = torch.from_numpy(u).to(dev)
        if items_t is not None:
            torch.mm(scorer.users[u_t], items_t, out=buf)  # type: ignore[index]
        else:
            buf[:, :n_items] = scorer(u_t)
        rows, cols = _rows_of(ex, u)
        buf[torch.from_numpy(rows).to(dev), torch.from_numpy(cols).to(dev)] = float("-inf")
        top = tk.select(buf)
        vals = torch.gather(buf, 1, top)
        top = torch.where(torch.isfinite(vals), top, torch.full_like(top, -1))
        out[s : s + len(u), : top.shape[1]] = top.cpu().numpy()
    return out


def topk_metrics(
    scores: np.ndarray | torch.Tensor,
    exclude: sp.csr_matrix,
    truth: sp.csr_matrix,
    ks: Sequence[int] = KS,
) -> dict[str, np.ndarray]:
    """Recall@k and NDCG@k per user from dense scores.

    ``scores``: ``(n_users, n_items)`` numpy array or torch tensor (not modified);
    ``exclude``/``truth``: scipy CSR of the same shape. Returns ``{"recall@5": (n_users,)
    float64, "ndcg@5": …, …}`` with NaN for users without truth items.
    """
    s = torch.as_tensor(scores)
    if s.ndim != 2 or s.shape != exclude.shape or s.shape != truth.shape:
        raise ValueError(f"scores {tuple(s.shape)}, exclude {exclude.shape} and truth {truth.shape} must match")
    s = s.to(torch.float32)
    users = np.arange(s.shape[0])
    scorer = Scorer(fn=lambda u: s[u.to(s.device)])
    top = ranked_items(scorer, users, exclude, s.shape[1], max(ks), device=s.device)
    return metrics_from_topk(top, truth, users, ks)
