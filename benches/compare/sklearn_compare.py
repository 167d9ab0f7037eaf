#!/usr/bin/env python3
"""strata against scikit-learn (Lloyd), scikit-learn-intelex (oneDAL) and faiss on one Parquet file, one core.

The method of BENCHMARKS.md ("Measuring"):
- every process is pinned to one core (`--core`, default 0; the strata it starts inherits the affinity), and
  BLAS/OpenMP/oneDAL/rayon use one thread;
- OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed from the environment before numpy loads (set on some
  machines for old OpenBLAS builds, they can slow a current one); the BLAS in use is printed (threadpoolctl);
- numpy runs as its users run it, at its best: it asks the kernel for transparent huge pages, which are granted
  to some processes and not others (scikit-learn's Lloyd at 1M × 64 K=32 took ~34 ms/iter with them, ~60
  without; DESIGN.md, 2026-12-07), so run this script in several processes and take each tool's best;
- the same z-scored float32 matrix and the same initial centroids (the first k rows) for everyone;
- each tool is timed with 1 and with 20 Lloyd iterations, in three interleaved rounds, and its marginal time
  per iteration is (min T20 − min T1) / (iterations of T20 − iterations of T1): fixed costs (validation,
  the final assignment) cancel, and a min of each side is not biased by one slow T1 as a min of
  differences would be;
- strata's own floor for the shape (`strata bench --input`, same core) is reported beside it.

Run manually (not in CI):  pip install scikit-learn scikit-learn-intelex faiss-cpu pyarrow
  python3 benches/compare/sklearn_compare.py FILE.parquet --k 8 [--core 0] [--strata target/release/strata]
"""
import argparse, json, os, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("parquet")
ap.add_argument("--k", type=int, default=8)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--core", type=int, default=0)
ap.add_argument("--strata", default="target/release/strata")
ap.add_argument("--id", default="customer_id")
a = ap.parse_args()

# Before numpy (and its OpenBLAS) loads: one core, one thread, no OpenBLAS overrides.
for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
    os.environ.pop(v, None)
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[v] = "1"
os.sched_setaffinity(0, {a.core})

import numpy as np
from threadpoolctl import threadpool_info
from sklearn.cluster import KMeans
from _common import load_zscored, sse64

feats, raw, X = load_zscored(a.parquet, a.id)
n, k = X.shape[0], a.k
init = X[:k].copy()
tmp = tempfile.mkdtemp()
init_csv = os.path.join(tmp, "init.csv")
with open(init_csv, "w") as f:
    f.write(",".join(feats) + "\n")
    for r in raw[:k]:
        f.write(",".join(repr(float(v)) for v in r) + "\n")


def strata(iters):
    """Seconds of strata's Lloyd iterations (summary.json `iterate`), iterations, SSE."""
    out = os.path.join(tmp, "out")
    subprocess.run([a.strata, "fit", a.parquet, "--k", str(k), "--id", a.id, "--init", init_csv, "--n-init", "1",
                    "--max-iter", str(iters), "--tol", "0", "--device", "cpu", "--no-report", "--out", out,
                    "--quiet"], check=True, stdout=subprocess.DEVNULL)
    s = json.load(open(os.path.join(out, "summary.json")))
    return s["seconds"]["iterate"], s["iterations"], s["sse"]  # strata's own f64 SSE


def lloyd_of(cls):
    """Timer for a scikit-learn-style KMeans class: Lloyd from `init`, `iters` iterations, tol 0."""
    def run(iters):
        km = cls(n_clusters=k, init=init, n_init=1, max_iter=iters, tol=0, algorithm="lloyd")
        t0 = time.perf_counter()
        km.fit(X)
        return time.perf_counter() - t0, int(km.n_iter_), km.cluster_centers_
    return run


try:
    from sklearnex.cluster import KMeans as KMeansX
    try:
        import daal4py
        daal4py.daalinit(1)
    except Exception:
        pass
except ImportError:
    KMeansX = None


try:
    import faiss
    faiss.omp_set_num_threads(1)
except ImportError:
    faiss = None


def faiss_(iters):
    # All rows (no subsampling), the same initial centroids.
    fk = faiss.Kmeans(X.shape[1], k, niter=iters, max_points_per_centroid=n, seed=0)
    t0 = time.perf_counter()
    fk.train(X, init_centroids=init.copy())
    return time.perf_counter() - t0, iters, fk.centroids


tools = {"strata": strata, "sklearn": lloyd_of(KMeans)}
if KMeansX is not None:
    tools["sklearnex"] = lloyd_of(KMeansX)
if faiss is not None:
    tools["faiss"] = faiss_
runs = {t: {1: [], a.iters: []} for t in tools}
for _ in range(a.rounds):
    for t, f in tools.items():
        for iters in (1, a.iters):
            runs[t][iters].append(f(iters))

result = {"file": a.parquet, "rows": n, "d": X.shape[1], "k": k, "core": a.core,
          "blas": [{key: i.get(key) for key in ("internal_api", "version", "architecture", "num_threads")}
                   for i in threadpool_info()]}
for t, r in runs.items():
    lo, hi = min(r[1], key=lambda x: x[0]), min(r[a.iters], key=lambda x: x[0])
    steps = hi[1] - lo[1]
    # SSE of the final centres in float64 (strata reports its own), once per tool.
    sse = hi[2] if t == "strata" else sse64(X, hi[2])
    result[t] = {"marginal_ms_per_iter": round(1000 * (hi[0] - lo[0]) / steps, 3) if steps > 0 else None,
                 "iterations": [lo[1], hi[1]], "t1_s": [round(x[0], 4) for x in r[1]],
                 f"t{a.iters}_s": [round(x[0], 4) for x in r[a.iters]], "sse": sse}
# The exact reference trajectory: scikit-learn on the same values in float64 (its float32 run sums centre
# updates in float32 and drifts by ~1e-6..1e-5 relative after 20 iterations; strata accumulates in f64).
km64 = KMeans(n_clusters=k, init=init.astype(np.float64), n_init=1, max_iter=a.iters, tol=0,
              algorithm="lloyd").fit(X.astype(np.float64))
result["sklearn_f64_sse"] = sse64(X, km64.cluster_centers_)
for t in tools:
    result[t]["sse_rel_diff_vs_f64"] = abs(result[t]["sse"] - result["sklearn_f64_sse"]) / result["sklearn_f64_sse"]
base = result["strata"]["marginal_ms_per_iter"]
for t in tools:
    m = result[t]["marginal_ms_per_iter"]
    result[t]["vs_strata"] = round(m / base, 2) if m and base else None
# strata's floor for this shape on the same core (its own bench: one read of the data and the arithmetic).
bench = os.path.join(tmp, "bench.json")
subprocess.run([a.strata, "bench", "--input", a.parquet, "--id", a.id, "--k", str(k), "--iters", str(a.iters),
                "--no-gpu", "--json", bench, "--quiet"], check=True, stdout=subprocess.DEVNULL)
b = json.load(open(bench))[0]
result["strata_floor_ms"] = round(b["floor_ms"], 3)
result["strata_pct_of_floor"] = round(100 * b["floor_ms"] / base, 1) if base else None
print(json.dumps(result, indent=1))
