"""``strata.sklearn.KMeans``: strata's k-means as a scikit-learn estimator (needs scikit-learn).

Like ``sklearn.cluster.KMeans`` it clusters the array as given (no scaling) and exposes ``labels_``,
``cluster_centers_``, ``inertia_`` and ``n_iter_``; it runs strata's CPU or GPU path in float32. Segment
ids are strata's: segment 0 is the largest. Use it inside a Pipeline after a scaler, or use
:func:`strata.fit` for the whole product (preparation, profiles, model file, report).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _strata
from .errors import UsageError


class KMeans(ClusterMixin, TransformerMixin, BaseEstimator):
    """k-means with scikit-learn's defaults: k-means++ (k-means‖ from 200,000 rows), ``n_init=10``,
    ``max_iter=300``, ``tol=1e-4`` relative to the mean feature variance.

    Parameters
    ----------
    n_clusters : int, default 8
    n_init : int, default 10
    max_iter : int, default 300
    tol : float, default 1e-4
    random_state : int or None, default None (seed 0: strata is deterministic)
    device : "auto", "cpu" or "gpu", default "auto"
    """

    def __init__(
        self,
        n_clusters: int = 8,
        *,
        n_init: int = 10,
        max_iter: int = 300,
        tol: float = 1e-4,
        random_state: int | None = None,
        device: str = "auto",
    ):
        self.n_clusters = n_clusters
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.device = device

    def _check_params(self, n_samples: int) -> int:
        for name in ("n_clusters", "n_init", "max_iter"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise UsageError(f"`{name}` must be an integer of at least 1, got {v!r}")
        if n_samples < 2:
            raise UsageError(f"n_samples={n_samples}: k-means needs at least 2 samples")
        if self.n_clusters > n_samples:
            raise UsageError(f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}")
        if not isinstance(self.tol, (int, float, np.floating)) or not self.tol >= 0:
            raise UsageError(f"`tol` must be a number of at least 0, got {self.tol!r}")
        seed = self.random_state
        if seed is None:
            return 0
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0:
            return int(seed)
        raise UsageError(
            f"`random_state` must be None or a non-negative integer (strata's seed), got {seed!r}"
        )

    def fit(self, X, y=None, sample_weight=None):
        """Clusters ``X`` (n_samples × n_features), each row weighted by ``sample_weight`` (default 1);
        ``y`` is ignored."""
        X = validate_data(self, X, dtype=[np.float32, np.float64], ensure_min_samples=1)
        seed = self._check_params(X.shape[0])
        X32 = np.ascontiguousarray(X, dtype=np.float32)
        w = None
        if sample_weight is not None:
            w = _check_sample_weight(sample_weight, X, dtype=np.float32, ensure_non_negative=True)
            if not w.any():
                raise UsageError("every sample weight is zero: give at least one positive weight")
            w = np.ascontiguousarray(w, dtype=np.float32)
        model = _strata.ArrayKMeans(
            X32, w, int(self.n_clusters), int(self.n_init), int(self.max_iter), float(self.tol), seed,
            self.device,
        )
        self._model = model
        self.cluster_centers_ = model.centers().astype(X.dtype, copy=False)
        self.labels_ = model.predict(X32).astype(np.int32)
        self.inertia_ = float(model.inertia)
        self.n_iter_ = int(model.n_iter)
        return self

    def _validated(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        return np.ascontiguousarray(X, dtype=np.float32)

    def predict(self, X):
        """The nearest centroid's segment id of each row."""
        X = self._validated(X)
        return self._model.predict(X).astype(np.int32)

    def fit_predict(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).labels_

    def transform(self, X):
        """Euclidean distances to every centroid (n_samples × n_clusters), as scikit-learn's."""
        X = self._validated(X).astype(self.cluster_centers_.dtype, copy=False)
        c = self.cluster_centers_
        d2 = (X * X).sum(1)[:, None] - 2.0 * X @ c.T + (c * c).sum(1)[None, :]
        return np.sqrt(np.maximum(d2, 0.0))

    def fit_transform(self, X, y=None, sample_weight=None):
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def score(self, X, y=None, sample_weight=None):
        """Minus the sum of squared distances to the nearest centroid (scikit-learn's convention)."""
        return -float((self.transform(X).min(1) ** 2).sum())

    def model_json(self) -> str:
        """The fitted model as a strata model file's text."""
        check_is_fitted(self)
        return self._model.model_json()

    def __getstate__(self):
        state = self.__dict__.copy()
        if "_model" in state:
            state["_model"] = state["_model"].model_json()
        return state

    def __setstate__(self, state):
        if "_model" in state:
            state["_model"] = _strata.ArrayKMeans.from_json(state["_model"])
        self.__dict__.update(state)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
