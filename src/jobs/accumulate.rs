//! Streamed passes as accumulators (DataFusion's `Accumulator`: update, merge, evaluate). What a pass over
//! prepared batches and their nearest segments computes — segment counts, the drift tally — is updated per
//! batch on a worker, and the partials are merged by the pass in input order, so the result does not depend
//! on the thread count: the determinism guarantee lives in the pass (`scan`). A partial crosses a process
//! boundary as bytes ([`to_bytes`], [`from_bytes`]), so that partitions computed elsewhere (another machine,
//! a Spark executor) merge into the same result.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::compute::Nearest;
use crate::error::{Error, Result};
use crate::model::lifecycle::drift;
use crate::pipeline::PreparedBatch;

/// What one streamed pass computes.
pub trait Accumulator: Send + Sized {
    /// An empty partial of the same shape (the same model, the same k).
    fn fresh(&self) -> Self;
    /// Adds one prepared batch and its rows' nearest segments.
    fn update(&mut self, batch: &PreparedBatch, near: &Nearest);
    /// Adds a partial of rows that come after this one's in the input.
    fn merge(&mut self, later: Self);
}

/// A partial as bytes (JSON: every f64 round-trips exactly), to merge it elsewhere.
pub fn to_bytes<A: Serialize>(partial: &A) -> Vec<u8> {
    serde_json::to_vec(partial).expect("partials serialize")
}

/// A partial from [`to_bytes`].
pub fn from_bytes<A: DeserializeOwned>(bytes: &[u8]) -> Result<A> {
    serde_json::from_slice(bytes)
        .map_err(|e| Error::input(format!("a partial result is damaged: {e}")))
}

/// Nothing to compute beside the pass's own counts.
impl Accumulator for () {
    fn fresh(&self) {}
    fn update(&mut self, _: &PreparedBatch, _: &Nearest) {}
    fn merge(&mut self, _: ()) {}
}

/// An accumulator that may be absent (a model without a drift reference).
impl<A: Accumulator> Accumulator for Option<A> {
    fn fresh(&self) -> Self {
        self.as_ref().map(A::fresh)
    }
    fn update(&mut self, batch: &PreparedBatch, near: &Nearest) {
        if let Some(a) = self {
            a.update(batch, near);
        }
    }
    fn merge(&mut self, later: Self) {
        if let (Some(a), Some(b)) = (self, later) {
            a.merge(b);
        }
    }
}

/// Two accumulators in one pass.
impl<A: Accumulator, B: Accumulator> Accumulator for (A, B) {
    fn fresh(&self) -> Self {
        (self.0.fresh(), self.1.fresh())
    }
    fn update(&mut self, batch: &PreparedBatch, near: &Nearest) {
        self.0.update(batch, near);
        self.1.update(batch, near);
    }
    fn merge(&mut self, later: Self) {
        self.0.merge(later.0);
        self.1.merge(later.1);
    }
}

/// The drift tally of tonight's rows against a model's training population.
pub struct DriftPass<'c, 'm> {
    check: &'c drift::Check<'m>,
    pub tally: drift::Tally,
}

impl<'c, 'm> DriftPass<'c, 'm> {
    pub fn new(check: &'c drift::Check<'m>) -> Self {
        DriftPass {
            check,
            tally: drift::Tally::default(),
        }
    }
}

impl Accumulator for DriftPass<'_, '_> {
    fn fresh(&self) -> Self {
        DriftPass::new(self.check)
    }
    fn update(&mut self, batch: &PreparedBatch, near: &Nearest) {
        let t = self.check.tally(&batch.x, &near.labels, &near.dist2);
        self.tally.merge(&t);
    }
    fn merge(&mut self, later: Self) {
        self.tally.merge(&later.tally);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::scan::Counts;

    /// A batch of `n` rows (every third dropped) whose nearest segments cycle over 3, with distances in
    /// quarters (their f64 sums are exact in any order, so only the plumbing is under test).
    fn batch(first: usize, n: usize) -> (PreparedBatch, Nearest) {
        let rows: Vec<Option<usize>> = (0..n).map(|i| (i % 3 != 0).then_some(i)).collect();
        let kept = rows.iter().flatten().count();
        let b = PreparedBatch {
            first_row: first,
            ids: None,
            x: Vec::new(),
            raw: Vec::new(),
            rows,
            missing: vec![n / 3, 1],
            imputed: 1,
            unseen: vec![first as u64 % 5],
        };
        let mut near = Nearest::empty();
        near.labels = (0..kept as u32).map(|i| (i + first as u32) % 3).collect();
        near.dist2 = (0..kept).map(|i| ((i + first) % 7) as f32 * 0.25).collect();
        (b, near)
    }

    #[test]
    fn partitions_merged_in_order_give_the_whole_pass() {
        let empty = Counts {
            missing: vec![0; 2],
            per_segment: vec![0; 3],
            sse: vec![0.0; 3],
            unseen: vec![0; 1],
            ..Default::default()
        };
        let batches: Vec<_> = [(0, 10), (10, 7), (17, 12), (29, 5)]
            .iter()
            .map(|&(f, n)| batch(f, n))
            .collect();
        // One pass, as `scan` runs it: a fresh partial per batch, merged in input order.
        let mut whole = empty.fresh();
        for (b, near) in &batches {
            let mut p = empty.fresh();
            p.update(b, near);
            whole.merge(p);
        }
        assert_eq!(whole.rows, 34);
        assert_eq!(whole.per_segment.iter().sum::<u64>(), 34 - (4 + 3 + 4 + 2));
        // Two partitions computed apart, carried as bytes, merged in partition order.
        let part = |bs: &[(PreparedBatch, Nearest)]| {
            let mut p = empty.fresh();
            for (b, near) in bs {
                p.update(b, near);
            }
            to_bytes(&p)
        };
        let (a, b) = (part(&batches[..2]), part(&batches[2..]));
        let mut merged: Counts = from_bytes(&a).unwrap();
        merged.merge(from_bytes(&b).unwrap());
        assert_eq!(merged, whole);
        assert!(from_bytes::<Counts>(&a[..a.len() / 2]).is_err());
    }
}
