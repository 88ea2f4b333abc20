"""Full-ranking Recall@k and NDCG@k.

Every item is ranked for every user, after the user's excluded items (training items; training
and validation items when testing) are removed. Recall@k = hits in the top k / number of truth
items; NDCG@k uses binary gains and the ideal DCG of ``min(|truth|, k)`` hits. Users with no
truth item get NaN and are left out of the means.

The top-k search runs block by block so memory stays bounded, and avoids a full sort or ``topk``
over every row. The block's scores are cut into contiguous chunks of ``C`` items; one pass takes
each chunk's maximum, the k chunks with the largest maxima are the only ones that can hold the
top k (a chunk outside them has a maximum below k other chunks' maxima, so below k scores), and
only those ``k·C`` candidates are ranked exactly. The result equals ``torch.topk`` of the masked
scores (up to the order of exactly equal scores, which ``topk`` leaves unspecified too).

On CPU the two small selections run in numpy (``argpartition`` is 2–3× faster than
``torch.topk`` on short rows), and chunks are contiguous so gathering the candidates copies whole
cache lines. The one pass over the scores after the matmul is the price of exactness: measured
against the bare blocked matmul in ``bench/eval_vs_matmul.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
import torch

from bet.backbones.base import Scorer

KS = (5, 10, 20)
_NEG_INF = float("-inf")


def _truth_keys(truth: sp.csr_matrix) -> np.ndarray:
    truth = truth.tocsr()
    truth.sort_indices()
    rows = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(truth.indptr))
    return rows * truth.shape[1] + truth.indices


def metrics_from_topk(
    top: np.ndarray, truth: sp.csr_matrix, users: np.ndarray, *, ks: Sequence[int] = KS
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


def chunk_size(n_items: int, k: int) -> int:
    """Items per chunk: 32 or 64 (whole cache lines; powers of two reduce fastest), whichever is
    nearer ``sqrt(n_items / k)`` (which balances the two selections); 1 means "no chunking" when
    there are too few items for the chunk maxima to pay off."""
    c = 64 if math.sqrt(n_items / max(k, 1)) >= 45 else 32
    return c if -(-n_items // c) >= 4 * k else 1


class TopK:
    """Blocked top-k over all items with exclusions; one reused ``(block, width)`` score buffer.

    ``width`` is ``n_items`` rounded up to whole chunks; the padding columns hold −inf.
    """

    def __init__(self, n_items: int, *, k: int, block: int, device: torch.device):
        self.n_items, self.k, self.block, self.device = n_items, min(k, n_items), block, device
        self.chunk = chunk_size(n_items, self.k)
        self.groups = -(-n_items // self.chunk)
        self.width = self.groups * self.chunk
        self.buf = torch.empty(block, self.width, device=device)
        self.chunk_max = torch.empty(block, self.groups, device=device)
        self.on_cpu = device.type == "cpu"

    @staticmethod
    def padded_width(n_items: int, k: int) -> int:
        c = chunk_size(n_items, min(k, n_items))
        return -(-n_items // c) * c

    def select(self, b: int) -> np.ndarray:
        """Top-k item indices ``(b, k)`` of the first ``b`` buffer rows, best first, −1 where the
        score is not finite (excluded or padding: the user has fewer than k rankable items)."""
        scores = self.buf[:b]
        if self.width > self.n_items:
            scores[:, self.n_items :] = _NEG_INF
        if self.on_cpu:
            return self._select_numpy(scores)
        return self._select_torch(scores)

    def _select_numpy(self, scores: torch.Tensor) -> np.ndarray:
        b, k, c, g = scores.shape[0], self.k, self.chunk, self.groups
        s = scores.numpy()
        best = None
        cand = s
        if c > 1:
            cm = self.chunk_max[:b]
            torch.amax(scores.view(b, g, c), 2, out=cm)
            best = np.argpartition(cm.numpy(), g - k, axis=1)[:, g - k :]  # (b, k) chunk ids, unordered
            rows = (np.arange(b, dtype=np.int64) * g)[:, None] + best
            cand = s.reshape(b * g, c).take(rows.ravel(), axis=0).reshape(b, k * c)  # whole chunks
        loc = np.argpartition(cand, cand.shape[1] - k, axis=1)[:, -k:]
        vals = np.take_along_axis(cand, loc, 1)
        order = np.argsort(-vals, axis=1, kind="stable")
        loc, vals = np.take_along_axis(loc, order, 1), np.take_along_axis(vals, order, 1)
        items = loc.astype(np.int64) if best is None else np.take_along_axis(best, loc // c, 1) * c + loc % c
        items[~np.isfinite(vals)] = -1
        return items

    def _select_torch(self, scores: torch.Tensor) -> np.ndarray:
        b, k, c, g = scores.shape[0], self.k, self.chunk, self.groups
        if c > 1:
            cm = torch.amax(scores.view(b, g, c), 2, out=self.chunk_max[:b])
            best = torch.topk(cm, k, dim=1, sorted=False).indices
            cand = torch.gather(scores.view(b, g, c), 1, best.unsqueeze(-1).expand(b, k, c)).view(b, k * c)
            vals, loc = torch.topk(cand, k, dim=1)
            items = torch.gather(best, 1, loc // c) * c + loc % c
        else:
            vals, items = torch.topk(scores, k, dim=1)
        items = torch.where(torch.isfinite(vals), items, torch.full_like(items, -1))
        return items.cpu().numpy()


@torch.no_grad()
def ranked_items(
    scorer: Scorer,
    users: np.ndarray,
    exclude: sp.csr_matrix,
    *,
    n_items: int,
    k: int = max(KS),
    block: int = 128,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """Top-``k`` items ``(len(users), k)`` per user, best first, excluded items never returned
    (−1 pads when a user has fewer than k rankable items). Scores must not be NaN.

    On CPU with ``torch.get_num_threads() == T > 1``, the users are split into T parts ranked by
    T worker threads, each running torch single-threaded: the numpy selection and the pass over
    the scores then use every core, not only the matmul (see ``bench/eval_vs_matmul.py``).
    """
    dev = torch.device(device)
    users = np.asarray(users, dtype=np.int64)
    out = np.full((len(users), k), -1, dtype=np.int64)
    ex = exclude.tocsr()
    items_t = None
    if scorer.fn is None:
        assert scorer.items is not None and scorer.users is not None
        width = TopK.padded_width(n_items, k)
        items_t = torch.zeros(scorer.items.shape[1], width, device=dev)
        items_t[:, :n_items] = scorer.items.T
    n_workers = min(torch.get_num_threads(), -(-len(users) // block)) if dev.type == "cpu" else 1
    if n_workers <= 1:
        _rank_part(scorer, items_t, users, ex=ex, n_items=n_items, k=k, block=block, dev=dev, out=out)
        return out
    per = -(-len(users) // (n_workers * block)) * block  # whole blocks per worker
    parts = [(s, min(s + per, len(users))) for s in range(0, len(users), per)]
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(len(parts)) as pool:
            jobs = [
                pool.submit(
                    _rank_part,
                    scorer,
                    items_t,
                    users[a:b],
                    ex=ex,
                    n_items=n_items,
                    k=k,
                    block=block,
                    dev=dev,
                    out=out[a:b],
                )
                for a, b in parts
            ]
            for job in jobs:
                job.result()
    finally:
        torch.set_num_threads(old)
    return out


@torch.no_grad()  # grad mode is per thread: a worker thread must switch it off itself
def _rank_part(
    scorer: Scorer,
    items_t: torch.Tensor | None,
    users: np.ndarray,
    *,
    ex: sp.csr_matrix,
    n_items: int,
    k: int,
    block: int,
    dev: torch.device,
    out: np.ndarray,
) -> None:
    """Fill ``out`` ``(len(users), k)`` with the ranked items of ``users``, block by block.

    ``items_t``: ``(d, width)`` zero-padded item embeddings for the matmul path (None: call
    ``scorer``)."""
    tk = TopK(n_items, k=k, block=block, device=dev)
    # Excluded entries as flat offsets into the block buffer, computed once for all blocks.
    rows, cols = _rows_of(ex, users)
    flat = torch.from_numpy((rows % block) * tk.width + cols).to(dev)
    starts = np.concatenate([[0], np.cumsum(np.diff(ex.indptr)[users])])
    users_t = torch.from_numpy(users).to(dev)
    flat_buf = tk.buf.view(-1)
    for s in range(0, len(users), block):
        b = min(block, len(users) - s)
        u = users_t[s : s + b]
        if items_t is not None:
            assert scorer.users is not None
            torch.mm(scorer.users.index_select(0, u), items_t, out=tk.buf[:b])
        else:
            tk.buf[:b, :n_items] = scorer(u)
        flat_buf.index_fill_(0, flat[starts[s] : starts[s + b]], _NEG_INF)
        top = tk.select(b)
        out[s : s + b, : top.shape[1]] = top


def topk_metrics(
    scores: np.ndarray | torch.Tensor,
    exclude: sp.csr_matrix,
    truth: sp.csr_matrix,
    *,
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
    top = ranked_items(scorer, users, exclude, n_items=s.shape[1], k=max(ks), device=s.device)
    return metrics_from_topk(top, truth, users, ks=ks)
