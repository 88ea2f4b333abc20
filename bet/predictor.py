"""The fitness predictor F_Φ (paper §3.3): DeepSets over the d_max sets S_d = {rows of size d}.

``q_n = ρ(f_n)`` embeds each user/item from its normalised frequency (``f / max f`` per side,
paper Eq. 7 — not the authors' raw item id); ``s_d = μ([mean_{n∈S_d} q_n ; d/d_max])`` (an empty
set contributes ``μ([0 ; d/d_max])``); ``h_a = mean_d s_d``; ``r̂_a = π(h_a)``.

Pooling is vectorised through frequency groups: ``q_n`` depends only on (side, frequency), so
``mean_{n∈S_d} q_n = Σ_g (count[a, d, g] / |S_d|) · q_g`` — one ``bincount`` over all rows of all actions
(once per action) and one matmul per forward pass. :class:`SimplePredictor` (ablation) sees only sizes.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn

from bet.budget import D_MAX
from bet.predictor_inputs import Prepared, SetBatch, cat_prepared, take_prepared
from bet.runtime import torch_threads

__all__ = [
    "EMBED_DIM",
    "PREDICTORS",
    "TRAINING_MODES",
    "DeepSetsPredictor",
    "Predictor",
    "PredictorTrainer",
    "Prepared",
    "SetBatch",
    "SimplePredictor",
    "cat_prepared",
    "take_prepared",
]

EMBED_DIM = 64


def _mlp(sizes: tuple[int, ...], gen: torch.Generator, *, xavier: bool = False, last_act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        lin = nn.Linear(a, b)
        if xavier:
            nn.init.xavier_uniform_(lin.weight, generator=gen)
            nn.init.zeros_(lin.bias)
        else:  # torch's default init, drawn from our generator
            nn.init.kaiming_uniform_(lin.weight, a=math.sqrt(5), generator=gen)
            nn.init.uniform_(lin.bias, -1 / math.sqrt(a), 1 / math.sqrt(a), generator=gen)
        layers += [lin, nn.LeakyReLU()]
    if not last_act:
        layers.pop()
    return nn.Sequential(*layers)


class _Predictor(nn.Module):
    """What both predictors share: ``prepare`` (weight-independent inputs, computed once per
    action), ``embed_prepared`` (the action embedding) and ``head`` (the predicted fitness)."""

    def prepare(self, user_sizes: torch.Tensor | np.ndarray, item_sizes: torch.Tensor | np.ndarray) -> Prepared:
        raise NotImplementedError

    def embed_prepared(self, prepared: Prepared) -> torch.Tensor:
        raise NotImplementedError

    def head(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def embed(self, user_sizes: torch.Tensor | np.ndarray, item_sizes: torch.Tensor | np.ndarray) -> torch.Tensor:
        return self.embed_prepared(self.prepare(user_sizes, item_sizes))

    def forward_prepared(self, prepared: Prepared) -> torch.Tensor:
        return self.head(self.embed_prepared(prepared))

    def forward(self, user_sizes: torch.Tensor | np.ndarray, item_sizes: torch.Tensor | np.ndarray) -> torch.Tensor:
        return self.forward_prepared(self.prepare(user_sizes, item_sizes))


class DeepSetsPredictor(_Predictor):
    """``forward(user_sizes (m, n_users), item_sizes (m, n_items)) -> (m,)`` predicted fitness."""

    def __init__(
        self,
        user_freq: np.ndarray,
        item_freq: np.ndarray,
        *,
        d_max: int = D_MAX,
        seed: int = 0,
        linear_output: bool = False,
    ):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.d_max = d_max
        self.rho_u = _mlp((1, 16, 16), gen)
        self.rho_v = _mlp((1, 16, 16), gen)
        self.mu = _mlp((17, 64, EMBED_DIM), gen)
        # The authors Xavier-init the decoder and end it with a LeakyReLU, which suits raw fitness
        # ratios (> 0) but not standardised targets: ``linear_output`` drops it.
        self.pi = _mlp((EMBED_DIM, 64, 1), gen, xavier=True, last_act=not linear_output)
        uf, vf = np.asarray(user_freq, np.float64), np.asarray(item_freq, np.float64)
        u_vals, u_group = np.unique(uf / max(uf.max(), 1.0), return_inverse=True)
        v_vals, v_group = np.unique(vf / max(vf.max(), 1.0), return_inverse=True)
        self.register_buffer("u_feat", torch.tensor(u_vals, dtype=torch.float32).unsqueeze(1))
        self.register_buffer("v_feat", torch.tensor(v_vals, dtype=torch.float32).unsqueeze(1))
        group = np.concatenate([u_group, v_group + len(u_vals)])
        self.register_buffer("group", torch.from_numpy(group.astype(np.int64)))
        self.n_groups = len(u_vals) + len(v_vals)
        self.register_buffer("d_feat", (torch.arange(1, d_max + 1, dtype=torch.float32) / d_max).unsqueeze(1))

    u_feat: torch.Tensor
    v_feat: torch.Tensor
    group: torch.Tensor
    d_feat: torch.Tensor

    def _counts(self, sizes: torch.Tensor) -> torch.Tensor:
        """``(m, d_max, G)``: rows of S_d per frequency group (one ``bincount``, bounded chunks)."""
        m, g, d = sizes.shape[0], self.n_groups, self.d_max
        out = torch.empty(m, d * g, device=sizes.device)
        chunk = max(1, (1 << 23) // sizes.shape[1])
        for s in range(0, m, chunk):
            part = sizes[s : s + chunk]
            keys = (part - 1) * g + self.group + (torch.arange(len(part), device=sizes.device) * (d * g)).unsqueeze(1)
            out[s : s + chunk] = torch.bincount(keys.reshape(-1), minlength=len(part) * d * g).view(-1, d * g).float()
        return out.view(m, d, g)

    def prepare(self, user_sizes: torch.Tensor | np.ndarray, item_sizes: torch.Tensor | np.ndarray) -> Prepared:
        """The weight-independent part of the embedding (once per action; prefetched by the search)."""
        dev = self.group.device
        sizes = torch.cat([torch.as_tensor(user_sizes), torch.as_tensor(item_sizes)], dim=1).to(dev, torch.int64)
        counts = self._counts(sizes)
        n = counts.sum(-1)  # (m, D): |S_d|
        a, d = (n > 0).nonzero(as_tuple=True)
        return SetBatch(counts[a, d] / n[a, d].unsqueeze(1), a, d, (n == 0).float())

    def embed_prepared(self, prepared: Prepared) -> torch.Tensor:
        """Action embeddings ``h_a`` ``(m, 64)`` (paper Eq. 9) from :meth:`prepare`'s output.
        ``μ`` runs on the non-empty sets only; every empty S_d contributes the same ``μ([0 ;
        d/d_max])`` to every action, computed once (at 95 % sparsity most sets are empty)."""
        sets = prepared
        assert isinstance(sets, SetBatch)
        q = torch.cat([self.rho_u(self.u_feat), self.rho_v(self.v_feat)])  # (G, 16)
        means = sets.weights @ q  # (K, 16): the mean member embedding of each non-empty set
        s = self.mu(torch.cat([means, self.d_feat[sets.size]], dim=1))  # (K, 64)
        s_empty = self.mu(torch.cat([torch.zeros_like(self.d_feat).expand(-1, q.shape[1]), self.d_feat], dim=1))
        total = (sets.empty @ s_empty).index_add(0, sets.action, s)  # (m, 64)
        return total / self.d_max

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.pi(h).squeeze(-1)


class SimplePredictor(_Predictor):
    """Ablation (paper Table 2): an MLP on the raw size vector ``[user sizes ; item sizes] / d_max``
    with no set structure; its 64-wide hidden layer serves as the action embedding."""

    def __init__(
        self,
        user_freq: np.ndarray,
        item_freq: np.ndarray,
        *,
        d_max: int = D_MAX,
        seed: int = 0,
        linear_output: bool = False,
    ):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.d_max = d_max
        self.body = _mlp((len(user_freq) + len(item_freq), 64, EMBED_DIM), gen)
        self.out = _mlp((EMBED_DIM, 1), gen, xavier=True, last_act=not linear_output)

    def prepare(self, user_sizes: torch.Tensor | np.ndarray, item_sizes: torch.Tensor | np.ndarray) -> Prepared:
        dev = next(self.parameters()).device
        x = torch.cat([torch.as_tensor(user_sizes), torch.as_tensor(item_sizes)], dim=1).to(dev, torch.float32)
        return x / self.d_max

    def embed_prepared(self, prepared: Prepared) -> torch.Tensor:
        assert isinstance(prepared, torch.Tensor)
        return self.body(prepared)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        return self.out(h).squeeze(-1)


PREDICTORS: dict[str, type[DeepSetsPredictor] | type[SimplePredictor]] = {
    "deepsets": DeepSetsPredictor,
    "simple": SimplePredictor,
}


Predictor = DeepSetsPredictor | SimplePredictor
TRAINING_MODES = ("fit", "paper")


class PredictorTrainer:
    """Replay buffer of evaluated ``(action, r_a)`` pairs and the predictor's updates.

    ``mode="paper"``: after each new pair, ``updates`` (N = 2) Adam steps on one pair drawn uniformly
    (batch 1), lr 0.01 × 0.9 per step, floor 0.002 (authors' ``update_critic``). ``mode="fit"``
    (default; why: docs/results.md §3): ``updates`` (10) full-batch Adam steps (lr 3e-3) on all pairs
    with standardised targets. Predictions are returned on the fitness scale.
    """

    def __init__(self, model: Predictor, updates: int | None = None, mode: str = "fit"):
        if mode not in TRAINING_MODES:
            raise ValueError(f"unknown predictor training {mode!r}")
        self.model, self.mode = model, mode
        self.updates = updates if updates is not None else (2 if mode == "paper" else 10)
        self.lr, self.decay, self.lr_min = (0.01, 0.9, 0.002) if mode == "paper" else (3e-3, 1.0, 3e-3)
        self.opt = torch.optim.Adam(model.parameters(), lr=self.lr, fused=True)
        self.steps = 0
        self.inputs: list[Prepared] = []
        self.device = next(model.parameters()).device
        self.targets: list[float] = []
        self.mean, self.scale = 0.0, 1.0

    def _step(self, x: Prepared, target: torch.Tensor) -> float:
        for group in self.opt.param_groups:
            group["lr"] = max(self.lr * self.decay**self.steps, self.lr_min)
        loss = nn.functional.mse_loss(self.model.forward_prepared(x), target)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps += 1
        return float(loss.detach())

    def add(
        self,
        user_sizes: np.ndarray,
        item_sizes: np.ndarray,
        fitness: float,
        *,
        rng: np.random.Generator,
        prepared: Prepared | None = None,
    ) -> float:
        """Store a pair (``prepared``: its :meth:`prepare` output if the caller has it, e.g. the pool's
        via :func:`take_prepared`) and run the updates; returns their MSE on the fitness scale. One
        torch thread: the ops are small (faster so), and the bits do not depend on the machine."""
        if prepared is None:
            prepared = self.prepare(np.asarray(user_sizes)[None], np.asarray(item_sizes)[None])
        self.inputs.append(prepared)
        self.targets.append(float(fitness))
        losses = []
        self.model.train()
        with torch_threads("train"):
            if self.mode == "paper":
                for _ in range(self.updates):
                    j = int(rng.integers(len(self.targets)))
                    target = torch.tensor([self.targets[j]], device=self.device)
                    losses.append(self._step(self.inputs[j], target))
            else:
                y = np.asarray(self.targets)
                self.mean, self.scale = float(y.mean()), float(max(y.std(ddof=1), 1e-3)) if len(y) > 1 else 1.0
                x = cat_prepared(self.inputs)
                target = torch.tensor((y - self.mean) / self.scale, dtype=torch.float32, device=self.device)
                losses = [self._step(x, target) * self.scale**2 for _ in range(self.updates)]
        self.model.eval()
        return float(np.mean(losses)) if losses else float("nan")

    @torch.no_grad()
    def prepare(self, user_sizes: np.ndarray, item_sizes: np.ndarray) -> Prepared:
        """Weight-independent inputs for :meth:`predict_prepared`: counts and one division, the same
        bits on any thread count, so it leaves torch's process-global thread setting alone (the
        search runs it on a prefetch thread while training relies on that setting)."""
        return self.model.prepare(user_sizes, item_sizes)

    @torch.no_grad()
    def predict_prepared(self, prepared: Prepared) -> tuple[np.ndarray, np.ndarray]:
        """``(predicted fitness (m,), action embeddings (m, 64))``."""
        self.model.eval()
        with torch_threads("train"):
            emb = self.model.embed_prepared(prepared)
            pred = self.model.head(emb) * self.scale + self.mean
        return pred.cpu().numpy(), emb.cpu().numpy()

    def embedding_of(self, j: int) -> np.ndarray:
        return self.predict_prepared(self.inputs[j])[1][0]

    def predict(self, user_sizes: np.ndarray, item_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.predict_prepared(self.prepare(user_sizes, item_sizes))
