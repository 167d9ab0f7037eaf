//! transitions.parquet, migration.parquet and drift.parquet.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, StringArray, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field};

use crate::data::write::write_columns;
use crate::error::Result;
use crate::model::lifecycle::drift::Drift;
use crate::model::lifecycle::migration::Migration;
use crate::model::lifecycle::transitions::Transition;

/// transitions.parquet: kind, from_segment (null for emerged), to_segment (null for disappeared),
/// customers, share (of from_segment's customers present on both nights; null for emerged).
pub fn write_transitions(path: PathBuf, ts: &[Transition]) -> Result<()> {
    write_columns(
        path,
        vec![
            Field::new("kind", DataType::Utf8, false),
            Field::new("from_segment", DataType::UInt32, true),
            Field::new("to_segment", DataType::UInt32, true),
            Field::new("customers", DataType::UInt64, false),
            Field::new("share", DataType::Float64, true),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(
                ts.iter().map(|t| t.kind.as_str()),
            )),
            Arc::new(UInt32Array::from_iter(ts.iter().map(|t| t.from))),
            Arc::new(UInt32Array::from_iter(ts.iter().map(|t| t.to))),
            Arc::new(UInt64Array::from_iter_values(
                ts.iter().map(|t| t.customers),
            )),
            Arc::new(Float64Array::from_iter(ts.iter().map(|t| t.share))),
        ],
    )
}

/// migration.parquet: from_segment ("new" for customers absent last night), to_segment ("gone" for
/// customers absent tonight), customers, share_of_from; one row per pair with customers, sorted.
pub fn write_migration(path: PathBuf, m: &Migration) -> Result<()> {
    let totals = m.from_totals();
    let rows: Vec<_> = m.flows.iter().collect();
    let name = |v: Option<u32>, absent: &str| v.map_or(absent.to_string(), |s| s.to_string());
    write_columns(
        path,
        vec![
            Field::new("from_segment", DataType::Utf8, false),
            Field::new("to_segment", DataType::Utf8, false),
            Field::new("customers", DataType::UInt64, false),
            Field::new("share_of_from", DataType::Float64, false),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|((f, _), _)| name(*f, "new")),
            )),
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|((_, t), _)| name(*t, "gone")),
            )),
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|(_, c)| **c))),
            Arc::new(Float64Array::from_iter_values(
                rows.iter().map(|((f, _), c)| **c as f64 / totals[f] as f64),
            )),
        ],
    )
}

/// drift.parquet: measure, subject (feature, segment id or "all"), value, watch, refit, level.
pub fn write_drift(path: PathBuf, d: &Drift) -> Result<()> {
    let m = &d.measures;
    let f64s = |get: fn(&crate::model::lifecycle::drift::Measure) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(m.iter().map(get)))
    };
    write_columns(
        path,
        vec![
            Field::new("measure", DataType::Utf8, false),
            Field::new("subject", DataType::Utf8, false),
            Field::new("value", DataType::Float64, false),
            Field::new("watch", DataType::Float64, false),
            Field::new("refit", DataType::Float64, false),
            Field::new("level", DataType::Utf8, false),
        ],
        vec![
            Arc::new(StringArray::from_iter_values(m.iter().map(|x| x.measure))),
            Arc::new(StringArray::from_iter_values(
                m.iter().map(|x| x.subject.as_str()),
            )),
            f64s(|x| x.value),
            f64s(|x| x.watch),
            f64s(|x| x.refit),
            Arc::new(StringArray::from_iter_values(
                m.iter().map(|x| x.level.as_str()),
            )),
        ],
    )
}
