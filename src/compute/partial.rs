//! A pass's partial statistics as one Arrow record batch, so that partitions computed elsewhere (an
//! executor of a Spark job, one `mapInArrow` task each) travel as Arrow and merge on the driver with
//! [`Stats::merge`], in partition order.

use std::sync::Arc;

use arrow_array::{Array, Float64Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Field, Schema};

use super::Stats;
use crate::error::{Error, Result};

/// The columns before the sums: the cluster, its total weight, its SSE, and the rows that moved (the same
/// on every row of a batch).
const FIXED: [&str; 4] = ["cluster", "weight", "sse", "moved"];

impl Stats {
    /// One row per cluster: `cluster`, `weight`, `sse`, `moved`, then `sum_0` … `sum_{d-1}` (f64, exactly
    /// the values [`Stats::merge`] adds).
    pub fn to_batch(&self) -> RecordBatch {
        let (k, d) = (self.k, self.d);
        let mut fields = vec![
            Field::new(FIXED[0], DataType::UInt32, false),
            Field::new(FIXED[1], DataType::Float64, false),
            Field::new(FIXED[2], DataType::Float64, false),
            Field::new(FIXED[3], DataType::UInt64, false),
        ];
        fields.extend((0..d).map(|j| Field::new(format!("sum_{j}"), DataType::Float64, false)));
        let mut columns: Vec<Arc<dyn Array>> = vec![
            Arc::new(UInt32Array::from_iter_values(0..k as u32)),
            Arc::new(Float64Array::from(self.weights.clone())),
            Arc::new(Float64Array::from(self.sse.clone())),
            Arc::new(UInt64Array::from(vec![self.moved; k])),
        ];
        columns.extend((0..d).map(|j| {
            Arc::new(Float64Array::from_iter_values(
                (0..k).map(|c| self.sums[c * d + j]),
            )) as Arc<dyn Array>
        }));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("partial statistics")
    }

    /// The statistics of a batch [`Stats::to_batch`] wrote; any other batch is an input error.
    pub fn from_batch(b: &RecordBatch) -> Result<Stats> {
        let bad = |why: String| Error::input(format!("not a batch of partial statistics: {why}"));
        let names: Vec<&str> = b
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        if names.len() < FIXED.len() || names[..FIXED.len()] != FIXED {
            return Err(bad(format!("its columns are {}", names.join(", "))));
        }
        let d = names.len() - FIXED.len();
        let k = b.num_rows();
        let f64s = |i: usize| -> Result<Vec<f64>> {
            (b.column(i).as_any().downcast_ref::<Float64Array>())
                .filter(|a| a.null_count() == 0)
                .map(|a| a.values().to_vec())
                .ok_or_else(|| bad(format!("'{}' is not float64 without nulls", names[i])))
        };
        let cluster = (b.column(0).as_any().downcast_ref::<UInt32Array>())
            .ok_or_else(|| bad("'cluster' is not uint32".into()))?;
        if cluster
            .values()
            .iter()
            .enumerate()
            .any(|(i, &c)| c as usize != i)
        {
            return Err(bad("its clusters are not 0, 1, … in order".into()));
        }
        let moved = (b.column(3).as_any().downcast_ref::<UInt64Array>())
            .ok_or_else(|| bad("'moved' is not uint64".into()))?;
        let mut sums = vec![0.0; k * d];
        for j in 0..d {
            for (c, v) in f64s(FIXED.len() + j)?.into_iter().enumerate() {
                sums[c * d + j] = v;
            }
        }
        Ok(Stats {
            k,
            d,
            sums,
            weights: f64s(1)?,
            sse: f64s(2)?,
            moved: moved.values().first().copied().unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_statistics_survive_a_round_trip_and_reject_other_batches() {
        let s = Stats {
            k: 3,
            d: 2,
            sums: vec![1.5, -2.0, 0.1, 0.2, 1e300, -0.0],
            weights: vec![3.0, 0.0, 7.25],
            sse: vec![0.5, 0.0, 1e-300],
            moved: 11,
        };
        let back = Stats::from_batch(&s.to_batch()).unwrap();
        assert_eq!(back.sums, s.sums);
        assert_eq!(
            (&back.weights, &back.sse, back.moved),
            (&s.weights, &s.sse, s.moved)
        );
        let other = s.to_batch().project(&[1, 0, 2, 3, 4]).unwrap();
        assert!(Stats::from_batch(&other).is_err());
    }
}
