//! Reads the input once, batch by batch: resolving column names, checking types and values and applying the
//! missing-value policy; the feature values stay in the input (or a temporary column file) for the
//! column-by-column passes of [`RawColumns`].

use arrow_array::{Array, ArrayRef, Float64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Schema};
use rayon::prelude::*;

use crate::data::columns::{RawColumns, Spill};
use crate::data::matrix::{can_allocate, human_bytes, try_zeroed};
use crate::data::source::{MostlyNumeric, Part, Source};
use crate::error::{Error, Result};
use crate::prep::categorical::{Dictionary, MAX_CATEGORIES, MISSING};

/// What the error for missing values under `--missing error` advises.
pub const MISSING_ADVICE: &str =
    "use `missing` drop to skip those rows or `missing` median to impute";

/// What to do with nulls and NaNs in feature columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
    /// Categorical feature columns (text, boolean, dictionary or integer codes), one-hot encoded.
    pub categorical: Vec<String>,
}

/// The loaded input: the feature matrix plus what the writers and the summary need.
pub struct Loaded {
    /// The numeric features in original units (NaN = missing under `missing` median), column by column,
    /// with the input row of each kept row.
    pub raw: RawColumns,
    /// The id column in input order, one array per batch (all rows, dropped ones included).
    pub ids: Option<Vec<ArrayRef>>,
    pub id_field: Option<arrow_schema::Field>,
    pub weights: Option<Vec<f32>>,
    /// Rows read from the input.
    pub rows_read: usize,
    /// Missing values per feature column (nulls + NaN): numeric features, then categorical ones.
    pub missing: Vec<usize>,
    /// Per categorical column: its distinct values (first-seen order) and a code per matrix row
    /// (`categorical::MISSING` for a null).
    pub categorical: Vec<(Dictionary, Vec<u32>)>,
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
                if spec.categorical.contains(name) {
                    return Err(Error::usage(format!(
                        "column '{name}' is named in both `features` and `categorical`; `features` lists the numeric features only, so leave it out of `features`"
                    )));
                }
                if !numeric_type(t) {
                    return Err(Error::input(format!(
                        "feature column '{name}' has type {t}, not a number; leave it out of `features`, or name it in `categorical`"
                    )));
                }
                if cols.contains(&i) {
                    return Err(Error::usage(format!(
                        "feature column '{name}' is named twice in `features`"
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
                numeric_type(f.data_type())
                    && Some(f.name()) != spec.id.as_ref()
                    && Some(f.name()) != spec.weight.as_ref()
                    && !spec.categorical.contains(f.name())
            })
            .map(|(i, _)| i)
            .collect(),
    };
    if cols.is_empty() {
        return Err(Error::input(
            "the input has no numeric feature columns; name them with `features`",
        ));
    }
    Ok(cols)
}

/// Named feature columns that a delimited input holds as text because a few cells are not numbers: an error
/// saying which cells, rather than "not a number".
pub fn check_mostly_numeric(source: &Source, names: &[String]) -> Result<()> {
    match source.mostly_numeric(names)?.first() {
        Some(m) => Err(Error::input(format!(
            "feature column '{}' is {}",
            m.column,
            m.describe()
        ))),
        None => Ok(()),
    }
}

/// A column the default feature selection left out, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LeftOut {
    pub column: String,
    pub reason: String,
}

/// The columns that are not features under the default selection (no `--features`), each with its reason;
/// `mostly` are the input's text columns that are mostly numbers ([`Source::mostly_numeric`]).
pub fn left_out(source: &Source, spec: &LoadSpec, mostly: &[MostlyNumeric]) -> Vec<LeftOut> {
    if spec.features.is_some() {
        return Vec::new();
    }
    let categories = "name it in --categorical to use its values as categories";
    source
        .schema()
        .fields()
        .iter()
        .filter(|f| !spec.categorical.contains(f.name()))
        .filter_map(|f| {
            let name = f.name();
            let reason = if Some(name) == spec.id.as_ref() {
                "the --id column".to_string()
            } else if Some(name) == spec.weight.as_ref() {
                "the --weight column".to_string()
            } else if numeric_type(f.data_type()) {
                return None;
            } else if let Some(m) = mostly.iter().find(|m| &m.column == name) {
                format!("text: {}", m.describe())
            } else {
                match f.data_type() {
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                        format!("text; {categories}")
                    }
                    DataType::Boolean => format!("boolean; {categories}"),
                    DataType::Dictionary(_, _) => format!("dictionary-encoded text; {categories}"),
                    DataType::Date32
                    | DataType::Date64
                    | DataType::Timestamp(_, _)
                    | DataType::Time32(_)
                    | DataType::Time64(_)
                    | DataType::Duration(_)
                    | DataType::Interval(_) => {
                        "date or time; derive a number from it (e.g. days since) to use it".into()
                    }
                    DataType::Null => "no values (every cell is null)".into(),
                    t if t.is_nested() => format!("nested ({t})"),
                    t => format!("not a number ({t})"),
                }
            };
            Some(LeftOut {
                column: name.clone(),
                reason,
            })
        })
        .collect()
}

/// Whether a column of type `t` can be a categorical feature.
fn categorical_type(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean => true,
        DataType::Dictionary(_, v) => categorical_type(v),
        t => t.is_integer(),
    }
}

/// A categorical column's values as text (nulls kept).
fn to_text(col: &ArrayRef, name: &str) -> Result<StringArray> {
    let cast = arrow_cast::cast(col, &DataType::Utf8).map_err(|e| {
        Error::input(format!(
            "cannot read categorical column '{name}' as text: {e}"
        ))
    })?;
    Ok(cast
        .as_any()
        .downcast_ref::<StringArray>()
        .expect("cast to Utf8")
        .clone())
}

/// A numeric column's values in f64 (integers exact up to 2^53; dictionary-encoded numbers decoded).
pub(crate) fn to_f64(col: &ArrayRef, name: &str) -> Result<Float64Array> {
    let cast = arrow_cast::cast(col, &DataType::Float64).map_err(|e| {
        Error::input(format!("cannot convert column '{name}' to numbers")).with_source(e)
    })?;
    Ok(cast
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("cast to Float64")
        .clone())
}

/// The first value of a 64-bit integer column beyond ±2^53, which f64 (the matrix's type) cannot hold
/// exactly: its row and its text.
fn first_inexact(col: &ArrayRef) -> Option<(usize, String)> {
    const EXACT: u64 = 1 << 53;
    let a = col.as_any();
    if let Some(a) = a.downcast_ref::<arrow_array::Int64Array>() {
        let i = (0..a.len()).find(|&i| a.is_valid(i) && a.value(i).unsigned_abs() > EXACT)?;
        return Some((i, a.value(i).to_string()));
    }
    if let Some(a) = a.downcast_ref::<arrow_array::UInt64Array>() {
        let i = (0..a.len()).find(|&i| a.is_valid(i) && a.value(i) > EXACT)?;
        return Some((i, a.value(i).to_string()));
    }
    None
}

/// Whether a column holds numbers: a numeric type, or a dictionary of them (a pandas Categorical of ints).
pub fn numeric_type(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, v) => v.is_numeric(),
        t => t.is_numeric(),
    }
}

/// What one part contributed besides its rows of the matrix.
struct PartOut {
    ids: Vec<ArrayRef>,
    missing: Vec<usize>,
    /// Part-local indices of rows with a missing feature.
    missing_rows: Vec<u32>,
    /// Per categorical column: this part's dictionary and a code per row.
    categorical: Vec<(Dictionary, Vec<u32>)>,
}

/// The columns to read, resolved against the input schema, and their roles: features (in feature order),
/// then the weight, then the id.
pub struct Columns {
    /// Schema indices to project, in that order.
    pub all: Vec<usize>,
    pub names: Vec<String>,
    /// Categorical feature columns (projected after the numeric ones).
    pub categorical: Vec<String>,
    pub weight: Option<String>,
    pub id: Option<arrow_schema::Field>,
}

impl Columns {
    /// Resolves `spec` against `schema`: named features must exist and be numeric.
    pub fn resolve(schema: &Schema, spec: &LoadSpec) -> Result<Columns> {
        let feat = feature_columns(schema, spec)?;
        let names: Vec<String> = feat
            .iter()
            .map(|&i| schema.field(i).name().clone())
            .collect();
        let id = spec
            .id
            .as_deref()
            .map(|n| resolve(schema, n, "id"))
            .transpose()?;
        let weight = match spec.weight.as_deref() {
            Some(n) => {
                let i = resolve(schema, n, "weight")?;
                if !numeric_type(schema.field(i).data_type()) {
                    return Err(Error::input(format!("weight column '{n}' is not numeric")));
                }
                Some(i)
            }
            None => None,
        };
        let mut cats = Vec::with_capacity(spec.categorical.len());
        for name in &spec.categorical {
            let i = resolve(schema, name, "categorical")?;
            let t = schema.field(i).data_type();
            if !categorical_type(t) {
                return Err(Error::input(format!(
                    "categorical column '{name}' has type {t}; categories must be text, boolean, dictionary or integer codes"
                )));
            }
            if cats.contains(&i)
                || Some(name) == spec.id.as_ref()
                || Some(name) == spec.weight.as_ref()
            {
                return Err(Error::usage(format!(
                    "categorical column '{name}' is named twice or is also the id or weight column"
                )));
            }
            cats.push(i);
        }
        let mut all = feat;
        all.extend(cats);
        all.extend(weight);
        all.extend(id);
        Ok(Columns {
            all,
            names,
            categorical: spec.categorical.clone(),
            weight: spec.weight.clone(),
            id: id.map(|i| schema.field(i).clone()),
        })
    }

    /// Numeric features.
    pub fn d(&self) -> usize {
        self.names.len()
    }

    /// All feature names: numeric, then categorical.
    pub fn feature_names(&self) -> Vec<String> {
        self.names
            .iter()
            .chain(&self.categorical)
            .cloned()
            .collect()
    }
}

/// What one decoded batch held besides its values.
pub struct Decoded {
    /// The id column of the batch, when there is one.
    pub ids: Option<ArrayRef>,
    /// Missing values (null or NaN) per feature: numeric, then categorical.
    pub missing: Vec<usize>,
    /// Batch-local indices of the rows with a missing feature.
    pub missing_rows: Vec<u32>,
    /// The categorical columns as text (null = missing).
    pub categorical: Vec<StringArray>,
}

/// Decodes one projected batch (columns in `cols.all` order) into its rows of the matrix (`xs`,
/// rows × d) and of the weights: values converted to f64, missing ones set to NaN and counted, ±Inf and bad
/// weights an error naming the global row (`first_row` + batch row), the first one in row order.
pub fn decode_batch(
    batch: &RecordBatch,
    cols: &Columns,
    first_row: usize,
    xs: &mut [f64],
    ws: Option<&mut [f32]>,
) -> Result<Decoded> {
    let (d, c) = (cols.d(), cols.categorical.len());
    let mut out = Decoded {
        ids: cols
            .id
            .as_ref()
            .map(|_| batch.column(cols.all.len() - 1).clone()),
        missing: vec![0; d + c],
        missing_rows: Vec::new(),
        categorical: Vec::with_capacity(c),
    };
    for (j, name) in cols.categorical.iter().enumerate() {
        let t = to_text(batch.column(d + j), name)?;
        out.missing[d + j] = t.null_count();
        out.categorical.push(t);
    }
    // The first bad value of the batch in row order (features before the weight within a row), as a
    // row-by-row read would report it, although the columns are converted one after the other.
    let mut bad: Option<(usize, usize, String)> = None;
    let mut note = |i: usize, rank: usize, msg: &dyn Fn() -> String| {
        if bad.as_ref().is_none_or(|b| (i, rank) < (b.0, b.1)) {
            bad = Some((i, rank, msg()));
        }
    };
    for (j, name) in cols.names.iter().enumerate() {
        if let Some((i, v)) = first_inexact(batch.column(j)) {
            note(i, j, &|| {
                format!(
                    "column '{name}' holds {v} at row {} (0-based), beyond 2^53, where 64-bit floats no longer hold every integer (its values would collapse): it is likely an identifier; leave it out of the features, or name it with --id",
                    first_row + i
                )
            });
        }
    }
    let feats: Vec<Float64Array> = (cols.names.iter().enumerate())
        .map(|(j, name)| to_f64(batch.column(j), name))
        .collect::<Result<_>>()?;
    // Clean columns (no nulls, all finite: the common case) are interleaved into rows in one tight pass.
    let clean: Vec<bool> = feats
        .iter()
        .map(|c| c.null_count() == 0 && c.values().iter().all(|v| v.is_finite()))
        .collect();
    if clean.iter().all(|&c| c) {
        let vals: Vec<&[f64]> = feats.iter().map(|c| &c.values()[..]).collect();
        for (i, row) in xs.chunks_exact_mut(d).enumerate() {
            for (dst, v) in row.iter_mut().zip(&vals) {
                *dst = v[i];
            }
        }
    }
    for (j, (name, c)) in cols.names.iter().zip(&feats).enumerate() {
        if clean[j] && clean.iter().all(|&c| c) {
            continue;
        }
        let nulls = c.null_count() > 0;
        for (i, (dst, &v)) in xs.iter_mut().skip(j).step_by(d).zip(c.values()).enumerate() {
            if v.is_finite() && !(nulls && c.is_null(i)) {
                *dst = v;
            } else if v.is_infinite() && !c.is_null(i) {
                note(i, j, &|| {
                    format!(
                        "column '{name}' holds {v} at row {} (0-based): infinite values cannot be clustered; fix or filter the input",
                        first_row + i
                    )
                });
            } else {
                *dst = f64::NAN;
                out.missing[j] += 1;
            }
        }
    }
    if let (Some(name), Some(ws)) = (cols.weight.as_deref(), ws) {
        let wc = to_f64(batch.column(d + c), name)?;
        for (i, (dst, &v)) in ws.iter_mut().zip(wc.values()).enumerate() {
            if wc.is_null(i) || !v.is_finite() || v < 0.0 {
                note(i, d, &|| {
                    format!(
                        "weight column '{name}' has {} at row {} (0-based): weights must be finite and >= 0",
                        if wc.is_null(i) {
                            "null".to_string()
                        } else {
                            v.to_string()
                        },
                        first_row + i
                    )
                });
            }
            *dst = v as f32;
        }
    }
    if let Some((_, _, msg)) = bad {
        return Err(Error::input(msg));
    }
    if out.missing.iter().any(|&m| m > 0) {
        for (i, r) in xs.chunks_exact(d).enumerate() {
            if r.iter().any(|v| v.is_nan()) || out.categorical.iter().any(|t| t.is_null(i)) {
                out.missing_rows.push(i as u32);
            }
        }
    }
    Ok(out)
}

/// Decodes one part batch by batch (checks, missing values, categories, ids, its rows of the weights),
/// writing its feature values to `spill` when there is one; the values themselves are not kept.
fn load_part(
    source: &Source,
    part: &Part,
    cols: &Columns,
    spill: Option<&Spill>,
    mut w: Option<&mut [f32]>,
) -> Result<PartOut> {
    let d = cols.d();
    let mut out = PartOut {
        ids: Vec::new(),
        missing: vec![0; d + cols.categorical.len()],
        missing_rows: Vec::new(),
        categorical: vec![Default::default(); cols.categorical.len()],
    };
    let mut row = 0usize;
    let mut xs = Vec::new();
    for batch in source.part_batches(part, &cols.all) {
        let batch: RecordBatch = batch?;
        let n = batch.num_rows();
        let ws = w.as_deref_mut().map(|w| &mut w[row..row + n]);
        xs.resize(n * d, 0.0);
        let dec = decode_batch(&batch, cols, part.first_row + row, &mut xs, ws)?;
        if let Some(s) = spill {
            s.write(part.first_row + row, &xs)?;
        }
        out.ids.extend(dec.ids);
        out.missing
            .iter_mut()
            .zip(&dec.missing)
            .for_each(|(a, b)| *a += b);
        out.missing_rows
            .extend(dec.missing_rows.iter().map(|&r| r + row as u32));
        for ((dict, codes), t) in out.categorical.iter_mut().zip(&dec.categorical) {
            codes.extend(t.iter().map(|v| v.map_or(MISSING, |v| dict.code(v))));
            if dict.values.len() > MAX_CATEGORIES {
                return Err(too_many_categories(&cols.categorical, &out.categorical));
            }
        }
        row += n;
    }
    Ok(out)
}

fn too_many_categories(names: &[String], dicts: &[(Dictionary, Vec<u32>)]) -> Error {
    let j = dicts
        .iter()
        .position(|(d, _)| d.values.len() > MAX_CATEGORIES)
        .unwrap_or(0);
    Error::input(format!(
        "categorical column '{}' has more than {MAX_CATEGORIES} distinct values: it looks like an identifier or free text, not a category; leave it out of `categorical`",
        names[j]
    ))
}

/// Merges the parts' dictionaries in part order into one per column and recodes every row.
fn merge_categorical(
    cols: &Columns,
    outs: &mut [PartOut],
    total: usize,
) -> Result<Vec<(Dictionary, Vec<u32>)>> {
    let mut merged: Vec<(Dictionary, Vec<u32>)> = (0..cols.categorical.len())
        .map(|_| (Dictionary::default(), Vec::with_capacity(total)))
        .collect();
    for o in outs.iter_mut() {
        for ((dict, codes), (part_dict, part_codes)) in merged.iter_mut().zip(&mut o.categorical) {
            let map = dict.absorb(part_dict);
            codes.extend(part_codes.iter().map(|&c| {
                if c == MISSING {
                    MISSING
                } else {
                    map[c as usize]
                }
            }));
            *part_codes = Vec::new();
        }
        if merged.iter().any(|(d, _)| d.values.len() > MAX_CATEGORIES) {
            return Err(too_many_categories(&cols.categorical, &merged));
        }
    }
    Ok(merged)
}

/// The error for missing values under `--missing error`, naming each affected column and its count.
pub fn missing_error(names: &[String], counts: &[usize], hint: &str) -> Error {
    let list: Vec<String> = names
        .iter()
        .zip(counts)
        .filter(|(_, c)| **c > 0)
        .map(|(n, c)| format!("'{n}' ({c})"))
        .collect();
    Error::input(format!(
        "missing values (null or NaN) in feature columns {}; {hint}",
        list.join(", ")
    ))
}

/// Reads all inputs under the given missing-value policy: every value checked, the ids, weights and
/// categories kept, the numeric features left where a later pass reads them one column at a time
/// ([`RawColumns`]: the Parquet input itself, or a temporary column file for delimited text). Parts
/// (Parquet row groups, CSV files) are decoded in parallel; errors are reported for the first bad row in
/// input order, as a sequential read would.
pub fn load(source: &Source, spec: &LoadSpec, missing: Missing) -> Result<Loaded> {
    let total = source.rows();
    if total == 0 {
        return Err(Error::input("the input has no rows"));
    }
    if total > u32::MAX as usize {
        return Err(Error::input(
            "more than 4,294,967,295 rows: split the input",
        ));
    }
    check_mostly_numeric(source, spec.features.as_deref().unwrap_or_default())?;
    let cols = Columns::resolve(source.schema(), spec)?;
    let d = cols.d();
    let parts = source.parts();
    let too_big = || {
        Error::input(format!(
            "the input's metadata claims {total} rows, more than this machine can hold a column and the segments of ({}): if the file is not that large its footer is corrupt; otherwise split the input",
            human_bytes(total as f64 * 16.0)
        ))
    };
    // Whatever the memory budget, a fit holds a column of every row (8 bytes), its prepared values and
    // every row's segment (4 and 4).
    if total.checked_mul(d).is_none() || !can_allocate::<[f64; 2]>(total) {
        return Err(too_big());
    }
    let spill = match source.columnar() {
        true => None,
        false => Some(Spill::create(total, d)?),
    };
    let mut weights: Option<Vec<f32>> = match cols.weight {
        Some(_) => Some(try_zeroed(total).ok_or_else(too_big)?),
        None => None,
    };
    let mut w_slices: Vec<Option<&mut [f32]>> = Vec::with_capacity(parts.len());
    match weights.as_mut() {
        Some(w) => {
            let mut rest = w.as_mut_slice();
            for p in &parts {
                let (mine, tail) = rest.split_at_mut(p.rows);
                w_slices.push(Some(mine));
                rest = tail;
            }
        }
        None => w_slices.extend(parts.iter().map(|_| None)),
    }
    let outs: Vec<Result<PartOut>> = parts
        .par_iter()
        .zip(w_slices)
        .map(|(p, w)| load_part(source, p, &cols, spill.as_ref(), w))
        .collect();
    let mut outs: Vec<PartOut> = outs.into_iter().collect::<Result<_>>()?;
    let mut categorical = merge_categorical(&cols, &mut outs, total)?;

    let mut missing_counts = vec![0usize; d + cols.categorical.len()];
    for o in &outs {
        missing_counts
            .iter_mut()
            .zip(&o.missing)
            .for_each(|(a, b)| *a += b);
    }
    if missing == Missing::Error && missing_counts.iter().any(|&c| c > 0) {
        return Err(missing_error(
            &cols.feature_names(),
            &missing_counts,
            MISSING_ADVICE,
        ));
    }
    let dropped: Vec<usize> = if missing == Missing::Drop {
        parts
            .iter()
            .zip(&outs)
            .flat_map(|(p, o)| o.missing_rows.iter().map(|&r| p.first_row + r as usize))
            .collect()
    } else {
        Vec::new()
    };
    let schema_cols = cols.all[..d].to_vec();
    let mut raw = match spill {
        Some(s) => RawColumns::spilled(s, cols.names.clone()),
        None => RawColumns::parquet(source.clone(), schema_cols, cols.names.clone(), total),
    };
    if !dropped.is_empty() {
        let kept = kept_rows(total, dropped.iter().copied());
        if let Some(w) = weights.as_mut() {
            *w = kept.iter().map(|&r| w[r as usize]).collect();
        }
        for (_, codes) in &mut categorical {
            *codes = kept.iter().map(|&r| codes[r as usize]).collect();
        }
        raw.keep(kept);
    }
    if raw.n == 0 {
        return Err(Error::input(format!(
            "all {total} rows have missing feature values and were dropped; try `missing` median"
        )));
    }
    let has_id = cols.id.is_some();
    Ok(Loaded {
        raw,
        id_field: cols.id,
        ids: has_id.then(|| outs.into_iter().flat_map(|o| o.ids).collect()),
        weights,
        rows_read: total,
        missing: missing_counts,
        categorical,
    })
}

/// The input rows of `0..total` not in `dropped` (ascending).
pub fn kept_rows(total: usize, dropped: impl IntoIterator<Item = usize>) -> Vec<u32> {
    let mut kept = Vec::with_capacity(total);
    let mut next = dropped.into_iter().peekable();
    for r in 0..total {
        if next.peek() == Some(&r) {
            next.next();
        } else {
            kept.push(r as u32);
        }
    }
    kept
}

text_enum!(Missing { Error => "error", Drop => "drop", Median => "median" });
