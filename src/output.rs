//! The Parquet outputs of a fit: labels, segments and profiles (schemas documented in the README).

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, UInt32Builder};
use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use crate::data::source::BATCH_ROWS;
use crate::data::write::{ParquetSink, write_parquet};
use crate::error::{Error, Result};
use crate::profile::FeatureProfile;

/// Per-row results aligned with the input: rows dropped for missing values get null segment and distance.
pub struct LabelColumns<'a> {
    pub labels: &'a [u32],
    pub dist2: &'a [f32],
    /// Input row of each fitted row (None when no row was dropped).
    pub kept_rows: Option<&'a [u32]>,
    pub rows_read: usize,
}

/// Writes labels.parquet: the id column (or `row`), `segment` (uint32), `distance` (float32).
pub fn write_labels(
    path: PathBuf,
    cols: &LabelColumns,
    ids: Option<(&arrow_schema::Field, &[ArrayRef])>,
) -> Result<()> {
    let first = match ids {
        Some((f, _)) => f.clone(),
        None => Field::new("row", DataType::UInt64, false),
    };
    let schema = Arc::new(Schema::new(vec![
        first,
        Field::new("segment", DataType::UInt32, true),
        Field::new("distance", DataType::Float32, true),
    ]));
    let mut sink = ParquetSink::create(path.clone(), schema.clone())?;
    // Batches follow the id arrays as read, or fixed-size blocks without an id column.
    let bounds: Vec<usize> = match ids {
        Some((_, arrays)) => arrays.iter().map(|a| a.len()).collect(),
        None => (0..cols.rows_read)
            .step_by(BATCH_ROWS)
            .map(|s| (cols.rows_read - s).min(BATCH_ROWS))
            .collect(),
    };
    let mut row = 0usize;
    let mut fitted = 0usize;
    for (b, len) in bounds.into_iter().enumerate() {
        let mut seg = UInt32Builder::with_capacity(len);
        let mut dist = Float32Builder::with_capacity(len);
        for r in row..row + len {
            let present = match cols.kept_rows {
                None => true,
                Some(k) => fitted < k.len() && k[fitted] as usize == r,
            };
            if present {
                seg.append_value(cols.labels[fitted]);
                dist.append_value(cols.dist2[fitted].max(0.0).sqrt());
                fitted += 1;
            } else {
                seg.append_null();
                dist.append_null();
            }
        }
        let first: ArrayRef = match ids {
            Some((_, arrays)) => arrays[b].clone(),
            None => Arc::new(UInt64Array::from_iter_values(
                (row as u64)..(row + len) as u64,
            )),
        };
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![first, Arc::new(seg.finish()), Arc::new(dist.finish())],
        )
        .map_err(|e| Error::output(&path, e))?;
        sink.write(&batch)?;
        row += len;
    }
    sink.finish()
}

/// One row per segment for segments.parquet.
pub struct SegmentRow {
    pub customers: u64,
    pub weight: f64,
    pub sse: f64,
    /// Centroid in original units.
    pub centroid: Vec<f64>,
}

/// Writes segments.parquet: segment, customers, share, sse, (weight), then one centroid column per feature.
pub fn write_segments(
    path: PathBuf,
    rows: &[SegmentRow],
    features: &[String],
    weighted: bool,
) -> Result<()> {
    let total: u64 = rows.iter().map(|r| r.customers).sum();
    let mut fields = vec![
        Field::new("segment", DataType::UInt32, false),
        Field::new("customers", DataType::UInt64, false),
        Field::new("share", DataType::Float64, false),
        Field::new("sse", DataType::Float64, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(0..rows.len() as u32)),
        Arc::new(UInt64Array::from_iter_values(
            rows.iter().map(|r| r.customers),
        )),
        Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.customers as f64 / total as f64),
        )),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.sse))),
    ];
    if weighted {
        fields.push(Field::new("weight", DataType::Float64, false));
        cols.push(Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.weight),
        )));
    }
    for (j, name) in features.iter().enumerate() {
        if fields.iter().any(|f| f.name() == name) {
            return Err(Error::input(format!(
                "feature column '{name}' has the name of a segments.parquet column; rename it in the input"
            )));
        }
        fields.push(Field::new(name, DataType::Float64, false));
        cols.push(Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.centroid[j]),
        )));
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| Error::output(&path, e))?;
    write_parquet(path, &batch)
}

/// Writes profiles.parquet: one row per (segment, feature); `segment` is null on the all-customers rows.
pub fn write_profiles(path: PathBuf, profiles: &[FeatureProfile]) -> Result<()> {
    let f64col = |name: &str, get: fn(&FeatureProfile) -> f64| -> (Field, ArrayRef) {
        (
            Field::new(name, DataType::Float64, true),
            Arc::new(Float64Array::from_iter_values(profiles.iter().map(get))),
        )
    };
    let mut fields = vec![
        Field::new("segment", DataType::UInt32, true),
        Field::new("feature", DataType::Utf8, false),
        Field::new("customers", DataType::UInt64, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter(profiles.iter().map(|p| p.segment))),
        Arc::new(StringArray::from_iter_values(
            profiles.iter().map(|p| p.feature.as_str()),
        )),
        Arc::new(UInt64Array::from_iter_values(
            profiles.iter().map(|p| p.customers),
        )),
    ];
    for (f, c) in [
        f64col("mean", |p| p.mean),
        f64col("std", |p| p.std),
        f64col("min", |p| p.min),
        f64col("p25", |p| p.p25),
        f64col("median", |p| p.median),
        f64col("p75", |p| p.p75),
        f64col("max", |p| p.max),
        f64col("z", |p| p.z),
    ] {
        fields.push(f);
        cols.push(c);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .map_err(|e| Error::output(&path, e))?;
    write_parquet(path, &batch)
}
