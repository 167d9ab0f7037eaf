#!/usr/bin/env python3
"""`strata fit` against the same job written the way a scikit-learn user writes it, end to end, on one Parquet
file: phases, total and peak RSS of each, in interleaved rounds (each in a process of its own).

The scikit-learn pipeline: pyarrow reads the table, pandas holds it, StandardScaler z-scores the numeric columns
but the id, KMeans(k, n_init=10) fits (scikit-learn's Lloyd, its default threads), and the labels (id, segment)
and each segment's describe() of the original columns are written to Parquet. strata: `strata fit FILE --k K
--id ID --no-report` (it also writes profiles with quartiles, the model, the explanations and the drift
reference). Both run as their users run them: all cores, numpy's defaults (it asks for huge pages).

Run manually (not in CI):  pip install scikit-learn pyarrow pandas
  python3 benches/compare/pipeline_compare.py FILE.parquet --k 8 [--rounds 2] [--strata target/release/strata]
"""
import argparse, json, os, subprocess, sys, tempfile, time

SKLEARN = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np, pyarrow.parquet as pq
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
path, k, id_col, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = {}
t = time.perf_counter(); df = pq.read_table(path).to_pandas(); s["read"] = time.perf_counter() - t
feats = [c for c in df.columns if c != id_col and np.issubdtype(df[c].dtype, np.number)]
t = time.perf_counter(); X = StandardScaler().fit_transform(df[feats].to_numpy(np.float64)); s["prepare"] = time.perf_counter() - t
t = time.perf_counter(); km = KMeans(n_clusters=k, n_init=10, random_state=0).fit(X); s["fit"] = time.perf_counter() - t
t = time.perf_counter()
df["segment"] = km.labels_
df[[id_col, "segment"]].to_parquet(out + "/labels.parquet")
df.groupby("segment")[feats].describe().to_parquet(out + "/profiles.parquet")
s["write"] = time.perf_counter() - t
s["total"] = time.perf_counter() - t0
s["sse"] = float(km.inertia_)
print(json.dumps(s))
"""


def peak_rss(cmd):
    """Wall seconds, peak RSS (MB) and stdout of `cmd`, from the kernel's accounting of the child."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        sys.exit(f"{' '.join(cmd)} exited with status {status}")
    return wall, ru.ru_maxrss / 1024, out


ap = argparse.ArgumentParser()
ap.add_argument("parquet")
ap.add_argument("--k", type=int, default=8)
ap.add_argument("--id", default="customer_id")
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--strata", default="target/release/strata")
a = ap.parse_args()

rows = {"scikit-learn": [], "strata": []}
with tempfile.TemporaryDirectory() as tmp:
    for r in range(a.rounds):
        out = os.path.join(tmp, f"sk{r}")
        os.mkdir(out)
        wall, rss, text = peak_rss([sys.executable, "-c", SKLEARN, a.parquet, str(a.k), a.id, out])
        phases = json.loads(text)
        rows["scikit-learn"].append({"wall": wall, "rss_mb": rss, **phases})
        out = os.path.join(tmp, f"st{r}")
        cmd = [a.strata, "fit", a.parquet, "--k", str(a.k), "--id", a.id, "--no-report", "-q", "--out", out]
        wall, rss, _ = peak_rss(cmd)
        s = json.load(open(os.path.join(out, "summary.json")))
        sec = s["seconds"]
        rows["strata"].append({"wall": wall, "rss_mb": rss, "read": sec["read"], "prepare": sec["prepare"],
                               "fit": sec["init"] + sec["iterate"], "write": sec["write"], "total": sec["total"],
                               "sse": s["sse"]})

print(f"{a.parquet}, k = {a.k}, {a.rounds} interleaved rounds, best of each (peak RSS: the lowest)")
print(f"{'':14}{'read':>8}{'prepare':>9}{'fit':>8}{'write':>8}{'total':>8}{'wall':>8}{'peak RSS MB':>13}{'SSE':>14}")
best = {}
for tool, rs in rows.items():
    b = {key: min(r[key] for r in rs) for key in ("read", "prepare", "fit", "write", "total", "wall", "rss_mb")}
    best[tool] = b
    print(f"{tool:14}{b['read']:8.2f}{b['prepare']:9.2f}{b['fit']:8.2f}{b['write']:8.2f}{b['total']:8.2f}"
          f"{b['wall']:8.2f}{b['rss_mb']:13.0f}{rs[0]['sse']:14.6g}")
print(f"strata: {best['scikit-learn']['wall'] / best['strata']['wall']:.2f}x faster wall, "
      f"{best['scikit-learn']['rss_mb'] / best['strata']['rss_mb']:.2f}x less peak memory")
