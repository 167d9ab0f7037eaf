//! Checks on the customer id column: a table with repeated ids (transactions, not customers) clustered as
//! if it were a customer table gives wrong segment sizes without a word.

use arrow_array::{Array, ArrayRef, Int64Array, StringArray};
use arrow_schema::DataType;
use rayon::prelude::*;

/// Repeated ids: how many rows repeat an id seen on an earlier row, and the first few repeated ids.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Duplicates {
    pub rows: usize,
    pub examples: Vec<String>,
}

/// The id column's values, typed for hashing: integers as i64, everything else as text.
enum Keys {
    Int(Vec<Int64Array>),
    Text(Vec<StringArray>),
}

impl Keys {
    fn new(ids: &[ArrayRef]) -> Option<Keys> {
        Some(if ids.first().is_some_and(|a| a.data_type().is_integer()) {
            Keys::Int(cast_all(ids, &DataType::Int64)?)
        } else {
            Keys::Text(cast_all(ids, &DataType::Utf8)?)
        })
    }

    /// Hash, batch and row of every non-null id.
    fn hashed(&self) -> Vec<(u64, u32, u32)> {
        let h = |b: &[u8]| twox_hash::XxHash64::oneshot(0x5eed, b);
        let mut out = Vec::new();
        match self {
            Keys::Int(arrays) => {
                for (b, a) in arrays.iter().enumerate() {
                    out.extend(
                        (0..a.len())
                            .filter(|&i| a.is_valid(i))
                            .map(|i| (h(&a.value(i).to_le_bytes()), b as u32, i as u32)),
                    );
                }
            }
            Keys::Text(arrays) => {
                for (b, a) in arrays.iter().enumerate() {
                    out.extend(
                        (0..a.len())
                            .filter(|&i| a.is_valid(i))
                            .map(|i| (h(a.value(i).as_bytes()), b as u32, i as u32)),
                    );
                }
            }
        }
        out
    }

    fn text(&self, b: u32, i: u32) -> String {
        match self {
            Keys::Int(a) => a[b as usize].value(i as usize).to_string(),
            Keys::Text(a) => a[b as usize].value(i as usize).to_string(),
        }
    }

    fn same(&self, x: (u32, u32), y: (u32, u32)) -> bool {
        match self {
            Keys::Int(a) => {
                a[x.0 as usize].value(x.1 as usize) == a[y.0 as usize].value(y.1 as usize)
            }
            Keys::Text(a) => {
                a[x.0 as usize].value(x.1 as usize) == a[y.0 as usize].value(y.1 as usize)
            }
        }
    }
}

/// Every array cast to `t` (None when one cannot be).
fn cast_all<A: Array + Clone + 'static>(ids: &[ArrayRef], t: &DataType) -> Option<Vec<A>> {
    ids.iter()
        .map(|a| {
            arrow_cast::cast(a, t)
                .ok()?
                .as_any()
                .downcast_ref::<A>()
                .cloned()
        })
        .collect()
}

/// Finds repeated ids in the id column (one array per batch, input order): the rows sorted by a hash of
/// their id, equal hashes compared by value, so the count is exact. Memory: 16 bytes a row.
pub fn duplicates(ids: &[ArrayRef]) -> Duplicates {
    let Some(keys) = Keys::new(ids) else {
        return Duplicates::default();
    };
    let mut rows = keys.hashed();
    rows.par_sort_unstable();
    let mut out = Duplicates::default();
    for run in rows.chunk_by(|a, b| a.0 == b.0).filter(|r| r.len() > 1) {
        // Within one hash (almost always one id), each row whose id an earlier row of the run has.
        for (k, &(_, b, i)) in run.iter().enumerate() {
            if run[..k]
                .iter()
                .any(|&(_, b2, i2)| keys.same((b, i), (b2, i2)))
            {
                out.rows += 1;
                let text = keys.text(b, i);
                if out.examples.len() < 3 && !out.examples.contains(&text) {
                    out.examples.push(text);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn counts_repeats_exactly() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(1), None]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), Some(1), None, Some(2)]));
        let d = duplicates(&[a, b]);
        assert_eq!(d.rows, 3);
        let mut ex = d.examples.clone();
        ex.sort();
        assert_eq!(ex, ["1", "2"]);
        let t: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c"]));
        assert_eq!(duplicates(&[t]).rows, 0);
    }
}
