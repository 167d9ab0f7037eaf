"""Typed stubs of the compiled module (python/src/lib.rs). The public API is the pure-Python layer in
strata/__init__.py and strata/sklearn.py; these functions take the engine's option sections as JSON."""

from typing import Any, Callable

import numpy as np
import numpy.typing as npt

DEFAULT_MICRO: int

def version() -> str: ...
def run_fit(options: str, data: Any | None, device: str, log: Callable[[str], None]) -> list[str]:
    """Runs a fit (FitOptions as JSON; `data` exports an Arrow stream, or None to read the inputs) and
    publishes its output set; returns its files."""

def run_assign(options: str, data: Any | None, device: str, log: Callable[[str], None]) -> list[str]:
    """Runs an assign (AssignOptions as JSON); returns the files of its output set."""

def run_sweep(
    options: str,
    ks: list[int],
    silhouette_sample: int | None,
    fit_best: bool,
    data: Any | None,
    device: str,
    log: Callable[[str], None],
) -> None:
    """Runs a sweep over `ks` (the fit's FitOptions as JSON)."""

def run_nightly(config: str, date: str | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Runs one night of a job file; returns date, run, previous, action, reason, events, removed."""

def publish_copy(source: str, out: str) -> list[str]:
    """Publishes a copy of the output set at `source` as `out`."""

def read_model(path: str) -> str:
    """The text of a model file (model.json or an output directory's), once checked."""

def write_file(path: str, text: str) -> None:
    """Writes `text` to `path` atomically."""

class ArrayKMeans:
    """k-means on a float32 array (no preparation), for strata.sklearn.KMeans."""

    def __init__(
        self,
        x: npt.NDArray[np.float32],
        weights: npt.NDArray[np.float32] | None,
        k: int,
        n_init: int,
        max_iter: int,
        tol: float,
        seed: int,
        device: str,
    ) -> None: ...
    @staticmethod
    def from_json(text: str) -> ArrayKMeans: ...
    def centers(self) -> npt.NDArray[np.float32]: ...
    def predict(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.uint32]: ...
    @property
    def inertia(self) -> float: ...
    @property
    def n_iter(self) -> int: ...
    def model_json(self) -> str: ...

def lloyd_partial(x: npt.NDArray[np.float32], centroids: npt.NDArray[np.float32]) -> Any:
    """One Lloyd step over a partition's prepared rows: its partial statistics as a pyarrow RecordBatch
    (a row per cluster: cluster, weight, sse, moved, sum_0 …)."""

def merge_partials(
    partials: list[Any], centroids: npt.NDArray[np.float32]
) -> tuple[npt.NDArray[np.float32], float, npt.NDArray[np.float64]]:
    """Merges partial statistics in the order given: the new centroids, the SSE, each cluster's weight."""
