"""Built-in datasets, the paper and original splits, frequencies, and the sha256 check."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import bet.data
import bet.data.builtin as builtin
from bet.data import Dataset, load_dataset
from bet.data.builtin import load_builtin
from bet.data.readers import RawInteractions
from bet.errors import DataError


def keys(m: sp.csr_matrix) -> np.ndarray:
    """Sorted ``user * n_items + item`` of every stored entry."""
    coo = m.tocoo()
    return np.sort(coo.row.astype(np.int64) * m.shape[1] + coo.col)


def raw_keys(raw: RawInteractions, mask: np.ndarray | None = None) -> np.ndarray:
    u, i = (raw.users, raw.items) if mask is None else (raw.users[mask], raw.items[mask])
    return np.sort(u * raw.n_items + i)


def per_user(m: sp.csr_matrix) -> np.ndarray:
    return np.diff(m.tocsr().indptr)


# --- built-in counts ------------------------------------------------------------------------


def test_gowalla_counts(gowalla: Dataset) -> None:
    assert (gowalla.n_users, gowalla.n_items, gowalla.n_interactions) == (29_858, 40_981, 1_027_370)
    assert gowalla.train.shape == gowalla.valid.shape == gowalla.test.shape == (29_858, 40_981)


def test_yelp2018_counts() -> None:
    yelp = load_dataset("yelp2018")
    assert (yelp.n_users, yelp.n_items, yelp.n_interactions) == (31_668, 38_048, 1_561_406)


def test_gowalla_mini_pinned(mini: Dataset) -> None:
    """The mini rule depends on numpy's PCG64 ``choice``: a numpy change that moves these counts
    changes every mini result, so they are pinned."""
    assert (mini.n_users, mini.n_items, mini.n_interactions) == (3_175, 3_660, 83_896)
    assert mini.n_rows == 6_835
    c = mini.counts()
    assert set(c) == {"name", "users", "items", "interactions", "train", "valid", "test", "format"}
    assert c["format"] == "lightgcn"
    assert int(c["train"]) + int(c["valid"]) + int(c["test"]) == c["interactions"]


def test_mini_is_a_10_core(mini: Dataset) -> None:
    full = mini.train + mini.valid + mini.test
    assert full.getnnz(axis=1).min() >= 10
    assert full.getnnz(axis=0).min() >= 10


# --- paper split ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mini", "gowalla"])
def test_paper_split_proportions(name: str, request: pytest.FixtureRequest) -> None:
    data: Dataset = request.getfixturevalue(name)
    n_tr, n_va, n_te = per_user(data.train), per_user(data.valid), per_user(data.test)
    n = n_tr + n_va + n_te
    assert (n_tr >= 1).all(), "every user keeps at least one training item"
    # Per user: train is round(n/2), train+valid is round(3n/4) (so each part is off by ≤ 1).
    assert (np.abs(n_tr - n / 2) <= 0.5 + (n == 1)).all()
    assert (np.abs(n_tr + n_va - 3 * n / 4) <= 0.5 + (n <= 2)).all()
    assert (np.abs(n_te - n / 4) <= 1).all()
    tot = n.sum()
    assert abs(n_tr.sum() / tot - 0.50) < 0.02
    assert abs(n_va.sum() / tot - 0.25) < 0.02
    assert abs(n_te.sum() / tot - 0.25) < 0.02


def test_paper_split_disjoint_and_complete(mini: Dataset) -> None:
    k_tr, k_va, k_te = keys(mini.train), keys(mini.valid), keys(mini.test)
    assert len(np.intersect1d(k_tr, k_va)) == 0
    assert len(np.intersect1d(k_tr, k_te)) == 0
    assert len(np.intersect1d(k_va, k_te)) == 0
    union = np.sort(np.concatenate([k_tr, k_va, k_te]))
    np.testing.assert_array_equal(union, raw_keys(load_builtin("gowalla-mini")))
    for m in (mini.train, mini.valid, mini.test):
        assert m.dtype == np.float32
        assert (m.data == 1).all()
        assert m.has_sorted_indices


def test_paper_split_deterministic_per_seed(mini: Dataset) -> None:
    again = load_dataset("gowalla-mini", seed=42)
    for a, b in ((mini.train, again.train), (mini.valid, again.valid), (mini.test, again.test)):
        np.testing.assert_array_equal(keys(a), keys(b))
    assert again.fingerprint == mini.fingerprint
    other = load_dataset("gowalla-mini", seed=7)
    assert not np.array_equal(keys(other.train), keys(mini.train))
    assert not np.array_equal(keys(other.test), keys(mini.test))
    assert other.fingerprint != mini.fingerprint
    # Same pairs overall, only split differently.
    assert other.n_interactions == mini.n_interactions


# --- original split -------------------------------------------------------------------------


def test_original_split_gowalla() -> None:
    data = load_dataset("gowalla", split="original")
    raw = load_builtin("gowalla")
    assert raw.is_test is not None
    np.testing.assert_array_equal(keys(data.test), raw_keys(raw, raw.is_test))
    train_valid = np.sort(np.concatenate([keys(data.train), keys(data.valid)]))
    np.testing.assert_array_equal(train_valid, raw_keys(raw, ~raw.is_test))
    assert len(np.intersect1d(keys(data.train), keys(data.valid))) == 0
    assert (per_user(data.train) >= 1).all()
    share = data.valid.nnz / (data.train.nnz + data.valid.nnz)
    assert 0.08 < share < 0.12  # 10 % of each user's training items


def test_original_split_user_folder(write_file) -> None:  # type: ignore[no-untyped-def]
    train = ["10 1 2 3 4 5 6 7 8 9 10 11 12", "20 2 3 4 5 6 7 8 9 10 11", "30 1 5 9 13 14 15 16 17 18 19 20"]
    test = ["10 13 14", "20 1", "30 2 3"]
    folder = write_file("ds/train.txt", train).parent
    write_file("ds/test.txt", test)
    data = load_dataset(folder, split="original", seed=3)
    ulab, ilab = data.user_labels.astype(int), data.item_labels.astype(int)

    def pairs(m: sp.csr_matrix) -> set[tuple[int, int]]:
        coo = m.tocoo()
        return {(int(ulab[r]), int(ilab[c])) for r, c in zip(coo.row, coo.col, strict=True)}

    file_pairs = lambda lines: {(int(ln.split()[0]), int(x)) for ln in lines for x in ln.split()[1:]}  # noqa: E731
    assert pairs(data.test) == file_pairs(test)
    assert pairs(data.train) | pairs(data.valid) == file_pairs(train)
    assert not pairs(data.train) & pairs(data.valid)
    assert data.valid.nnz == 3  # round(0.1 · 12), round(0.1 · 10), round(0.1 · 11) = 1 each


def test_original_split_needs_a_source_split(write_file) -> None:  # type: ignore[no-untyped-def]
    path = write_file("pairs.csv", "user,item\n1,2\n1,3\n2,3\n")
    with pytest.raises(DataError, match=r"pairs\.csv.*no train/test split of its own"):
        load_dataset(path, split="original")


def test_unknown_split_is_a_data_error() -> None:
    with pytest.raises(DataError, match="unknown split 'nope'"):
        load_dataset("gowalla-mini", split="nope")


# --- frequencies ----------------------------------------------------------------------------


def test_frequencies_are_training_counts(mini: Dataset) -> None:
    np.testing.assert_array_equal(mini.user_freq, mini.train.getnnz(axis=1))
    np.testing.assert_array_equal(mini.item_freq, mini.train.getnnz(axis=0))
    assert mini.user_freq.dtype == mini.item_freq.dtype == np.int64
    assert mini.user_freq.sum() == mini.item_freq.sum() == mini.train.nnz
    assert mini.train_t.shape == (mini.n_items, mini.n_users)
    np.testing.assert_array_equal(np.diff(mini.train_t.indptr), mini.item_freq)
    np.testing.assert_array_equal(keys(mini.train_valid), np.sort(np.concatenate([keys(mini.train), keys(mini.valid)])))


# --- sha256 ---------------------------------------------------------------------------------


@pytest.fixture
def asset_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of ``assets/gowalla`` that the loader reads instead of the real one."""
    dst = tmp_path / "assets"
    (dst / "gowalla").mkdir(parents=True)
    for name in ("train.txt.gz", "test.txt.gz"):
        shutil.copy(builtin.ASSETS_DIR / "gowalla" / name, dst / "gowalla" / name)
    monkeypatch.setattr(builtin, "ASSETS_DIR", dst)
    monkeypatch.setattr(builtin, "_verified", set())
    monkeypatch.setattr(bet.data, "_last", None)  # nor the dataset an earlier test loaded last
    return dst


def test_intact_copy_loads(asset_copy: Path) -> None:
    raw = load_builtin("gowalla")
    assert raw.n_users == 29_858


@pytest.mark.parametrize("name", ["gowalla", "gowalla-mini"])
def test_corrupt_bundled_file_is_refused(asset_copy: Path, name: str) -> None:
    path = asset_copy / "gowalla" / "test.txt.gz"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01  # one bit in the middle of the compressed stream
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError) as err:
        load_dataset(name)
    msg = str(err.value)
    assert str(path) in msg
    assert "corrupt" in msg and "sha256" in msg
    assert builtin.SHA256["gowalla/test.txt.gz"][:12] in msg


def test_missing_bundled_file_is_refused(asset_copy: Path) -> None:
    (asset_copy / "gowalla" / "train.txt.gz").unlink()
    with pytest.raises(DataError, match="bundled dataset file is missing"):
        load_dataset("gowalla")
