//! Read → select columns → prepare, the one component every job shares. `fit` reads the whole input
//! into memory and fits the preparation ([`read_and_prepare`]); `assign` streams it batch by batch through
//! a fitted preparation ([`stream_prepared`]). Both decode with [`decode_batch`] and prepare with
//! [`FittedPrep::transform`]'s operations, so the same rows give the same prepared bits either way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Instant;

use arrow_array::ArrayRef;

use crate::data::load::{Columns, decode_batch};
use crate::data::matrix::{can_allocate, human_bytes};
use crate::data::{FeatureMatrix, LoadSpec, Loaded, Missing, Source, load};
use crate::error::{Error, Result};
use crate::prep::categorical::MISSING;
use crate::prep::{FittedPrep, PrepReport, Scaling};

/// How to prepare the features at fit time. Its `Default` holds the defaults of the CLI and the job file.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrepSpec {
    pub missing: Missing,
    pub scale: Scaling,
    pub log1p: Vec<String>,
    /// Categories rarer than this share of the rows pool into "(other)".
    pub min_category_share: f64,
}

impl Default for PrepSpec {
    fn default() -> Self {
        PrepSpec {
            missing: Missing::Error,
            scale: Scaling::Zscore,
            log1p: Vec::new(),
            min_category_share: 0.01,
        }
    }
}

/// The whole input in memory, prepared, with what reading and preparing it found.
pub struct Prepared {
    pub source: Source,
    /// The input as read: original values in `loaded.raw` (profiles are computed from them).
    pub loaded: Loaded,
    /// The prepared matrix (the clustering space): numeric features, then categorical indicators; every kept
    /// row, or the rows of `sample`.
    pub matrix: FeatureMatrix<f32>,
    pub prep: FittedPrep,
    /// The missing-value policy it was prepared under.
    pub missing: Missing,
    /// Over the memory budget: the sample `matrix` holds (its rows are these kept rows).
    pub sample: Option<Sampled>,
    pub report: PrepReport,
    pub read_seconds: f64,
    pub prepare_seconds: f64,
}

/// How much of the input a fit may prepare in memory: over `budget` bytes, only `sample` rows (drawn
/// uniformly with `seed`) are prepared, for k-means; a streamed pass assigns every row afterwards.
pub struct Plan {
    pub budget: u64,
    pub sample: usize,
    pub seed: u64,
    /// Where `budget` comes from, for the log ("as asked", "80 % of this machine's 23.4 GB").
    pub why: String,
}

/// A fit over its memory budget: the kept rows (ascending) its prepared matrix holds.
pub struct Sampled {
    pub rows: Vec<u32>,
    /// What preparing every row would take (an estimate), and the budget.
    pub need: u64,
    pub budget: u64,
}

/// Bytes a fit holds per kept row for a prepared row of `d` values: the row, its segment, second segment
/// and their distances, and its id.
fn bytes_per_row(d: usize) -> u64 {
    4 * d as u64 + 24
}

/// 80 % of this machine's memory (Linux's MemTotal), or None where it cannot be read. The machine's memory,
/// not what happens to be free when the fit starts: the same input on the same machine always takes the
/// same path, so its outputs are the same bits.
pub fn machine_budget() -> Option<(u64, String)> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = (info.lines().find(|l| l.starts_with("MemTotal:")))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    let total = kb * 1024;
    let why = format!("80 % of this machine's {}", human_bytes(total as f64));
    Some((total / 10 * 8, why))
}

/// Reads every input and fits and applies the preparation (fit, sweep); with a `plan` whose budget the
/// prepared input would exceed, only a sample's rows are prepared ([`Prepared::sample`]).
pub fn read_and_prepare(
    source: Source,
    spec: &LoadSpec,
    prep: &PrepSpec,
    plan: Option<&Plan>,
    log: &dyn Fn(&str),
) -> Result<Prepared> {
    let t = Instant::now();
    let mut loaded = load(&source, spec, prep.missing)?;
    let read_seconds = t.elapsed().as_secs_f64();
    log(&format!(
        "read {} rows × {} numeric and {} categorical features from {} file(s) in {read_seconds:.2}s",
        loaded.rows_read,
        loaded.raw.d(),
        loaded.categorical.len(),
        source.paths().len(),
    ));
    let t = Instant::now();
    let n = loaded.raw.n;
    // Each categorical feature takes at least two indicator columns.
    let need = n as u64 * bytes_per_row(loaded.raw.d() + 2 * loaded.categorical.len());
    let sample = plan.filter(|p| need > p.budget && p.sample < n).map(|p| {
        log(&format!(
            "the prepared input would take about {} of memory, over the budget of {} ({}): k-means runs on a uniform sample of {} of {n} rows, then one streamed pass assigns every customer",
            human_bytes(need as f64),
            human_bytes(p.budget as f64),
            p.why,
            p.sample
        ));
        let rows = crate::kmeans::sample::rows(n, p.sample, p.seed);
        Sampled {
            rows: rows.into_iter().map(|r| r as u32).collect(),
            need,
            budget: p.budget,
        }
    });
    let d = loaded.raw.d();
    if sample.is_none() && !can_allocate::<f32>(n.saturating_mul(d)) {
        return Err(Error::input(format!(
            "{n} rows × {d} features take {} prepared, more memory than this machine can allocate: fit on a sample (`sample`, `memory`) where the fit allows it, or use a machine with more memory",
            human_bytes(n as f64 * d as f64 * 4.0)
        )));
    }
    let impute = prep.missing == Missing::Median;
    let rows = sample.as_ref().map(|s| &s.rows[..]);
    let how = (prep.scale, &prep.log1p[..], impute);
    let (mut fitted, mut matrix, mut report) =
        FittedPrep::fit_transform_rows(&loaded.raw, how, rows)?;
    let cats = std::mem::take(&mut loaded.categorical);
    report.warnings.extend(fitted.fit_categorical(
        &mut matrix,
        (&spec.categorical, &cats),
        prep.min_category_share,
        impute,
        rows.map(|r| (r, &report.spread[..])),
    ));
    if impute {
        report.imputed_values += cats
            .iter()
            .map(|(_, codes)| codes.iter().filter(|&&c| c == MISSING).count())
            .sum::<usize>();
    }
    Ok(Prepared {
        source,
        loaded,
        matrix,
        prep: fitted,
        missing: prep.missing,
        report,
        sample,
        read_seconds,
        prepare_seconds: t.elapsed().as_secs_f64(),
    })
}

/// One streamed batch after preparation.
pub struct PreparedBatch {
    /// Input row number of the batch's first row.
    pub first_row: usize,
    /// The id column's values for every row of the batch (dropped rows included).
    pub ids: Option<ArrayRef>,
    /// Prepared rows (row-major), the batch's rows minus the dropped ones.
    pub x: Vec<f32>,
    /// The same rows' numeric features in original units (NaN = missing), for profiles.
    pub raw: Vec<f64>,
    /// For each input row of the batch: its row in `x`, or None when it was dropped.
    pub rows: Vec<Option<usize>>,
    /// Missing values per feature, and how many of them were imputed.
    pub missing: Vec<usize>,
    pub imputed: usize,
    /// Per categorical feature: values the model does not know (mapped to "(other)").
    pub unseen: Vec<u64>,
}

/// Streams the input through `prep` in record batches: `map` runs on worker threads (one input part at a
/// time each, parts claimed in order), `sink` on the calling thread receives the results in input order.
/// At most `workers` parts are in flight and each holds at most two finished batches, so memory stays
/// bounded whatever the input size. The first error stops everything.
pub fn stream_prepared<T: Send>(
    source: &Source,
    cols: &Columns,
    prep: &FittedPrep,
    missing: Missing,
    workers: usize,
    map: impl Fn(PreparedBatch) -> Result<T> + Sync,
    mut sink: impl FnMut(T) -> Result<()>,
) -> Result<()> {
    let parts = source.parts();
    let (txs, rxs): (Vec<_>, Vec<_>) = parts
        .iter()
        .map(|_| {
            let (tx, rx) = mpsc::sync_channel::<Result<T>>(2);
            (Mutex::new(Some(tx)), rx)
        })
        .unzip();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let lookups: Vec<_> = prep.categorical.iter().map(|c| c.lookup()).collect();
    let work = || {
        loop {
            let p = next.fetch_add(1, Ordering::SeqCst);
            if p >= parts.len() || stop.load(Ordering::SeqCst) {
                return;
            }
            let tx = txs[p]
                .lock()
                .expect("sender")
                .take()
                .expect("one worker per part");
            let part = &parts[p];
            let mut row = 0usize;
            for batch in source.part_batches(part, &cols.all) {
                let out = batch.and_then(|b| {
                    let first_row = part.first_row + row;
                    row += b.num_rows();
                    prepare_batch(&b, cols, (prep, &lookups), missing, first_row)
                });
                let failed = out.is_err();
                if tx.send(out.and_then(&map)).is_err() || failed {
                    stop.store(true, Ordering::SeqCst);
                    return;
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..workers.max(1) {
            s.spawn(work);
        }
        let result = (|| {
            for rx in rxs {
                for item in rx {
                    sink(item?)?;
                }
            }
            Ok(())
        })();
        // On an error the receivers are gone: blocked workers wake up, see `stop` and leave.
        stop.store(true, Ordering::SeqCst);
        result
    })
}

/// Category codes of a batch's categorical columns (`MISSING` for nulls), and per column how many values
/// the model does not know (they map to "(other)").
fn encode_categories(
    prep: &FittedPrep,
    lookups: &[HashMap<&str, u32>],
    text: &[arrow_array::StringArray],
) -> (Vec<Vec<u32>>, Vec<u64>) {
    let mut unseen = vec![0u64; lookups.len()];
    let codes = (prep
        .categorical
        .iter()
        .zip(lookups)
        .zip(text)
        .zip(&mut unseen))
    .map(|(((c, lookup), text), unseen)| {
        text.iter()
            .map(|v| {
                v.map_or(MISSING, |v| {
                    let (code, new) = c.code(lookup, v);
                    *unseen += new as u64;
                    code
                })
            })
            .collect()
    })
    .collect();
    (codes, unseen)
}

/// Decodes, applies the missing-value policy and prepares one batch.
fn prepare_batch(
    batch: &arrow_array::RecordBatch,
    cols: &Columns,
    (prep, lookups): (&FittedPrep, &[HashMap<&str, u32>]),
    missing: Missing,
    first_row: usize,
) -> Result<PreparedBatch> {
    let (n, d) = (batch.num_rows(), cols.d());
    let mut x = vec![0f64; n * d];
    let dec = decode_batch(batch, cols, first_row, &mut x, None)?;
    let (mut codes, unseen) = encode_categories(prep, lookups, &dec.categorical);
    if let Some(&r) = dec.missing_rows.first()
        && missing == Missing::Error
    {
        let row = &x[r as usize * d..(r as usize + 1) * d];
        let j = row
            .iter()
            .position(|v| v.is_nan())
            .or_else(|| {
                codes
                    .iter()
                    .position(|c| c[r as usize] == MISSING)
                    .map(|c| d + c)
            })
            .expect("a missing value");
        let names = cols.feature_names();
        return Err(Error::input(format!(
            "missing value (null or NaN) in feature column '{}' at row {} (0-based); the model was \
             fitted with `missing` error: fill or filter the input, or refit with `missing` drop or median",
            names[j],
            first_row + r as usize
        )));
    }
    let mut rows: Vec<Option<usize>> = (0..n).map(Some).collect();
    if missing == Missing::Drop && !dec.missing_rows.is_empty() {
        let mut kept = 0;
        let mut drop = dec.missing_rows.iter().peekable();
        for (i, r) in rows.iter_mut().enumerate() {
            if drop.peek() == Some(&&(i as u32)) {
                drop.next();
                *r = None;
            } else {
                x.copy_within(i * d..(i + 1) * d, kept * d);
                for c in &mut codes {
                    c[kept] = c[i];
                }
                *r = Some(kept);
                kept += 1;
            }
        }
        x.truncate(kept * d);
        codes.iter_mut().for_each(|c| c.truncate(kept));
    }
    let impute = missing == Missing::Median;
    let mut prepared = vec![0f32; x.len()];
    prep.transform(&x, &mut prepared, impute).map_err(|mut e| {
        let in_batch = rows.iter().position(|r| *r == Some(e.row)).unwrap_or(e.row);
        e.row = first_row + in_batch;
        prep.value_error(e, "row")
    })?;
    let rows_kept = x.len() / d;
    let raw = x;
    let x = prep.expand(prepared, rows_kept, &codes, impute);
    Ok(PreparedBatch {
        first_row,
        ids: dec.ids,
        x,
        raw,
        unseen,
        rows,
        imputed: if impute { dec.missing.iter().sum() } else { 0 },
        missing: dec.missing,
    })
}
