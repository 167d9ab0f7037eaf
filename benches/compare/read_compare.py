#!/usr/bin/env python3
"""Parquet -> row-major matrix: strata (f64 original values, since issue 11) vs pyarrow (+ numpy, float32).

Run manually (not in CI):  pip install pyarrow numpy
  python3 benches/compare/read_compare.py FILE.parquet --id customer_id --threads 1
pyarrow: read_table of the feature columns, then each column cast into one preallocated C-order float32
array (the layout a k-means library needs). strata: the `read s` of `strata bench --input`, which reads the
same columns (and the id column) into its row-major f64 matrix of original values. Best of --repeat runs each.
"""
import argparse, json, os, subprocess, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("parquet")
ap.add_argument("--id", default="customer_id")
ap.add_argument("--threads", default="1")
ap.add_argument("--repeat", type=int, default=3)
ap.add_argument("--strata", default="target/release/strata")
a = ap.parse_args()
os.environ["RAYON_NUM_THREADS"] = a.threads

import numpy as np, pyarrow as pa, pyarrow.parquet as pq

pa.set_cpu_count(int(a.threads))
pa.set_io_thread_count(int(a.threads))
schema = pq.read_schema(a.parquet)
from _common import numeric_features

feats = numeric_features(schema, a.id)


def pyarrow_read():
    t = pq.read_table(a.parquet, columns=feats, use_threads=int(a.threads) > 1)
    X = np.empty((t.num_rows, len(feats)), dtype=np.float32)
    for j, c in enumerate(feats):
        X[:, j] = t.column(c).to_numpy()
    return X


py = []
for _ in range(a.repeat):
    t0 = time.perf_counter()
    X = pyarrow_read()
    py.append(time.perf_counter() - t0)

st = []
for _ in range(a.repeat):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([a.strata, "bench", "--input", a.parquet, "--id", a.id, "--k", "2", "--iters", "1",
                        "--no-gpu", "--json", tmp + "/b.json", "--quiet"], check=True, stdout=subprocess.DEVNULL)
        st.append(json.load(open(tmp + "/b.json"))[0]["read_s"])
print(json.dumps({"file": a.parquet, "rows": X.shape[0], "features": X.shape[1], "threads": a.threads,
                  "pyarrow_read_s": round(min(py), 3), "strata_read_s": round(min(st), 3),
                  "strata_speedup": round(min(py) / min(st), 2)}, indent=1))
