"""The budgeted embedding table: one ``d_max``-wide table for all users and items, where row n
uses only its first ``sizes[n]`` columns (a prefix mask).

Changing the sizes rewrites the mask in place: nothing is reallocated, so an optimiser that holds
``weight`` keeps working. Masked-out entries are multiplied by zero in every forward pass, so they
get zero gradient and never reach a score. :func:`pack` stores only the kept ``Σ sizes`` values.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bet.budget import D_MAX, Action
from bet.errors import DataError

PACK_VERSION = 1


class BudgetedEmbedding(nn.Module):
    """``weight``: ``(n_users + n_items, d_max)``; users occupy rows ``[0, n_users)``."""

    sizes: torch.Tensor
    mask: torch.Tensor
    _cols: torch.Tensor

    def __init__(
        self,
        n_users: int,
        n_items: int,
        *,
        d_max: int = D_MAX,
        init: str = "normal",
        std: float = 0.01,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.n_users, self.n_items, self.d_max = n_users, n_items, d_max
        n = n_users + n_items
        self.weight = nn.Parameter(torch.empty(n, d_max))
        if init == "normal":
            nn.init.normal_(self.weight, 0.0, std, generator=generator)
        elif init == "xavier":
            nn.init.xavier_uniform_(self.weight, generator=generator)
        else:
            raise ValueError(f"unknown init {init!r}")
        self.register_buffer("sizes", torch.full((n,), d_max, dtype=torch.int64))
        self.register_buffer("mask", torch.ones(n, d_max))
        self.register_buffer("_cols", torch.arange(d_max), persistent=False)

    def set_sizes(self, sizes: np.ndarray | torch.Tensor) -> None:
        """Adopt per-row sizes ``(n_users + n_items,)`` in ``[1, d_max]`` (in place)."""
        if not isinstance(sizes, torch.Tensor):
            sizes = torch.from_numpy(np.asarray(sizes))
        s = sizes.to(device=self.sizes.device, dtype=torch.int64)
        if s.shape != self.sizes.shape:
            raise ValueError(f"expected {tuple(self.sizes.shape)} sizes, got {tuple(s.shape)}")
        if int(s.min()) < 1 or int(s.max()) > self.d_max:
            raise ValueError(f"sizes must lie in [1, {self.d_max}]")
        self.sizes.copy_(s)
        self.mask.copy_(self._cols.unsqueeze(0) < s.unsqueeze(1))

    def set_action(self, action: Action) -> None:
        self.set_sizes(action.sizes)

    def set_full(self) -> None:
        self.sizes.fill_(self.d_max)
        self.mask.fill_(1.0)

    def forward(self) -> torch.Tensor:
        """The masked table ``weight ⊙ mask``, ``(n_users + n_items, d_max)``."""
        return self.weight * self.mask

    def narrow(self) -> torch.Tensor:
        """The masked table cut to its widest row, ``(n_users + n_items, max(sizes))``: the columns
        dropped are zero in every row. Backbones whose layers act on each column separately
        (LightGCN: propagation, dot-product scores) compute the same model on it at a fraction of
        the cost — at 95 % sparsity the widest row is typically 20–30 of 128 columns."""
        w = int(self.sizes.max())
        weight = self.weight if self.weight.shape[1] == w else self.weight[:, :w]
        return weight * self.mask[:, :w]

    @contextmanager
    def narrow_parameter(self) -> Iterator[None]:
        """While inside, ``weight`` is a ``(n_rows, max(sizes))`` parameter — the only columns a
        masked row can use — and the full table gets those columns back on exit.

        For training through :meth:`narrow` only (LightGCN): columns past the widest row get zero
        gradient, so Adam (fresh or not: its update is ``m / (√v + ε)`` with ``m = v = 0``)
        never moves them; leaving them out of the optimiser gives the same numbers and saves
        the zero-filling, the gradient copy and the optimiser's pass over ``d_max / w`` times
        more entries (at 95 % sparsity, w ≈ 30 of 128).
        """
        w = int(self.sizes.max())
        if w >= self.weight.shape[1]:
            yield
            return
        full = self.weight
        self.weight = nn.Parameter(full.detach()[:, :w].clone(), requires_grad=full.requires_grad)
        try:
            yield
        finally:
            with torch.no_grad():
                full[:, :w].copy_(self.weight)
            self.weight = full

    def lookup(self, rows: torch.Tensor) -> torch.Tensor:
        """Masked rows ``(len(rows), d_max)`` without materialising the whole table."""
        return self.weight[rows] * self.mask[rows]

    @property
    def cost(self) -> int:
        return int(self.sizes.sum())


Tables = BudgetedEmbedding | dict[str, BudgetedEmbedding]


def _named(tables: Tables) -> dict[str, BudgetedEmbedding]:
    return {"table": tables} if isinstance(tables, BudgetedEmbedding) else dict(tables)


def pack_bytes(tables: Tables, dtype: str = "float32") -> bytes:
    """:func:`pack` into memory (the bytes of the ``.npz`` file)."""
    buf = io.BytesIO()
    _write_npz(_named(tables), buf, dtype)
    return buf.getvalue()


def _write_npz(tables: dict[str, BudgetedEmbedding], fh: io.BufferedIOBase | io.BytesIO, dtype: str) -> None:
    arrays: dict[str, np.ndarray] = {}
    first = next(iter(tables.values()))
    for i, (name, table) in enumerate(tables.items()):
        sizes = table.sizes.detach().cpu().numpy()
        w = table.weight.detach().cpu().numpy()
        keep = np.arange(w.shape[1])[None, :] < sizes[:, None]
        size_dtype = np.uint8 if table.d_max <= 255 else np.uint16
        suffix = "" if i == 0 else f"_{name}"  # the first table keeps the original keys
        arrays[f"s{suffix}"] = sizes.astype(size_dtype)
        arrays[f"v{suffix}"] = w[keep].astype(np.dtype(dtype))
    arrays["m"] = np.array([PACK_VERSION, first.n_users, first.n_items, first.d_max], dtype=np.int64)
    arrays["names"] = np.array(list(tables))
    np.savez(fh, **arrays)  # type: ignore[arg-type]


def pack(tables: Tables, path: str | Path, dtype: str = "float32") -> int:
    """Write only the kept values (row-major, row n's first ``sizes[n]``) plus the sizes of each
    table (a backbone's :meth:`~bet.backbones.Backbone.tables`: NCF has two) to an uncompressed
    ``.npz``. Returns the file's size in bytes.

    Size: ``4·Σ sizes`` (float32) + one byte per row + a few hundred bytes of zip headers per
    table, so at most ``(1 − c) × full-table bytes + 4 bytes per row`` for a table of 256 rows or
    more.
    """
    path = Path(path)
    with open(path, "wb") as fh:
        _write_npz(_named(tables), fh, dtype)  # type: ignore[arg-type]
    return path.stat().st_size


def _read(path: str | Path | bytes) -> tuple[int, int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """``(n_users, d_max, {name: (sizes, kept values)})`` of a packed file, every table checked."""
    src = io.BytesIO(path) if isinstance(path, bytes) else Path(path)
    label = "<bytes>" if isinstance(path, bytes) else path
    try:
        with np.load(src, allow_pickle=False) as z:
            meta = z["m"]
            names = [str(n) for n in z["names"]] if "names" in z else ["table"]
            arrays = {
                n: (z["s" if i == 0 else f"s_{n}"].astype(np.int64), z["v" if i == 0 else f"v_{n}"])
                for i, n in enumerate(names)
            }
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise DataError(label, f"is not a packed BET table ({exc})") from None
    version, n_users, n_items, d_max = (int(x) for x in meta)
    for name, (sizes, values) in arrays.items():
        if version != PACK_VERSION or len(sizes) != n_users + n_items or values.size != sizes.sum():
            raise DataError(label, f"packed table {name!r} is inconsistent (wrong version or truncated)")
    return n_users, d_max, arrays


def _expand(sizes: np.ndarray, values: np.ndarray, d_max: int) -> np.ndarray:
    out = np.zeros((len(sizes), d_max), dtype=np.float32)
    out[np.arange(d_max)[None, :] < sizes[:, None]] = values.astype(np.float32)
    return out


def unpack(path: str | Path | bytes) -> tuple[np.ndarray, np.ndarray, int]:
    """Read a packed table (a file, or its bytes) back: ``(table (n, d_max) float32 with zeros
    past each size, sizes, n_users)`` — the first table (NCF's MLP table; see :func:`unpack_tables`)."""
    n_users, d_max, arrays = _read(path)
    sizes, values = next(iter(arrays.values()))
    return _expand(sizes, values, d_max), sizes, n_users


def unpack_tables(path: str | Path | bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every table of a packed file: ``{name: (table (n, d_max), sizes)}`` (``table`` first;
    NCF's also has ``gmf``)."""
    _, d_max, arrays = _read(path)
    return {name: (_expand(sizes, values, d_max), sizes) for name, (sizes, values) in arrays.items()}
