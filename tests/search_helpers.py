"""Tiny search settings shared by the search, CLI and executor tests (seconds, not minutes)."""

from __future__ import annotations

import dataclasses

from bet.config import PRETRAIN, RETRAIN, SearchConfig

TINY_PRETRAIN = dataclasses.replace(PRETRAIN, epochs=6)
TINY_RETRAIN = dataclasses.replace(RETRAIN, epochs=4)
TINY = SearchConfig(
    sparsity=0.95, iterations=5, candidates=16, finetune_steps=6, retrain_top=2,
    pretrain=TINY_PRETRAIN, retrain=TINY_RETRAIN, device="cpu",
)  # fmt: skip
TINY_CLI = ["--iterations", "5", "--candidates", "16", "--finetune-steps", "6", "--retrain-top", "2",
            "--pretrain-epochs", "6", "--retrain-epochs", "4", "--device", "cpu"]  # fmt: skip
