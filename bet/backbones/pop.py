"""``pop``: rank items by training popularity. No embeddings, so zero memory: the floor of every
recall-vs-budget frontier."""

from __future__ import annotations

import torch

from bet.backbones.base import Backbone, Scorer
from bet.data import Dataset


class Pop(Backbone):
    name = "pop"
    trainable = False
    popularity: torch.Tensor

    def __init__(self, data: Dataset, d_max: int, device: torch.device, *, generator: torch.Generator):
        super().__init__(data, d_max, device)
        self.table = None
        self.register_buffer("popularity", torch.as_tensor(data.item_freq, dtype=torch.float32, device=device))

    def loss(self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
        raise TypeError("pop has nothing to train")

    def scorer(self) -> Scorer:
        pop = self.popularity
        return Scorer(fn=lambda users: pop.unsqueeze(0).expand(len(users), -1).clone())
