"""The public NGCF (huangtinglin/NGCF-PyTorch), driven for ``bench/ngcf_step.py``.

Nothing of that repository is part of this one: its ``NGCF/`` folder is imported from a
directory outside (``--ref-dir``), fetched by whoever runs the benchmark. Here: how its model is
built at our settings, one training step as its ``main.py`` takes it, and its test-time scoring
and per-user ranking as its ``utility/batch_test.py`` does them.
"""

from __future__ import annotations

import os
import sys
import time
import types
from argparse import Namespace
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from bet.backbones.base import bipartite
from bet.backbones.ngcf import NGCF
from bet.data import Dataset
from bet.train import BPRSampler


def _on_path(ref_dir: Path) -> None:
    code = str(ref_dir / "NGCF")
    if code not in sys.path:
        sys.path.insert(0, code)


def reference_step(
    ref_dir: Path, data: Dataset, ours: NGCF, batch: int, lr: float, seed: int
) -> tuple[Callable[[], float], Any]:
    """Its model on our ``D^-1 (A + I)``, at width d_max, 3 layers, dropout 0.1 / 0.1, reg 1e-3."""
    _on_path(ref_dir)
    from NGCF import NGCF as RefNGCF  # type: ignore[import-not-found]

    a = bipartite(data) + sp.eye(data.n_rows, dtype=np.float32, format="csr")
    norm = (sp.diags(1.0 / np.asarray(a.sum(axis=1)).ravel()) @ a).tocsr().astype(np.float32)
    d = ours.d_max
    args = Namespace(
        device=torch.device("cpu"),
        embed_size=d,
        batch_size=batch,
        node_dropout=[ours.node_dropout],
        mess_dropout=[ours.mess_dropout] * ours.layers,
        layer_size=str([d] * ours.layers),
        regs=str([ours.reg]),
    )
    torch.manual_seed(seed)
    model = RefNGCF(data.n_users, data.n_items, norm, args)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sampler = BPRSampler(data.train, batch, np.random.default_rng(seed))
    threads = _cores()

    def step() -> float:
        old = torch.get_num_threads()
        torch.set_num_threads(threads)  # torch's default: every core
        try:
            u, p, n = sampler.sample()
            ue, pe, ne = model(u, p, n, drop_flag=True)
            loss, _, _ = model.create_bpr_loss(ue, pe, ne)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.detach())
        finally:
            torch.set_num_threads(old)

    return step, model


def _cores() -> int:
    return os.cpu_count() or 1


def reference_eval(
    ref_dir: Path, model: Any, users: Sequence[int], u_batch: int, rank_users: int
) -> tuple[float, dict[str, Any]]:
    """Seconds of its test-time scoring of ``users`` (a forward pass per ``u_batch`` users without
    dropout, then ``rating`` to numpy), and its ranking timed on ``rank_users`` of them."""
    old = torch.get_num_threads()
    torch.set_num_threads(_cores())
    n_items = model.n_item
    sample: np.ndarray | None = None
    t0 = time.perf_counter()
    try:
        for start in range(0, len(users), u_batch):
            ub = list(users[start : start + u_batch])
            ue, ie, _ = model(ub, range(n_items), [], drop_flag=False)
            rate = model.rating(ue, ie).detach().cpu().numpy()
            if sample is None:
                sample = rate[:rank_users].copy()
            del ue, ie, rate
    finally:
        torch.set_num_threads(old)
    secs = time.perf_counter() - t0
    if rank_users <= 0 or sample is None:
        return secs, {}
    return secs, _ranking(ref_dir, sample, len(users))


def _no_auc(*args: Any, **kwargs: Any) -> float:
    raise RuntimeError("scikit-learn is not installed: AUC (test_flag 'full') is not available")


def _ranking(ref_dir: Path, rows: np.ndarray, n_users: int) -> dict[str, Any]:
    """Its ``test_one_user`` (dict of every non-training item's score, ``heapq.nlargest``, metrics
    at Ks 20…100) on the sampled rows, extrapolated to ``n_users`` over its ``cpu_count // 2``
    pool processes. Needs its data loader: ``ref_dir/Data/gowalla/{train,test}.txt``."""
    if not (ref_dir / "Data" / "gowalla" / "train.txt").is_file():
        return {"note": f"reference ranking skipped: {ref_dir}/Data/gowalla/train.txt is absent"}
    _on_path(ref_dir)
    try:
        import sklearn.metrics  # noqa: F401  (its metrics module imports roc_auc_score)
    except ImportError:  # used only for AUC under test_flag 'full'; 'part' (its default) never calls it
        stub = types.ModuleType("sklearn.metrics")
        stub.roc_auc_score = _no_auc  # type: ignore[attr-defined]
        sys.modules.setdefault("sklearn", types.ModuleType("sklearn"))
        sys.modules["sklearn.metrics"] = stub
    argv = sys.argv
    sys.argv = ["batch_test", "--data_path", f"{ref_dir / 'Data'}/", "--dataset", "gowalla"]
    try:
        from utility import batch_test  # type: ignore[import-not-found]
    except Exception as exc:  # noqa: BLE001  (a benchmark row, not a result: say why and go on)
        return {"note": f"reference ranking skipped: its batch_test did not load ({exc!r})"}
    finally:
        sys.argv = argv
    if not hasattr(np, "asfarray"):  # its metrics use np.asfarray, gone since NumPy 2.0
        np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]
    uids = list(batch_test.data_generator.test_set)[: len(rows)]
    t0 = time.perf_counter()
    try:
        for row, uid in zip(rows, uids, strict=False):
            batch_test.test_one_user((row, uid))
    except Exception as exc:  # noqa: BLE001
        return {"note": f"reference ranking skipped: its test_one_user failed ({exc!r})"}
    per_user = (time.perf_counter() - t0) / len(uids)
    cores = max(1, batch_test.cores)
    return {
        "per_user_ms": round(per_user * 1e3, 2),
        "users_timed": len(uids),
        "pool": cores,
        "seconds": round(per_user * n_users / cores, 1),
        "extrapolated": True,
    }
