//! Streams the input into one row-major f32 feature matrix, resolving column names, checking types and
//! applying the missing-value policy as batches go by (the Arrow batches are dropped as soon as they are copied).

use arrow_array::{Array, ArrayRef, Float32Array, RecordBatch};
use arrow_schema::{DataType, Schema};

use crate::data::matrix::FeatureMatrix;
use crate::data::source::Source;
use crate::error::{Error, Result};

/// What to do with nulls and NaNs in feature columns.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Stop with an error naming each affected column and its count.
    Error,
    /// Drop rows with a missing feature (they get a null segment in labels.parquet).
    Drop,
    /// Replace missing values by the column median (stored in the model).
    Median,
}

/// Which columns to read and how.
#[derive(Debug, Clone, Default)]
pub struct LoadSpec {
    /// Feature columns by name; None = every numeric column except the id and weight columns.
    pub features: Option<Vec<String>>,
    pub id: Option<String>,
    pub weight: Option<String>,
}

/// The loaded input: the feature matrix plus what the writers and the summary need.
pub struct Loaded {
    pub matrix: FeatureMatrix,
    /// The id column in input order, one array per batch (all rows, dropped ones included).
    pub ids: Option<Vec<ArrayRef>>,
    pub id_field: Option<arrow_schema::Field>,
    pub weights: Option<Vec<f32>>,
    /// Rows read from the input.
    pub rows_read: usize,
    /// Input row index of every matrix row, when rows were dropped (None = identity).
    pub kept_rows: Option<Vec<u32>>,
    /// Missing values per feature column (nulls + NaN), in feature order.
    pub missing: Vec<usize>,
}

/// Finds a column by exact name, or fails suggesting the closest names.
pub fn resolve(schema: &Schema, name: &str, role: &str) -> Result<usize> {
    if let Ok(i) = schema.index_of(name) {
        return Ok(i);
    }
    let mut scored: Vec<(f64, &str)> = schema
        .fields()
        .iter()
        .map(|f| {
            (
                strsim::normalized_damerau_levenshtein(
                    &name.to_lowercase(),
                    &f.name().to_lowercase(),
                ),
                f.name().as_str(),
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let close: Vec<String> = scored
        .iter()
        .take(3)
        .map(|(_, n)| format!("'{n}'"))
        .collect();
    Err(Error::input(format!(
        "unknown {role} column '{name}'; closest names in the input: {} (names are case- and space-sensitive)",
        close.join(", ")
    )))
}

/// Resolves the feature columns: the named ones (checked to be numeric) or every numeric column.
pub fn feature_columns(schema: &Schema, spec: &LoadSpec) -> Result<Vec<usize>> {
    let cols = match &spec.features {
        Some(names) => {
            let mut cols = Vec::new();
            for name in names {
                let i = resolve(schema, name, "feature")?;
                let t = schema.field(i).data_type();
                if !t.is_numeric() {
                    return Err(Error::input(format!(
                        "feature column '{name}' has type {t}, not a number; leave it out of --features (categorical encoding is not supported yet)"
                    )));
                }
                if cols.contains(&i) {
                    return Err(Error::usage(format!(
                        "feature column '{name}' is named twice in --features"
                    )));
                }
                cols.push(i);
            }
            cols
        }
        None => schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.data_type().is_numeric()
                    && Some(f.name()) != spec.id.as_ref()
                    && Some(f.name()) != spec.weight.as_ref()
            })
            .map(|(i, _)| i)
            .collect(),
    };
    if cols.is_empty() {
        return Err(Error::input(
            "the input has no numeric feature columns; name them with --features",
        ));
    }
    Ok(cols)
}

fn to_f32(col: &ArrayRef, name: &str) -> Result<Float32Array> {
    let cast = arrow_cast::cast(col, &DataType::Float32)
        .map_err(|e| Error::input(format!("cannot convert column '{name}' to numbers: {e}")))?;
    Ok(cast
        .as_any()
        .downcast_ref::<Float32Array>()
        .expect("cast to Float32")
        .clone())
}

/// Reads all inputs into a feature matrix under the given missing-value policy.
pub fn load(source: &Source, spec: &LoadSpec, missing: Missing) -> Result<Loaded> {
    let schema = source.schema().clone();
    if source.known_rows() == Some(0) {
        return Err(Error::input("the input has no rows"));
    }
    let feat = feature_columns(&schema, spec)?;
    let names: Vec<String> = feat
        .iter()
        .map(|&i| schema.field(i).name().clone())
        .collect();
    let id = spec
        .id
        .as_deref()
        .map(|n| resolve(&schema, n, "id"))
        .transpose()?;
    let weight = match spec.weight.as_deref() {
        Some(n) => {
            let i = resolve(&schema, n, "weight")?;
            if !schema.field(i).data_type().is_numeric() {
                return Err(Error::input(format!("weight column '{n}' is not numeric")));
            }
            Some(i)
        }
        None => None,
    };
    let d = feat.len();
    let mut columns = feat.clone();
    columns.extend(weight);
    columns.extend(id);

    let mut data: Vec<f32> = Vec::with_capacity(source.known_rows().unwrap_or(0) * d);
    let mut weights: Option<Vec<f32>> =
        weight.map(|_| Vec::with_capacity(source.known_rows().unwrap_or(0)));
    let mut ids: Option<Vec<ArrayRef>> = id.map(|_| Vec::new());
    let mut kept: Vec<u32> = Vec::new();
    let mut any_dropped = false;
    let mut missing_counts = vec![0usize; d];
    let mut row0 = 0usize;
    let mut cols_f32: Vec<Float32Array> = Vec::with_capacity(d);
    for batch in source.batches(&columns) {
        let batch: RecordBatch = batch?;
        let n = batch.num_rows();
        cols_f32.clear();
        for (j, name) in names.iter().enumerate() {
            cols_f32.push(to_f32(batch.column(j), name)?);
        }
        let w = match weight {
            Some(_) => Some(to_f32(batch.column(d), spec.weight.as_deref().unwrap())?),
            None => None,
        };
        if let (Some(ids), Some(_)) = (ids.as_mut(), id) {
            ids.push(batch.column(columns.len() - 1).clone());
        }
        // Per row: a missing feature, an infinite value or a bad weight.
        let start = data.len();
        data.resize(start + n * d, 0.0);
        let mut out = start;
        for i in 0..n {
            let mut row_missing = false;
            for (j, c) in cols_f32.iter().enumerate() {
                let v = c.value(i);
                let is_missing = c.is_null(i) || v.is_nan();
                if is_missing {
                    missing_counts[j] += 1;
                    row_missing = true;
                    data[out + j] = f32::NAN;
                } else if v.is_infinite() {
                    return Err(Error::input(format!(
                        "column '{}' holds {} at row {} (0-based): infinite values cannot be clustered; fix or filter the input",
                        names[j],
                        v,
                        row0 + i
                    )));
                } else {
                    data[out + j] = v;
                }
            }
            if let (Some(wc), Some(ws)) = (&w, weights.as_mut()) {
                let wv = wc.value(i);
                if wc.is_null(i) || !wv.is_finite() || wv < 0.0 {
                    return Err(Error::input(format!(
                        "weight column '{}' has {} at row {} (0-based): weights must be finite and >= 0",
                        spec.weight.as_deref().unwrap(),
                        if wc.is_null(i) {
                            "null".to_string()
                        } else {
                            wv.to_string()
                        },
                        row0 + i
                    )));
                }
                if !(row_missing && missing == Missing::Drop) {
                    ws.push(wv);
                }
            }
            if row_missing && missing == Missing::Drop {
                any_dropped = true;
                continue;
            }
            kept.push((row0 + i) as u32);
            out += d;
        }
        data.truncate(out);
        row0 += n;
        if row0 > u32::MAX as usize {
            return Err(Error::input(
                "more than 4,294,967,295 rows: split the input",
            ));
        }
    }
    if missing == Missing::Error && missing_counts.iter().any(|&c| c > 0) {
        let list: Vec<String> = names
            .iter()
            .zip(&missing_counts)
            .filter(|(_, c)| **c > 0)
            .map(|(n, c)| format!("'{n}' ({c})"))
            .collect();
        return Err(Error::input(format!(
            "missing values (null or NaN) in feature columns {}; use --missing drop to skip those rows or --missing median to impute",
            list.join(", ")
        )));
    }
    if row0 == 0 {
        return Err(Error::input("the input has no rows"));
    }
    let n = data.len() / d;
    if n == 0 {
        return Err(Error::input(format!(
            "all {row0} rows have missing feature values and were dropped; try --missing median"
        )));
    }
    data.shrink_to_fit();
    Ok(Loaded {
        matrix: FeatureMatrix::new(data, n, names),
        id_field: id.map(|i| schema.field(i).clone()),
        ids,
        weights,
        rows_read: row0,
        kept_rows: any_dropped.then_some(kept),
        missing: missing_counts,
    })
}
