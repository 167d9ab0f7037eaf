"""How many rows change cluster at each Lloyd iteration (what strata's moved-rows sums skip), in numpy f64.

Same preparation as the other scripts (z-scored float32), the first K rows as the initial centroids, plain
Lloyd (an empty cluster keeps its centroid), ITERS iterations:

  python3 benches/compare/moves.py FILE.parquet --k 8 [--iters 20] [--id customer_id]
"""
import argparse, os, sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import load_zscored

ap = argparse.ArgumentParser()
ap.add_argument("parquet")
ap.add_argument("--k", type=int, required=True)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--id", default="customer_id")
a = ap.parse_args()
_, _, X = load_zscored(a.parquet, a.id)
C = X[: a.k].astype(np.float64)
prev, moved = None, []
for _ in range(a.iters + 1):
    lab = np.empty(len(X), np.int64)
    for b in range(0, len(X), 100_000):
        xb = X[b : b + 100_000].astype(np.float64)
        lab[b : b + 100_000] = (-2 * xb @ C.T + (C**2).sum(1)).argmin(1)
    if prev is not None:
        moved.append(100 * float((lab != prev).mean()))
    prev = lab
    for c in range(a.k):
        m = lab == c
        if m.any():
            C[c] = X[m].mean(0)
print("% of rows moved at iterations 2..:", " ".join(f"{m:.2f}" for m in moved[:-1]))
print(f"mean over those {a.iters - 1}: {np.mean(moved[:-1]):.2f} %")
