"""`strata assign` next to Parquet read alone and scikit-learn's `predict`, on the same file, same machine, same run.

Usage: python assign_compare.py MODEL_DIR INPUT.parquet [--rounds 3] [--strata target/release/strata]

Times, each as rows/s over the whole file (best of --rounds, interleaved):
  read      pyarrow reading the model's feature columns and the id, batch by batch (64K rows), nothing else
  predict   pyarrow read + the model's preparation in numpy + sklearn KMeans.predict with the model's
            centroids (the work `strata assign` does, minus the Parquet output), batch by batch
  write     pyarrow writing strata's labels.parquet table (5 columns, Snappy) from memory: the output's I/O
  strata    `strata assign` end to end (read, prepare, assign, write labels.parquet), in a subprocess
It also checks that the predicted segments equal strata's labels (up to exact ties) on the first batch.
Run pinned (`taskset -c 0`) for one core, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (DESIGN.md).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np  # noqa: E402
import pyarrow.parquet as pq
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_info


def model_of(path):
    m = json.load(open(os.path.join(path, "model.json") if os.path.isdir(path) else path))
    if m["preparation"].get("categorical"):
        sys.exit("this comparison covers numeric models only")
    return m


def prepare(batch, m):
    cols = m["preparation"]["columns"]
    x = np.column_stack([batch.column(c["name"]).to_numpy(zero_copy_only=False).astype(np.float32) for c in cols])
    for j, c in enumerate(cols):
        v = x[:, j]
        if m["missing"] == "median":
            v[np.isnan(v)] = c["median"]
        if c["log1p"]:
            v = np.log1p(v)
        x[:, j] = ((v.astype(np.float64) - c["center"]) / c["scale"]).astype(np.float32)
    return x


def read_only(path, names):
    n = 0
    for b in pq.ParquetFile(path).iter_batches(batch_size=65536, columns=names):
        n += b.num_rows
    return n


def sklearn_predict(path, names, m, km):
    n = 0
    first = None
    for b in pq.ParquetFile(path).iter_batches(batch_size=65536, columns=names):
        lab = km.predict(prepare(b, m))
        n += len(lab)
        if first is None:
            first = lab
    return n, first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--strata", default="target/release/strata")
    a = ap.parse_args()
    m = model_of(a.model)
    names = [f["name"] for f in m["features"]] + ([m["id_column"]] if m["id_column"] else [])
    cents = np.array([s["centroid"] for s in m["segments"]], dtype=np.float32)
    km = KMeans(n_clusters=len(cents), init=cents, n_init=1, max_iter=1)
    km.fit(cents)  # sets the fitted attributes; the centroids stay as given
    km.cluster_centers_ = cents
    print("BLAS:", [(i.get("internal_api"), i.get("num_threads"), i.get("architecture")) for i in threadpool_info()])
    best = {"read": 1e9, "write": 1e9, "predict": 1e9, "strata": 1e9}
    rows = None
    for r in range(a.rounds):
        t = time.perf_counter()
        rows = read_only(a.input, names)
        best["read"] = min(best["read"], time.perf_counter() - t)
        t = time.perf_counter()
        _, first = sklearn_predict(a.input, names, m, km)
        best["predict"] = min(best["predict"], time.perf_counter() - t)
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            subprocess.run([a.strata, "assign", "--model", a.model, a.input, "--out", out, "--device", "cpu", "--quiet"],
                           check=True, stdout=subprocess.DEVNULL)
            best["strata"] = min(best["strata"], time.perf_counter() - t)
            labels = pq.read_table(os.path.join(out, "labels.parquet"))
            t = time.perf_counter()
            pq.write_table(labels, os.path.join(out, "again.parquet"), compression="snappy")
            best["write"] = min(best["write"], time.perf_counter() - t)
            if r == 0:
                seg = labels.column("segment").to_numpy()[: len(first)]
                ids = np.array([s["id"] for s in m["segments"]])
                agree = (ids[first] == seg).mean()
                print(f"sklearn predict vs strata segments, first batch: {agree:.6f} agree")
    for k, v in best.items():
        print(f"{k:8s} {v:8.2f} s  {rows / v / 1e6:8.2f} M rows/s")
    io = best["read"] + best["write"]
    print(f"strata / (read + write) time: {best['strata'] / io:.2f}; strata / read time: {best['strata'] / best['read']:.2f}; "
          f"sklearn predict / strata time: {best['predict'] / best['strata']:.2f}")


if __name__ == "__main__":
    main()
