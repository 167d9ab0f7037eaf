"""strata.sklearn.KMeans: scikit-learn's estimator checks, and its clusters against scikit-learn's KMeans."""

import pickle

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from strata.sklearn import KMeans

# Checks that cannot pass, with the reason.
EXPECTED_FAILED_CHECKS = {
    "check_sample_weights_shape": "strata refuses a k above the number of distinct rows (the check fits "
    "k = 8 on 4 distinct rows); scikit-learn warns and returns duplicate centres",
    "check_sample_weights_not_overwritten": "the same refusal of k above the distinct rows",
    "check_sample_weight_equivalence_on_dense_data": "k-means++ draws its seeds by weight: weighting a row "
    "is not the same random draw as repeating it (scikit-learn's own KMeans lists this check too)",
}


@parametrize_with_checks([KMeans(device="cpu")], expected_failed_checks=lambda e: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_clusters_agree_with_scikit_learn():
    X, _ = make_blobs(n_samples=5_000, centers=6, n_features=5, cluster_std=1.0, random_state=4)
    ours = KMeans(6, n_init=10, random_state=0, device="cpu").fit(X)
    theirs = SkKMeans(6, n_init=10, random_state=0).fit(X)
    assert adjusted_rand_score(ours.labels_, theirs.labels_) > 0.999
    assert ours.inertia_ == pytest.approx(theirs.inertia_, rel=1e-4)
    # The centres are the members' means (to float32 precision).
    for c in range(6):
        np.testing.assert_allclose(ours.cluster_centers_[c], X[ours.labels_ == c].mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(ours.predict(X), ours.labels_)
    d = ours.transform(X[:10])
    assert d.shape == (10, 6)
    np.testing.assert_array_equal(d.argmin(1), ours.labels_[:10])


def test_a_pickled_estimator_predicts_the_same():
    X, _ = make_blobs(n_samples=500, centers=3, random_state=1)
    k = KMeans(3, device="cpu").fit(X)
    back = pickle.loads(pickle.dumps(k))
    np.testing.assert_array_equal(back.predict(X), k.predict(X))
    assert back.model_json() == k.model_json()
