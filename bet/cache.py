"""On-disk cache of trained models under ``$BET_HOME/models``, keyed by everything that decides
the weights: dataset content, split, backbone, d_max, training config and seed."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from typing import Any

import torch

from bet.backbones import Backbone
from bet.data import Dataset
from bet.paths import cache_dir

_ADDED_LATER = ("eval_every_steps", "eval_users")
NAME_LIMIT = 64
_PLAIN = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._+-]{{0,{NAME_LIMIT - 1}}}")
CACHE_VERSION = 3  # bump when a backbone's maths or the training batches change (3: distinct users per batch)


def model_key(data: Dataset, backbone: str, *, d_max: int, cfg: Any, seed: int) -> str:
    # Fields added to the config after this version, at their defaults, leave the key unchanged.
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if not (k in _ADDED_LATER and v is None)}
    spec = {
        "v": CACHE_VERSION,
        "data": data.fingerprint,
        "backbone": backbone,
        "d_max": d_max,
        "cfg": settings,
        "seed": seed,
    }
    blob = json.dumps(spec, sort_keys=True).encode()
    return f"{safe_name(data.name)}-{backbone}-{hashlib.sha256(blob).hexdigest()[:16]}"


def safe_name(name: str) -> str:
    """``name`` as part of a file name: itself when short and plain (so existing keys stay), else
    a plain prefix and a hash of the whole name, never past :data:`NAME_LIMIT` characters (a
    dataset file's name may be up to 255 bytes, more than is left once the key is added)."""
    if _PLAIN.fullmatch(name):
        return name
    prefix = re.sub(r"[^A-Za-z0-9._+-]+", "_", name)[: NAME_LIMIT - 17].strip("._-") or "data"
    return f"{prefix}~{hashlib.sha256(name.encode('utf-8', 'surrogateescape')).hexdigest()[:16]}"


def load(model: Backbone, key: str) -> dict[str, Any] | None:
    """Load cached weights into ``model``; returns the stored metadata, or None on a miss (a
    corrupt or incompatible file counts as a miss and is rebuilt)."""
    path = cache_dir("models") / f"{key}.pt"
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location=model.device, weights_only=True)
        if not fits(model, blob["state"]):
            return None  # checked first: load_state_dict copies the matching tensors before it raises
        model.load_state_dict(blob["state"])
    except Exception:  # noqa: BLE001 — any unreadable cache entry is simply retrained
        return None
    return dict(blob.get("meta", {}))


def fits(model: Backbone, state: Any) -> bool:
    """Whether ``state`` has exactly the model's tensors, each of the model's shape and dtype."""
    own = model.state_dict()
    if not isinstance(state, dict) or set(state) != set(own):
        return False
    return all(
        isinstance(state[k], torch.Tensor) and state[k].shape == v.shape and state[k].dtype == v.dtype
        for k, v in own.items()
    )


def save(model: Backbone, key: str, meta: dict[str, Any]) -> None:
    """Atomically write the model (a crash mid-write never leaves a half file)."""
    folder = cache_dir("models")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(fd)
    try:
        torch.save({"state": state, "meta": meta}, tmp)
        os.replace(tmp, folder / f"{key}.pt")
    except (OSError, RuntimeError) as exc:  # a full disk (torch reports it as a RuntimeError): the run goes on
        why = getattr(exc, "strerror", None) or f"{shutil.disk_usage(folder).free // 2**20:,} MB free"
        logging.getLogger(__name__).warning("cannot cache the model in %s (%s); continuing without it", folder, why)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def exists(key: str) -> bool:
    """Whether a model is cached under ``key`` (without loading it)."""
    return (cache_dir("models") / f"{key}.pt").exists()
