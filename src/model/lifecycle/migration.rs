//! Migration: how many customers went from each of last night's segments to each of tonight's, by joining
//! the two nights on the customer id. Customers absent last night come `from` **new**, customers absent
//! tonight go `to` **gone**; a customer without a segment on a night (a row dropped for missing values)
//! counts as absent that night.
//!
//! Memory is bounded by one sorted (key, segment) pair per customer and night: 16 bytes for integer ids
//! (the id itself is the key, exact), 24 bytes for text ids (a 128-bit xxh3 hash, collision probability
//! about n² / 2¹²⁹: 10⁻²⁴ at 20 M customers). Both lists are sorted in parallel and merged.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, StringArray, UInt32Array};
use arrow_schema::DataType;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rayon::prelude::*;

use crate::error::{Error, Result};

/// How ids are compared: as integers when both nights have integer ids, or integers on one night and
/// floats on the other (an export that turned `12345` into `12345.0`: the same customers); as text
/// otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Int,
    Text,
}

impl KeyKind {
    pub fn of(a: &DataType, b: &DataType) -> KeyKind {
        let number = |t: &DataType| t.is_integer() || t.is_floating();
        if number(a) && number(b) && (a.is_integer() || b.is_integer()) {
            KeyKind::Int
        } else {
            KeyKind::Text
        }
    }
}

/// Integer ids of an id array: integers as they are, floats when whole and within ±2^63 (a fractional
/// float cannot be any integer id: None, like a null).
fn int_ids(ids: &ArrayRef) -> std::result::Result<Vec<Option<i64>>, arrow_schema::ArrowError> {
    if ids.data_type().is_floating() {
        let a = arrow_cast::cast(ids, &DataType::Float64)?;
        let a = a
            .as_any()
            .downcast_ref::<Float64Array>()
            .expect("cast to Float64");
        return Ok(a
            .iter()
            .map(|v| {
                v.filter(|v| v.fract() == 0.0 && v.abs() < 9.2e18)
                    .map(|v| v as i64)
            })
            .collect());
    }
    let a = arrow_cast::cast(ids, &DataType::Int64)?;
    let a = a
        .as_any()
        .downcast_ref::<Int64Array>()
        .expect("cast to Int64");
    Ok(a.iter().collect())
}

/// One night's customers: (id key, segment id) pairs, in any order.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub enum Keyed {
    Int(Vec<(i64, u32)>),
    Text(Vec<([u64; 2], u32)>),
}

impl Keyed {
    pub fn new(kind: KeyKind) -> Keyed {
        match kind {
            KeyKind::Int => Keyed::Int(Vec::new()),
            KeyKind::Text => Keyed::Text(Vec::new()),
        }
    }

    /// Adds the rows of one id array with their segments (None: no segment that night, left out).
    /// Returns the number of rows without an id (null), which cannot be joined.
    pub fn extend(
        &mut self,
        ids: &ArrayRef,
        segments: impl Iterator<Item = Option<u32>>,
    ) -> Result<usize> {
        let bad = |e| {
            Error::input(format!(
                "the id column cannot be compared across nights: {e}"
            ))
        };
        let mut nulls = 0;
        match self {
            Keyed::Int(v) => {
                let a = int_ids(ids).map_err(bad)?;
                for (id, s) in a.into_iter().zip(segments) {
                    match (id, s) {
                        (None, _) => nulls += 1,
                        (Some(id), Some(s)) => v.push((id, s)),
                        (Some(_), None) => {}
                    }
                }
            }
            Keyed::Text(v) => {
                let a = arrow_cast::cast(ids, &DataType::Utf8).map_err(bad)?;
                let a = a
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .expect("cast to Utf8");
                for (i, s) in segments.enumerate() {
                    match (a.is_valid(i), s) {
                        (false, _) => nulls += 1,
                        (true, Some(s)) => {
                            let h = twox_hash::XxHash3_128::oneshot(a.value(i).as_bytes());
                            v.push(([(h >> 64) as u64, h as u64], s));
                        }
                        (true, None) => {}
                    }
                }
            }
        }
        Ok(nulls)
    }

    /// Appends another batch's pairs (of the same kind).
    pub fn append(&mut self, other: Keyed) {
        match (self, other) {
            (Keyed::Int(a), Keyed::Int(b)) => a.extend(b),
            (Keyed::Text(a), Keyed::Text(b)) => a.extend(b),
            _ => unreachable!("one key kind per night"),
        }
    }

    pub fn kind(&self) -> KeyKind {
        match self {
            Keyed::Int(_) => KeyKind::Int,
            Keyed::Text(_) => KeyKind::Text,
        }
    }
}

/// The migration in numbers, for summary.json.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Customers present on both nights, those in a segment of the same id, and the others.
    pub both_nights: u64,
    pub stayed: u64,
    pub moved: u64,
    /// stayed / both_nights.
    pub stayed_share: f64,
    /// Customers absent last night, and absent tonight.
    pub new: u64,
    pub gone: u64,
}

/// Customers per (from, to) pair: `from` None = new, `to` None = gone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Migration {
    pub flows: BTreeMap<(Option<u32>, Option<u32>), u64>,
}

impl Migration {
    /// Customers present on both nights.
    pub fn both(&self) -> u64 {
        (self.flows.iter())
            .filter(|((f, t), _)| f.is_some() && t.is_some())
            .map(|(_, &c)| c)
            .sum()
    }

    /// Customers present on both nights who are in a segment of the same id.
    pub fn stayed(&self) -> u64 {
        (self.flows.iter())
            .filter(|((f, t), _)| f.is_some() && f == t)
            .map(|(_, &c)| c)
            .sum()
    }

    pub fn totals(&self) -> Totals {
        let (both, stayed) = (self.both(), self.stayed());
        Totals {
            both_nights: both,
            stayed,
            moved: both - stayed,
            stayed_share: stayed as f64 / both.max(1) as f64,
            new: self.new_customers(),
            gone: self.gone(),
        }
    }

    pub fn new_customers(&self) -> u64 {
        (self.flows.iter())
            .filter(|((f, _), _)| f.is_none())
            .map(|(_, &c)| c)
            .sum()
    }

    pub fn gone(&self) -> u64 {
        (self.flows.iter())
            .filter(|((_, t), _)| t.is_none())
            .map(|(_, &c)| c)
            .sum()
    }

    /// Customers of each `from` (None = new), for share_of_from.
    pub fn from_totals(&self) -> BTreeMap<Option<u32>, u64> {
        let mut t = BTreeMap::new();
        for (&(f, _), &c) in &self.flows {
            *t.entry(f).or_insert(0) += c;
        }
        t
    }

    /// Customers in both `from_ids[p]` last night and `to_ids[n]` tonight, as a from × to matrix
    /// (row-major); flows between other segments are not counted.
    pub fn overlap(&self, from_ids: &[u32], to_ids: &[u32]) -> Vec<u64> {
        let nk = to_ids.len();
        let mut o = vec![0u64; from_ids.len() * nk];
        for (&(f, t), &c) in &self.flows {
            let p = f.and_then(|f| from_ids.iter().position(|&x| x == f));
            let n = t.and_then(|t| to_ids.iter().position(|&x| x == t));
            if let (Some(p), Some(n)) = (p, n) {
                o[p * nk + n] += c;
            }
        }
        o
    }

    /// The flows with tonight's side renamed by `to` (e.g. segment index → segment id).
    pub fn map_to(&self, to: impl Fn(u32) -> u32) -> Migration {
        let mut flows = BTreeMap::new();
        for (&(f, t), &c) in &self.flows {
            *flows.entry((f, t.map(&to))).or_insert(0) += c;
        }
        Migration { flows }
    }
}

/// Sorts by key and fails on a repeated key (a repeated id makes the join ambiguous).
fn sorted<K: Ord + Copy + Send>(
    mut v: Vec<(K, u32)>,
    night: &str,
) -> std::result::Result<Vec<(K, u32)>, String> {
    v.par_sort_unstable();
    let repeats = v.windows(2).filter(|w| w[0].0 == w[1].0).count();
    if repeats > 0 {
        return Err(format!(
            "{night}'s ids repeat on {repeats} row(s), and migration needs one row per customer"
        ));
    }
    Ok(v)
}

fn merge<K: Ord + Copy + Send>(
    prev: Vec<(K, u32)>,
    now: Vec<(K, u32)>,
) -> std::result::Result<Migration, String> {
    let prev = sorted(prev, "last night")?;
    let now = sorted(now, "tonight")?;
    let mut flows = BTreeMap::new();
    let mut add = |f: Option<u32>, t: Option<u32>| *flows.entry((f, t)).or_insert(0u64) += 1;
    let (mut i, mut j) = (0, 0);
    while i < prev.len() || j < now.len() {
        match (prev.get(i), now.get(j)) {
            (Some(a), Some(b)) if a.0 == b.0 => {
                add(Some(a.1), Some(b.1));
                i += 1;
                j += 1;
            }
            (Some(a), Some(b)) if a.0 < b.0 => {
                add(Some(a.1), None);
                i += 1;
            }
            (Some(a), None) => {
                add(Some(a.1), None);
                i += 1;
            }
            (_, Some(b)) => {
                add(None, Some(b.1));
                j += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
    Ok(Migration { flows })
}

/// Joins last night's customers with tonight's; fails (with the reason) when either night repeats an id.
pub fn join(prev: Keyed, now: Keyed) -> std::result::Result<Migration, String> {
    match (prev, now) {
        (Keyed::Int(a), Keyed::Int(b)) => merge(a, b),
        (Keyed::Text(a), Keyed::Text(b)) => merge(a, b),
        _ => unreachable!("both nights are keyed with KeyKind::of of the same two types"),
    }
}

/// [`join`], or None with a warning that ends with `without` (what the run does instead): a night with
/// repeated ids has no migration, and neither has a night none of whose ids was there last night (every
/// customer `new` and `gone` would be a wrong migration, not a real one).
pub fn join_or_warn(
    prev: Keyed,
    now: Keyed,
    prev_dir: &Path,
    without: &str,
    warnings: &mut Vec<String>,
) -> Option<Migration> {
    let m = join(prev, now)
        .map_err(|e| {
            warnings.push(format!(
                "no migration against {}: {e}; deduplicate the export",
                prev_dir.display()
            ))
        })
        .ok()?;
    if m.both() == 0 {
        warnings.push(format!(
            "no customer id of tonight was in {}'s labels: the ids do not join (re-keyed, or another id type?); {without}",
            prev_dir.display()
        ));
        return None;
    }
    Some(m)
}

/// Warns about rows without an id on `night` (they cannot be joined).
pub fn note_nulls(nulls: usize, night: &str, warnings: &mut Vec<String>) {
    if nulls > 0 {
        warnings.push(format!(
            "{nulls} rows have no id {night} (null, or a fractional number where the other night's ids are integers): left out of the migration"
        ));
    }
}

/// The id column of a labels.parquet (its first column) and its type; None when the file numbers rows
/// (`row`) instead of carrying ids.
pub fn labels_id(path: &Path) -> Result<Option<(String, DataType)>> {
    let builder = open(path)?;
    let schema = builder.schema();
    let f = schema.field(0);
    Ok((f.name() != "row" || schema.index_of("segment").is_err())
        .then(|| (f.name().clone(), f.data_type().clone())))
}

fn open(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>> {
    let bad = |e: String| {
        Error::input(format!(
            "cannot read last night's labels {}: {e}",
            path.display()
        ))
    };
    let file = File::open(path).map_err(|e| bad(e.to_string()))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| bad(e.to_string()))?;
    let ok = b.schema().fields().len() >= 2
        && b.schema()
            .field_with_name("segment")
            .is_ok_and(|f| f.data_type() == &DataType::UInt32);
    if !ok {
        return Err(bad(
            "it has no uint32 'segment' column; is it a strata labels.parquet?".into(),
        ));
    }
    Ok(b)
}

/// Streams last night's labels.parquet (id column first, `segment`) into keyed pairs; also returns the
/// number of rows without an id.
pub fn read_labels(path: &Path, kind: KeyKind) -> Result<(Keyed, usize)> {
    let builder = open(path)?;
    let seg = builder.schema().index_of("segment").expect("checked");
    let mask = ProjectionMask::roots(builder.parquet_schema(), [0, seg]);
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| Error::input(format!("cannot read {}: {e}", path.display())))?;
    let (mut keyed, mut nulls) = (Keyed::new(kind), 0);
    for batch in reader {
        let batch =
            batch.map_err(|e| Error::input(format!("cannot read {}: {e}", path.display())))?;
        let segs = batch
            .column(1)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .expect("checked type");
        nulls += keyed.extend(batch.column(0), segs.iter())?;
    }
    Ok((keyed, nulls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn join_counts_new_gone_and_moves() {
        let mut prev = Keyed::new(KeyKind::Int);
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4]));
        prev.extend(&ids, [Some(0), Some(0), Some(1), None].into_iter())
            .unwrap();
        let mut now = Keyed::new(KeyKind::Int);
        let ids: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(5),
            Some(3),
            Some(1),
            None,
            Some(4),
        ]));
        let nulls = now
            .extend(
                &ids,
                [Some(2), Some(1), Some(2), Some(0), Some(0)].into_iter(),
            )
            .unwrap();
        assert_eq!(nulls, 1);
        let m = join(prev, now).unwrap();
        let want: BTreeMap<_, _> = [
            ((Some(0), Some(2)), 1), // customer 1
            ((Some(0), None), 1),    // 2 gone
            ((Some(1), Some(1)), 1), // 3 stayed
            ((None, Some(0)), 1),    // 4 had no segment last night: new
            ((None, Some(2)), 1),    // 5 new
        ]
        .into();
        assert_eq!(m.flows, want);
        assert_eq!(
            (m.both(), m.stayed(), m.new_customers(), m.gone()),
            (2, 1, 2, 1)
        );
    }

    #[test]
    fn text_keys_and_repeats() {
        let a: ArrayRef = Arc::new(StringArray::from(vec!["x", "y"]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![7, 7]));
        let mut prev = Keyed::new(KeyKind::Text);
        prev.extend(&a, [Some(0), Some(1)].into_iter()).unwrap();
        let mut now = Keyed::new(KeyKind::Text);
        now.extend(&a, [Some(1), Some(1)].into_iter()).unwrap();
        let m = join(prev.clone(), now).unwrap();
        assert_eq!(m.stayed(), 1);
        let mut dup = Keyed::new(KeyKind::Text);
        dup.extend(&b, [Some(0), Some(0)].into_iter()).unwrap();
        let e = join(prev, dup).unwrap_err();
        assert!(e.contains("repeat on 1 row"), "{e}");
    }
}
