//! `strata assign`: scores new customers with a saved model. The input streams through the model's fitted
//! preparation (never refitted) batch by batch, in input order, so any input size runs in bounded memory;
//! every row goes to its nearest segment with the pass a fit's final labels come from, so the training
//! input gets the fit's labels and distances bit for bit.

use std::path::PathBuf;

use super::accumulate::{DriftPass, KeysPass, ProfilePass};
use super::lineage::previous_keys;
use super::missing_counts;
use super::options::{Checked, LifecycleOptions, OutputSpec};
use super::run::{Run, timed};
use super::scan::{Counts, model_columns, scan};
use crate::compute::Backend;
use crate::compute::select::Selected;
use crate::data::Source;
use crate::data::columns::Spill;
use crate::data::load::Columns;
use crate::data::load::kept_rows;
use crate::data::sink::OutputSet;
use crate::data::source::{Batches, CsvOptions};
use crate::data::write::ParquetSink;
use crate::data::{Missing, RawColumns};
use crate::error::Result;
use crate::model::Model;
use crate::model::lifecycle::Previous;
use crate::model::lifecycle::drift;
use crate::model::lifecycle::migration::{self, KeyKind, Keyed, Migration};
use crate::model::lifecycle::transitions;
use crate::output::schema;
pub use crate::output::schema::{AssignSeconds, AssignSummary, Lifecycle, SegmentCount};
use crate::output::{self, SegmentRow, labels_batch, labels_schema};
use crate::pipeline::PreparedBatch;
use crate::profile;

/// Everything `strata assign` needs: the model, what to read (the model names the columns), the previous
/// night and what to write (deserializable like [`FitOptions`](super::fit::FitOptions)).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AssignOptions {
    /// model.json or a fit's output directory.
    pub model: PathBuf,
    pub inputs: Vec<PathBuf>,
    /// Rows already in memory, read instead of `inputs`.
    #[serde(skip)]
    pub memory: Option<Batches>,
    /// The id column copied into labels.parquet (default: the model's, when the input has it).
    pub id: Option<String>,
    /// How delimited inputs are read (delimiter, missing-value tokens, number notation).
    pub csv: CsvOptions,
    /// The previous night (migration and transitions from its labels to tonight's) and the thresholds.
    pub lifecycle: LifecycleOptions,
    /// Also write profiles.parquet (holds the input in memory, like a fit).
    pub profiles: bool,
    pub output: OutputSpec,
}

impl AssignOptions {
    pub fn check(self) -> Result<Checked<AssignOptions>> {
        Checked::new(self, |o| o.lifecycle.check())
    }
}

pub struct AssignOutcome {
    pub summary: AssignSummary,
    pub files: Vec<PathBuf>,
}

/// What the pass produced besides labels.parquet.
pub(crate) struct Scanned {
    pub counts: Counts,
    pub drift: drift::Tally,
    /// Tonight's (id, segment id) pairs, when migrating.
    pub keyed: Option<(Keyed, usize)>,
    /// With profiles: each assigned row's segment and category counts, and (with [`Keep::Columns`]) the
    /// input's numeric columns to read again.
    pub rows: Option<(ProfilePass, Option<RawColumns>)>,
}

/// What a pass computes besides labels.parquet and the counts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Passes {
    /// Tonight's (id, segment id) pairs, of ids of this kind.
    pub keys: Option<KeyKind>,
    /// What it keeps for profiles.
    pub keep: Keep,
    /// The drift tally against the model's training population (an assign's; a fit's own pass has none).
    pub drift: bool,
}

/// What a pass keeps for profiles besides labels.parquet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Keep {
    Nothing,
    /// Each row's segment and the category counts ([`ProfilePass`]).
    Segments,
    /// Those, and the input's numeric columns to read again (a delimited input copied as it streams).
    Columns,
}

/// Runs the job. Nothing appears in `opts.output.out` unless every output was written.
pub fn run(
    opts: &Checked<AssignOptions>,
    sel: &Selected,
    log: &dyn Fn(&str),
) -> Result<AssignOutcome> {
    let started = std::time::Instant::now();
    let model = Model::read(&opts.model)?;
    if let Some(g) = &opts.output.report {
        g.check(&super::feature_names(&model.preparation))?;
    }
    let previous = (opts.lifecycle.previous.as_deref())
        .map(Previous::open)
        .transpose()?;
    let mut read = opts.inputs.clone();
    read.push(opts.model.clone());
    let mut run = Run::open(&opts.output.out, &read, (sel, log), started)?;
    let (source, cols) = open_columns(opts, &model, log, &mut run.warnings)?;
    let prev_keys = match &previous {
        Some(p) => previous_keys(p, cols.id.as_ref(), &mut run.warnings)?,
        None => None,
    };
    log(&format!(
        "assigning to {} segments of {} with {}",
        model.k(),
        Model::locate(&opts.model).display(),
        run.device
    ));
    let labels_path = run.write(|s| Ok(s.path("labels.parquet")))?;
    let kind = prev_keys.as_ref().map(|k| k.kind());
    let (scanned, stream_s) = timed(|| {
        run.on_device(log, |b| {
            let keep = if opts.profiles {
                Keep::Columns
            } else {
                Keep::Nothing
            };
            let passes = Passes {
                keys: kind,
                keep,
                drift: true,
            };
            stream(&source, &cols, &model, b, labels_path.clone(), passes)
        })
    });
    let mut scanned = scanned?;
    if scanned.counts.dropped > 0 {
        run.warnings.push(format!(
            "{} rows with missing feature values have no segment (the model's --missing drop)",
            scanned.counts.dropped
        ));
    }
    let keys = (prev_keys, scanned.keyed.take());
    let night = relate(
        opts,
        &model,
        previous.as_ref(),
        keys,
        &scanned,
        &mut run.warnings,
    )?;
    let counts = &scanned.counts;
    let rows = scanned.rows.take();
    run.write(|staging| {
        write_segments(staging, &model, counts, rows)?;
        write_lifecycle(staging, &model, night.as_ref())
    })?;
    let seconds = AssignSeconds {
        stream: stream_s,
        total: run.seconds(),
        rows_per_second: counts.rows as f64 / stream_s.max(1e-9),
    };
    let mut summary = summary(opts, &source, &cols, &model, counts, seconds);
    (summary.device, summary.warnings) = (run.device.clone(), std::mem::take(&mut run.warnings));
    summary.lifecycle = night;
    summary.decision = opts.output.decision.clone();
    let files = run.finish(schema::SUMMARY, &summary, opts.output.report.as_ref())?;
    Ok(AssignOutcome { summary, files })
}

/// Opens the input with the model's columns; the id column (the model's when none is given and the
/// input has it) is read as text from delimited files.
fn open_columns(
    opts: &AssignOptions,
    model: &Model,
    log: &dyn Fn(&str),
    warnings: &mut Vec<String>,
) -> Result<(Source, Columns)> {
    let id = opts.id.clone().or(model.id_column.clone());
    let text_cols: Vec<&str> = id.iter().map(String::as_str).collect();
    let source = Source::open_input(&opts.inputs, opts.memory.as_ref(), &text_cols, &opts.csv)?;
    source.notes().iter().for_each(|n| log(n));
    let id = present_id(id, opts.id.is_none(), &source, log, warnings);
    let cols = model_columns(model, &source, id)?;
    Ok((source, cols))
}

/// The id column to copy: the model's one only when the input has it (else row numbers, with a warning).
fn present_id(
    id: Option<String>,
    from_model: bool,
    source: &Source,
    log: &dyn Fn(&str),
    warnings: &mut Vec<String>,
) -> Option<String> {
    match id {
        Some(name) if from_model && source.schema().index_of(&name).is_err() => {
            let msg = format!(
                "the input has no column '{name}' (the model's id column): labels.parquet numbers the rows instead"
            );
            log(&format!("warning: {msg}"));
            warnings.push(msg);
            None
        }
        other => other,
    }
}

/// Tonight against the model's training population (drift, from the pass's tally) and, with a previous
/// night, migration (joined on ids) and transitions (from the migration's overlap between last night's
/// segments and the model's); None when there is neither a previous night nor a drift reference.
fn relate(
    opts: &AssignOptions,
    model: &Model,
    previous: Option<&Previous>,
    (prev_keys, now_keys): (Option<Keyed>, Option<(Keyed, usize)>),
    scanned: &Scanned,
    warnings: &mut Vec<String>,
) -> Result<Option<Lifecycle>> {
    let drift = drift::Check::new(model).map(|c| c.report(&scanned.drift, &opts.lifecycle.drift));
    if drift.is_none() {
        warnings.push(
            "the model (format version 2) has no drift reference: no drift.parquet; refit to get one"
                .into(),
        );
    }
    let migration = match (prev_keys, now_keys, previous) {
        (Some(prev), Some((now, nulls)), Some(p)) => {
            migration::note_nulls(nulls, "tonight", warnings);
            let without = "no migration or transitions";
            migration::join_or_warn(prev, now, &p.dir, without, warnings)
        }
        _ => None,
    };
    if drift.is_none() && previous.is_none() {
        return Ok(None);
    }
    let ids = model.segment_ids();
    let prev_ids = previous.map(|p| p.model.segment_ids()).unwrap_or_default();
    let ts = previous.zip(migration.as_ref()).map(|(_, m)| {
        let overlap = m.overlap(&prev_ids, &ids);
        let sizes = &scanned.counts.per_segment;
        transitions::transitions(&overlap, &prev_ids, &ids, sizes, &opts.lifecycle.overlaps)
    });
    Ok(Some(Lifecycle {
        previous: previous.map(|p| p.dir.display().to_string()),
        matched_by: "the model".into(),
        continues: ids
            .iter()
            .map(|i| prev_ids.contains(i).then_some(*i))
            .collect(),
        segment_ids: ids,
        next_segment_id: model.next_segment_id,
        events: ts.as_deref().map(transitions::describe).unwrap_or_default(),
        transitions: ts.unwrap_or_default(),
        migration: migration.as_ref().map(Migration::totals),
        drift,
        drift_reference: "the model's training population".into(),
        flows: migration,
    }))
}

/// The model used (so that this output can be a later run's `--previous`), drift and, with a previous
/// night joined on ids, migration and transitions.
fn write_lifecycle(
    staging: &mut OutputSet,
    model: &Model,
    night: Option<&Lifecycle>,
) -> Result<()> {
    staging.write_json("model.json", model)?;
    let Some(night) = night else { return Ok(()) };
    if let Some(d) = &night.drift {
        output::write_drift(staging.path("drift.parquet"), d)?;
    }
    if let Some(m) = &night.flows {
        output::write_migration(staging.path("migration.parquet"), m)?;
        output::write_transitions(staging.path("transitions.parquet"), &night.transitions)?;
    }
    Ok(())
}

/// Each segment's rows and SSE as a pass counted them, with the model's centroid in original units.
pub(crate) fn counted_segments(model: &Model, counts: &Counts) -> Vec<SegmentRow> {
    let (prep, d) = (&model.preparation, model.prepared_d());
    let centroids = model.centroids();
    (0..model.k())
        .map(|s| SegmentRow {
            customers: counts.per_segment[s],
            weight: counts.per_segment[s] as f64,
            sse: counts.sse[s],
            centroid: (0..d)
                .map(|j| prep.invert(j, centroids[s * d + j] as f64))
                .collect(),
        })
        .collect()
}

/// segments.parquet (tonight's counts and SSE, the model's centroids in original units) and, with the
/// assigned rows kept, profiles.parquet.
fn write_segments(
    staging: &mut OutputSet,
    model: &Model,
    counts: &Counts,
    rows: Option<(ProfilePass, Option<RawColumns>)>,
) -> Result<()> {
    let (prep, k) = (&model.preparation, model.k());
    let centroids = model.centroids();
    let segments = counted_segments(model, counts);
    output::write_segments(staging.path("segments.parquet"), &segments, model, false)?;
    let Some((pass, Some(raw))) = rows else {
        return Ok(());
    };
    let seg = profile::Segmentation {
        labels: &pass.labels,
        centroids: &centroids,
        k,
        categories: pass.categories,
        impute: model.missing == Missing::Median,
    };
    let profiles = profile::with_ids(
        profile::profiles(&raw, prep, &seg, None)?,
        &model.segment_ids(),
    );
    output::write_profiles(staging.path("profiles.parquet"), &profiles)
}

/// The summary of the pass (the run fills in its device, warnings and lifecycle).
fn summary(
    opts: &AssignOptions,
    source: &Source,
    cols: &Columns,
    model: &Model,
    tally: &Counts,
    seconds: AssignSeconds,
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
        seconds,
        ..AssignSummary::default()
    }
}

/// Streams the input through the model on `backend` into labels.parquet at `path`; collects tonight's
/// (id, segment id) pairs, the drift tally and what profiles need as `passes` says.
pub(crate) fn stream(
    source: &Source,
    cols: &Columns,
    model: &Model,
    backend: &dyn Backend,
    path: PathBuf,
    Passes { keys, keep, drift }: Passes,
) -> Result<Scanned> {
    let segment_ids = model.segment_ids();
    let schema = labels_schema(cols.id.as_ref());
    let mut sink = ParquetSink::create(path, schema.clone())?;
    let check = drift.then(|| drift::Check::new(model)).flatten();
    let rows = (keep != Keep::Nothing).then(|| ProfilePass::new(&model.preparation, model.k()));
    // A delimited input's columns are kept for the profiles as it goes by (see `RawColumns`).
    let raw_d = cols.d();
    let spill = match keep == Keep::Columns && !source.columnar() {
        true => Some(Spill::create(source.rows(), raw_d)?),
        false => None,
    };
    let keyed = keys.map(|k| KeysPass::new(k, &segment_ids));
    let passes = (check.as_ref().map(DriftPass::new), (keyed, rows));
    let (counts, (drift, (keyed, rows))) = scan(
        (source, cols),
        model,
        model.missing,
        backend,
        passes,
        |b, near| {
            if let Some(s) = &spill {
                s.write(b.first_row, &all_rows(b, raw_d))?;
            }
            let ids = b.ids.as_ref();
            labels_batch(&schema, b.first_row, ids, &b.rows, near, &segment_ids)
        },
        |batch| sink.write(&batch),
    )?;
    sink.finish()?;
    Ok(Scanned {
        counts,
        drift: drift.map(|p| p.tally).unwrap_or_default(),
        keyed: keyed.map(|k| (k.keyed, k.nulls)),
        rows: rows.map(|pass| {
            let names = cols.names.clone();
            let mut raw = match (keep, spill) {
                (Keep::Columns, Some(s)) => Some(RawColumns::spilled(s, names)),
                (Keep::Columns, None) => Some(RawColumns::parquet(
                    source.clone(),
                    cols.all[..raw_d].to_vec(),
                    names,
                    source.rows(),
                )),
                _ => None,
            };
            if let Some(raw) = raw.as_mut().filter(|_| !pass.dropped.is_empty()) {
                let dropped = pass.dropped.iter().map(|&r| r as usize);
                raw.keep(kept_rows(source.rows(), dropped));
            }
            (pass, raw)
        }),
    })
}

/// A batch's numeric features in original units for every input row (NaN for a dropped one).
fn all_rows(b: &PreparedBatch, d: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; b.rows.len() * d];
    for (dst, r) in out.chunks_exact_mut(d).zip(&b.rows) {
        if let Some(r) = r {
            dst.copy_from_slice(&b.raw[r * d..(r + 1) * d]);
        }
    }
    out
}
