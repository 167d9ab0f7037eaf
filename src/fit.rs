//! The main job as one straight line: input batches → feature matrix → preparation → k-means on a backend
//! → labels, segments, profiles, model and summary, written atomically into the output directory.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::compute::{Backend, Dataset};
use crate::data::write::Staging;
use crate::data::{LoadSpec, Missing, Source, load};
use crate::error::{Error, Result};
use crate::kmeans::{self, Init, KMeansConfig, KMeansResult, RestartReport};
use crate::model::{self, Model};
use crate::output::{self, LabelColumns, SegmentRow};
use crate::prep::{Preprocessor, Scaling};
use crate::profile::{self, FeatureProfile};

/// `--init`: a method name or a file of centroids in original units.
#[derive(Debug, Clone, PartialEq)]
pub enum InitChoice {
    Auto,
    KMeansPlusPlus,
    KMeansParallel,
    Random,
    File(PathBuf),
}

impl std::str::FromStr for InitChoice {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s {
            "auto" => InitChoice::Auto,
            "k-means++" | "kmeans++" => InitChoice::KMeansPlusPlus,
            "k-means||" | "kmeans||" => InitChoice::KMeansParallel,
            "random" => InitChoice::Random,
            path => InitChoice::File(PathBuf::from(path)),
        })
    }
}

impl std::fmt::Display for InitChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InitChoice::Auto => write!(f, "auto"),
            InitChoice::KMeansPlusPlus => write!(f, "k-means++"),
            InitChoice::KMeansParallel => write!(f, "k-means||"),
            InitChoice::Random => write!(f, "random"),
            InitChoice::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Everything `strata fit` needs.
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    pub k: usize,
    pub features: Option<Vec<String>>,
    pub id: Option<String>,
    pub weight: Option<String>,
    pub missing: Missing,
    pub scale: Scaling,
    pub log1p: Vec<String>,
    pub init: InitChoice,
    pub n_init: usize,
    pub max_iter: usize,
    pub tol: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct PhaseSeconds {
    pub read: f64,
    pub prepare: f64,
    pub init: f64,
    pub iterate: f64,
    pub write: f64,
    pub total: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MissingCount {
    pub feature: String,
    pub missing: usize,
}

/// summary.json.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub strata_version: String,
    pub inputs: Vec<String>,
    pub rows_read: usize,
    pub rows_dropped: usize,
    pub rows_used: usize,
    pub values_imputed: usize,
    pub missing_per_feature: Vec<MissingCount>,
    pub features: Vec<String>,
    pub device: String,
    pub k: usize,
    pub sse: f64,
    pub iterations: usize,
    pub converged: bool,
    pub best_restart: usize,
    pub restarts: Vec<RestartReport>,
    pub empty_clusters_repaired: usize,
    pub seconds: PhaseSeconds,
    pub warnings: Vec<String>,
}

/// What a fit produced (also what the CLI prints).
pub struct FitOutcome {
    pub summary: Summary,
    pub segments: Vec<SegmentRow>,
    pub profiles: Vec<FeatureProfile>,
    pub files: Vec<PathBuf>,
}

/// Reads the `--init` file: one row per centroid, columns named like the features, original units.
fn read_init_file(path: &PathBuf, prep: &Preprocessor, k: usize) -> Result<Vec<f32>> {
    let wrap = |e: Error| Error::input(format!("--init file {}: {e}", path.display()));
    let source = Source::open(std::slice::from_ref(path), &[]).map_err(wrap)?;
    let spec = LoadSpec {
        features: Some(prep.names()),
        ..Default::default()
    };
    let m = load(&source, &spec, Missing::Error).map_err(wrap)?.matrix;
    if m.n != k {
        return Err(Error::input(format!(
            "--init file {} has {} centroids but --k is {k}",
            path.display(),
            m.n
        )));
    }
    Ok((0..m.n * m.d)
        .map(|i| prep.forward(i % m.d, m.data[i] as f64) as f32)
        .collect())
}

/// Runs the whole job. Nothing appears in `opts.out` unless every output was written.
/// `fallback` (the CPU, under `--device auto`) reruns the clustering if `backend` fails with a device error.
pub fn run(
    opts: &FitOptions,
    backend: &dyn Backend,
    fallback: Option<&dyn Backend>,
    log: &dyn Fn(&str),
) -> Result<FitOutcome> {
    let t_start = Instant::now();
    if opts.k == 0 {
        return Err(Error::usage("--k must be at least 1"));
    }
    let mut staging = Staging::new(&opts.out)?;
    let mut secs = PhaseSeconds::default();
    let mut warnings = Vec::new();

    // Read.
    let t = Instant::now();
    let text_cols: Vec<&str> = opts.id.iter().map(String::as_str).collect();
    let source = Source::open(&opts.inputs, &text_cols)?;
    let spec = LoadSpec {
        features: opts.features.clone(),
        id: opts.id.clone(),
        weight: opts.weight.clone(),
    };
    let loaded = load(&source, &spec, opts.missing)?;
    let mut matrix = loaded.matrix;
    secs.read = t.elapsed().as_secs_f64();
    let rows_dropped = loaded.rows_read - matrix.n;
    if rows_dropped > 0 {
        warnings.push(format!(
            "dropped {rows_dropped} rows with missing feature values (--missing drop)"
        ));
    }
    log(&format!(
        "read {} rows × {} features from {} file(s) in {:.2}s",
        loaded.rows_read,
        matrix.d,
        source.paths().len(),
        secs.read
    ));

    // Prepare.
    let t = Instant::now();
    let (prep, report) = Preprocessor::fit_transform(
        &mut matrix,
        opts.scale,
        &opts.log1p,
        opts.missing == Missing::Median,
    )?;
    warnings.extend(report.warnings.iter().cloned());
    let init = match &opts.init {
        InitChoice::Auto => Init::Auto,
        InitChoice::KMeansPlusPlus => Init::KMeansPlusPlus,
        InitChoice::KMeansParallel => Init::KMeansParallel,
        InitChoice::Random => Init::Random,
        InitChoice::File(p) => Init::Given(read_init_file(p, &prep, opts.k)?),
    };
    secs.prepare = t.elapsed().as_secs_f64();

    // Cluster.
    let cfg = KMeansConfig {
        k: opts.k,
        init,
        n_init: opts.n_init,
        max_iter: opts.max_iter,
        tol: opts.tol,
        seed: opts.seed,
    };
    let ds = Dataset::new(&matrix.data, matrix.d, loaded.weights.as_deref());
    log(&format!(
        "k-means k={} on {} ({} restart(s))",
        opts.k,
        backend.name(),
        opts.n_init
    ));
    let mut device = backend.name();
    let fit: KMeansResult = match (kmeans::fit(backend, &ds, &cfg), fallback) {
        (Err(Error::Device(why)), Some(cpu)) => {
            let msg = format!("GPU failed ({why}); reran on {}", cpu.name());
            log(&format!("warning: {msg}"));
            warnings.push(msg);
            device = cpu.name();
            kmeans::fit(cpu, &ds, &cfg)?
        }
        (r, _) => r?,
    };
    secs.init = fit.init_seconds;
    secs.iterate = fit.iterate_seconds;
    if !fit.converged {
        warnings.push(format!(
            "best restart did not converge within --max-iter {}",
            opts.max_iter
        ));
    }
    let repaired: usize = fit.restarts.iter().map(|r| r.empty_clusters_repaired).sum();

    // Write.
    let t = Instant::now();
    let segments = segment_rows(&fit, &ds, &prep);
    let profiles = profile::profiles(&matrix, &prep, &fit.labels, fit.k);
    let label_cols = LabelColumns {
        labels: &fit.labels,
        dist2: &fit.dist2,
        kept_rows: loaded.kept_rows.as_deref(),
        rows_read: loaded.rows_read,
    };
    let ids = loaded.id_field.as_ref().zip(loaded.ids.as_deref());
    output::write_labels(staging.path("labels.parquet"), &label_cols, ids)?;
    output::write_segments(
        staging.path("segments.parquet"),
        &segments,
        &matrix.names,
        loaded.weights.is_some(),
    )?;
    output::write_profiles(staging.path("profiles.parquet"), &profiles)?;
    let d = matrix.d;
    let model = Model {
        format: model::FORMAT.into(),
        format_version: model::FORMAT_VERSION,
        strata_version: env!("CARGO_PKG_VERSION").into(),
        created_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        features: matrix.names.clone(),
        id_column: opts.id.clone(),
        weight_column: opts.weight.clone(),
        preprocessor: prep,
        k: fit.k,
        centroids: fit.centroids.chunks_exact(d).map(<[f32]>::to_vec).collect(),
        init: opts.init.to_string(),
        n_init: opts.n_init,
        seed: opts.seed,
        tol: opts.tol,
        max_iter: opts.max_iter,
        sse: fit.sse,
        iterations: fit.iterations,
        converged: fit.converged,
        input_rows: loaded.rows_read,
        fitted_rows: matrix.n,
        schema_fingerprint: model::schema_fingerprint(source.schema()),
    };
    staging.write_json("model.json", &model)?;
    secs.write = t.elapsed().as_secs_f64();
    secs.total = t_start.elapsed().as_secs_f64();
    let summary = Summary {
        strata_version: env!("CARGO_PKG_VERSION").into(),
        inputs: source
            .paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        rows_read: loaded.rows_read,
        rows_dropped,
        rows_used: matrix.n,
        values_imputed: report.imputed_values,
        missing_per_feature: (matrix.names.iter().zip(&loaded.missing))
            .map(|(f, &m)| MissingCount {
                feature: f.clone(),
                missing: m,
            })
            .collect(),
        features: matrix.names.clone(),
        device,
        k: fit.k,
        sse: fit.sse,
        iterations: fit.iterations,
        converged: fit.converged,
        best_restart: fit.best_restart,
        restarts: fit.restarts.clone(),
        empty_clusters_repaired: repaired,
        seconds: secs,
        warnings,
    };
    staging.write_json("summary.json", &summary)?;
    let files = staging.commit()?;
    Ok(FitOutcome {
        summary,
        segments,
        profiles,
        files,
    })
}

/// Per-segment size, weight, SSE and centroid in original units.
fn segment_rows(fit: &KMeansResult, ds: &Dataset, prep: &Preprocessor) -> Vec<SegmentRow> {
    let d = fit.d;
    let mut rows: Vec<SegmentRow> = (0..fit.k)
        .map(|s| SegmentRow {
            customers: 0,
            weight: 0.0,
            sse: 0.0,
            centroid: (0..d)
                .map(|j| prep.invert(j, fit.centroids[s * d + j] as f64))
                .collect(),
        })
        .collect();
    for (i, (&l, &dd)) in fit.labels.iter().zip(&fit.dist2).enumerate() {
        let r = &mut rows[l as usize];
        let w = ds.weight(i);
        r.customers += 1;
        r.weight += w;
        r.sse += w * dd as f64;
    }
    rows
}
