#!/usr/bin/env python3
"""strata's k-means|| (or any --init) vs scikit-learn's greedy k-means++ on the same Parquet file.

Run manually (not in CI):  pip install scikit-learn pyarrow
  python3 benches/compare/init_compare.py FILE.parquet --k 8 --seeds 5 --threads 1
For each seed: the initialisation time of each, then Lloyd to convergence (tol 1e-4, as both default) and
the final SSE, recomputed in float64 from the final centres for scikit-learn.
"""
import argparse, json, os, subprocess, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("parquet")
ap.add_argument("--k", type=int, default=8)
ap.add_argument("--seeds", type=int, default=5)
ap.add_argument("--threads", default="1")
ap.add_argument("--init", default="k-means||")
ap.add_argument("--strata", default="target/release/strata")
ap.add_argument("--id", default="customer_id")
a = ap.parse_args()
for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[v] = a.threads

import numpy as np
from sklearn.cluster import KMeans, kmeans_plusplus
from _common import load_zscored, sse64

_, raw, X = load_zscored(a.parquet, a.id)
del raw


rows = []
for seed in range(a.seeds):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([a.strata, "fit", a.parquet, "--k", str(a.k), "--id", a.id, "--init", a.init, "--n-init", "1",
                        "--seed", str(seed), "--device", "cpu", "--out", tmp + "/o", "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        s = json.load(open(tmp + "/o/summary.json"))
    t0 = time.perf_counter()
    centers, _ = kmeans_plusplus(X, n_clusters=a.k, random_state=seed)
    sk_init = time.perf_counter() - t0
    km = KMeans(n_clusters=a.k, init=centers, n_init=1, algorithm="lloyd", random_state=seed).fit(X)
    rows.append({"seed": seed, "strata_init_s": round(s["seconds"]["init"], 3), "sklearn_init_s": round(sk_init, 3),
                 "init_speedup": round(sk_init / s["seconds"]["init"], 1),
                 "strata_sse": s["sse"], "sklearn_sse_f64": sse64(X, km.cluster_centers_),
                 "strata_iters": s["iterations"], "sklearn_iters": int(km.n_iter_)})
    print(json.dumps(rows[-1]), flush=True)
print(json.dumps({"file": a.parquet, "k": a.k, "init": a.init, "threads": a.threads,
                  "median_init_speedup": float(np.median([r["init_speedup"] for r in rows])),
                  "strata_sse_mean": float(np.mean([r["strata_sse"] for r in rows])),
                  "sklearn_sse_mean": float(np.mean([r["sklearn_sse_f64"] for r in rows]))}))
