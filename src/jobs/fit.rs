//! `strata fit`: input → prepared matrix → k-means on a device → labels, segments, profiles, model and
//! summary, published atomically into the output directory.

use std::path::PathBuf;
use std::time::Instant;

use super::lineage::{self, Lifecycle};
use super::options::default_sample;
pub use super::options::{
    Checked, InitChoice, InputSpec, KMeansSpec, LifecycleOptions, Method, OutputSpec, PrepSpec,
};
use super::run::{Run, timed};
use super::{PhaseSeconds, feature_names, missing_counts};
use crate::compute::Dataset;
use crate::compute::select::Selected;
use crate::data::ids;
use crate::data::load::{LeftOut, feature_columns, left_out};
use crate::data::sink::OutputSet;
use crate::data::{LoadSpec, Missing, Source, load};
use crate::error::{Error, Result};
use crate::explain::{self, Explanation};
use crate::kmeans::ward::{self, Hierarchy};
use crate::kmeans::{self, Init, KMeans, KMeansConfig, KMeansParams, KMeansResult};
use crate::model::lifecycle::Previous;
use crate::model::{self, Feature, FitRecord, Model, ModelParts, Role};
use crate::output::schema::{self, Versioned};
pub use crate::output::schema::{Summary, WardSummary};
use crate::output::{self, SegmentRow};
use crate::pipeline::{self, Plan, Prepared};
use crate::prep::FittedPrep;
use crate::profile;
pub use crate::profile::{DESCRIBE_MIN_Z, FeatureProfile};
use crate::progress::Progress;

/// Everything `strata fit` needs: the option sections, each with its defaults (and deserializable, each
/// section by its name: `{"input": {...}, "kmeans": {"k": 5}}`).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FitOptions {
    pub input: InputSpec,
    pub prep: PrepSpec,
    pub kmeans: KMeansSpec,
    pub lifecycle: LifecycleOptions,
    pub output: OutputSpec,
}

impl FitOptions {
    /// The options, checked before any work (the init file is read once the preparation is known).
    pub fn check(self) -> Result<Checked<FitOptions>> {
        Checked::new(self, check)
    }
}

impl WardSummary {
    fn of(h: &Hierarchy) -> WardSummary {
        WardSummary {
            micro_clusters: h.micro_clusters,
            branch_agreement: h.branch_agreement,
            kmeans_sse: h.kmeans_sse,
            adjusted_rand_vs_kmeans: h.adjusted_rand_vs_kmeans,
        }
    }
}

/// What a fit produced (also what the CLI prints).
pub struct FitOutcome {
    pub summary: Summary,
    pub written: Written,
    pub model: Model,
    pub files: Vec<PathBuf>,
}

/// Reads the `--init` file: one row per centroid, columns named like the features, original units.
fn read_init_file(path: &PathBuf, prep: &FittedPrep, k: usize) -> Result<Vec<f32>> {
    let wrap = |e: Error| e.context(format!("`init` file {}", path.display()));
    let source = Source::open(std::slice::from_ref(path), &[]).map_err(wrap)?;
    let spec = LoadSpec {
        features: Some(prep.names()),
        ..Default::default()
    };
    // Every centroid needs every feature: the --missing policies of the input do not apply here.
    let m = load(&source, &spec, Missing::Error)
        .map_err(|e| {
            wrap(e).replace_in_message(
                crate::data::load::MISSING_ADVICE,
                "every centroid needs a value for every feature: fill them in",
            )
        })?
        .raw
        .to_matrix()?;
    if m.n != k {
        return Err(Error::input(format!(
            "`init` file {} has {} centroids but `k` is {k}",
            path.display(),
            m.n
        )));
    }
    Ok((0..m.n * m.d)
        .map(|i| prep.forward(i % m.d, m.data[i]) as f32)
        .collect())
}

/// The k-means parameters of `opts`, with `init` resolved (checked by the caller).
pub(crate) fn kmeans_params(opts: &FitOptions, init: Init) -> KMeansParams {
    KMeans::params(opts.kmeans.k)
        .init(init)
        .n_init(opts.kmeans.n_init)
        .max_iter(opts.kmeans.max_iter)
        .tol(opts.kmeans.tol)
        .seed(opts.kmeans.seed)
}

/// The previous model's centroids in tonight's prepared space: prepared → original units with the
/// previous preparation, then → prepared with tonight's.
fn previous_centroids(prev: &Previous, prep: &FittedPrep, k: usize) -> Result<Vec<f32>> {
    let pm = &prev.model;
    let bad = |why: String| Error::usage(format!("`init` previous: {why}"));
    if pm.k() != k {
        return Err(bad(format!(
            "the previous model has {} segments and `k` is {k}",
            pm.k()
        )));
    }
    if !pm.preparation.categorical.is_empty() || !prep.categorical.is_empty() {
        return Err(bad(
            "it maps numeric features only, and a categorical one is in use".into(),
        ));
    }
    if pm.preparation.names() != prep.names() {
        return Err(bad(format!(
            "the previous model's features ({}) differ from tonight's ({})",
            pm.preparation.names().join(", "),
            prep.names().join(", ")
        )));
    }
    let d = prep.columns.len();
    Ok((pm.centroids().iter().enumerate())
        .map(|(i, &c)| prep.forward(i % d, pm.preparation.invert(i % d, c as f64)) as f32)
        .collect())
}

/// The checked k-means configuration, and a warning when a warm start was not possible.
pub(crate) fn kmeans_config(
    opts: &FitOptions,
    prep: &FittedPrep,
    prev: Option<&Previous>,
) -> Result<(KMeansConfig, Option<String>)> {
    let mut warning = None;
    let init = match &opts.kmeans.init {
        InitChoice::Auto => Init::Auto,
        InitChoice::KMeansPlusPlus => Init::KMeansPlusPlus,
        InitChoice::KMeansParallel => Init::KMeansParallel,
        InitChoice::Random => Init::Random,
        InitChoice::Previous => match prev {
            Some(p) => Init::Given(previous_centroids(p, prep, opts.kmeans.k)?),
            None => return Err(Error::usage("`init` previous needs `previous` DIR")),
        },
        InitChoice::PreviousOrAuto => {
            match prev.map(|p| previous_centroids(p, prep, opts.kmeans.k)) {
                Some(Ok(c)) => Init::Given(c),
                Some(Err(e)) => {
                    // A warning is read as the command line writes it.
                    let e = crate::error::with_flags(&e.to_string());
                    warning = Some(format!("no warm start ({e}): initialised with auto"));
                    Init::Auto
                }
                None => Init::Auto,
            }
        }
        InitChoice::File(p) => Init::Given(read_init_file(p, prep, opts.kmeans.k)?),
    };
    Ok((kmeans_params(opts, init).check()?, warning))
}

/// [`FitOptions::check`]'s checks.
fn check(opts: &FitOptions) -> Result<()> {
    kmeans_params(opts, Init::Auto).check()?;
    if !(0.0..1.0).contains(&opts.prep.min_category_share) {
        return Err(Error::usage("`min_category_share` must be in [0, 1)"));
    }
    if matches!(opts.kmeans.init, InitChoice::File(_)) && !opts.input.categorical.is_empty() {
        return Err(Error::usage(
            "`init` FILE gives centroids for numeric features only; it cannot be combined with `categorical`",
        ));
    }
    if let Some(m) = opts.kmeans.sample {
        if m < opts.kmeans.k {
            return Err(Error::usage(format!(
                "`sample` ({m}) must be at least `k` ({}): each segment needs rows",
                opts.kmeans.k
            )));
        }
        if opts.kmeans.method != Method::KMeans {
            return Err(Error::usage(
                "`sample` works with `method` kmeans; Ward's micro-clusters already summarise the rows",
            ));
        }
    }
    if opts.kmeans.memory == Some(0) {
        return Err(Error::usage("`memory` must be above 0"));
    }
    if let Method::Ward { micro } = opts.kmeans.method {
        if opts.kmeans.init != InitChoice::Auto {
            return Err(Error::usage(
                "`method` ward starts its micro-clusters itself; leave `init` at auto",
            ));
        }
        if micro < opts.kmeans.k {
            return Err(Error::usage(format!(
                "`micro_clusters` ({micro}) must be at least `k` ({})",
                opts.kmeans.k
            )));
        }
        if micro > ward::MAX_MICRO {
            return Err(Error::usage(format!(
                "`micro_clusters` ({micro}) is above {}: the linkage takes M² memory and M³ time (2,000 take seconds, 10,000 minutes); a few hundred are enough",
                ward::MAX_MICRO
            )));
        }
    }
    if opts.kmeans.init == InitChoice::Previous && opts.lifecycle.previous.is_none() {
        return Err(Error::usage("`init` previous needs `previous` DIR"));
    }
    opts.lifecycle.check()
}

/// What the fit itself should tell the user: repeated ids, dropped rows, no convergence.
pub(crate) fn fit_warnings(opts: &FitOptions, p: &Prepared, fit: &KMeansResult) -> Vec<String> {
    let mut warnings = Vec::new();
    if let (Some(name), Some(id_values)) = (&opts.input.id, &p.loaded.ids) {
        let dup = ids::duplicates(id_values);
        if dup.rows > 0 {
            warnings.push(format!(
                "the --id column '{name}' repeats ids on {} row(s) (e.g. {}): each row was clustered as a customer of its own; is this a customer table?",
                dup.rows,
                dup.examples.join(", ")
            ));
        }
    }
    let dropped = p.loaded.rows_read - p.loaded.raw.n;
    if dropped > 0 {
        warnings.push(format!(
            "dropped {dropped} rows with missing feature values (--missing drop)"
        ));
    }
    if !fit.converged {
        warnings.push(format!(
            "best restart did not converge within --max-iter {}",
            opts.kmeans.max_iter
        ));
    }
    warnings
}

/// The input and the columns to read, with the columns the default selection leaves out (logged) and
/// warnings for text columns that are mostly numbers.
pub(crate) fn open_input(
    opts: &FitOptions,
    log: &dyn Fn(&str),
) -> Result<(Source, LoadSpec, Vec<LeftOut>, Vec<String>)> {
    let text_cols: Vec<&str> = opts.input.id.iter().map(String::as_str).collect();
    let i = &opts.input;
    let source = Source::open_input(&i.inputs, i.memory.as_ref(), &text_cols, &i.csv)?;
    source.notes().iter().for_each(|n| log(n));
    let spec = LoadSpec {
        features: opts.input.features.clone(),
        id: opts.input.id.clone(),
        weight: opts.input.weight.clone(),
        categorical: opts.input.categorical.clone(),
    };
    // Text columns that are mostly numbers (the id column is text by request).
    let text: Vec<String> = (source.text_columns().into_iter())
        .filter(|c| Some(c) != opts.input.id.as_ref())
        .collect();
    let mostly = source.mostly_numeric(&text)?;
    let columns_left_out = left_out(&source, &spec, &mostly);
    for l in &columns_left_out {
        log(&format!(
            "left out of the features: '{}' ({})",
            l.column, l.reason
        ));
    }
    let warnings: Vec<String> = mostly
        .iter()
        .map(|m| {
            format!(
                "column '{}' was left out of the features: {}",
                m.column,
                m.describe()
            )
        })
        .collect();
    Ok((source, spec, columns_left_out, warnings))
}

/// A fit under way: the previous night opened, the input read and prepared.
struct Started {
    previous: Option<Previous>,
    p: Prepared,
    columns_left_out: Vec<LeftOut>,
}

/// Stages the output set and reads and prepares the input; every refusal comes before the fit.
fn start<'a>(
    opts: &FitOptions,
    sel: &'a Selected,
    log: &'a dyn Fn(&str),
    started: Instant,
) -> Result<(Run<'a>, Started)> {
    let mut read = opts.input.inputs.clone();
    if let InitChoice::File(f) = &opts.kmeans.init {
        read.push(f.clone());
    }
    let previous = (opts.lifecycle.previous.as_deref())
        .map(Previous::open)
        .transpose()?;
    let mut run = Run::open(&opts.output.out, &read, (sel, log), started)?;
    let (source, spec, columns_left_out, warnings) = open_input(opts, log)?;
    run.warnings.extend(warnings);
    // Before the fit, not after it; a selection that fails is reported by the read, in its order.
    if let Ok(cols) = feature_columns(source.schema(), &spec) {
        let names: Vec<String> = (cols.iter())
            .map(|&i| source.schema().field(i).name().clone())
            .collect();
        output::check_feature_names(&names, spec.weight.is_some())?;
    }
    let p = pipeline::read_and_prepare(source, &spec, &opts.prep, plan(opts).as_ref(), log)?;
    if let Some(g) = &opts.output.report {
        g.check(&feature_names(&p.prep))?;
    }
    let started = Started {
        previous,
        p,
        columns_left_out,
    };
    Ok((run, started))
}

/// The memory budget (`memory`, else 80 % of this machine's memory) and the sample k-means runs on above it.
/// Ward and a previous night need every row prepared: they keep no budget.
fn plan(opts: &FitOptions) -> Option<Plan> {
    if opts.kmeans.method != Method::KMeans || opts.lifecycle.previous.is_some() {
        return None;
    }
    let (budget, why) = match opts.kmeans.memory {
        Some(b) => (b, "as asked".to_string()),
        None => pipeline::machine_budget()?,
    };
    Some(Plan {
        budget,
        sample: (opts.kmeans.sample).unwrap_or_else(|| default_sample(opts.kmeans.k)),
        seed: opts.kmeans.seed,
        why,
    })
}

/// The rows k-means runs on with `sample`, when that is fewer than the input's.
fn sampled(opts: &FitOptions, p: &Prepared) -> Option<usize> {
    opts.kmeans.sample.filter(|&m| m < p.matrix.n)
}

/// What a fit's method makes: the k-means result, and Ward's hierarchy with `--method ward`.
type Clustered = (KMeansResult, Option<Hierarchy>);

/// Runs the method on the prepared matrix, on the run's device (rerun on the CPU if the GPU fails), with
/// a progress bar over its restarts.
pub(crate) fn cluster(
    opts: &FitOptions,
    p: &Prepared,
    cfg: &KMeansConfig,
    run: &mut Run,
) -> Result<Clustered> {
    let k = opts.kmeans.k;
    let sample = sampled(opts, p);
    let (what, steps) = match opts.kmeans.method {
        Method::KMeans => (
            format!("k-means k={k} ({} restart(s))", cfg.restarts())
                + &sample.map_or(String::new(), |m| {
                    format!(" on a uniform sample of {m} of {} rows", p.matrix.n)
                }),
            cfg.restarts(),
        ),
        Method::Ward { micro } => (
            format!("Ward k={k} over {micro} k-means micro-clusters, and k-means k={k} to compare"),
            1 + cfg.restarts(),
        ),
    };
    (run.log)(&format!("{what} on {}", run.device));
    let m = &p.matrix;
    let ds = Dataset::new(&m.data, m.d, p.loaded.weights.as_deref());
    let label = what.split(' ').next().unwrap_or("fit");
    let bar = Progress::new(steps as u64, label, opts.output.progress);
    let log = run.log;
    let on = run.on_device(&|m: &str| bar.suspend(|| log(m)), |b| {
        match opts.kmeans.method {
            Method::KMeans => match sample {
                Some(m) => Ok((kmeans::sample::fit_sampled(b, &ds, cfg, m, &bar)?, None)),
                None => {
                    let mut res = b.load(ds)?;
                    let fit = kmeans::fit_resident(b, res.as_mut(), &ds, cfg, &bar)?;
                    Ok((fit, None))
                }
            },
            Method::Ward { micro } => {
                ward::fit(b, &ds, cfg, micro, &bar).map(|(f, h)| (f, Some(h)))
            }
        }
    });
    bar.finish();
    on
}

/// Runs the whole job. Nothing appears in `opts.output.out` unless every output was written.
pub fn run(opts: &Checked<FitOptions>, sel: &Selected, log: &dyn Fn(&str)) -> Result<FitOutcome> {
    let (mut run, started) = start(opts, sel, log, Instant::now())?;
    let Started {
        previous,
        p,
        columns_left_out,
    } = started;
    if p.sample.is_some() {
        return super::fit_streamed::run(opts, run, p, columns_left_out);
    }
    let (config, init_file_s) = timed(|| kmeans_config(opts, &p.prep, previous.as_ref()));
    let (cfg, no_warm_start) = config?;
    run.warnings.extend(no_warm_start);
    run.warnings.extend(p.report.warnings.clone());
    let (fit, hierarchy) = cluster(opts, &p, &cfg, &mut run)?;
    let device = run.device.clone();
    let fit_warned = fit_warnings(opts, &p, &fit);
    run.warnings.extend(fit_warned);
    let (lineage, lifecycle_s) = timed(|| {
        (previous.as_ref())
            .map(|prev| {
                lineage::relate(prev, &p, &fit, sel, &opts.lifecycle, log, &mut run.warnings)
            })
            .transpose()
    });
    let lineage = lineage?;
    let t = Instant::now();
    let mut model = build_model(opts, &p, &fit);
    if let Some(l) = &lineage {
        model.set_ids(&l.segment_ids, l.next_segment_id);
    }
    let prev_model = previous.as_ref().map(|p| &p.model);
    let written = run.write(|staging| {
        let out = write_fit(staging, &p, &fit, &mut model, prev_model)?;
        if let Some(l) = &lineage {
            write_lineage(staging, l)?;
        }
        if let Some(h) = &hierarchy {
            write_dendrogram(staging, h, &model)?;
        }
        Ok(out)
    })?;
    let seconds = PhaseSeconds {
        read: p.read_seconds,
        prepare: p.prepare_seconds + init_file_s,
        init: fit.init_seconds,
        iterate: fit.iterate_seconds,
        lifecycle: lifecycle_s,
        write: t.elapsed().as_secs_f64(),
        total: run.seconds(),
    };
    let mut summary = summary(&p, &fit, device, seconds, std::mem::take(&mut run.warnings));
    summary.columns_left_out = columns_left_out;
    summary.lifecycle = lineage;
    summary.decision = opts.output.decision.clone();
    summary.method = match opts.kmeans.method {
        Method::KMeans => "kmeans".into(),
        Method::Ward { .. } => "ward".into(),
    };
    summary.ward = hierarchy.as_ref().map(WardSummary::of);
    summary.sample_rows = sampled(opts, &p);
    publish(run, opts, summary, written, model)
}

/// Publishes the output set with `summary` (and the report): what a fit returns.
pub(crate) fn publish(
    run: Run,
    opts: &FitOptions,
    summary: Summary,
    written: Written,
    model: Model,
) -> Result<FitOutcome> {
    let files = run.finish(schema::SUMMARY, &summary, opts.output.report.as_ref())?;
    Ok(FitOutcome {
        summary,
        written,
        model,
        files,
    })
}

/// What [`write_fit`] computed besides the files.
pub struct Written {
    pub segments: Vec<SegmentRow>,
    pub profiles: Vec<FeatureProfile>,
    pub explanation: Explanation,
}

/// Segments, profiles and explanations of `fit` on `p`, written with its labels and `model` into
/// `staging`. The model gains each segment's name and rule; a segment matched to one of `previous`'s
/// (the same id) keeps its name.
pub(crate) fn write_fit(
    staging: &mut OutputSet,
    p: &Prepared,
    fit: &KMeansResult,
    model: &mut Model,
    previous: Option<&Model>,
) -> Result<Written> {
    let m = &p.matrix;
    let ds = Dataset::new(&m.data, m.d, p.loaded.weights.as_deref());
    let segments = segment_rows(fit, &ds, &p.prep);
    let mut categories = profile::no_categories(&p.prep, fit.k);
    let blocks = profile::category_blocks(&p.prep);
    let (x, labels) = ((&m.data[..], m.d), &fit.nearest.labels);
    profile::count_categories(&mut categories, &blocks, x, labels);
    let profiles = profiles_of(p, (labels, categories), fit, model)?;
    let explanation = name_segments(p, fit, &profiles, model, previous);
    write_labels(staging, p, fit, model)?;
    let written = Written {
        segments,
        profiles,
        explanation,
    };
    write_described(staging, &written, model, p.loaded.weights.is_some())?;
    Ok(written)
}

/// segments.parquet, profiles.parquet, model.json and explain.json: what every fit writes besides its
/// labels.
pub(crate) fn write_described(
    staging: &mut OutputSet,
    w: &Written,
    model: &Model,
    weighted: bool,
) -> Result<()> {
    output::write_segments(
        staging.path("segments.parquet"),
        &w.segments,
        model,
        weighted,
    )?;
    output::write_profiles(staging.path("profiles.parquet"), &w.profiles)?;
    staging.write_json("model.json", model)?;
    let explain = Versioned::new(schema::EXPLAIN, &w.explanation);
    staging.write_json("explain.json", &explain)
}

/// The profiles of every kept row's segment (`labels`, with the category counts of those rows), with the
/// model's segment ids.
pub(crate) fn profiles_of(
    p: &Prepared,
    (labels, categories): (&[u32], Vec<Vec<Vec<u64>>>),
    fit: &KMeansResult,
    model: &Model,
) -> Result<Vec<FeatureProfile>> {
    let seg = profile::Segmentation {
        labels,
        centroids: &fit.centroids,
        k: fit.k,
        categories,
        impute: p.missing == Missing::Median,
    };
    let quartiles = Some(&p.report.quartiles[..]);
    let profiles = profile::profiles(&p.loaded.raw, &p.prep, &seg, quartiles)?;
    Ok(profile::with_ids(profiles, &model.segment_ids()))
}

/// Explains the segments from the prepared rows and their labels (`p.matrix`, `fit.nearest`) and names
/// them in `model`; a segment matched to one of `previous`'s (the same id) keeps its name.
pub(crate) fn name_segments(
    p: &Prepared,
    fit: &KMeansResult,
    profiles: &[FeatureProfile],
    model: &mut Model,
    previous: Option<&Model>,
) -> Explanation {
    let kept = |id: u32| {
        let prev = previous?.segments.iter().find(|s| s.id == id)?;
        prev.name.clone()
    };
    let ids = model.segment_ids();
    let fitted = explain::Fitted {
        x: &p.matrix.data,
        d: p.matrix.d,
        labels: &fit.nearest.labels,
        centroids: &fit.centroids,
        prep: &p.prep,
        ids: &ids,
        profiles,
        seed: model.fit.seed,
    };
    let explanation = explain::explain(&fitted, &kept);
    for (s, e) in model.segments.iter_mut().zip(&explanation.segments) {
        s.name = Some(e.name.clone());
        s.rule = Some(e.rule.clone());
    }
    explanation
}

fn write_labels(
    staging: &mut OutputSet,
    p: &Prepared,
    fit: &KMeansResult,
    model: &Model,
) -> Result<()> {
    let l = &p.loaded;
    let ids = l.id_field.as_ref().zip(l.ids.as_deref());
    output::write_labels(
        staging.path("labels.parquet"),
        &fit.nearest,
        l.raw.kept.as_deref(),
        l.rows_read,
        ids,
        &model.segment_ids(),
    )
}

/// transitions.parquet, drift.parquet and (with ids on both nights) migration.parquet.
fn write_lineage(staging: &mut OutputSet, l: &Lifecycle) -> Result<()> {
    output::write_transitions(staging.path("transitions.parquet"), &l.transitions)?;
    if let Some(d) = &l.drift {
        output::write_drift(staging.path("drift.parquet"), d)?;
    }
    if let Some(m) = &l.flows {
        output::write_migration(staging.path("migration.parquet"), m)?;
    }
    Ok(())
}

/// dendrogram.json: the Ward linkage of the micro-clusters (scipy numbering: leaves 0..M, merge s forms
/// M + s; heights √(2·ΔSSE)), each leaf's weight and segment id, and each segment's node.
fn write_dendrogram(staging: &mut OutputSet, h: &Hierarchy, model: &Model) -> Result<()> {
    let ids = model.segment_ids();
    let doc = schema::Dendrogram {
        leaves: (h.leaf_weight.iter().zip(&h.leaf_segment))
            .map(|(&weight, &s)| schema::Leaf {
                segment: ids[s],
                weight,
            })
            .collect(),
        merges: h.merges.clone(),
        micro_clusters: h.micro_clusters,
        segments: (h.segment_node.iter().enumerate())
            .map(|(s, &node)| schema::SegmentNode {
                node,
                segment: ids[s],
            })
            .collect(),
    };
    staging.write_json("dendrogram.json", &Versioned::new(schema::DENDROGRAM, &doc))
}

/// The model file: features, preparation, segments, fit record.
pub(crate) fn build_model(opts: &FitOptions, p: &Prepared, fit: &KMeansResult) -> Model {
    let schema = p.source.schema();
    let numeric = p.prep.columns.iter().map(|c| (&c.name, Role::Numeric));
    let categorical = p
        .prep
        .categorical
        .iter()
        .map(|c| (&c.name, Role::Categorical));
    let features = numeric
        .chain(categorical)
        .map(|(name, role)| Feature {
            name: name.clone(),
            input_type: schema
                .field_with_name(name)
                .map(|f| f.data_type().to_string())
                .unwrap_or_default(),
            role,
        })
        .collect();
    let parts = ModelParts {
        features,
        id_column: opts.input.id.clone(),
        weight_column: opts.input.weight.clone(),
        missing: opts.prep.missing,
        preparation: p.prep.clone(),
        record: FitRecord {
            init: opts.kmeans.init.to_string(),
            n_init: opts.kmeans.n_init,
            seed: opts.kmeans.seed,
            tol: opts.kmeans.tol,
            max_iter: opts.kmeans.max_iter,
            sse: fit.sse,
            iterations: fit.iterations,
            converged: fit.converged,
        },
        training_rows: p.loaded.rows_read,
        schema_fingerprint: model::schema_fingerprint(schema),
    };
    Model::from_fit(parts, fit, &p.matrix)
}

pub(crate) fn summary(
    p: &Prepared,
    fit: &KMeansResult,
    device: String,
    seconds: PhaseSeconds,
    warnings: Vec<String>,
) -> Summary {
    let l = &p.loaded;
    let features = feature_names(&p.prep);
    Summary {
        strata_version: env!("CARGO_PKG_VERSION").into(),
        inputs: p
            .source
            .paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        rows_read: l.rows_read,
        rows_dropped: l.rows_read - l.raw.n,
        rows_used: l.raw.n,
        values_imputed: p.report.imputed_values,
        missing_per_feature: missing_counts(&features, &l.missing),
        features,
        columns_left_out: Vec::new(),
        device,
        k: fit.k,
        sse: fit.sse,
        iterations: fit.iterations,
        converged: fit.converged,
        best_restart: fit.best_restart,
        restarts: fit.restarts.clone(),
        empty_clusters_repaired: fit.restarts.iter().map(|r| r.empty_clusters_repaired).sum(),
        seconds,
        warnings,
        lifecycle: None,
        decision: None,
        method: "kmeans".into(),
        ward: None,
        sample_rows: None,
        memory: None,
    }
}

/// Per-segment size, weight, SSE (as the device accumulated it) and centroid in original units.
fn segment_rows(fit: &KMeansResult, ds: &Dataset, prep: &FittedPrep) -> Vec<SegmentRow> {
    let d = fit.d;
    let mut rows: Vec<SegmentRow> = (0..fit.k)
        .map(|s| SegmentRow {
            customers: 0,
            weight: 0.0,
            sse: fit.segment_sse[s],
            centroid: (0..d)
                .map(|j| prep.invert(j, fit.centroids[s * d + j] as f64))
                .collect(),
        })
        .collect();
    for (i, &l) in fit.nearest.labels.iter().enumerate() {
        let r = &mut rows[l as usize];
        r.customers += 1;
        r.weight += ds.weight(i);
    }
    rows
}
