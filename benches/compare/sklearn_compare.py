#!/usr/bin/env python3
"""strata vs scikit-learn (and faiss when installed) on the same Parquet file, same initial centroids, same
iteration cap.

Run manually (not in CI):  pip install scikit-learn pyarrow
  python3 benches/compare/sklearn_compare.py FILE.parquet --k 8 --iters 20 --threads 1
Prints ms per Lloyd iteration and final inertia for both, and their ratio.
"""
import argparse, json, os, subprocess, sys, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("parquet")
ap.add_argument("--k", type=int, default=8)
ap.add_argument("--iters", type=int, default=20)
ap.add_argument("--threads", default="1")
ap.add_argument("--strata", default="target/release/strata")
ap.add_argument("--id", default="customer_id")
a = ap.parse_args()
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[v] = a.threads

import numpy as np
from sklearn.cluster import KMeans
from _common import load_zscored, sse64

feats, raw, X = load_zscored(a.parquet, a.id)
init_raw = raw[: a.k]

with tempfile.TemporaryDirectory() as tmp:
    init_csv = os.path.join(tmp, "init.csv")
    with open(init_csv, "w") as f:
        f.write(",".join(feats) + "\n")
        for r in init_raw:
            f.write(",".join(repr(float(v)) for v in r) + "\n")
    out = os.path.join(tmp, "out")
    subprocess.run([a.strata, "fit", a.parquet, "--k", str(a.k), "--id", a.id, "--init", init_csv, "--n-init", "1",
                    "--max-iter", str(a.iters), "--tol", "0", "--device", "cpu", "--out", out, "--quiet"],
                   check=True, stdout=subprocess.DEVNULL)
    s = json.load(open(os.path.join(out, "summary.json")))
    steps = s["iterations"] + (0 if s["converged"] else 1)
    strata_ms = 1000 * s["seconds"]["iterate"] / steps
    strata_sse = s["sse"]

km = KMeans(n_clusters=a.k, init=X[: a.k], n_init=1, max_iter=a.iters, tol=0, algorithm="lloyd")
t0 = time.perf_counter()
km.fit(X)
sk_ms = 1000 * (time.perf_counter() - t0) / km.n_iter_


# scikit-learn sums inertia_ and the centre updates in float32 for float32 input, so its trajectory drifts
# (~1e-6..1e-5 relative after 20 iterations). The exact reference is scikit-learn on the same values in
# float64 (same init, same iterations); strata accumulates in f64 too.
sk_sse = sse64(X, km.cluster_centers_)
km64 = KMeans(n_clusters=a.k, init=X[: a.k].astype(np.float64), n_init=1, max_iter=a.iters, tol=0,
              algorithm="lloyd").fit(X.astype(np.float64))
ref_sse = sse64(X, km64.cluster_centers_)
# faiss, when installed (pip install faiss-cpu): the same init and iteration count, no subsampling.
faiss_ms = faiss_sse = None
try:
    import faiss
except ImportError:
    faiss = None
if faiss is not None:
    faiss.omp_set_num_threads(int(a.threads))
    fk = faiss.Kmeans(X.shape[1], a.k, niter=a.iters, max_points_per_centroid=X.shape[0], seed=0)
    t0 = time.perf_counter()
    fk.train(X, init_centroids=X[: a.k].copy())
    faiss_ms = 1000 * (time.perf_counter() - t0) / a.iters
    faiss_sse = sse64(X, fk.centroids)

print(json.dumps({"file": a.parquet, "rows": X.shape[0], "d": X.shape[1], "k": a.k, "threads": a.threads,
                  "strata_ms_per_iter": round(strata_ms, 2), "sklearn_ms_per_iter": round(sk_ms, 2),
                  "speedup_vs_sklearn": round(sk_ms / strata_ms, 2), "strata_sse": strata_sse,
                  "sklearn_f32_sse": sk_sse, "sklearn_f32_inertia_": float(km.inertia_),
                  "sklearn_f64_sse": ref_sse, "sklearn_iters": int(km.n_iter_), "strata_iters": s["iterations"],
                  "rel_diff_vs_sklearn_f32": abs(strata_sse - sk_sse) / sk_sse,
                  "rel_diff_vs_sklearn_f64": abs(strata_sse - ref_sse) / ref_sse,
                  "faiss_ms_per_iter": faiss_ms and round(faiss_ms, 2), "faiss_sse_f64": faiss_sse,
                  "speedup_vs_faiss": faiss_ms and round(faiss_ms / strata_ms, 2)}, indent=1))
