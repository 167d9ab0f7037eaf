#!/usr/bin/env python3
"""What a tuned BLAS reaches on the k-means product alone: X (n × d) times Cᵀ (d × k) in float32, one core.

The reference for strata's "% of floor" at compute-bound shapes: strata's floor takes 2·n·d·k flops at the
multiply-add peak of a loop with register operands only (`strata bench`'s floor column), and this says how
much of that peak OpenBLAS's sgemm itself reaches on the same core for the same product, before any argmin,
bound or accumulation. Same method as sklearn_compare.py: pinned to one core (`--core`), OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE removed before numpy loads, one BLAS thread, the BLAS in use printed; min of `--rounds` runs.

Run manually (not in CI):
  python3 benches/compare/blas_reference.py [--core 0] [--shapes 1000000x16x8,1000000x64x32,250000x32x256]
"""
import argparse, os, time

ap = argparse.ArgumentParser()
ap.add_argument("--core", type=int, default=0)
ap.add_argument("--rounds", type=int, default=5)
ap.add_argument("--shapes", default="1000000x16x8,1000000x64x32,250000x32x256,2048x2048x2048")
a = ap.parse_args()

for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(v, None)
for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"
os.sched_setaffinity(0, {a.core})

import numpy as np  # noqa: E402  (after the environment is set)
from threadpoolctl import threadpool_info  # noqa: E402

for i in threadpool_info():
    print(f"BLAS: {i['internal_api']} {i['version']} ({i.get('architecture')}), {i['num_threads']} thread(s)")

rng = np.random.default_rng(1)
print(f"{'shape':>20} {'sgemm ms':>10} {'GFLOP/s':>9}")
for s in a.shapes.split(","):
    n, d, k = map(int, s.split("x"))
    x = rng.standard_normal((n, d), dtype=np.float32)
    ct = np.ascontiguousarray(rng.standard_normal((k, d), dtype=np.float32).T)
    out = np.empty((n, k), dtype=np.float32)
    np.matmul(x, ct, out=out)
    best = min(
        (lambda t0: (np.matmul(x, ct, out=out), time.perf_counter() - t0)[1])(time.perf_counter())
        for _ in range(a.rounds)
    )
    print(f"{s:>20} {best * 1e3:>10.2f} {2 * n * d * k / best / 1e9:>9.1f}")
