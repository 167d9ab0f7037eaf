//! `strata assign`: scores new customers with a saved model. The input streams through the model's fitted
//! preparation (never refitted) batch by batch, in input order, so any input size runs in bounded memory;
//! every row goes to its nearest segment with the pass a fit's final labels come from, so the training
//! input gets the fit's labels and distances bit for bit.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use super::{MissingCount, missing_counts};
use crate::compute::select::{Selected, run_with_fallback};
use crate::compute::{Backend, Dataset, Nearest};
use crate::data::load::{Columns, check_mostly_numeric, numeric_type, resolve};
use crate::data::sink::OutputSet;
use crate::data::source::CsvOptions;
use crate::data::write::ParquetSink;
use crate::data::{LoadSpec, Source};
use crate::error::{Error, Result};
use crate::model::{Model, Role};
use crate::output::{labels_batch, labels_schema};
use crate::pipeline::{PreparedBatch, stream_prepared};

/// Everything `strata assign` needs.
#[derive(Debug, Clone)]
pub struct AssignOptions {
    /// model.json or a fit's output directory.
    pub model: PathBuf,
    pub inputs: Vec<PathBuf>,
    pub out: PathBuf,
    /// The id column copied into labels.parquet (default: the model's, when the input has it).
    pub id: Option<String>,
    /// How delimited inputs are read (delimiter, missing-value tokens).
    pub csv: CsvOptions,
}

/// One segment's count tonight next to its share at training.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentCount {
    pub segment: u32,
    pub customers: u64,
    pub share: f64,
    pub training_share: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AssignSeconds {
    /// Reading, preparing, assigning and writing overlap (streamed): one figure for all of them.
    pub stream: f64,
    pub total: f64,
    pub rows_per_second: f64,
}

/// summary.json of an assign run.
#[derive(Debug, Clone, Serialize)]
pub struct AssignSummary {
    pub strata_version: String,
    pub model: String,
    pub inputs: Vec<String>,
    pub rows_read: usize,
    pub rows_assigned: usize,
    pub rows_dropped: usize,
    pub values_imputed: usize,
    pub missing_per_feature: Vec<MissingCount>,
    /// Per categorical feature: values the model has never seen (mapped to "(other)").
    pub unseen_categories: std::collections::BTreeMap<String, u64>,
    pub segments: Vec<SegmentCount>,
    pub device: String,
    pub seconds: AssignSeconds,
    pub warnings: Vec<String>,
}

pub struct AssignOutcome {
    pub summary: AssignSummary,
    pub files: Vec<PathBuf>,
}

/// What the stream counted.
#[derive(Debug, Default)]
struct Tally {
    rows: usize,
    dropped: usize,
    imputed: usize,
    missing: Vec<usize>,
    per_segment: Vec<u64>,
    /// Values of each categorical feature that the model does not know.
    unseen: Vec<u64>,
}

impl Tally {
    fn add(&mut self, b: &PreparedBatch, labels: &[u32]) {
        self.rows += b.rows.len();
        self.dropped += b.rows.iter().filter(|r| r.is_none()).count();
        self.imputed += b.imputed;
        self.missing
            .iter_mut()
            .zip(&b.missing)
            .for_each(|(a, m)| *a += m);
        self.unseen
            .iter_mut()
            .zip(&b.unseen)
            .for_each(|(a, u)| *a += u);
        for &l in labels {
            self.per_segment[l as usize] += 1;
        }
    }
}

/// Runs the job. Nothing appears in `opts.out` unless every output was written.
pub fn run(opts: &AssignOptions, sel: &Selected, log: &dyn Fn(&str)) -> Result<AssignOutcome> {
    let t_start = Instant::now();
    let model = Model::read(&opts.model)?;
    let mut read = opts.inputs.clone();
    read.push(opts.model.clone());
    let mut staging = OutputSet::create(&opts.out, &read)?;
    let mut warnings = Vec::new();
    let id = opts.id.clone().or(model.id_column.clone());
    let text_cols: Vec<&str> = id.iter().map(String::as_str).collect();
    let source = Source::open_with(&opts.inputs, &text_cols, &opts.csv)?;
    let id = match id {
        Some(name) if opts.id.is_none() && source.schema().index_of(&name).is_err() => {
            let msg = format!(
                "the input has no column '{name}' (the model's id column): labels.parquet numbers the rows instead"
            );
            log(&format!("warning: {msg}"));
            warnings.push(msg);
            None
        }
        other => other,
    };
    let cols = model_columns(&model, &source, id)?;
    log(&format!(
        "assigning to {} segments of {} with {}",
        model.k(),
        Model::locate(&opts.model).display(),
        sel.primary.name()
    ));
    let labels_path = staging.path("labels.parquet");
    let t = Instant::now();
    let on = run_with_fallback(sel, log, |b| {
        stream(&source, &cols, &model, b, labels_path.clone())
    })
    .map_err(|e| staging.explain(e))?;
    let stream_s = t.elapsed().as_secs_f64();
    warnings.extend(on.fell_back.clone());
    let tally = on.value;
    if tally.dropped > 0 {
        warnings.push(format!(
            "{} rows with missing feature values have no segment (the model's --missing drop)",
            tally.dropped
        ));
    }
    let seconds = AssignSeconds {
        stream: stream_s,
        total: t_start.elapsed().as_secs_f64(),
        rows_per_second: tally.rows as f64 / stream_s.max(1e-9),
    };
    let summary = summary(
        opts, &source, &cols, &model, &tally, on.device, seconds, warnings,
    );
    staging
        .write_json("summary.json", &summary)
        .map_err(|e| staging.explain(e))?;
    let files = staging.commit()?;
    Ok(AssignOutcome { summary, files })
}

#[allow(clippy::too_many_arguments)]
fn summary(
    opts: &AssignOptions,
    source: &Source,
    cols: &Columns,
    model: &Model,
    tally: &Tally,
    device: String,
    seconds: AssignSeconds,
    warnings: Vec<String>,
) -> AssignSummary {
    let assigned = tally.rows - tally.dropped;
    AssignSummary {
        strata_version: env!("CARGO_PKG_VERSION").into(),
        model: Model::locate(&opts.model).display().to_string(),
        inputs: source
            .paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
        rows_read: tally.rows,
        rows_assigned: assigned,
        rows_dropped: tally.dropped,
        values_imputed: tally.imputed,
        missing_per_feature: missing_counts(&cols.feature_names(), &tally.missing),
        unseen_categories: (cols.categorical.iter().cloned())
            .zip(tally.unseen.iter().copied())
            .collect(),
        segments: (model.segments.iter().zip(&tally.per_segment))
            .map(|(s, &c)| SegmentCount {
                segment: s.id,
                customers: c,
                share: c as f64 / assigned.max(1) as f64,
                training_share: s.training_share,
            })
            .collect(),
        device,
        seconds,
        warnings,
    }
}

/// The model's features resolved in the input (any order, extra columns ignored), each checked to be
/// numeric, plus the id column.
fn model_columns(model: &Model, source: &Source, id: Option<String>) -> Result<Columns> {
    let schema = source.schema();
    check_mostly_numeric(source, &model.names_with(Role::Numeric))?;
    for f in model.features.iter().filter(|f| f.role == Role::Numeric) {
        let i = resolve(schema, &f.name, "model feature")?;
        let t = schema.field(i).data_type();
        if !numeric_type(t) {
            return Err(Error::input(format!(
                "model feature column '{}' has type {t} in the input, not a number (it was {} at training)",
                f.name, f.input_type
            )));
        }
    }
    Columns::resolve(
        schema,
        &LoadSpec {
            features: Some(model.names_with(Role::Numeric)),
            id,
            weight: None,
            categorical: model.names_with(Role::Categorical),
        },
    )
}

/// Streams the input through the model on `backend` into labels.parquet at `path`.
fn stream(
    source: &Source,
    cols: &Columns,
    model: &Model,
    backend: &dyn Backend,
    path: PathBuf,
) -> Result<Tally> {
    let (k, d) = (model.k(), model.prepared_d());
    let centroids = model.centroids();
    let segment_ids: Vec<u32> = model.segments.iter().map(|s| s.id).collect();
    let schema = labels_schema(cols.id.as_ref());
    let mut sink = ParquetSink::create(path, schema.clone())?;
    // One batch on the device at a time; decoding and preparing run on all workers.
    let device = Mutex::new(());
    let mut tally = Tally {
        missing: vec![0; model.features.len()],
        per_segment: vec![0; k],
        unseen: vec![0; model.preparation.categorical.len()],
        ..Default::default()
    };
    let map = |b: PreparedBatch| -> Result<(arrow_array::RecordBatch, PreparedBatch, Vec<u32>)> {
        let near = if b.x.is_empty() {
            Nearest::empty()
        } else {
            let _one = device.lock().expect("device lock");
            backend
                .load(Dataset::new(&b.x, d, None))?
                .nearest(&centroids, k)?
        };
        let batch = labels_batch(
            &schema,
            b.first_row,
            b.ids.as_ref(),
            &b.rows,
            &near,
            &segment_ids,
        )?;
        // Only the counts travel on to the writer with the output batch.
        let b = PreparedBatch {
            x: Vec::new(),
            ids: None,
            ..b
        };
        Ok((batch, b, near.labels))
    };
    let workers = rayon::current_num_threads();
    stream_prepared(
        source,
        cols,
        &model.preparation,
        model.missing,
        workers,
        map,
        |(batch, b, labels)| {
            sink.write(&batch)?;
            tally.add(&b, &labels);
            Ok(())
        },
    )?;
    if tally.rows == 0 {
        return Err(Error::input("the input has no rows"));
    }
    sink.finish()?;
    Ok(tally)
}
