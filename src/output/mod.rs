//! The Parquet outputs of a fit: labels, segments and profiles (schemas documented in the README); the
//! lifecycle's transitions, migration and drift are in [`lifecycle`].

mod lifecycle;
pub mod schema;

pub use lifecycle::{write_drift, write_migration, write_transitions};

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, UInt32Builder};
use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};

use crate::compute::Nearest;
use crate::data::source::BATCH_ROWS;
use crate::data::write::{ParquetSink, write_columns};
use crate::error::{Error, Result};
use crate::model::Model;
use crate::profile::FeatureProfile;

/// The schema of labels.parquet: the id column (or `row`), `segment`, `distance`, `second_segment`,
/// `margin`.
pub fn labels_schema(id: Option<&Field>) -> Arc<Schema> {
    let first = match id {
        Some(f) => f.clone(),
        None => Field::new("row", DataType::UInt64, false),
    };
    Arc::new(Schema::new(vec![
        first,
        Field::new("segment", DataType::UInt32, true),
        Field::new("distance", DataType::Float32, true),
        Field::new("second_segment", DataType::UInt32, true),
        Field::new("margin", DataType::Float32, true),
    ]))
}

/// One batch of labels.parquet: `len` input rows starting at input row `first_row`, their ids (or row
/// numbers), and for each row the index of its result in `res` (None: the row was dropped, and gets nulls).
/// `ids` maps a centroid index to its segment id. Distances are Euclidean, in the prepared space; margin is
/// the distance to the second-nearest segment minus the distance to the nearest.
pub fn labels_batch(
    schema: &Arc<Schema>,
    first_row: usize,
    ids: Option<&ArrayRef>,
    rows: &[Option<usize>],
    res: &Nearest,
    segment_ids: &[u32],
) -> Result<RecordBatch> {
    let len = rows.len();
    let mut seg = UInt32Builder::with_capacity(len);
    let mut dist = Float32Builder::with_capacity(len);
    let mut second = UInt32Builder::with_capacity(len);
    let mut margin = Float32Builder::with_capacity(len);
    for r in rows {
        match *r {
            Some(i) => {
                seg.append_value(segment_ids[res.labels[i] as usize]);
                dist.append_value(res.distance(i));
                let s2 = res.second(i);
                second.append_option(s2.map(|(s, _)| segment_ids[s as usize]));
                margin.append_option(s2.map(|(_, m)| m));
            }
            None => {
                seg.append_null();
                dist.append_null();
                second.append_null();
                margin.append_null();
            }
        }
    }
    let first: ArrayRef = match ids {
        Some(a) => a.clone(),
        None => Arc::new(UInt64Array::from_iter_values(
            (first_row as u64)..(first_row + len) as u64,
        )),
    };
    RecordBatch::try_new(
        schema.clone(),
        vec![
            first,
            Arc::new(seg.finish()),
            Arc::new(dist.finish()),
            Arc::new(second.finish()),
            Arc::new(margin.finish()),
        ],
    )
    .map_err(|e| Error::output("labels.parquet", e))
}

/// Writes a fit's labels.parquet from its in-memory results: batches follow the id arrays as read, or
/// fixed-size blocks without an id column. `kept_rows` is the input row of each fitted row (None when no
/// row was dropped).
pub fn write_labels(
    path: PathBuf,
    res: &Nearest,
    kept_rows: Option<&[u32]>,
    rows_read: usize,
    ids: Option<(&Field, &[ArrayRef])>,
    segment_ids: &[u32],
) -> Result<()> {
    let schema = labels_schema(ids.map(|(f, _)| f));
    let mut sink = ParquetSink::create(path, schema.clone())?;
    let bounds: Vec<usize> = match ids {
        Some((_, arrays)) => arrays.iter().map(|a| a.len()).collect(),
        None => (0..rows_read)
            .step_by(BATCH_ROWS)
            .map(|s| (rows_read - s).min(BATCH_ROWS))
            .collect(),
    };
    let (mut row, mut fitted) = (0usize, 0usize);
    for (b, len) in bounds.into_iter().enumerate() {
        let rows: Vec<Option<usize>> = (row..row + len)
            .map(|r| {
                let present = kept_rows.is_none_or(|k| fitted < k.len() && k[fitted] as usize == r);
                present.then(|| {
                    fitted += 1;
                    fitted - 1
                })
            })
            .collect();
        let id = ids.map(|(_, a)| &a[b]);
        sink.write(&labels_batch(&schema, row, id, &rows, res, segment_ids)?)?;
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

/// The columns of segments.parquet before the centroid columns (then `weight` in a weighted fit).
const SEGMENT_COLUMNS: [&str; 6] = ["segment", "name", "rule", "customers", "share", "sse"];

/// Refuses, before any work, a numeric feature whose name segments.parquet already uses for its own column.
pub fn check_feature_names(names: &[String], weighted: bool) -> Result<()> {
    let weight = weighted.then_some("weight");
    match names
        .iter()
        .find(|n| SEGMENT_COLUMNS.contains(&n.as_str()) || Some(n.as_str()) == weight)
    {
        Some(name) => Err(Error::input(format!(
            "feature column '{name}' has the name of a segments.parquet column ({}); rename it in the input",
            SEGMENT_COLUMNS.join(", ")
        ))),
        None => Ok(()),
    }
}

/// Writes segments.parquet: segment (its id), name, rule, customers, share, sse, (weight), then one
/// centroid column per numeric feature. Names and rules come from the model (null in older models).
pub fn write_segments(
    path: PathBuf,
    rows: &[SegmentRow],
    model: &Model,
    weighted: bool,
) -> Result<()> {
    let total: u64 = rows.iter().map(|r| r.customers).sum();
    let features = model.preparation.names();
    let segs = &model.segments;
    check_feature_names(&features, weighted)?;
    let types = [
        DataType::UInt32,
        DataType::Utf8,
        DataType::Utf8,
        DataType::UInt64,
        DataType::Float64,
        DataType::Float64,
    ];
    let mut fields: Vec<Field> = (SEGMENT_COLUMNS.iter().zip(types))
        .map(|(n, t)| Field::new(*n, t.clone(), matches!(t, DataType::Utf8)))
        .collect();
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(segs.iter().map(|s| s.id))),
        Arc::new(StringArray::from_iter(
            segs.iter().map(|s| s.name.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            segs.iter().map(|s| s.rule.as_deref()),
        )),
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
        fields.push(Field::new(name, DataType::Float64, false));
        cols.push(Arc::new(Float64Array::from_iter_values(
            rows.iter().map(|r| r.centroid[j]),
        )));
    }
    write_columns(path, fields, cols)
}

/// Writes profiles.parquet: one row per (segment, feature). The all-customers rows have `segment` −1 and
/// `all_customers` true: no nulls in either column, so `segment` stays an integer in pandas (where a null
/// would turn it into float NaN), polars and DuckDB alike.
pub fn write_profiles(path: PathBuf, profiles: &[FeatureProfile]) -> Result<()> {
    // Numeric statistics are null on category rows; the category and its share are null on numeric rows.
    let f64col = |name: &str, get: fn(&FeatureProfile) -> f64| -> (Field, ArrayRef) {
        (
            Field::new(name, DataType::Float64, true),
            Arc::new(Float64Array::from_iter(
                profiles
                    .iter()
                    .map(|p| p.category.is_none().then(|| get(p))),
            )),
        )
    };
    let mut fields = vec![
        Field::new("segment", DataType::Int64, false),
        Field::new("all_customers", DataType::Boolean, false),
        Field::new("feature", DataType::Utf8, false),
        Field::new("customers", DataType::UInt64, false),
        Field::new("missing", DataType::UInt64, false),
    ];
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(
            profiles.iter().map(|p| p.segment.map_or(-1, i64::from)),
        )),
        Arc::new(BooleanArray::from_iter(
            profiles.iter().map(|p| Some(p.segment.is_none())),
        )),
        Arc::new(StringArray::from_iter_values(
            profiles.iter().map(|p| p.feature.as_str()),
        )),
        Arc::new(UInt64Array::from_iter_values(
            profiles.iter().map(|p| p.customers),
        )),
        Arc::new(UInt64Array::from_iter_values(
            profiles.iter().map(|p| p.missing),
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
    ] {
        fields.push(f);
        cols.push(c);
    }
    fields.push(Field::new("z", DataType::Float64, false));
    cols.push(Arc::new(Float64Array::from_iter_values(
        profiles.iter().map(|p| p.z),
    )));
    fields.push(Field::new("category", DataType::Utf8, true));
    cols.push(Arc::new(StringArray::from_iter(
        profiles.iter().map(|p| p.category.as_deref()),
    )));
    fields.push(Field::new("share", DataType::Float64, true));
    cols.push(Arc::new(Float64Array::from_iter(
        profiles
            .iter()
            .map(|p| p.category.is_some().then_some(p.share)),
    )));
    write_columns(path, fields, cols)
}
