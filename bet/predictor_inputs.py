"""A predictor's prepared inputs: what ``prepare`` computes once per action (weight-independent),
kept per evaluated pair by the predictor's trainer and cut from or joined into a candidate pool.
The DeepSets predictor's are :class:`SetBatch` (its non-empty sets S_d); the ablation's a tensor."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SetBatch:
    """The non-empty sets S_d of ``m`` actions: row k is set ``size[k]`` (d − 1) of action ``action[k]``
    with its frequency-group shares ``weights[k]`` (G,); ``empty`` (m, d_max) marks the empty sets."""

    weights: torch.Tensor
    action: torch.Tensor
    size: torch.Tensor
    empty: torch.Tensor

    def take(self, i: int) -> SetBatch:
        lo, hi = torch.searchsorted(self.action, torch.tensor([i, i + 1])).tolist()  # rows are by action
        w, size, empty = (x.clone() for x in (self.weights[lo:hi], self.size[lo:hi], self.empty[i : i + 1]))
        return SetBatch(w, self.action[lo:hi] * 0, size, empty)  # copies: a stored pair keeps no pool alive

    @staticmethod
    def cat(batches: list[SetBatch]) -> SetBatch:
        offsets = itertools.accumulate((len(b.empty) for b in batches[:-1]), initial=0)
        return SetBatch(
            torch.cat([b.weights for b in batches]),
            torch.cat([b.action + off for b, off in zip(batches, offsets, strict=True)]),
            torch.cat([b.size for b in batches]),
            torch.cat([b.empty for b in batches]),
        )


Prepared = torch.Tensor | SetBatch  # what a predictor's ``prepare`` returns


def take_prepared(prepared: Prepared, i: int) -> Prepared:
    """Action ``i`` of a prepared pool alone: the same values as preparing it by itself."""
    return prepared.take(i) if isinstance(prepared, SetBatch) else prepared[i : i + 1].clone()


def cat_prepared(parts: list[Prepared]) -> Prepared:
    if all(isinstance(x, SetBatch) for x in parts):
        return SetBatch.cat(parts)  # type: ignore[arg-type]
    return torch.cat(parts)  # type: ignore[arg-type]
