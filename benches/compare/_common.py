"""Shared by the comparison scripts: the same preparation as `strata fit --scale zscore`, and an exact SSE."""
import numpy as np
import pyarrow.parquet as pq


def numeric_features(schema, id_col):
    return [f.name for f in schema if f.name != id_col and str(f.type).startswith(("int", "uint", "float", "double", "decimal"))]


def load_zscored(path, id_col):
    """All numeric columns but `id_col`, z-scored with the population std, as float32 (and the raw float64)."""
    t = pq.read_table(path)
    feats = numeric_features(t.schema, id_col)
    raw = np.column_stack([t.column(f).to_numpy().astype(np.float64) for f in feats])
    mean, std = raw.mean(0), raw.std(0)
    std[std == 0] = 1
    return feats, raw, ((raw - mean) / std).astype(np.float32)


def sse64(X, C):
    """SSE of the nearest-centre assignment, in float64, in blocks of about 2^24 row-centre-feature
    differences (128 MB) to bound memory at any k and d."""
    C = C.astype(np.float64)
    rows = max(1, (1 << 24) // (C.shape[0] * C.shape[1]))
    s = 0.0
    for b in range(0, X.shape[0], rows):
        xb = X[b : b + rows].astype(np.float64)
        s += ((xb[:, None, :] - C[None, :, :]) ** 2).sum(-1).min(1).sum()
    return s
