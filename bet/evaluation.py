"""Evaluate a backbone on the validation or test split (full ranking, see :mod:`bet.metrics`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bet.backbones import Backbone
from bet.data import Dataset
from bet.metrics import KS, metrics_from_topk, ranked_items
from bet.runtime import torch_threads

#: The held-out parts a model is evaluated on.
EVAL_SPLITS = ("valid", "test")


def rank_block(device: torch.device) -> int:
    """Users ranked per block: small blocks stay in a CPU core's cache; a GPU wants wide ones."""
    return 64 if device.type == "cpu" else 4096


def split_users(data: Dataset, split: str) -> np.ndarray:
    """The users with at least one ``split`` item (those every metric averages over)."""
    truth = data.valid if split == "valid" else data.test
    return np.flatnonzero(np.diff(truth.indptr) > 0)


def user_sample(data: Dataset, fraction: float | None, seed: int) -> np.ndarray | None:
    """A fixed sample of ``fraction`` of the validation users (sorted; seeded by ``seed``), for
    cheaper validation inside a search; None (every user) when ``fraction`` is None or ≥ 1.
    The authors score fitness on 50 % of users; final read-outs always use every user."""
    if fraction is None or fraction >= 1:
        return None
    users = split_users(data, "valid")
    n = max(1, round(len(users) * fraction))
    return np.sort(np.random.default_rng([seed, 50]).choice(users, n, replace=False))


def _rank(
    model: Backbone, data: Dataset, split: str, *, ks: Sequence[int], only: np.ndarray | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    if split == "valid":
        truth, exclude = data.valid, data.train
    elif split == "test":
        truth, exclude = data.test, data.train_valid
    else:
        raise ValueError(f"split must be one of {EVAL_SPLITS}")
    users = np.flatnonzero(np.diff(truth.indptr) > 0) if only is None else only
    with torch_threads("eval"), torch.no_grad():
        scorer = model.scorer()
        block = rank_block(model.device)
        top = ranked_items(scorer, users, exclude, n_items=data.n_items, k=max(ks), block=block, device=model.device)
    return users, metrics_from_topk(top, truth, users, ks=ks)


def evaluate(
    model: Backbone, data: Dataset, split: str = "valid", *, ks: Sequence[int] = KS, users: np.ndarray | None = None
) -> dict[str, float]:
    """Mean Recall@k / NDCG@k over users with at least one ``split`` item (or over ``users``,
    a sample of them: :func:`user_sample`).

    Validation ranks everything but the user's training items; test also excludes validation
    items.
    """
    if users is not None and split != "valid":
        raise ValueError("only validation is scored on a user sample; test read-outs use every user")
    _, per = _rank(model, data, split, ks=ks, only=users)
    return {key: float(np.mean(vals)) if len(vals) else float("nan") for key, vals in per.items()}


def evaluate_per_user(
    model: Backbone, data: Dataset, split: str = "valid", *, ks: Sequence[int] = KS
) -> dict[str, np.ndarray]:
    """Per-user metrics ``(n_users,)``, NaN for users without ``split`` items."""
    users, per = _rank(model, data, split, ks=ks)
    full = {}
    for key, vals in per.items():
        arr = np.full(data.n_users, np.nan)
        arr[users] = vals
        full[key] = arr
    return full


def quality(metrics: dict[str, float], ks: Sequence[int] = KS) -> float:
    """BET's eval(): the mean of Recall@k and NDCG@k over k (paper Eq. 12/13)."""
    return float(np.mean([metrics[f"{m}@{k}"] for m in ("recall", "ndcg") for k in ks]))
