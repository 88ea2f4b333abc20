"""Time one LightGCN training step and one full-ranking validation pass on a dataset, on the
chosen device (median of repeats). Used first in every GPU session to size what follows.

    python bench/device_check.py --dataset gowalla --device cuda
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root, for `bet`

import argparse
import statistics
import time

import numpy as np
import torch

from bet.backbones import make_backbone
from bet.data import load_dataset
from bet.evaluation import evaluate
from bet.runtime import resolve_device
from bet.train import BPRSampler


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="gowalla")
    ap.add_argument("--backbone", default="lightgcn")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    dev = resolve_device(args.device)
    torch.set_num_threads(1)  # as bet.train does: see bet/runtime.py
    data = load_dataset(args.dataset)
    model = make_backbone(args.backbone, data, seed=0, device=dev)
    opt = torch.optim.Adam(model.parameters(), lr=0.03, fused=True)
    sampler = BPRSampler(data.train, 10_000, np.random.default_rng(0))
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times = []
    for i in range(args.steps + 5):
        t = time.perf_counter()
        u, p, n = (torch.from_numpy(x).to(dev) for x in sampler.sample())
        loss = model.loss(u, p, n)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        if i >= 5:
            times.append(time.perf_counter() - t)
    evals = []
    for _ in range(3):
        t = time.perf_counter()
        evaluate(model, data, "valid")
        sync()
        evals.append(time.perf_counter() - t)
    name = torch.cuda.get_device_name() if dev.type == "cuda" else "cpu"
    print(f"{args.backbone} on {args.dataset} ({name}, torch {torch.__version__}): "
          f"step median {statistics.median(times) * 1000:.1f} ms, full-ranking validation median {statistics.median(evals):.2f} s, "
          f"steps/epoch {-(-data.train.nnz // 10_000)}")  # fmt: skip


if __name__ == "__main__":
    main()
