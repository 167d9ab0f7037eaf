//! Streamed passes as accumulators (DataFusion's `Accumulator`: update, merge, evaluate). What a pass over
//! prepared batches and their nearest segments computes — segment counts, the drift tally, the overlap
//! with another night, the migration's keys, what an assign's profiles need — is updated per
//! batch on a worker, and the partials are merged by the pass in input order, so the result does not depend
//! on the thread count: the determinism guarantee lives in the pass (`scan`). A partial crosses a process
//! boundary as bytes ([`to_bytes`], [`from_bytes`]), so that partitions computed elsewhere (another machine,
//! a Spark executor) merge into the same result.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::compute::Nearest;
use crate::error::{Error, Result};
use crate::model::lifecycle::drift;
use crate::model::lifecycle::migration::{KeyKind, Keyed};
use crate::pipeline::PreparedBatch;
use crate::prep::FittedPrep;

/// What one streamed pass computes.
pub trait Accumulator: Send + Sized {
    /// An empty partial of the same shape (the same model, the same k).
    fn fresh(&self) -> Self;
    /// Adds one prepared batch and its rows' nearest segments.
    fn update(&mut self, batch: &PreparedBatch, near: &Nearest) -> Result<()>;
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
    fn update(&mut self, _: &PreparedBatch, _: &Nearest) -> Result<()> {
        Ok(())
    }
    fn merge(&mut self, _: ()) {}
}

/// An accumulator that may be absent (a model without a drift reference).
impl<A: Accumulator> Accumulator for Option<A> {
    fn fresh(&self) -> Self {
        self.as_ref().map(A::fresh)
    }
    fn update(&mut self, batch: &PreparedBatch, near: &Nearest) -> Result<()> {
        match self {
            Some(a) => a.update(batch, near),
            None => Ok(()),
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
    fn update(&mut self, batch: &PreparedBatch, near: &Nearest) -> Result<()> {
        self.0.update(batch, near)?;
        self.1.update(batch, near)
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
    fn update(&mut self, batch: &PreparedBatch, near: &Nearest) -> Result<()> {
        let t = self.check.tally(&batch.x, &near.labels, &near.dist2);
        self.tally.merge(&t);
        Ok(())
    }
    fn merge(&mut self, later: Self) {
        self.tally.merge(&later.tally);
    }
}

/// Tonight's (customer id, segment id) pairs, to join with last night's (the migration); `segment_ids`
/// are the model's, in its segment order. Rows without a segment are left out; ids that are null counted.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct KeysPass<'s> {
    #[serde(skip)]
    segment_ids: &'s [u32],
    pub keyed: Keyed,
    pub nulls: usize,
}

impl<'s> KeysPass<'s> {
    pub fn new(kind: KeyKind, segment_ids: &'s [u32]) -> Self {
        KeysPass {
            segment_ids,
            keyed: Keyed::new(kind),
            nulls: 0,
        }
    }
}

impl Accumulator for KeysPass<'_> {
    fn fresh(&self) -> Self {
        KeysPass::new(self.keyed.kind(), self.segment_ids)
    }
    fn update(&mut self, b: &PreparedBatch, near: &Nearest) -> Result<()> {
        let Some(ids) = &b.ids else { return Ok(()) };
        let ids_of = |i: &usize| self.segment_ids[near.labels[*i] as usize];
        let segments = b.rows.iter().map(|r| r.as_ref().map(ids_of));
        self.nulls += self.keyed.extend(ids, segments)?;
        Ok(())
    }
    fn merge(&mut self, later: Self) {
        self.keyed.append(later.keyed);
        self.nulls += later.nulls;
    }
}

/// What an assign's profiles need besides the input's columns (read again afterwards, one at a time): each
/// assigned row's segment (index), the input rows left without one, and the members of each segment in
/// each category (4 bytes a row where the rows themselves would take 12 a value).
#[derive(Debug, Clone, PartialEq, Default, Serialize, serde::Deserialize)]
pub struct ProfilePass {
    pub labels: Vec<u32>,
    /// Input rows dropped for a missing value (ascending).
    pub dropped: Vec<u32>,
    /// See [`profile::no_categories`](crate::profile::no_categories).
    pub categories: Vec<Vec<Vec<u64>>>,
    /// Where each categorical feature's indicators sit in a prepared row of `d` values.
    blocks: Vec<(usize, usize)>,
    d: usize,
}

impl ProfilePass {
    pub fn new(prep: &FittedPrep, k: usize) -> ProfilePass {
        ProfilePass {
            categories: crate::profile::no_categories(prep, k),
            blocks: crate::profile::category_blocks(prep),
            d: prep.prepared_d(),
            ..Default::default()
        }
    }
}

impl Accumulator for ProfilePass {
    fn fresh(&self) -> Self {
        ProfilePass {
            categories: (self.categories.iter())
                .map(|c| vec![vec![0; c[0].len()]; c.len()])
                .collect(),
            blocks: self.blocks.clone(),
            d: self.d,
            ..Default::default()
        }
    }
    fn update(&mut self, b: &PreparedBatch, near: &Nearest) -> Result<()> {
        self.labels.extend_from_slice(&near.labels);
        let dropped = (b.rows.iter().enumerate()).filter(|(_, r)| r.is_none());
        self.dropped
            .extend(dropped.map(|(i, _)| (b.first_row + i) as u32));
        let x = (&b.x[..], self.d);
        crate::profile::count_categories(&mut self.categories, &self.blocks, x, &near.labels);
        Ok(())
    }
    fn merge(&mut self, later: Self) {
        self.labels.extend(later.labels);
        self.dropped.extend(later.dropped);
        for (a, b) in self
            .categories
            .iter_mut()
            .flatten()
            .zip(later.categories.iter().flatten())
        {
            a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::scan::Counts;

    /// A batch of `n` rows (every third dropped) whose nearest segments cycle over 3, with distances in
    /// quarters (their f64 sums are exact in any order, so only the plumbing is under test).
    fn batch(first: usize, n: usize) -> (PreparedBatch, Nearest) {
        let mut kept = 0;
        let rows: Vec<Option<usize>> = (0..n)
            .map(|i| {
                (i % 3 != 0).then(|| {
                    kept += 1;
                    kept - 1
                })
            })
            .collect();
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
            p.update(b, near).unwrap();
            whole.merge(p);
        }
        assert_eq!(whole.rows, 34);
        assert_eq!(whole.per_segment.iter().sum::<u64>(), 34 - (4 + 3 + 4 + 2));
        // Two partitions computed apart, carried as bytes, merged in partition order.
        let part = |bs: &[(PreparedBatch, Nearest)]| {
            let mut p = empty.fresh();
            for (b, near) in bs {
                p.update(b, near).unwrap();
            }
            to_bytes(&p)
        };
        let (a, b) = (part(&batches[..2]), part(&batches[2..]));
        let mut merged: Counts = from_bytes(&a).unwrap();
        merged.merge(from_bytes(&b).unwrap());
        assert_eq!(merged, whole);
        assert!(from_bytes::<Counts>(&a[..a.len() / 2]).is_err());
    }

    /// The migration's keys and an assign's profile pass: partitions carried as bytes merge into the pass's
    /// result (labels in input order, dropped rows by input row; ids of dropped rows left out; null ids
    /// counted; category counts summed).
    #[test]
    fn keys_and_profile_partitions_merge_in_order() {
        let segment_ids = [10u32, 11, 12];
        // One categorical feature of two categories after one numeric column: rows alternate between them.
        let (blocks, d) = (vec![(1, 2)], 3);
        let batches: Vec<_> = [(0, 6), (6, 9), (15, 4)]
            .iter()
            .map(|&(f, n)| {
                let (mut b, near) = batch(f, n);
                let ids = (f..f + n).map(|i| (i != 7).then_some(100 + i as i64));
                b.ids = Some(std::sync::Arc::new(arrow_array::Int64Array::from_iter(ids)));
                b.x = (0..near.labels.len())
                    .flat_map(|i| [(f + i) as f32, (i % 2) as f32, ((i + 1) % 2) as f32])
                    .collect();
                (b, near)
            })
            .collect();
        let profile = ProfilePass {
            categories: vec![vec![vec![0; 2]; 4]],
            blocks,
            d,
            ..Default::default()
        };
        let pass = (KeysPass::new(KeyKind::Int, &segment_ids), profile);
        let mut whole = pass.fresh();
        for (b, near) in &batches {
            let mut p = pass.fresh();
            p.update(b, near).unwrap();
            whole.merge(p);
        }
        let Keyed::Int(pairs) = &whole.0.keyed else {
            panic!("integer ids")
        };
        // Row 7 (batch 2) has a null id and is kept in batch 2 (7 - 6 = 1, not a multiple of 3).
        assert_eq!(whole.0.nulls, 1);
        assert_eq!(pairs.len(), whole.1.labels.len() - 1);
        assert_eq!(pairs[0], (101, segment_ids[near_label(&batches[0].1, 0)]));
        // Every third row of each batch is dropped: input rows 0, 3, 6, 9, 12, 15, 18.
        assert_eq!(whole.1.dropped, vec![0, 3, 6, 9, 12, 15, 18]);
        // Each kept row is counted once, in its segment and overall, in the category its indicator names.
        let cats = &whole.1.categories[0];
        assert_eq!(cats[3].iter().sum::<u64>(), whole.1.labels.len() as u64);
        assert_eq!(
            cats[..3].iter().flatten().sum::<u64>(),
            whole.1.labels.len() as u64
        );
        let firsts: u64 = batches
            .iter()
            .map(|(_, n)| n.labels.len().div_ceil(2) as u64)
            .sum();
        assert_eq!(cats[3][1], firsts);
        let part = |bs: &[(PreparedBatch, Nearest)]| {
            let mut p = pass.fresh();
            for (b, near) in bs {
                p.update(b, near).unwrap();
            }
            (to_bytes(&p.0), to_bytes(&p.1))
        };
        let ((ka, ra), (kb, rb)) = (part(&batches[..1]), part(&batches[1..]));
        let mut keys: KeysPass = from_bytes(&ka).unwrap();
        keys.merge(from_bytes(&kb).unwrap());
        let mut rows: ProfilePass = from_bytes(&ra).unwrap();
        rows.merge(from_bytes(&rb).unwrap());
        assert_eq!(to_bytes(&keys), to_bytes(&whole.0));
        assert_eq!(rows, whole.1);
    }

    fn near_label(near: &Nearest, i: usize) -> usize {
        near.labels[i] as usize
    }
}
