//! `strata._strata`: the compiled half of the Python package. It runs the engine's jobs on option
//! sections given as JSON (the pure-Python layer builds them from keyword arguments), reads Arrow streams
//! in place through the Arrow C stream interface, releases the GIL for every job, sends the log to a
//! Python callable and raises the package's exception for each error kind.

use std::path::PathBuf;

use arrow_array::RecordBatch;
use arrow_array::ffi_stream::RecordBatchStreamReader;
use arrow_pyarrow::{FromPyArrow, PyArrowType, ToPyArrow};
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use strata::compute::select::{Selected, select};
use strata::compute::{Backend, CpuBackend, Dataset, DeviceChoice, GpuOptions, Stats, kernel::Isa};
use strata::data::source::Batches;
use strata::jobs::assign::{self, AssignOptions};
use strata::jobs::fit::{self, FitOptions};
use strata::jobs::nightly::{self, Job};
use strata::jobs::sweep::{self, SweepOptions};
use strata::{KMeans, Kind, Model};

/// The engine's error as the package's exception for its kind (`strata.errors`), with the engine's
/// message on one line.
fn py_err(py: Python<'_>, e: strata::Error) -> PyErr {
    let class = match e.kind() {
        Kind::Usage => "UsageError",
        Kind::Input => "InputError",
        Kind::Output => "OutputError",
        Kind::Device => "DeviceError",
        _ => "StrataError",
    };
    let msg = e
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    match py.import("strata.errors").and_then(|m| m.getattr(class)) {
        Ok(cls) => match cls.call1((msg,)) {
            Ok(value) => PyErr::from_value(value),
            Err(err) => err,
        },
        Err(err) => err,
    }
}

fn json_err(py: Python<'_>, what: &str, e: serde_json::Error) -> PyErr {
    py_err(py, strata::Error::usage(format!("{what}: {e}")))
}

/// The rows of an object with `__arrow_c_stream__`, held as the batches it exported (no copy).
fn batches(
    py: Python<'_>,
    data: Option<&Bound<'_, PyAny>>,
    name: &str,
) -> PyResult<Option<Batches>> {
    let Some(data) = data else { return Ok(None) };
    let reader = RecordBatchStreamReader::from_pyarrow_bound(data)?;
    let schema = arrow_array::RecordBatchReader::schema(&reader);
    let batches = reader
        .collect::<Result<Vec<RecordBatch>, _>>()
        .map_err(|e| {
            py_err(
                py,
                strata::Error::input(format!("cannot read {name}")).with_source(e),
            )
        })?;
    Batches::new(name, schema, batches)
        .map(Some)
        .map_err(|e| py_err(py, e))
}

/// The log as calls of `log(line)` (Python's `logging`, set up by the pure-Python layer).
fn logger(log: &Py<PyAny>) -> impl Fn(&str) + '_ {
    move |line: &str| {
        Python::attach(|py| {
            // A failing log handler must not fail the job; Python reports it as unraisable.
            if let Err(e) = log.call1(py, (line,)) {
                e.write_unraisable(py, None);
            }
        })
    }
}

fn device_choice(py: Python<'_>, device: &str) -> PyResult<DeviceChoice> {
    device
        .parse()
        .map_err(|e: String| py_err(py, strata::Error::usage(format!("`device`: {e}"))))
}

fn selected(device: DeviceChoice, log: &dyn Fn(&str)) -> strata::Result<Selected> {
    select(device, Isa::detect(), GpuOptions::default(), log)
}

/// Runs `job` on `device` with the GIL released, its log sent to `log`; the engine's error as the
/// package's exception.
fn on_device<T: Send>(
    py: Python<'_>,
    device: &str,
    log: Py<PyAny>,
    job: impl FnOnce(&Selected, &dyn Fn(&str)) -> strata::Result<T> + Send,
) -> PyResult<T> {
    let device = device_choice(py, device)?;
    py.detach(|| {
        let log = logger(&log);
        job(&selected(device, &log)?, &log)
    })
    .map_err(|e| py_err(py, e))
}

fn paths(files: Vec<PathBuf>) -> Vec<String> {
    files.into_iter().map(|p| p.display().to_string()).collect()
}

/// Runs a fit (options: `FitOptions` as JSON) and publishes its output set; returns its files.
#[pyfunction]
#[pyo3(signature = (options, data, device, log))]
fn run_fit(
    py: Python<'_>,
    options: &str,
    data: Option<&Bound<'_, PyAny>>,
    device: &str,
    log: Py<PyAny>,
) -> PyResult<Vec<String>> {
    let mut opts: FitOptions =
        serde_json::from_str(options).map_err(|e| json_err(py, "fit options", e))?;
    opts.input.memory = batches(py, data, "the table given")?;
    on_device(py, device, log, |sel, log| {
        fit::run(&opts.check()?, sel, log).map(|o| paths(o.files))
    })
}

/// Runs an assign (options: `AssignOptions` as JSON); returns the files of its output set.
#[pyfunction]
#[pyo3(signature = (options, data, device, log))]
fn run_assign(
    py: Python<'_>,
    options: &str,
    data: Option<&Bound<'_, PyAny>>,
    device: &str,
    log: Py<PyAny>,
) -> PyResult<Vec<String>> {
    let mut opts: AssignOptions =
        serde_json::from_str(options).map_err(|e| json_err(py, "assign options", e))?;
    opts.memory = batches(py, data, "the table given")?;
    on_device(py, device, log, |sel, log| {
        assign::run(&opts.check()?, sel, log).map(|o| paths(o.files))
    })
}

/// Runs a sweep over `ks` (options: the fit's `FitOptions` as JSON).
#[pyfunction]
#[pyo3(signature = (options, ks, silhouette_sample, fit_best, data, device, log))]
#[allow(clippy::too_many_arguments)]
fn run_sweep(
    py: Python<'_>,
    options: &str,
    ks: Vec<usize>,
    silhouette_sample: Option<usize>,
    fit_best: bool,
    data: Option<&Bound<'_, PyAny>>,
    device: &str,
    log: Py<PyAny>,
) -> PyResult<()> {
    let mut fit: FitOptions =
        serde_json::from_str(options).map_err(|e| json_err(py, "sweep options", e))?;
    fit.input.memory = batches(py, data, "the table given")?;
    let opts = SweepOptions {
        fit,
        ks,
        silhouette_sample: silhouette_sample.unwrap_or(sweep::SILHOUETTE_SAMPLE),
        fit_best,
    };
    on_device(py, device, log, |sel, log| {
        sweep::run(&opts.check()?, sel, log).map(|_| ())
    })
}

/// Runs the night `date` (default today, UTC) of the job file `config`; returns what happened.
#[pyfunction]
#[pyo3(signature = (config, date, log))]
fn run_nightly<'py>(
    py: Python<'py>,
    config: PathBuf,
    date: Option<String>,
    log: Py<PyAny>,
) -> PyResult<Bound<'py, PyDict>> {
    let night = py
        .detach(|| {
            let log = logger(&log);
            let job = Job::read(&config)?;
            let date = date.unwrap_or_else(nightly::today);
            let sel = selected(job.device, &log)?;
            nightly::run(&job, &date, &sel, &log)
        })
        .map_err(|e| py_err(py, e))?;
    let d = PyDict::new(py);
    d.set_item("date", night.date)?;
    d.set_item("run", night.run.display().to_string())?;
    d.set_item("previous", night.previous)?;
    d.set_item("action", night.action)?;
    d.set_item("reason", night.reason)?;
    d.set_item("events", night.events)?;
    d.set_item("removed", night.removed)?;
    Ok(d)
}

/// Publishes a copy of the output set at `source` as `out`, as any run publishes.
#[pyfunction]
fn publish_copy(py: Python<'_>, source: PathBuf, out: PathBuf) -> PyResult<Vec<String>> {
    py.detach(|| strata::data::sink::publish_copy(&source, &out))
        .map(paths)
        .map_err(|e| py_err(py, e))
}

/// The text of a model file (model.json, or an output directory's), once the engine has read and
/// checked it.
#[pyfunction]
fn read_model(py: Python<'_>, path: PathBuf) -> PyResult<String> {
    let file = Model::locate(&path);
    Model::read(&path)
        .and_then(|_| {
            std::fs::read_to_string(&file).map_err(|e| {
                strata::Error::input(format!("cannot read {}", file.display())).with_source(e)
            })
        })
        .map_err(|e| py_err(py, e))
}

/// Writes `text` to `path` atomically (a model file saved from Python).
#[pyfunction]
fn write_file(py: Python<'_>, path: PathBuf, text: &str) -> PyResult<()> {
    strata::data::sink::write_file_atomic(&path, text.as_bytes()).map_err(|e| py_err(py, e))
}

/// k-means on an in-memory float32 array, for the scikit-learn estimator: a model without preparation
/// (scaling none), fitted as `KMeans::params` fits.
#[pyclass(module = "strata._strata", frozen)]
struct ArrayKMeans {
    model: Model,
}

#[pymethods]
impl ArrayKMeans {
    #[new]
    #[pyo3(signature = (x, weights, k, n_init, max_iter, tol, seed, device))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        x: PyReadonlyArray2<'_, f32>,
        weights: Option<PyReadonlyArray1<'_, f32>>,
        k: usize,
        n_init: usize,
        max_iter: usize,
        tol: f64,
        seed: u64,
        device: &str,
    ) -> PyResult<Self> {
        let device = device_choice(py, device)?;
        let x = x.as_array();
        let w = weights.as_ref().map(|w| w.as_array());
        let params = KMeans::params(k)
            .n_init(n_init)
            .max_iter(max_iter)
            .tol(tol)
            .seed(seed)
            .device(device);
        let model = py
            .detach(|| match &w {
                Some(w) => params.fit_weighted(&x, w),
                None => params.fit(&x),
            })
            .map_err(|e| py_err(py, e))?;
        Ok(ArrayKMeans { model })
    }

    /// The model of a model file's text (how a pickled estimator comes back).
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        let model = Model::from_json(text, "(pickled estimator)").map_err(|e| py_err(py, e))?;
        Ok(ArrayKMeans { model })
    }

    /// The centroids, one row per segment id (in the input's units: the model prepares nothing).
    fn centers<'py>(&self, py: Python<'py>) -> Bound<'py, numpy::PyArray2<f32>> {
        let (k, d) = (self.model.k(), self.model.prepared_d());
        let mut out = ndarray::Array2::<f32>::zeros((k, d));
        for s in &self.model.segments {
            out.row_mut(s.id as usize)
                .assign(&ndarray::ArrayView1::from(&s.centroid[..]));
        }
        out.into_pyarray(py)
    }

    /// The nearest segment of each row.
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: PyReadonlyArray2<'py, f32>,
    ) -> PyResult<Bound<'py, numpy::PyArray1<u32>>> {
        let x = x.as_array();
        let a = py
            .detach(|| self.model.assign(&x))
            .map_err(|e| py_err(py, e))?;
        Ok(a.segment.into_pyarray(py))
    }

    #[getter]
    fn inertia(&self) -> f64 {
        self.model.fit.sse
    }

    #[getter]
    fn n_iter(&self) -> usize {
        self.model.fit.iterations
    }

    /// The model file's text (the same format `strata fit` writes).
    fn model_json(&self) -> String {
        self.model.to_json()
    }
}

/// The rows of `x` as one contiguous row-major slice, or a usage error naming `what`.
fn rows<'a>(
    py: Python<'_>,
    x: &'a numpy::ndarray::ArrayView2<'a, f32>,
    what: &str,
) -> PyResult<&'a [f32]> {
    x.as_slice().ok_or_else(|| {
        py_err(
            py,
            strata::Error::usage(format!("`{what}` must be a C-contiguous float32 array")),
        )
    })
}

/// One Lloyd step over the rows of `x` (a partition, prepared, float32) against `centroids` (k × d): the
/// partial statistics as one pyarrow RecordBatch (a row per cluster: cluster, weight, sse, moved, sum_0 …),
/// for a driver to merge in partition order with [`merge_partials`].
#[pyfunction]
fn lloyd_partial<'py>(
    py: Python<'py>,
    x: PyReadonlyArray2<'py, f32>,
    centroids: PyReadonlyArray2<'py, f32>,
) -> PyResult<Bound<'py, PyAny>> {
    let (x, c) = (x.as_array(), centroids.as_array());
    let (xs, cs) = (rows(py, &x, "x")?, rows(py, &c, "centroids")?);
    let (d, k) = (x.ncols(), c.nrows());
    if c.ncols() != d || k == 0 {
        let why = format!("`centroids` is {k} × {}, `x` has {d} columns", c.ncols());
        return Err(py_err(py, strata::Error::usage(why)));
    }
    let stats = py
        .detach(|| {
            if xs.is_empty() {
                return Ok(Stats::zeros(k, d));
            }
            let backend = CpuBackend::new(Isa::detect());
            backend.load(Dataset::new(xs, d, None))?.step(cs, k)
        })
        .map_err(|e| py_err(py, e))?;
    stats.to_batch().to_pyarrow(py)
}

/// Merges partial statistics in the order given (the order decides the f64 sums, so a fixed order gives
/// the same bits on every run): the new centroids (a cluster without rows keeps its row of `centroids`),
/// the SSE of the step and each cluster's weight.
#[pyfunction]
#[allow(clippy::type_complexity)]
fn merge_partials<'py>(
    py: Python<'py>,
    partials: Vec<PyArrowType<RecordBatch>>,
    centroids: PyReadonlyArray2<'py, f32>,
) -> PyResult<(
    Bound<'py, numpy::PyArray2<f32>>,
    f64,
    Bound<'py, numpy::PyArray1<f64>>,
)> {
    let c = centroids.as_array();
    let (k, d) = c.dim();
    let mut total = Stats::zeros(k, d);
    for (i, p) in partials.iter().enumerate() {
        let s = Stats::from_batch(&p.0).map_err(|e| py_err(py, e))?;
        if (s.k, s.d) != (k, d) {
            let why = format!(
                "partial {i} has {} clusters × {} features, the centroids {k} × {d}",
                s.k, s.d
            );
            return Err(py_err(py, strata::Error::input(why)));
        }
        total.merge(&s);
    }
    let next = total.means(rows(py, &c, "centroids")?);
    let next = ndarray::Array2::from_shape_vec((k, d), next).expect("k × d means");
    let weights = ndarray::Array1::from(total.weights.clone());
    Ok((
        next.into_pyarray(py),
        total.total_sse(),
        weights.into_pyarray(py),
    ))
}

/// The engine's version.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _strata(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(run_fit, m)?)?;
    m.add_function(wrap_pyfunction!(run_assign, m)?)?;
    m.add_function(wrap_pyfunction!(run_sweep, m)?)?;
    m.add_function(wrap_pyfunction!(run_nightly, m)?)?;
    m.add_function(wrap_pyfunction!(publish_copy, m)?)?;
    m.add_function(wrap_pyfunction!(write_file, m)?)?;
    m.add_function(wrap_pyfunction!(read_model, m)?)?;
    m.add_function(wrap_pyfunction!(lloyd_partial, m)?)?;
    m.add_function(wrap_pyfunction!(merge_partials, m)?)?;
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_class::<ArrayKMeans>()?;
    m.add("DEFAULT_MICRO", strata::kmeans::ward::DEFAULT_MICRO)?;
    Ok(())
}
