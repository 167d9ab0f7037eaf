#!/usr/bin/env python3
"""PyTorch Lloyd baseline for the GPU comparison: same Parquet file, same preparation (z-score with the
population std), same initial centroids (k rows drawn with --seed, or a CSV of centroids in prepared units)
and a fixed iteration count, as `strata bench` runs them.

Run manually (not in CI), on the GPU machine:  pip install torch pyarrow numpy
  python3 benches/compare/torch_kmeans.py FILE.parquet --k 8 --iters 20 [--device cuda]
Distances use the GEMM form ‖x‖² − 2x·c + ‖c‖² (torch.addmm), labels by argmin, sums by index_add_; the
whole matrix is resident on the device. Prints ms per iteration (after one warm-up iteration, synchronised)
and the final SSE recomputed in float64.
"""
import argparse, json, time

ap = argparse.ArgumentParser()
ap.add_argument("parquet")
ap.add_argument("--k", type=int, default=8)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--id", default="customer_id")
ap.add_argument("--seed", type=int, default=0)
ap.add_argument("--device", default="cuda")
a = ap.parse_args()

import numpy as np, torch
from _common import load_zscored

_, _, X32 = load_zscored(a.parquet, a.id)
X = torch.from_numpy(X32).to(a.device)
n, d = X.shape
g = np.random.default_rng(a.seed)
C = X[torch.from_numpy(g.choice(n, a.k, replace=False)).to(a.device)].clone()
xx = (X * X).sum(1, keepdim=True)


def step(C):
    dist = torch.addmm(xx, X, C.T, alpha=-2.0) + (C * C).sum(1)[None, :]
    lab = dist.argmin(1)
    sums = torch.zeros_like(C).index_add_(0, lab, X)
    cnt = torch.zeros(a.k, device=X.device, dtype=X.dtype).index_add_(0, lab, torch.ones_like(X[:, 0]))
    keep = cnt > 0
    C = torch.where(keep[:, None], sums / cnt.clamp(min=1)[:, None], C)
    return C


sync = torch.cuda.synchronize if X.is_cuda else (lambda: None)
C = step(C)
sync()
t0 = time.perf_counter()
for _ in range(a.iters):
    C = step(C)
sync()
ms = 1000 * (time.perf_counter() - t0) / a.iters
Cd = C.double()
sse = 0.0
for b in range(0, n, 1 << 18):
    xb = X[b : b + (1 << 18)].double()
    sse += torch.cdist(xb, Cd).pow(2).min(1).values.sum().item()
print(json.dumps({"file": a.parquet, "rows": n, "d": d, "k": a.k, "device": str(X.device),
                  "torch": torch.__version__, "ms_per_iter": round(ms, 3),
                  "gb_per_s": round(n * d * 4 / ms / 1e6, 1), "sse_f64": sse}, indent=1))
