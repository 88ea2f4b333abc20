"""The budgeted table: masks rewritten in place, masked entries inert, pack/unpack exact and small."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bet.backbones import make_backbone
from bet.backbones.ncf import NCF
from bet.baselines import baseline_action
from bet.budget import D_MAX
from bet.data import Dataset
from bet.embedding import BudgetedEmbedding, pack, unpack
from bet.errors import DataError
from bet.metrics import ranked_items


def small_table(n_users: int = 5, n_items: int = 7, d_max: int = 8, seed: int = 0) -> BudgetedEmbedding:
    return BudgetedEmbedding(n_users, n_items, d_max=d_max, generator=torch.Generator().manual_seed(seed))


def test_mask_is_a_prefix() -> None:
    t = small_table()
    sizes = np.array([1, 2, 3, 8, 4, 5, 6, 7, 1, 2, 3, 8])
    t.set_sizes(sizes)
    expected = (np.arange(8)[None, :] < sizes[:, None]).astype(np.float32)
    np.testing.assert_array_equal(t.mask.numpy(), expected)
    assert t.cost == sizes.sum()
    masked = t().detach().numpy()
    np.testing.assert_array_equal(masked, t.weight.detach().numpy() * expected)
    rows = torch.tensor([3, 0, 11])
    np.testing.assert_array_equal(t.lookup(rows).detach().numpy(), masked[[3, 0, 11]])


def test_set_sizes_does_not_reallocate() -> None:
    t = small_table()
    ptrs = (t.weight.data_ptr(), t.mask.data_ptr(), t.sizes.data_ptr())
    opt = torch.optim.Adam(t.parameters(), lr=0.1)
    for k in (1, 5, 8):
        t.set_sizes(np.full(12, k))
        assert (t.weight.data_ptr(), t.mask.data_ptr(), t.sizes.data_ptr()) == ptrs
    t.set_full()
    assert (t.weight.data_ptr(), t.mask.data_ptr(), t.sizes.data_ptr()) == ptrs
    assert opt.param_groups[0]["params"][0] is t.weight
    assert t.cost == 12 * 8 and bool((t.mask == 1).all())


@pytest.mark.parametrize("bad", [np.zeros(12, int), np.full(12, 9), np.ones(11, int)])
def test_set_sizes_rejects_bad_sizes(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        small_table().set_sizes(bad)


@pytest.mark.parametrize("backbone", ["lightgcn", "ngcf", "ncf"])
def test_masked_entries_get_zero_gradient(mini: Dataset, backbone: str) -> None:
    model = make_backbone(backbone, mini, seed=0)
    action = baseline_action("sr", mini, 0.9, seed=3)
    model.set_action(action)
    assert model.table is not None
    g = torch.Generator().manual_seed(0)
    users = torch.randint(0, mini.n_users, (512,), generator=g)
    pos = torch.randint(0, mini.n_items, (512,), generator=g)
    neg = torch.randint(0, mini.n_items, (512,), generator=g)
    model.loss(users, pos, neg).backward()
    grad = model.table.weight.grad
    assert grad is not None
    off = model.table.mask == 0
    assert bool(off.any())
    assert bool((grad[off] == 0).all())  # exactly zero, not merely small
    assert float(grad[~off].abs().sum()) > 0  # the kept entries do learn


@pytest.mark.parametrize("backbone", ["lightgcn", "ngcf", "ncf"])
def test_masked_weights_never_reach_scores(mini: Dataset, backbone: str) -> None:
    model = make_backbone(backbone, mini, seed=0)
    model.set_action(baseline_action("mde", mini, 0.95))
    model.eval()
    users = torch.arange(0, mini.n_users, 97)
    before = model.scorer()(users)
    assert model.table is not None
    tables = [model.table, model.gmf] if isinstance(model, NCF) else [model.table]
    with torch.no_grad():
        for table in tables:
            off = table.mask == 0
            assert bool(off.any())
            table.weight[off] = torch.randn(int(off.sum())) * 10
    after = model.scorer()(users)
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_masked_weights_never_reach_rankings(mini: Dataset) -> None:
    model = make_backbone("lightgcn", mini, seed=0)
    model.set_action(baseline_action("su", mini, 0.9))
    users = np.arange(mini.n_users)
    before = ranked_items(model.scorer(), users, mini.train, n_items=mini.n_items)
    assert model.table is not None
    with torch.no_grad():
        model.table.weight.add_(torch.randn_like(model.table.weight) * (1 - model.table.mask))
    np.testing.assert_array_equal(ranked_items(model.scorer(), users, mini.train, n_items=mini.n_items), before)


# --- pack / unpack --------------------------------------------------------------------------


def test_pack_round_trip_exact(tmp_path: Path) -> None:
    t = small_table(5, 7, 8)
    sizes = np.array([1, 2, 3, 8, 4, 5, 6, 7, 1, 2, 3, 8])
    t.set_sizes(sizes)
    pack(t, tmp_path / "t.npz")
    table, got_sizes, n_users = unpack(tmp_path / "t.npz")
    assert table.dtype == np.float32 and table.shape == (12, 8)
    np.testing.assert_array_equal(got_sizes, sizes)
    assert n_users == 5
    np.testing.assert_array_equal(table, t().detach().numpy())  # bit-exact, zeros past each size


@pytest.mark.parametrize("c", [0.5, 0.9, 0.99])
def test_pack_size_within_budget(mini: Dataset, tmp_path: Path, c: float) -> None:
    model = make_backbone("lightgcn", mini, seed=0)
    action = baseline_action("mde", mini, c)
    model.set_action(action)
    assert model.table is not None
    nbytes = pack(model.table, tmp_path / "t.npz")
    assert nbytes == (tmp_path / "t.npz").stat().st_size
    full_bytes = mini.n_rows * D_MAX * 4
    assert nbytes <= (1 - c) * full_bytes + 4 * mini.n_rows
    assert nbytes >= 4 * action.cost  # really stores every kept value
    table, sizes, n_users = unpack(tmp_path / "t.npz")
    np.testing.assert_array_equal(sizes, action.sizes)
    assert n_users == mini.n_users
    np.testing.assert_array_equal(table, model.table().detach().numpy())


def test_pack_float16(mini: Dataset, tmp_path: Path) -> None:
    model = make_backbone("lightgcn", mini, seed=0)
    model.set_action(baseline_action("su", mini, 0.9))
    assert model.table is not None
    n32 = pack(model.table, tmp_path / "t32.npz")
    n16 = pack(model.table, tmp_path / "t16.npz", dtype="float16")
    assert n16 < 0.6 * n32
    table, sizes, _ = unpack(tmp_path / "t16.npz")
    assert table.dtype == np.float32
    expected = model.table().detach().numpy().astype(np.float16).astype(np.float32)
    np.testing.assert_array_equal(table, expected)
    np.testing.assert_array_equal(sizes, model.table.sizes.numpy())


def test_unpack_rejects_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match="not a packed BET table"):
        unpack(bad)


def test_unpack_rejects_inconsistent(tmp_path: Path) -> None:
    path = tmp_path / "short.npz"
    np.savez(path, m=np.array([1, 2, 1, 4]), s=np.array([4, 4, 4], np.uint8), v=np.zeros(11, np.float32))
    with pytest.raises(DataError, match="inconsistent"):
        unpack(path)
