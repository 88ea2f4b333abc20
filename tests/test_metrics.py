"""Full-ranking Recall@k / NDCG@k: hand-computed cases, and a randomized comparison with a plain
argsort reference (including the chunked top-k path for large item counts)."""

from __future__ import annotations

from math import log2

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from bet.backbones import Scorer
from bet.metrics import TopK, chunk_size, ranked_items, topk_metrics


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(len(rows), n_items))


# --- hand-computed --------------------------------------------------------------------------

# 4 users × 6 items, distinct scores (no ties). Excluded items get the best scores where it
# matters, so counting one would change the result.
SCORES = np.array(
    [
        [0.9, 0.8, 0.7, 0.6, 0.5, 0.4],  # u0: ranking after exclusion: 1 2 3 4 5
        [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],  # u1: ranking 3 2 1 0
        [0.3, 0.1, 0.2, 0.6, 0.5, 0.4],  # u2: no truth
        [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],  # u3: ranking 3 4 5 (only three rankable items)
    ]
)
EXCLUDE = csr([[0], [4, 5], [], [0, 1, 2]], 6)
TRUTH = csr([[1, 4], [2, 0], [], [5]], 6)
NAN = float("nan")
L3, L5 = 1 / log2(3), 1 / log2(5)  # discounts at ranks 2 and 4; rank 1 → 1, rank 3 → 1/log2(4) = 0.5
EXPECTED = {
    # u0 hits at ranks 1 and 4 (items 1, 4) of 2 truth items; u1 hits at ranks 2 and 4 (items 2, 0)
    # of 2; u3's one truth item is at rank 3.
    "recall@1": [1 / 2, 0, NAN, 0],
    "ndcg@1": [1, 0, NAN, 0],
    "recall@3": [1 / 2, 1 / 2, NAN, 1],
    "ndcg@3": [1 / (1 + L3), L3 / (1 + L3), NAN, 0.5 / 1],
    "recall@5": [1, 1, NAN, 1],
    "ndcg@5": [(1 + L5) / (1 + L3), (L3 + L5) / (1 + L3), NAN, 0.5 / 1],
}


def assert_metrics(got: dict[str, np.ndarray], expected: dict[str, list[float]]) -> None:
    assert set(got) == set(expected)
    for key, want in expected.items():
        assert got[key].dtype == np.float64
        np.testing.assert_allclose(got[key], want, rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize(
    "make",
    [
        lambda: SCORES.copy(),
        lambda: SCORES.astype(np.float32),
        lambda: torch.from_numpy(SCORES.astype(np.float32)),
        lambda: torch.from_numpy(SCORES.copy()),  # float64 tensor
    ],
    ids=["numpy64", "numpy32", "torch32", "torch64"],
)
def test_hand_computed(make) -> None:  # type: ignore[no-untyped-def]
    scores = make()
    before = scores.clone() if isinstance(scores, torch.Tensor) else scores.copy()
    got = topk_metrics(scores, EXCLUDE, TRUTH, ks=(1, 3, 5))
    assert_metrics(got, EXPECTED)
    if isinstance(scores, torch.Tensor):
        assert torch.equal(scores, before), "caller's tensor was modified"
    else:
        np.testing.assert_array_equal(scores, before)  # caller's array untouched


def test_hand_computed_ranking() -> None:
    top = ranked_items(
        Scorer(fn=lambda u: torch.from_numpy(SCORES.astype(np.float32))[u]), np.arange(4), EXCLUDE, n_items=6, k=5
    )
    np.testing.assert_array_equal(
        top,
        [[1, 2, 3, 4, 5], [3, 2, 1, 0, -1], [3, 4, 5, 0, 2], [3, 4, 5, -1, -1]],  # −1: nothing left to rank
    )


def test_truth_item_that_is_excluded_never_hits() -> None:
    # User 0's truth {0, 1}; item 0 is excluded (best score): only item 1 can hit.
    got = topk_metrics(SCORES[:1], csr([[0]], 6), csr([[0, 1]], 6), ks=(1,))
    assert got["recall@1"][0] == 0.5 and got["ndcg@1"][0] == 1.0


def test_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="must match"):
        topk_metrics(SCORES[:3], EXCLUDE, TRUTH)


# --- randomized against a reference ---------------------------------------------------------


def reference_metrics(
    scores: np.ndarray, exclude: sp.csr_matrix, truth: sp.csr_matrix, ks: tuple[int, ...]
) -> dict[str, np.ndarray]:
    """Straightforward per-user argsort."""
    ex, tr = exclude.tolil().rows, truth.tolil().rows
    out = {f"{m}@{k}": np.full(len(scores), np.nan) for k in ks for m in ("recall", "ndcg")}
    for u, row in enumerate(scores):
        t = set(tr[u])
        if not t:
            continue
        s = row.astype(np.float64).copy()
        s[ex[u]] = -np.inf
        order = [i for i in np.argsort(-s, kind="stable") if np.isfinite(s[i])]
        for k in ks:
            hits = [1.0 if i in t else 0.0 for i in order[:k]]
            dcg = sum(h / log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / log2(r + 2) for r in range(min(len(t), k)))
            out[f"recall@{k}"][u] = sum(hits) / len(t)
            out[f"ndcg@{k}"][u] = dcg / idcg
    return out


def random_case(n_users: int, n_items: int, seed: int) -> tuple[np.ndarray, sp.csr_matrix, sp.csr_matrix]:
    """Scores are a random permutation of 0..n_items−1 per user (exact in float32: no ties)."""
    rng = np.random.default_rng(seed)
    scores = np.argsort(rng.random((n_users, n_items)), axis=1).astype(np.float32)
    ex_rows, tr_rows = [], []
    for u in range(n_users):
        n_ex = int(rng.integers(0, 60)) if u % 17 else n_items - int(rng.integers(0, 15))  # some: < k left
        n_tr = int(rng.integers(0, 40)) if u % 11 else 0  # some: no truth
        items = rng.permutation(n_items)
        ex_rows.append(items[:n_ex].tolist())
        tr_rows.append(items[n_ex : n_ex + n_tr].tolist())
    # Make hits likely: give a third of the truth items top scores.
    for u, t in enumerate(tr_rows):
        boost = t[::3]
        scores[u, boost] += n_items
    return scores, csr(ex_rows, n_items), csr(tr_rows, n_items)


@pytest.mark.parametrize(("n_users", "n_items", "seed"), [(300, 3_000, 0), (12, 12_000, 1), (5, 10_240, 2)])
def test_matches_reference(n_users: int, n_items: int, seed: int) -> None:
    scores, exclude, truth = random_case(n_users, n_items, seed)
    ks = (5, 10, 20)
    got = topk_metrics(scores, exclude, truth, ks=ks)
    want = reference_metrics(scores, exclude, truth, ks)
    assert np.isnan(got["recall@20"]).any()  # the case covers users without truth
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-12, atol=1e-12, err_msg=key)


@pytest.mark.parametrize(
    ("n_users", "n_items", "k"), [(300, 3_000, 20), (40, 12_000, 20), (30, 41_000, 20), (9, 20_000, 5)]
)
def test_ranked_items_equals_plain_topk(n_users: int, n_items: int, k: int) -> None:
    """Both scorer kinds and the chunked path give exactly ``torch.topk`` of the masked scores."""
    g = torch.Generator().manual_seed(n_items)
    u_emb, i_emb = torch.randn(n_users, 16, generator=g), torch.randn(n_items, 16, generator=g)
    rng = np.random.default_rng(0)
    exclude = csr(
        [rng.choice(n_items, int(rng.integers(0, 200)), replace=False).tolist() for _ in range(n_users)], n_items
    )
    users = np.arange(n_users)
    dense = u_emb @ i_emb.T
    masked = dense.clone()
    masked[torch.from_numpy(exclude.toarray() > 0)] = float("-inf")
    want = torch.topk(masked, k, dim=1).indices.numpy()
    by_matmul = ranked_items(Scorer(users=u_emb, items=i_emb), users, exclude, n_items=n_items, k=k, block=64)
    by_fn = ranked_items(Scorer(fn=lambda u: dense[u]), users, exclude, n_items=n_items, k=k, block=100)
    np.testing.assert_array_equal(by_fn, want)
    # The blocked matmul may round differently from one big matmul; compare its own scores.
    got_scores = np.take_along_axis(masked.numpy(), by_matmul, 1)
    np.testing.assert_allclose(got_scores, np.take_along_axis(masked.numpy(), want, 1), rtol=1e-5, atol=1e-5)
    assert (by_matmul == want).mean() > 0.99
    for row in by_matmul:
        assert len(set(row.tolist())) == k  # no duplicates
    assert not exclude[users[:, None], by_matmul].toarray().any()  # no excluded item ever returned


def test_subset_of_users_and_block_edges() -> None:
    scores, exclude, _ = random_case(50, 2_000, 5)
    t = torch.from_numpy(scores)
    users = np.array([49, 3, 7, 0, 21])
    a = ranked_items(Scorer(fn=lambda u: t[u]), users, exclude, n_items=2_000, k=20, block=2)
    b = ranked_items(Scorer(fn=lambda u: t[u]), users, exclude, n_items=2_000, k=20, block=128)
    np.testing.assert_array_equal(a, b)
    full = ranked_items(Scorer(fn=lambda u: t[u]), np.arange(50), exclude, n_items=2_000, k=20)
    np.testing.assert_array_equal(a, full[users])


# --- the implementation's own paths ---------------------------------------------------------


def test_chunk_size_rule() -> None:
    assert chunk_size(40_981, 20) == 64  # Gowalla
    assert chunk_size(3_660, 20) == 32  # gowalla-mini: still chunked
    assert chunk_size(2_000, 20) == 1  # too few chunks to pay off: plain selection
    assert chunk_size(6, 3) == 1


@pytest.mark.parametrize(("n_users", "n_items"), [(70, 12_000), (70, 3_000), (40, 1_000)])
def test_torch_selection_equals_numpy_selection(n_users: int, n_items: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The torch path (used on GPUs) and the numpy path (CPU) rank identically."""
    scores, exclude, _ = random_case(n_users, n_items, 7)
    t = torch.from_numpy(scores)
    numpy_top = ranked_items(Scorer(fn=lambda u: t[u]), np.arange(n_users), exclude, n_items=n_items, k=20, block=32)
    monkeypatch.setattr(TopK, "_select_numpy", TopK._select_torch)
    torch_top = ranked_items(Scorer(fn=lambda u: t[u]), np.arange(n_users), exclude, n_items=n_items, k=20, block=32)
    np.testing.assert_array_equal(torch_top, numpy_top)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_worker_threads_give_the_same_ranking(threads: int) -> None:
    g = torch.Generator().manual_seed(3)
    u, v = torch.randn(300, 32, generator=g), torch.randn(11_000, 32, generator=g)
    rng = np.random.default_rng(1)
    exclude = csr([rng.choice(11_000, 30, replace=False).tolist() for _ in range(300)], 11_000)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        want = ranked_items(Scorer(users=u, items=v), np.arange(300), exclude, n_items=11_000, block=64)
        torch.set_num_threads(threads)
        got = ranked_items(Scorer(users=u, items=v), np.arange(300), exclude, n_items=11_000, block=64)
        assert torch.get_num_threads() == threads  # restored after the workers
    finally:
        torch.set_num_threads(old)
    np.testing.assert_array_equal(got, want)


def test_scores_requiring_grad_are_fine() -> None:
    """A scorer whose output carries a graph (called from worker threads, where grad mode is on
    by default) still ranks, without touching the graph."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(200, 4_000, generator=g, requires_grad=True)
    exclude = csr([[] for _ in range(200)], 4_000)
    top = ranked_items(Scorer(fn=lambda u: w[u] * 1.0), np.arange(200), exclude, n_items=4_000, block=64)
    np.testing.assert_array_equal(top, torch.topk(w.detach(), 20, dim=1).indices.numpy())


@pytest.mark.gpu
@pytest.mark.parametrize(("n_users", "n_items"), [(500, 12_000), (300, 3_000), (50, 900)])
def test_cuda_ranking_equals_plain_topk(n_users: int, n_items: int) -> None:
    g = torch.Generator().manual_seed(5)
    dense = (torch.randn(n_users, 64, generator=g) @ torch.randn(64, n_items, generator=g)).cuda()
    rng = np.random.default_rng(2)
    exclude = csr([rng.choice(n_items, 40, replace=False).tolist() for _ in range(n_users)], n_items)
    top = ranked_items(
        Scorer(fn=lambda u: dense[u]), np.arange(n_users), exclude, n_items=n_items, k=20, block=4096, device="cuda"
    )
    masked = dense.clone()
    masked[torch.from_numpy(exclude.toarray() > 0).cuda()] = float("-inf")
    want_vals = torch.topk(masked, 20, dim=1).values
    got_vals = torch.gather(masked, 1, torch.from_numpy(top).cuda())
    torch.testing.assert_close(got_vals, want_vals, rtol=0, atol=0)


@pytest.mark.gpu
def test_cuda_matmul_scorer_close_to_cpu() -> None:
    g = torch.Generator().manual_seed(6)
    u, v = torch.randn(400, 128, generator=g), torch.randn(20_000, 128, generator=g)
    exclude = csr([[i, i + 1] for i in range(400)], 20_000)
    cpu = ranked_items(Scorer(users=u, items=v), np.arange(400), exclude, n_items=20_000, k=20)
    gpu = ranked_items(
        Scorer(users=u.cuda(), items=v.cuda()), np.arange(400), exclude, n_items=20_000, k=20, block=4096, device="cuda"
    )
    assert (cpu == gpu).mean() > 0.99  # the GPU matmul rounds differently: near-ties may swap
