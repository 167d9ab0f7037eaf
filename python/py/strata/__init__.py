"""strata: customer segmentation at portfolio scale, from Python.

The same engine, options, defaults and files as the ``strata`` command line::

    import strata
    seg = strata.fit(table, k=5, id="customer_id", log1p=["balance"])
    seg.segments            # one row per segment (pyarrow.Table)
    seg.labels              # a segment per customer
    seg.write("out/")       # the output set `strata fit --out out/` publishes
    labels = strata.Model.load("out").assign(tonight)

``data`` is anything that exports an Arrow stream (``__arrow_c_stream__``: pyarrow Tables and
RecordBatchReaders, polars DataFrames, DuckDB results, pandas >= 2.2), a pandas DataFrame, a 2-D numpy
array, or the path of a Parquet file, a directory of Parquet files or a CSV file. Arrow data is read in
place, without copying its buffers. Every long call releases the GIL; progress goes to the ``strata``
logger of :mod:`logging`; errors are :class:`strata.errors.StrataError` subclasses.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

# Mesa's implicit device-select Vulkan layer prints "XDG_RUNTIME_DIR is invalid" twice per device probe
# without a desktop session; strata picks its adapter itself (as the CLI does, unless the user set it).
os.environ.setdefault("NODEVICE_SELECT", "1")

from . import _strata  # noqa: E402
from .errors import DeviceError, InputError, OutputError, StrataError, UsageError

__all__ = [
    "fit",
    "sweep",
    "nightly",
    "Model",
    "Segmentation",
    "Sweep",
    "StrataError",
    "UsageError",
    "InputError",
    "OutputError",
    "DeviceError",
]
__version__ = _strata.version()

logger = logging.getLogger("strata")


def _log(line: str) -> None:
    if line.startswith("warning: "):
        logger.warning(line[len("warning: ") :])
    else:
        logger.info(line)


PathLike = str | os.PathLike


def _data(data: Any) -> tuple[list[str], Any]:
    """(input paths, an object exporting an Arrow stream): exactly one of them is used."""
    if isinstance(data, (str, os.PathLike)):
        return [os.fspath(data)], None
    if isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, os.PathLike)) for p in data):
        return [os.fspath(p) for p in data], None
    try:
        import pandas as pd
    except ImportError:  # pandas is optional
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        # Explicitly without the index: a default RangeIndex would otherwise not matter, but any other
        # index would become a numeric column, and so a feature.
        return [], pa.Table.from_pandas(data, preserve_index=False)
    if hasattr(data, "__arrow_c_stream__"):
        return [], data
    if type(data).__module__.startswith("numpy") and getattr(data, "ndim", 0) == 2:
        # One Arrow column per array column, named x0, x1, …: numpy's rows are not Arrow columns, so this
        # is the one input kind that is copied (once, into float columns).
        return [], pa.table({f"x{j}": data[:, j] for j in range(data.shape[1])})
    if hasattr(data, "arrow"):  # DuckDB relations before the Arrow stream protocol
        return [], data.arrow()
    raise UsageError(
        f"`data` is a {type(data).__name__}: give a path, a 2-D numpy array, a pandas DataFrame or an "
        "object with __arrow_c_stream__ (pyarrow, polars, DuckDB)"
    )


def _path_of(previous: Any) -> str | None:
    if previous is None:
        return None
    if isinstance(previous, Segmentation):
        return str(previous.path)
    return os.fspath(previous)


def _csv(delimiter, na_values, decimal, thousands) -> dict:
    csv: dict[str, Any] = {}
    if delimiter is not None:
        csv["delimiter"] = delimiter
    if na_values is not None:
        csv["na_values"] = list(na_values)
    if decimal is not None:
        csv["decimal"] = decimal
    if thousands is not None:
        csv["thousands"] = thousands
    return csv


def _report(report: bool | str) -> str | None:
    if report is False or report is None:
        return None
    return "" if report is True else str(report)


def _fit_options(
    inputs: list[str],
    out: str,
    *,
    k: int,
    features,
    id,
    weight,
    categorical,
    log1p,
    scale,
    missing,
    min_category_share,
    init,
    n_init,
    max_iter,
    tol,
    seed,
    method,
    micro_clusters,
    sample,
    memory,
    previous,
    overlaps,
    drift,
    report,
    csv,
) -> dict:
    """The engine's option sections (FitOptions) from keyword arguments; None keeps the engine's default."""

    def given(**kw):
        return {key: v for key, v in kw.items() if v is not None}

    kmeans = given(
        k=k, init=init, n_init=n_init, max_iter=max_iter, tol=tol, seed=seed, sample=sample, memory=memory
    )
    if method == "ward":
        kmeans["method"] = {"ward": {"micro": micro_clusters or _strata.DEFAULT_MICRO}}
    elif method is not None:
        kmeans["method"] = method
    return {
        "input": given(
            inputs=inputs,
            features=None if features is None else list(features),
            id=id,
            weight=weight,
            categorical=list(categorical),
            csv=csv,
        ),
        "prep": given(
            missing=missing,
            scale=scale,
            log1p=list(log1p),
            min_category_share=min_category_share,
        ),
        "kmeans": kmeans,
        "lifecycle": given(previous=_path_of(previous), overlaps=overlaps, drift=drift),
        "output": {"out": out, "report": _report(report)},
    }


class _Workspace:
    """A private temporary directory holding one published output set; removed with its owner."""

    def __init__(self, owner: Any):
        self.root = Path(tempfile.mkdtemp(prefix="strata-"))
        self.out = self.root / "out"
        weakref.finalize(owner, shutil.rmtree, self.root, True)


class Segmentation:
    """The output set of a fit, held in a private temporary directory until :meth:`write` publishes it.

    The tables are read on first use, as pyarrow Tables, from the same files the CLI writes.
    """

    def __init__(self, path: PathLike, *, _workspace: _Workspace | None = None):
        self._workspace = _workspace
        self.path = Path(path)

    def _table(self, name: str) -> pa.Table | None:
        p = self.path / name
        return pq.read_table(p) if p.exists() else None

    def _json(self, name: str) -> dict | None:
        p = self.path / name
        return json.loads(p.read_text()) if p.exists() else None

    @property
    def labels(self) -> pa.Table:
        """One row per customer: id (or row), segment, distance, second segment, margin, and the
        lifecycle's columns when fitted against a previous night."""
        return self._table("labels.parquet")

    @property
    def segments(self) -> pa.Table:
        """One row per segment: id, name, size, share, rule, and what sets it apart."""
        return self._table("segments.parquet")

    @property
    def profiles(self) -> pa.Table:
        """Per segment and feature, in original units: mean, quartiles, and the z-score against all."""
        return self._table("profiles.parquet")

    @property
    def transitions(self) -> pa.Table | None:
        """Segment transitions since ``previous`` (None without one)."""
        return self._table("transitions.parquet")

    @property
    def migration(self) -> pa.Table | None:
        """Customers' moves between segments since ``previous`` (None without one or without ids)."""
        return self._table("migration.parquet")

    @property
    def drift(self) -> pa.Table | None:
        """Drift against ``previous``'s model (None without one)."""
        return self._table("drift.parquet")

    @property
    def summary(self) -> dict:
        """summary.json: the run's counts, timings, warnings and lifecycle."""
        return self._json("summary.json")

    @property
    def explain(self) -> dict | None:
        """explain.json: the rules that tell the segments apart (None when not written)."""
        return self._json("explain.json")

    @property
    def model(self) -> Model:
        """The model file, to save or to assign tomorrow's customers with."""
        return Model.load(self.path)

    def report_html(self) -> str:
        """report.html's text (written unless ``report=False``)."""
        p = self.path / "report.html"
        if not p.exists():
            raise UsageError("this run wrote no report (report=False): fit again with report=True")
        return p.read_text()

    def files(self) -> list[str]:
        """The names of the files in the output set."""
        return sorted(p.name for p in self.path.iterdir())

    def write(self, out: PathLike) -> list[str]:
        """Publishes the output set as ``out``, exactly as ``strata fit --out`` does: ``out`` keeps its
        previous set until every file is written, and a directory strata did not write is refused."""
        return _strata.publish_copy(str(self.path), os.fspath(out))

    def __repr__(self) -> str:
        s = self.summary or {}
        return f"<strata.{type(self).__name__} k={s.get('k')} rows={s.get('rows_used', s.get('rows'))} at {self.path}>"


class Sweep(Segmentation):
    """The output set of a sweep: one row per k in :attr:`table`, the recommendation in :attr:`result`."""

    @property
    def table(self) -> pa.Table:
        """sweep.parquet: per k, SSE, Calinski-Harabasz, Davies-Bouldin, silhouette, iterations."""
        return self._table("sweep.parquet")

    @property
    def result(self) -> dict:
        """sweep.json."""
        return self._json("sweep.json")

    @property
    def recommended(self) -> int:
        """The k the sweep recommends."""
        return int(self.result["recommendation"]["k"])


def fit(
    data: Any,
    k: int = 8,
    *,
    features: Sequence[str] | None = None,
    id: str | None = None,
    weight: str | None = None,
    log1p: Iterable[str] = (),
    categorical: Iterable[str] = (),
    scale: str | None = None,
    missing: str | None = None,
    min_category_share: float | None = None,
    init: str | None = None,
    n_init: int | None = None,
    max_iter: int | None = None,
    tol: float | None = None,
    seed: int | None = None,
    method: str | None = None,
    micro_clusters: int | None = None,
    sample: int | None = None,
    memory: int | str | None = None,
    device: str = "auto",
    previous: Segmentation | PathLike | None = None,
    overlaps: Mapping[str, float] | None = None,
    drift: Mapping[str, Any] | None = None,
    report: bool | str = True,
    delimiter: str | None = None,
    na_values: Sequence[str] | None = None,
    decimal: str | None = None,
    thousands: str | None = None,
) -> Segmentation:
    """Segments the customers of ``data`` into ``k`` segments, as ``strata fit`` does.

    Options left as None take the CLI's defaults: ``scale="zscore"``, ``missing="error"`` (or "drop",
    "median"), ``init`` k-means++ (k-means‖ from 200,000 rows), ``n_init=10``, ``max_iter=300``,
    ``tol=1e-4``, ``seed=0``. ``features`` defaults to every numeric column but ``id`` and ``weight``.
    ``method="ward"`` builds Ward's hierarchy over ``micro_clusters`` k-means micro-clusters. ``sample`` fits on a
    uniform sample of that many rows; ``memory`` (bytes or "8G") is the budget above which it does so.
    ``previous`` (a Segmentation or an output directory) keeps segment ids across refits and adds
    transitions, migration and drift. ``report`` writes report.html (a string gives its groups,
    "channels=a,b;products=c"). ``device`` is "auto", "cpu" or "gpu".
    """
    inputs, stream = _data(data)
    result = Segmentation.__new__(Segmentation)
    ws = _Workspace(result)
    options = _fit_options(
        inputs,
        str(ws.out),
        k=k,
        features=features,
        id=id,
        weight=weight,
        categorical=categorical,
        log1p=log1p,
        scale=scale,
        missing=missing,
        min_category_share=min_category_share,
        init=init,
        n_init=n_init,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
        method=method,
        micro_clusters=micro_clusters,
        sample=sample,
        memory=memory,
        previous=previous,
        overlaps=overlaps,
        drift=drift,
        report=report,
        csv=_csv(delimiter, na_values, decimal, thousands),
    )
    _strata.run_fit(json.dumps(options), stream, device, _log)
    Segmentation.__init__(result, ws.out, _workspace=ws)
    return result


def sweep(
    data: Any,
    k: Iterable[int] = range(2, 13),
    *,
    silhouette_sample: int | None = None,
    fit_best: bool = False,
    device: str = "auto",
    report: bool | str = True,
    **options: Any,
) -> Sweep:
    """Fits every k of ``k`` and scores each (SSE, Calinski-Harabasz, Davies-Bouldin, silhouette on a
    sample of ``silhouette_sample`` rows, 20,000 by default), as ``strata sweep`` does; ``fit_best`` also
    writes the recommended k's fit outputs. Other keyword arguments are :func:`fit`'s."""
    inputs, stream = _data(data)
    ks = [int(x) for x in k]
    result = Sweep.__new__(Sweep)
    ws = _Workspace(result)
    csv = _csv(*(options.pop(key, None) for key in ("delimiter", "na_values", "decimal", "thousands")))
    allowed = {
        "features", "id", "weight", "log1p", "categorical", "scale", "missing", "min_category_share",
        "init", "n_init", "max_iter", "tol", "seed", "method", "micro_clusters", "sample", "memory",
    }
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UsageError(f"sweep() got unknown keyword arguments: {', '.join(unknown)}")
    kw = {key: options.get(key) for key in allowed}
    kw["log1p"] = kw["log1p"] or ()
    kw["categorical"] = kw["categorical"] or ()
    fit_opts = _fit_options(
        inputs, str(ws.out), k=ks[0] if ks else 2, previous=None, overlaps=None, drift=None,
        report=report, csv=csv, **kw,
    )
    _strata.run_sweep(json.dumps(fit_opts), ks, silhouette_sample, fit_best, stream, device, _log)
    Sweep.__init__(result, ws.out, _workspace=ws)
    return result


def nightly(config: PathLike, date: str | None = None) -> dict:
    """Runs one night of the job file ``config`` (TOML), as ``strata nightly`` does: fit or assign as the
    policy decides, publish into the runs directory, move ``current``. ``date`` is YYYY-MM-DD (default:
    today, UTC). Returns what happened: date, run directory, previous night, action, reason, events."""
    return _strata.run_nightly(os.fspath(config), date, _log)


class Model:
    """A model file (model.json): the preparation, the segments and their identities.

    Load one written by ``strata fit`` or by :func:`fit`; :meth:`assign` gives the segment of new
    customers exactly as ``strata assign`` does.
    """

    def __init__(self, text: str):
        self._text = text
        self._dict = json.loads(text)

    @classmethod
    def load(cls, path: PathLike) -> Model:
        """Reads model.json, or the model of an output directory; a damaged model is an InputError."""
        return cls(_strata.read_model(os.fspath(path)))

    def save(self, path: PathLike) -> None:
        """Writes the model file to ``path`` atomically (a directory: ``path/model.json``)."""
        p = Path(path)
        if p.is_dir():
            p = p / "model.json"
        _strata.write_file(str(p), self._text)

    def to_dict(self) -> dict:
        """The model file as a dict (a copy): preparation, segments with their centroids, the fit."""
        return json.loads(self._text)

    @property
    def k(self) -> int:
        """The number of segments."""
        return len(self._dict["segments"])

    @property
    def features(self) -> list[str]:
        """The input columns the model reads, in its order."""
        return [f["name"] for f in self._dict["features"]]

    def assign(
        self,
        data: Any,
        previous: Segmentation | PathLike | None = None,
        *,
        id: str | None = None,
        profiles: bool = False,
        device: str = "auto",
        out: PathLike | None = None,
        report: bool | str | None = None,
        delimiter: str | None = None,
        na_values: Sequence[str] | None = None,
        decimal: str | None = None,
        thousands: str | None = None,
    ) -> pa.Table:
        """The segment of every row of ``data``: labels.parquet of ``strata assign`` as a pyarrow Table.
        With ``out``, the whole output set (segments, transitions, migration and drift against
        ``previous``, profiles with ``profiles=True``, and report.html unless ``report=False``) is also
        published there."""
        if report is None:  # the CLI's default, where there is a directory to publish it in
            report = out is not None
        inputs, stream = _data(data)
        with tempfile.TemporaryDirectory(prefix="strata-") as tmp:
            model = Path(tmp) / "model.json"
            model.write_text(self._text)
            target = Path(tmp) / "out"
            options = {
                "model": str(model),
                "inputs": inputs,
                "id": id,
                "csv": _csv(delimiter, na_values, decimal, thousands),
                "lifecycle": {"previous": _path_of(previous)},
                "profiles": profiles,
                "output": {"out": str(target), "report": _report(report)},
            }
            _strata.run_assign(json.dumps(options), stream, device, _log)
            labels = pq.read_table(target / "labels.parquet")
            if out is not None:
                _strata.publish_copy(str(target), os.fspath(out))
        return labels

    def __repr__(self) -> str:
        return f"<strata.Model k={self.k} features={self.features}>"


def __getattr__(name: str):
    if name == "sklearn":  # scikit-learn is optional: imported on first use
        import importlib

        return importlib.import_module(".sklearn", __name__)
    raise AttributeError(f"module 'strata' has no attribute {name!r}")
