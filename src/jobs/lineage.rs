//! `fit --previous DIR`: tonight's fit related to the previous night's. Tonight's customers are streamed
//! once through the previous model ([`scan`]); that pass measures drift against it and, when the nights
//! cannot be joined on customer ids, gives the overlap and tonight's centroids in its prepared space.
//! Segment ids then follow [`matching`], transitions [`transitions`], movements [`migration`].

use super::accumulate::{Accumulator, DriftPass};
pub use super::options::LifecycleOptions;
use super::scan::{measuring, model_columns, scan};
use crate::compute::select::{Selected, run_with_fallback};
use crate::data::load::Columns;
use crate::error::Result;
use crate::kmeans::KMeansResult;
use crate::model::lifecycle::drift::{self};
use crate::model::lifecycle::migration::{self, KeyKind, Keyed, Migration};
use crate::model::lifecycle::transitions::{self};
use crate::model::lifecycle::{Previous, matching};
pub use crate::output::schema::Lifecycle;
use crate::pipeline::Prepared;

/// What streaming tonight's input through the previous model adds up.
struct Replay {
    drift: drift::Tally,
    /// previous segment (its model's order) × tonight's segment: customers in both.
    overlap: Vec<u64>,
    /// Per tonight's segment: Σ of its customers' rows in the previous prepared space, and their count.
    sums: Vec<f64>,
    counts: Vec<u64>,
    /// Rows the previous model's preparation could not take (missing values).
    dropped: usize,
}

/// Relates `fit` (tonight, on `p`) to `prev`.
pub fn relate(
    prev: &Previous,
    p: &Prepared,
    fit: &KMeansResult,
    sel: &Selected,
    opts: &LifecycleOptions,
    log: &dyn Fn(&str),
    warnings: &mut Vec<String>,
) -> Result<Lifecycle> {
    let pm = &prev.model;
    let (pk, nk) = (pm.k(), fit.k);
    let cols = model_columns(pm, &p.source, None).map_err(|e| {
        e.context(format!(
            "`previous` {}: tonight's input lacks a column of its model",
            prev.dir.display()
        ))
    })?;
    log(&format!(
        "measuring tonight's customers with the previous model ({} segments)",
        pk
    ));
    let tonight = row_labels(p, fit);
    let replay = run_with_fallback(sel, log, |b| replay(p, &tonight, nk, &cols, prev, b))?.value;
    if replay.dropped > 0 {
        warnings.push(format!(
            "{} rows with missing values in the previous model's features are left out of the drift check and the overlap with it",
            replay.dropped
        ));
    }
    let check = drift::Check::new(pm).expect("Previous::open checks the reference");
    let drift = check.report(&replay.drift, &opts.drift);
    let prev_ids = pm.segment_ids();
    let flows = joined(prev, p, &tonight, warnings)?;
    let (overlap, matched, matched_by) = match &flows {
        Some(m) => {
            let tonight_idx: Vec<u32> = (0..nk as u32).collect();
            let overlap = m.overlap(&prev_ids, &tonight_idx);
            let counted: u64 = overlap.iter().sum();
            if counted != m.both() {
                warnings.push(format!(
                    "{} returning customers had a segment last night that {}/model.json does not have: left out of the matching",
                    m.both() - counted,
                    prev.dir.display()
                ));
            }
            let matched = matching::by_overlap(&overlap, pk, nk, opts.overlaps.matching);
            (overlap, matched, "customer ids")
        }
        None => {
            let dist = centroid_distances(&replay, pm, nk);
            let limit: Vec<f64> = (pm.segments.iter())
                .map(|s| s.distance_deciles.get(5).copied().unwrap_or(0.0))
                .collect();
            let matched = matching::by_distance(&dist, pk, nk, &limit);
            (replay.overlap, matched, "centroid distance")
        }
    };
    let (ids, next) = matching::identities(&matched, &prev_ids, pm.next_segment_id);
    let mut sizes = vec![0u64; nk];
    fit.nearest
        .labels
        .iter()
        .for_each(|&l| sizes[l as usize] += 1);
    let ts = transitions::transitions(&overlap, &prev_ids, &ids, &sizes, &opts.overlaps);
    let flows = flows.map(|m| m.map_to(|n| ids[n as usize]));
    Ok(Lifecycle {
        previous: Some(prev.dir.display().to_string()),
        matched_by: matched_by.into(),
        continues: matched.iter().map(|m| m.map(|p| prev_ids[p])).collect(),
        segment_ids: ids,
        next_segment_id: next,
        events: transitions::describe(&ts),
        transitions: ts,
        migration: flows.as_ref().map(Migration::totals),
        drift: Some(drift),
        drift_reference: "the previous model".into(),
        flows,
    })
}

/// Distances (previous segment × tonight's) between the previous centroids and the means of tonight's
/// segments' customers, both in the previous model's prepared space.
fn centroid_distances(r: &Replay, pm: &crate::model::Model, nk: usize) -> Vec<f64> {
    let pd = pm.prepared_d();
    let centroids = pm.centroids();
    (0..pm.k() * nk)
        .map(|i| {
            let (a, n) = (i / nk, i % nk);
            // A segment none of whose customers the previous model could prepare has no position there.
            if r.counts[n] == 0 {
                return f64::INFINITY;
            }
            let c = r.counts[n] as f64;
            (0..pd)
                .map(|j| (r.sums[n * pd + j] / c - centroids[a * pd + j] as f64).powi(2))
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}

/// Tonight's segment (index) of every input row; `u32::MAX` for a row dropped tonight.
fn row_labels(p: &Prepared, fit: &KMeansResult) -> Vec<u32> {
    let mut tonight = vec![u32::MAX; p.loaded.rows_read];
    match &p.loaded.raw.kept {
        Some(kept) => {
            (kept.iter().zip(&fit.nearest.labels)).for_each(|(&r, &l)| tonight[r as usize] = l)
        }
        None => tonight.copy_from_slice(&fit.nearest.labels),
    }
    tonight
}

/// Tonight's segments against the previous model's, row by row: the customers in both (previous segment ×
/// tonight's), and per tonight's segment the sum of its customers' rows in the previous prepared space and
/// their count. `tonight` holds tonight's segment of every input row (`u32::MAX`: dropped tonight).
struct Overlap<'t> {
    tonight: &'t [u32],
    shape: (usize, usize, usize),
    overlap: Vec<u64>,
    sums: Vec<f64>,
    counts: Vec<u64>,
}

impl<'t> Overlap<'t> {
    /// For `pk` previous segments, `nk` of tonight's, `pd` prepared columns of the previous model.
    fn new(tonight: &'t [u32], (pk, nk, pd): (usize, usize, usize)) -> Self {
        Overlap {
            tonight,
            shape: (pk, nk, pd),
            overlap: vec![0; pk * nk],
            sums: vec![0.0; nk * pd],
            counts: vec![0; nk],
        }
    }
}

impl Accumulator for Overlap<'_> {
    fn fresh(&self) -> Self {
        Overlap::new(self.tonight, self.shape)
    }
    fn update(
        &mut self,
        b: &crate::pipeline::PreparedBatch,
        near: &crate::compute::Nearest,
    ) -> Result<()> {
        let (_, nk, pd) = self.shape;
        for (r, i) in b.rows.iter().enumerate() {
            let (Some(i), Some(&n)) = (i, self.tonight.get(b.first_row + r)) else {
                continue;
            };
            if n == u32::MAX {
                continue;
            }
            let n = n as usize;
            self.overlap[near.labels[*i] as usize * nk + n] += 1;
            let row = &b.x[i * pd..(i + 1) * pd];
            (self.sums[n * pd..(n + 1) * pd].iter_mut())
                .zip(row)
                .for_each(|(s, &v)| *s += v as f64);
            self.counts[n] += 1;
        }
        Ok(())
    }
    fn merge(&mut self, o: Self) {
        self.overlap
            .iter_mut()
            .zip(o.overlap)
            .for_each(|(a, b)| *a += b);
        self.sums.iter_mut().zip(o.sums).for_each(|(a, b)| *a += b);
        self.counts
            .iter_mut()
            .zip(o.counts)
            .for_each(|(a, b)| *a += b);
    }
}

/// Streams tonight's input through the previous model; `tonight` holds tonight's segment of every input
/// row (see [`row_labels`]), `nk` is tonight's segment count.
fn replay(
    p: &Prepared,
    tonight: &[u32],
    nk: usize,
    cols: &Columns,
    prev: &Previous,
    backend: &dyn crate::compute::Backend,
) -> Result<Replay> {
    let pm = &prev.model;
    let check = drift::Check::new(pm);
    let passes = (
        check.as_ref().map(DriftPass::new),
        Overlap::new(tonight, (pm.k(), nk, pm.prepared_d())),
    );
    let none = |_: &mut _, _: &_| Ok(());
    let (counts, (drift, o)) = scan(
        (&p.source, cols),
        pm,
        measuring(pm.missing),
        backend,
        passes,
        none,
        |()| Ok(()),
    )?;
    Ok(Replay {
        drift: drift.map(|p| p.tally).unwrap_or_default(),
        overlap: o.overlap,
        sums: o.sums,
        counts: o.counts,
        dropped: counts.dropped,
    })
}

/// The migration from last night's labels to tonight's segments (by index), when both nights have ids
/// in the same column.
fn joined(
    prev: &Previous,
    p: &Prepared,
    tonight: &[u32],
    warnings: &mut Vec<String>,
) -> Result<Option<Migration>> {
    let l = &p.loaded;
    let keys = previous_keys(prev, l.id_field.as_ref(), warnings)?;
    let (Some(prev_keys), Some(ids)) = (keys, &l.ids) else {
        return Ok(None);
    };
    let mut now = Keyed::new(prev_keys.kind());
    let (mut row, mut nulls) = (0usize, 0usize);
    for a in ids {
        let segs = tonight[row..row + a.len()]
            .iter()
            .map(|&s| (s != u32::MAX).then_some(s));
        nulls += now.extend(a, segs)?;
        row += a.len();
    }
    migration::note_nulls(nulls, "tonight", warnings);
    let without = "segments were matched by centroid distance";
    Ok(migration::join_or_warn(
        prev_keys, now, &prev.dir, without, warnings,
    ))
}

/// Last night's (id, segment) pairs, keyed like tonight's ids; None (with a warning) when either night
/// has no ids or they are in differently named columns.
pub(crate) fn previous_keys(
    prev: &Previous,
    id: Option<&arrow_schema::Field>,
    warnings: &mut Vec<String>,
) -> Result<Option<Keyed>> {
    let Some(labels) = &prev.labels else {
        warnings.push(format!(
            "--previous {} has no labels.parquet: no migration",
            prev.dir.display()
        ));
        return Ok(None);
    };
    let theirs = migration::labels_id(labels)?;
    let ours = id.map(|f| (f.name().clone(), f.data_type().clone()));
    match (theirs, ours) {
        (Some((a, ta)), Some((b, tb))) if a == b => {
            let (keyed, nulls) = migration::read_labels(labels, KeyKind::of(&ta, &tb))?;
            migration::note_nulls(nulls, "last night", warnings);
            Ok(Some(keyed))
        }
        (theirs, ours) => {
            warnings.push(format!(
                "no migration or transitions: they join customer ids, and last night's labels have {} while tonight's have {}",
                theirs.map_or("row numbers".into(), |t| format!("ids in '{}'", t.0)),
                ours.map_or("row numbers".into(), |t| format!("ids in '{}'", t.0)),
            ));
            Ok(None)
        }
    }
}
