//! `strata generate`: synthetic customer-like tables (Gaussian blobs of different sizes and spreads, with
//! skewed money columns and integer channel counts), streamed to Parquet in bounded memory.

mod nights;

pub use nights::{Scenario, generate_night};

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use crate::data::matrix::{human_bytes, try_zeroed};
use crate::data::sink::replace_file;
use crate::data::write::ParquetSink;
use crate::error::{Error, Result};

const NAMES: [&str; 8] = [
    "balance",
    "credit_limit",
    "monthly_spend",
    "branch_visits",
    "online_logins",
    "calls",
    "products",
    "tenure_months",
];
pub(crate) const BATCH: usize = 65_536;

#[derive(Debug, Clone, Copy)]
enum Kind {
    /// log-normal, 2 decimals (float64): balances, limits, spend.
    Money,
    /// non-negative integers (int32): visits, logins, calls, products, tenure.
    Count,
    /// plain float32 feature.
    Plain,
}

fn kind(j: usize) -> Kind {
    match j {
        0..=2 => Kind::Money,
        3..=7 => Kind::Count,
        _ => Kind::Plain,
    }
}

fn column_name(j: usize) -> String {
    NAMES
        .get(j)
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("f{j:02}"))
}

/// The generating clusters: mixing weights, latent means and spreads.
struct Blobs {
    cum: Vec<f64>,
    mean: Vec<f64>,
    sd: Vec<f64>,
    d: usize,
}

impl Blobs {
    fn new(k: usize, d: usize, seed: u64) -> Blobs {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let w: Vec<f64> = (0..k).map(|_| 0.3 + rng.random::<f64>() * 2.0).collect();
        let total: f64 = w.iter().sum();
        let cum = w.iter().scan(0.0, |a, x| {
            *a += x / total;
            Some(*a)
        });
        let mean = (0..k * d).map(|_| rng.random_range(-3.0..3.0)).collect();
        let sd = (0..k).map(|_| rng.random_range(0.3..1.0)).collect();
        Blobs {
            cum: cum.collect(),
            mean,
            sd,
            d,
        }
    }
}

pub fn schema(d: usize) -> Arc<Schema> {
    let mut fields = vec![Field::new("customer_id", DataType::Int64, false)];
    for j in 0..d {
        let t = match kind(j) {
            Kind::Money => DataType::Float64,
            Kind::Count => DataType::Int32,
            Kind::Plain => DataType::Float32,
        };
        fields.push(Field::new(column_name(j), t, false));
    }
    Arc::new(Schema::new(fields))
}

fn batch(blobs: &Blobs, schema: &Arc<Schema>, seed: u64, b: usize, rows: usize) -> RecordBatch {
    let d = blobs.d;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(b as u64 + 1);
    let mut z = vec![0f64; rows * d];
    for i in 0..rows {
        let u: f64 = rng.random();
        let c = blobs
            .cum
            .iter()
            .position(|&x| u < x)
            .unwrap_or(blobs.cum.len() - 1);
        for j in 0..d {
            let e: f64 = rng.sample(StandardNormal);
            z[i * d + j] = blobs.mean[c * d + j] + blobs.sd[c] * e;
        }
    }
    let first = (b * BATCH) as i64 + 1;
    let ids = Int64Array::from_iter_values(first..first + rows as i64);
    render(schema, ids, &z, d, (8.0, 0.6), 3.0)
}

/// A batch from latent values `z` (row-major, `d` per row): money columns exp(a + b·z) rounded to cents
/// (`money` = (a, b)), counts round(`count_offset` + 1.5·z) floored at 0, the rest as they are.
pub(crate) fn render(
    schema: &Arc<Schema>,
    ids: Int64Array,
    z: &[f64],
    d: usize,
    money: (f64, f64),
    count_offset: f64,
) -> RecordBatch {
    let rows = ids.len();
    let mut cols: Vec<ArrayRef> = vec![Arc::new(ids)];
    for j in 0..d {
        let col = (0..rows).map(|i| z[i * d + j]);
        cols.push(match kind(j) {
            Kind::Money => {
                Arc::new(Float64Array::from_iter_values(col.map(|v| {
                    ((money.0 + money.1 * v).exp() * 100.0).round() / 100.0
                })))
            }
            Kind::Count => Arc::new(Int32Array::from_iter_values(
                col.map(|v| (count_offset + 1.5 * v).round().max(0.0) as i32),
            )),
            Kind::Plain => Arc::new(Float32Array::from_iter_values(col.map(|v| v as f32))),
        });
    }
    RecordBatch::try_new(schema.clone(), cols).expect("generated batch matches schema")
}

/// Writes `rows` × (`d` features + id) to `out`, atomically (temporary file renamed at the end).
pub fn generate(out: &Path, rows: usize, d: usize, k: usize, seed: u64) -> Result<()> {
    if rows == 0 || d == 0 || k == 0 {
        return Err(Error::usage(
            "--rows, --features and --clusters must be at least 1",
        ));
    }
    if k > rows {
        return Err(Error::usage(format!(
            "--clusters {k} is more than --rows {rows}: every cluster needs customers"
        )));
    }
    // The cluster means (k × d) and one batch (65,536 × d) are held in memory.
    let need = k.max(BATCH).checked_mul(d);
    if need.and_then(try_zeroed::<f64>).is_none() {
        return Err(Error::usage(format!(
            "--clusters {k} × --features {d} needs {} of memory, more than this machine can allocate",
            human_bytes(k.max(BATCH) as f64 * d as f64 * 8.0)
        )));
    }
    let blobs = Blobs::new(k, d, seed);
    let schema = schema(d);
    // A data file for others to read, not a private temporary.
    replace_file(out, |tmp| write_batches(tmp, rows, &blobs, &schema, seed))
}

/// Streams the generated batches into a Parquet file at `path`.
fn write_batches(
    path: &Path,
    rows: usize,
    blobs: &Blobs,
    schema: &Arc<Schema>,
    seed: u64,
) -> Result<()> {
    let mut sink = ParquetSink::create(path.to_path_buf(), schema.clone())?;
    let n_batches = rows.div_ceil(BATCH);
    // Batches are generated in parallel groups and written in order: bounded memory, same file at any thread count.
    let group = rayon::current_num_threads().max(1) * 2;
    for g in (0..n_batches).step_by(group) {
        let batches: Vec<RecordBatch> = (g..(g + group).min(n_batches))
            .into_par_iter()
            .map(|b| batch(blobs, schema, seed, b, (rows - b * BATCH).min(BATCH)))
            .collect();
        for b in &batches {
            sink.write(b)?;
        }
    }
    sink.finish()
}
