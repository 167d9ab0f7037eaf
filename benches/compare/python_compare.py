#!/usr/bin/env python3
"""`strata.fit` on a pandas DataFrame already in memory against the scikit-learn pipeline on the same frame
(StandardScaler z-score of the numeric columns but the id, KMeans(k, n_init=10), the labels), each in a
process of its own, in interleaved rounds: seconds of the call and the process's peak RSS, with the RSS once
the frame was loaded (what the call added is the difference). Both as their users run them: all cores,
numpy's defaults (it asks for huge pages); strata with its defaults (report=False: the pipeline writes none).

Run manually (not in CI), with the package installed (pip install ./python) and scikit-learn:
  python3 benches/compare/python_compare.py FILE.parquet --k 8 [--rounds 2]
"""
import argparse, json, os, subprocess, sys, time

CHILD = r"""
import json, os, sys, time
import numpy as np, pyarrow.parquet as pq
side, path, k, id_col = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
df = pq.read_table(path).to_pandas()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
loaded = rss()
t = time.perf_counter()
if side == "strata":
    import strata
    seg = strata.fit(df, k=k, id=id_col, report=False)
    labels = seg.labels.column("segment").to_numpy()
    sse = seg.summary["sse"]
else:
    from sklearn.cluster import KMeans
    from sklearn.preprocessing import StandardScaler
    feats = [c for c in df.columns if c != id_col and np.issubdtype(df[c].dtype, np.number)]
    X = StandardScaler().fit_transform(df[feats].to_numpy(np.float64))
    km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(X)
    labels = km.labels_
    sse = float(km.inertia_)
print(json.dumps({"seconds": time.perf_counter() - t, "loaded_mb": loaded, "sse": sse, "rows": len(labels)}))
"""


def run(side, a):
    p = subprocess.Popen(
        [sys.executable, "-c", CHILD, side, a.parquet, str(a.k), a.id],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{side} exited with status {status}")
    r = json.loads(out)
    r["peak_mb"] = ru.ru_maxrss / 1024
    return r


ap = argparse.ArgumentParser()
ap.add_argument("parquet")
ap.add_argument("--k", type=int, default=8)
ap.add_argument("--id", default="customer_id")
ap.add_argument("--rounds", type=int, default=2)
a = ap.parse_args()

rows = {"scikit-learn": [], "strata": []}
for r in range(a.rounds):
    for side in ("scikit-learn", "strata"):
        x = run(side, a)
        rows[side].append(x)
        print(f"round {r + 1} {side:12s} {x['seconds']:7.2f} s  peak {x['peak_mb']:7.0f} MB  "
              f"(frame loaded: {x['loaded_mb']:.0f} MB; added {x['peak_mb'] - x['loaded_mb']:.0f} MB)  "
              f"SSE {x['sse']:.6g}", flush=True)
best = {s: min(v, key=lambda x: x["seconds"]) for s, v in rows.items()}
print(f"strata.fit is {best['scikit-learn']['seconds'] / best['strata']['seconds']:.2f}x faster "
      f"(best of {a.rounds}); peak {best['scikit-learn']['peak_mb']:.0f} MB vs {best['strata']['peak_mb']:.0f} MB")
