"""The partial-statistics seam a distributed Lloyd iteration stands on: a step over partitions, merged in
partition order, against the same step computed here with numpy over all rows."""

import numpy as np
import pyarrow as pa
import pytest

import strata
from strata import _strata


def step_numpy(x, c):
    """Brute force in float64: nearest centroid, then each cluster's mean (old centroid if empty), SSE, weight."""
    x64, c64 = x.astype(np.float64), c.astype(np.float64)
    d2 = ((x64[:, None, :] - c64[None, :, :]) ** 2).sum(-1)
    lab = d2.argmin(1)
    new = c64.copy()
    w = np.bincount(lab, minlength=len(c)).astype(np.float64)
    for j in range(len(c)):
        if w[j] > 0:
            new[j] = x64[lab == j].mean(0)
    return new, d2.min(1).sum(), w


@pytest.mark.parametrize("cuts", [[], [0], [1000, 1000, 2500], [1, 2, 3, 3999]])
def test_partitions_merged_in_order_give_the_step_over_all_rows(cuts):
    rng = np.random.default_rng(5)
    # Integer-valued rows: every sum is exact in f64, so any partitioning gives the same bits.
    x = rng.integers(-50, 50, size=(4000, 6)).astype(np.float32)
    c = x[[3, 900, 1700, 3300, 10]].copy()
    parts = np.split(x, cuts)  # a cut at 0 or two equal cuts make an empty partition
    partials = [_strata.lloyd_partial(np.ascontiguousarray(p), c) for p in parts]
    assert all(isinstance(p, pa.RecordBatch) and p.num_rows == 5 for p in partials)
    centroids, sse, weights = _strata.merge_partials(partials, c)
    want, want_sse, want_w = step_numpy(x, c)
    np.testing.assert_array_equal(weights, want_w)
    np.testing.assert_array_equal(centroids, want.astype(np.float32))
    assert sse == want_sse


def test_bad_partials_and_shapes_are_errors():
    c = np.zeros((2, 3), np.float32)
    with pytest.raises(strata.UsageError, match="centroids"):
        _strata.lloyd_partial(np.zeros((4, 2), np.float32), c)
    other = pa.record_batch({"a": [1.0]})
    with pytest.raises(strata.InputError, match="partial statistics"):
        _strata.merge_partials([other], c)
    p = _strata.lloyd_partial(np.zeros((4, 3), np.float32), np.zeros((3, 3), np.float32))
    with pytest.raises(strata.InputError, match="3 clusters"):
        _strata.merge_partials([p], c)
