"""NCF's score of every (user, item) pair, ``gu[u]·gi[i] + Σ_k w_k · ReLU(hu[u, k] + hi[i, k]) + b0``,
without materialising ``(users × items × d)`` tensors.

Full ranking scores every pair (1.22 B on full Gowalla), so this is NCF's evaluation cost. Two
exact ways, measured in ``bench/ncf_speed.py`` (per block of 64 users × 40,981 items, d = 128,
one thread):

* ``compiled`` — the GMF half as one matmul; the MLP half one ``(64 users × 2,048 items)`` tile
  per call of a ``torch.compile``-d (inductor, C++) function: the add, ReLU, multiply and the sum
  over ``k`` fused in one loop nest, vectorised over ``k``, a tile's items staying in L2 (folding
  the GMF products into the same loop measured slower). Shapes are fixed (users padded to 64,
  items to a multiple of 2,048) so it compiles once per ``d`` and is never recompiled; it is
  compiled with one torch thread, as :func:`bet.metrics.ranked_items` runs each worker. The first
  compile in a fresh environment takes seconds (inductor caches it on disk for later processes),
  so it is used only for large catalogues on CPU; if compiling fails (no C++ compiler, …) the
  scorer falls back to ``tiled``, with the same scores.
* ``tiled`` — the GMF half as one matmul, then plain torch ops on ``(users × chunk × d)`` tiles
  of a few MB: add into a reused buffer, ReLU in place, one matmul with ``w``. Always available;
  used for small data, on GPUs and as the fallback.

Both agree with the dense formula to float32 rounding (sums taken in another order); the tests
check ≤ 1e-4 on the scores and the same top-20 (``tests/test_ncf_scorer.py``).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable

import torch

KERNELS = ("auto", "compiled", "tiled")
USER_TILE = 64  # users per compiled call: ranked_items' CPU block
ITEM_TILE = 2048  # items per compiled call: a 1 MiB slice of ``hi`` at d = 128, in L2
#: ``auto`` compiles from this many (user, item) pairs on: below it (gowalla-mini: 11.6 M) a
#: whole pass costs less than a cold compile.
COMPILE_FROM_PAIRS = 1 << 27
TILE_FLOATS = 1 << 21  # ``tiled``: floats per (users × chunk × d) tile on CPU, 8 MiB
GPU_TILE_FLOATS = 1 << 26  # on a GPU, 256 MiB tiles: fewer, wider kernels

_lock = threading.Lock()
_compiled: dict[int, Callable[..., torch.Tensor]] = {}
_failed: set[int] = set()


def _tile(hb: torch.Tensor, hic: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``(U, C)`` = ``Σ_k w_k ReLU(hb[u, k] + hic[i, k])`` (what inductor fuses into one loop)."""
    return (torch.relu(hb.unsqueeze(1) + hic.unsqueeze(0)) * w).sum(-1)


def _compile_and_check(d: int) -> Callable[..., torch.Tensor]:
    """Compile the tile for width ``d`` with one torch thread (the thread count the generated
    kernel is built for) and check one tile against the eager formula."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit's, raised as dynamo loads
        fn = torch.compile(_tile, dynamic=False, fullgraph=True)
        g = torch.Generator().manual_seed(0)
        args = [torch.randn(*s, generator=g) for s in ((USER_TILE, d), (ITEM_TILE, d), (d,))]
        old = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                got = fn(*args)
        finally:
            torch.set_num_threads(old)
    if float((got - _tile(*args)).abs().max()) > 1e-4:
        raise RuntimeError("the compiled tile disagrees with the eager formula")
    return fn  # type: ignore[no-any-return]


def compiled_tile(d: int) -> Callable[..., torch.Tensor] | None:
    """The compiled tile function for width ``d``, compiled and checked once per process; ``None``
    when compiling is unavailable here (the caller then uses ``tiled``)."""
    with _lock:
        if d in _compiled:
            return _compiled[d]
        if d in _failed:
            return None
        try:
            fn = _compile_and_check(d)
        except Exception:  # noqa: BLE001 - any compile failure: fall back to plain torch ops
            _failed.add(d)
            return None
        _compiled[d] = fn
        return fn


class NCFScores:
    """``scores(users)`` → ``(len(users), n_items)`` NCF scores ``gu[u]·gi[i] + Σ_k w_k ReLU(hu[u, k]
    + hi[i, k]) + b0``, built once per scorer from the per-row halves. Thread-safe: each call uses
    its own buffers (ranked_items calls it from one worker thread per core)."""

    def __init__(
        self,
        parts: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
        w: torch.Tensor,
        b0: torch.Tensor,
        *,
        kernel: str = "auto",
    ):
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}")
        self.hu, self.hi, self.gu, self.gi = (x.contiguous() for x in parts)
        self.w, self.b0 = w.contiguous(), b0
        (n_users, self.d), self.n_items = self.hu.shape, self.hi.shape[0]
        cpu = self.hi.device.type == "cpu"
        want = kernel == "compiled" or (kernel == "auto" and n_users * self.n_items >= COMPILE_FROM_PAIRS)
        self.fn = compiled_tile(self.d) if want and cpu else None
        #: what runs: ``compiled`` or ``tiled`` (``compiled`` asked for but unavailable → ``tiled``)
        self.kernel = "compiled" if self.fn is not None else "tiled"
        self.gi_t = self.gi.T.contiguous()
        if self.fn is not None:
            n_pad = -(-self.n_items // ITEM_TILE) * ITEM_TILE
            self.hi_pad = torch.zeros(n_pad, self.d, dtype=self.hi.dtype)
            self.hi_pad[: self.n_items] = self.hi

    @torch.no_grad()
    def __call__(self, users: torch.Tensor) -> torch.Tensor:
        if self.fn is not None:
            # A compiled call that fails (say, a recompile in a worker thread) falls back for good.
            try:
                return self._compiled(users)
            except Exception:  # noqa: BLE001
                self.fn, self.kernel = None, "tiled"
        return self._tiled(users)

    def _tiled(self, users: torch.Tensor) -> torch.Tensor:
        n, d, hb = self.n_items, self.d, self.hu[users]
        out = torch.addmm(self.b0, self.gu[users], self.gi_t)
        floats = TILE_FLOATS if hb.device.type == "cpu" else GPU_TILE_FLOATS
        rows = max(1, min(len(hb), floats // (d * 16)))
        chunk = max(16, floats // (rows * d))
        buf = torch.empty(rows, min(chunk, n), d, dtype=hb.dtype, device=hb.device)
        for r in range(0, len(hb), rows):
            h = hb[r : r + rows].unsqueeze(1)
            for s in range(0, n, chunk):
                x = buf[: h.shape[0], : min(chunk, n - s)]
                torch.add(h, self.hi[s : s + chunk].unsqueeze(0), out=x)
                out[r : r + rows, s : s + chunk] += x.relu_() @ self.w
        return out

    def _compiled(self, users: torch.Tensor) -> torch.Tensor:
        assert self.fn is not None
        mlp = torch.empty(len(users), self.hi_pad.shape[0], dtype=self.hu.dtype)
        hb = torch.zeros(USER_TILE, self.d, dtype=self.hu.dtype)
        for r in range(0, len(users), USER_TILE):
            u = users[r : r + USER_TILE]
            hb[: len(u)] = self.hu[u]
            for s in range(0, self.hi_pad.shape[0], ITEM_TILE):
                mlp[r : r + len(u), s : s + ITEM_TILE] = self.fn(hb, self.hi_pad[s : s + ITEM_TILE], self.w)[: len(u)]
        out = torch.addmm(self.b0, self.gu[users], self.gi_t)
        out += mlp[:, : self.n_items]
        return out
