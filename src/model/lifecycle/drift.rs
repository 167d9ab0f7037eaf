//! Drift: does tonight's population still look like the one the model was trained on?
//!
//! Everything is measured in the model's prepared space (the space its segments live in), against a
//! [`Reference`] the model keeps from its training rows:
//! - per feature, the population stability index (PSI) of tonight's values over the training deciles
//!   (numeric) or categories (categorical), against the training share of each bin;
//! - per numeric feature, the standardized mean shift (tonight's mean − training mean) / training sd;
//! - the PSI of the segment shares (tonight's customers assigned by the model vs the training shares);
//! - per segment, the centroid shift: the distance from the model's centroid to the mean of tonight's
//!   customers the model assigns to it (where a refit's first Lloyd step would move it), each column in
//!   training standard deviations;
//! - the share of customers farther from their centroid than the training 99th percentile of that
//!   segment (nearest rank: at most 1 % at training).
//!
//! A measure at or above its `watch` threshold asks to watch, at or above `refit` to refit; the verdict
//! is the worst. PSI 0.1 / 0.25 are the credit-risk conventions.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::FeatureMatrix;
use crate::prep::{FittedPrep, mean_var};

/// What the model remembers of its training population, in the prepared space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// Per prepared column: mean and (population) standard deviation over the training rows.
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
    /// Per model feature (numeric, then categorical): its bins and the training share of each.
    pub bins: Vec<Bins>,
}

/// The bins of one feature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    pub feature: String,
    /// Numeric: the distinct training deciles of the prepared column; bin b holds
    /// edges[b − 1] < x ≤ edges[b]. Categorical: empty (one bin per category, in encoding order).
    pub edges: Vec<f32>,
    /// Share of the training rows in each bin (they sum to 1).
    pub shares: Vec<f64>,
}

/// Where a feature sits in the prepared space.
#[derive(Debug, Clone, Copy)]
enum Place {
    Numeric(usize),
    /// A block of one-hot indicators: first column, width.
    Block(usize, usize),
}

fn places(prep: &FittedPrep) -> Vec<Place> {
    let numeric = prep.columns.len();
    let mut at = numeric;
    (0..numeric)
        .map(Place::Numeric)
        .chain(prep.categorical.iter().map(|c| {
            at += c.categories.len();
            Place::Block(at - c.categories.len(), c.categories.len())
        }))
        .collect()
}

/// Adds the rows of `x` (row-major, `d` columns) to `counts`, the bins of one feature at `place` with
/// `edges`. Numeric: the count of edges below the value, over the edges padded to nine with +∞ (no value
/// is above it): a loop of fixed length, which the compiler unrolls into vector compares. Categorical:
/// the indicator that is set, the last category ("(other)") if none is.
fn count_feature(counts: &mut [u64], x: &[f32], d: usize, place: Place, edges: &[f32]) {
    match place {
        Place::Numeric(j) => {
            let mut padded = [f32::INFINITY; 9];
            padded.iter_mut().zip(edges).for_each(|(p, &e)| *p = e);
            for row in x.chunks_exact(d) {
                let v = row[j];
                counts[padded.iter().fold(0, |a, &e| a + usize::from(e < v))] += 1;
            }
        }
        Place::Block(s, w) => {
            for row in x.chunks_exact(d) {
                counts[row[s..s + w].iter().position(|&v| v > 0.0).unwrap_or(w - 1)] += 1;
            }
        }
    }
}

/// Rows per parallel chunk when counting bins.
const CHUNK: usize = 16_384;

impl Reference {
    /// The reference of a training matrix prepared with `prep`. The numeric bins' edges are the training
    /// deciles the preparation already holds (original units), mapped into the prepared space: the map
    /// is increasing, so they split the prepared column as they split the original one. The shares are
    /// counted, not assumed to be 10 % (a count column has repeated deciles).
    pub fn fit(prep: &FittedPrep, m: &FeatureMatrix<f32>) -> Reference {
        let spread = mean_var(m);
        let mut bins: Vec<Bins> = (prep.columns.iter().enumerate())
            .map(|(j, c)| {
                let mut edges: Vec<f32> = (c.deciles.iter())
                    .map(|&q| prep.forward(j, q) as f32)
                    .filter(|e| e.is_finite())
                    .collect();
                edges.dedup();
                Bins {
                    feature: c.name.clone(),
                    shares: vec![0.0; edges.len() + 1],
                    edges,
                }
            })
            .collect();
        bins.extend(prep.categorical.iter().map(|c| Bins {
            feature: c.name.clone(),
            edges: Vec::new(),
            shares: vec![0.0; c.categories.len()],
        }));
        let counts = count_bins(&places(prep), &bins, &m.data, m.d);
        for (b, c) in bins.iter_mut().zip(counts) {
            let total = c.iter().sum::<u64>().max(1) as f64;
            b.shares = c.iter().map(|&x| x as f64 / total).collect();
        }
        Reference {
            mean: spread.iter().map(|s| s.0).collect(),
            sd: spread.iter().map(|s| s.1.sqrt()).collect(),
            bins,
        }
    }
}

/// Rows per bin of every feature, over row-major `data`.
fn count_bins(places: &[Place], bins: &[Bins], data: &[f32], d: usize) -> Vec<Vec<u64>> {
    let zero = || bins.iter().map(|b| vec![0u64; b.shares.len()]).collect();
    let add = |mut acc: Vec<Vec<u64>>, part: Vec<Vec<u64>>| {
        for (a, p) in acc.iter_mut().zip(part) {
            a.iter_mut().zip(p).for_each(|(x, y)| *x += y);
        }
        acc
    };
    data.par_chunks(CHUNK * d)
        .map(|chunk| {
            let mut c: Vec<Vec<u64>> = zero();
            for ((counts, b), &p) in c.iter_mut().zip(bins).zip(places) {
                count_feature(counts, chunk, d, p, &b.edges);
            }
            c
        })
        .reduce(zero, add)
}

/// What a stream of rows assigned by the model adds up to (integer counts and f64 sums; merged in input
/// order, so the result does not depend on the thread count).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub rows: u64,
    bins: Vec<Vec<u64>>,
    segment_rows: Vec<u64>,
    segment_sum: Vec<f64>,
    beyond_p99: u64,
}

impl Tally {
    pub fn merge(&mut self, o: &Tally) {
        if self.bins.is_empty() {
            *self = o.clone();
            return;
        }
        self.rows += o.rows;
        for (a, b) in self.bins.iter_mut().zip(&o.bins) {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        }
        let add = |a: &mut Vec<f64>, b: &Vec<f64>| a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        add(&mut self.segment_sum, &o.segment_sum);
        self.segment_rows
            .iter_mut()
            .zip(&o.segment_rows)
            .for_each(|(x, y)| *x += y);
        self.beyond_p99 += o.beyond_p99;
    }
}

/// Thresholds of one measure: at or above `watch`, watch; at or above `refit`, refit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub watch: f64,
    pub refit: f64,
}

/// "WATCH,REFIT", as [`Limits::parse`] reads it.
impl std::fmt::Display for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.watch, self.refit)
    }
}

impl Limits {
    pub const fn new(watch: f64, refit: f64) -> Limits {
        Limits { watch, refit }
    }

    fn level(&self, v: f64) -> Level {
        if v >= self.refit {
            Level::Refit
        } else if v >= self.watch {
            Level::Watch
        } else {
            Level::Keep
        }
    }

    /// Parses "WATCH,REFIT" (e.g. "0.1,0.25").
    pub fn parse(s: &str) -> std::result::Result<Limits, String> {
        let v: Vec<f64> = s
            .split(',')
            .map(|p| p.trim().parse::<f64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| format!("'{s}': {e}; give WATCH,REFIT such as 0.1,0.25"))?;
        match v[..] {
            [watch, refit] => Limits::checked(watch, refit),
            _ => Err(format!(
                "'{s}': give two numbers WATCH,REFIT such as 0.1,0.25"
            )),
        }
    }

    pub fn checked(watch: f64, refit: f64) -> std::result::Result<Limits, String> {
        if watch.is_finite() && refit.is_finite() && 0.0 <= watch && watch <= refit {
            Ok(Limits { watch, refit })
        } else {
            Err(format!(
                "thresholds {watch},{refit}: need 0 ≤ watch ≤ refit, both finite"
            ))
        }
    }
}

/// The drift thresholds (configurable; the defaults are documented in the README).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// PSI of a feature's distribution.
    pub psi: Limits,
    /// PSI of the segment shares.
    pub segment_psi: Limits,
    /// |standardized mean shift| of a numeric feature, in training standard deviations.
    pub mean_shift: Limits,
    /// Centroid shift of a segment, in training standard deviations.
    pub centroid_shift: Limits,
    /// Share of customers beyond their segment's training 99th percentile distance (0.01 at training).
    pub beyond_p99: Limits,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            psi: Limits::new(0.1, 0.25),
            segment_psi: Limits::new(0.1, 0.25),
            mean_shift: Limits::new(0.25, 0.5),
            centroid_shift: Limits::new(0.5, 1.0),
            beyond_p99: Limits::new(0.02, 0.05),
        }
    }
}

impl Thresholds {
    /// Every pair is 0 ≤ watch ≤ refit (a job file is not parsed by [`Limits::parse`]).
    pub fn check(&self) -> std::result::Result<(), String> {
        for (name, l) in [
            ("psi", self.psi),
            ("segment_psi", self.segment_psi),
            ("mean_shift", self.mean_shift),
            ("centroid_shift", self.centroid_shift),
            ("beyond_p99", self.beyond_p99),
        ] {
            Limits::checked(l.watch, l.refit).map_err(|e| format!("{name}: {e}"))?;
        }
        Ok(())
    }
}

/// What to do with the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Keep,
    Watch,
    Refit,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Keep => "keep",
            Level::Watch => "watch",
            Level::Refit => "refit",
        }
    }
}

/// One measured value (a row of drift.parquet).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measure {
    /// psi, mean_shift, segment_psi, centroid_shift or beyond_p99.
    pub measure: &'static str,
    /// The feature, the segment id, or "all".
    pub subject: String,
    pub value: f64,
    pub watch: f64,
    pub refit: f64,
    pub level: Level,
}

/// The drift of one night against a model: every measure, the verdict and its reasons.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Drift {
    pub verdict: Level,
    /// The measures at or above their watch threshold, in words.
    pub reasons: Vec<String>,
    pub thresholds: Thresholds,
    #[serde(skip)]
    pub measures: Vec<Measure>,
}

/// The drift check of one model: tallies batches of assigned rows and reports.
pub struct Check<'m> {
    reference: &'m Reference,
    centroids: Vec<f32>,
    /// Per segment: the squared training 99th-percentile distance.
    p99_sq: Vec<f64>,
    segment_ids: Vec<u32>,
    training_shares: Vec<f64>,
    places: Vec<Place>,
    numeric: usize,
    d: usize,
}

/// Population stability index of `actual` counts against `expected` shares; shares are floored at 1e-4
/// so that an empty bin gives a large but finite value.
pub fn psi(actual: &[u64], expected: &[f64]) -> f64 {
    let total = actual.iter().sum::<u64>().max(1) as f64;
    actual
        .iter()
        .zip(expected)
        .map(|(&a, &e)| {
            let (a, e) = ((a as f64 / total).max(1e-4), e.max(1e-4));
            (a - e) * (a / e).ln()
        })
        .sum()
}

impl<'m> Check<'m> {
    /// The check of `model`; None when the model has no reference (format version 2).
    pub fn new(model: &'m super::super::Model) -> Option<Check<'m>> {
        let reference = model.reference.as_ref()?;
        Some(Check {
            reference,
            centroids: model.centroids(),
            p99_sq: (model.segments.iter())
                .map(|s| s.distance_p99.map_or(f64::INFINITY, |p| p * p))
                .collect(),
            segment_ids: model.segments.iter().map(|s| s.id).collect(),
            training_shares: model.segments.iter().map(|s| s.training_share).collect(),
            places: places(&model.preparation),
            numeric: model.preparation.columns.len(),
            d: model.prepared_d(),
        })
    }

    /// The tally of prepared rows `x` (row-major) with their nearest segment (index into the model's
    /// segments) and squared distance.
    pub fn tally(&self, x: &[f32], labels: &[u32], dist2: &[f32]) -> Tally {
        let (d, k) = (self.d, self.segment_ids.len());
        let mut t = Tally {
            rows: labels.len() as u64,
            bins: (self.reference.bins.iter())
                .map(|b| vec![0; b.shares.len()])
                .collect(),
            segment_rows: vec![0; k],
            segment_sum: vec![0.0; k * d],
            beyond_p99: 0,
        };
        // Feature by feature (one set of edges in registers at a time), then the segment sums row by row.
        for ((counts, b), &p) in t
            .bins
            .iter_mut()
            .zip(&self.reference.bins)
            .zip(&self.places)
        {
            count_feature(counts, x, d, p, &b.edges);
        }
        for ((row, &l), &d2) in x.chunks_exact(d).zip(labels).zip(dist2) {
            let l = l as usize;
            let seg = &mut t.segment_sum[l * d..(l + 1) * d];
            for (g, &v) in seg.iter_mut().zip(row) {
                *g += v as f64;
            }
            t.segment_rows[l] += 1;
            t.beyond_p99 += u64::from(d2 as f64 > self.p99_sq[l]);
        }
        t
    }

    /// Every measure of `t`, the verdict and its reasons.
    pub fn report(&self, t: &Tally, th: &Thresholds) -> Drift {
        let r = self.reference;
        let d = self.d;
        let mut out = Vec::new();
        let mut push = |measure, subject: String, value: f64, lim: &Limits| {
            out.push(Measure {
                measure,
                subject,
                value,
                watch: lim.watch,
                refit: lim.refit,
                level: lim.level(value.abs()),
            })
        };
        for (b, counts) in r.bins.iter().zip(&t.bins) {
            push("psi", b.feature.clone(), psi(counts, &b.shares), &th.psi);
        }
        let n = t.rows.max(1) as f64;
        let k = self.segment_ids.len();
        for (j, b) in r.bins.iter().take(self.numeric).enumerate() {
            // The column's total, from the per-segment sums (in segment order).
            let sum: f64 = (0..k).map(|s| t.segment_sum[s * d + j]).sum();
            let shift = if r.sd[j] > 0.0 {
                (sum / n - r.mean[j]) / r.sd[j]
            } else {
                0.0
            };
            push("mean_shift", b.feature.clone(), shift, &th.mean_shift);
        }
        push(
            "segment_psi",
            "all".into(),
            psi(&t.segment_rows, &self.training_shares),
            &th.segment_psi,
        );
        for (s, &id) in self.segment_ids.iter().enumerate() {
            let m = t.segment_rows[s];
            if m == 0 {
                continue;
            }
            let shift = (0..d)
                .filter(|&j| r.sd[j] > 0.0)
                .map(|j| {
                    let mean = t.segment_sum[s * d + j] / m as f64;
                    ((mean - self.centroids[s * d + j] as f64) / r.sd[j]).powi(2)
                })
                .sum::<f64>()
                .sqrt();
            push("centroid_shift", id.to_string(), shift, &th.centroid_shift);
        }
        push(
            "beyond_p99",
            "all".into(),
            t.beyond_p99 as f64 / n,
            &th.beyond_p99,
        );
        let verdict = out.iter().map(|m| m.level).max().unwrap_or(Level::Keep);
        Drift {
            verdict,
            reasons: out
                .iter()
                .filter(|m| m.level > Level::Keep)
                .map(reason)
                .collect(),
            thresholds: *th,
            measures: out,
        }
    }
}

fn reason(m: &Measure) -> String {
    let what = match m.measure {
        "psi" => format!("feature '{}' PSI", m.subject),
        "mean_shift" => format!("feature '{}' mean shift (sd)", m.subject),
        "segment_psi" => "segment shares PSI".to_string(),
        "centroid_shift" => format!("segment {} centroid shift (sd)", m.subject),
        _ => "share beyond the training p99 distance".to_string(),
    };
    let at = if m.level == Level::Refit {
        m.refit
    } else {
        m.watch
    };
    format!("{what} {:.3} ≥ {at} ({})", m.value, m.level.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_matches_the_formula() {
        // Two bins, 30/70 tonight against 50/50: (0.3−0.5)ln(0.3/0.5) + (0.7−0.5)ln(0.7/0.5).
        let want = -0.2 * (0.6f64).ln() + 0.2 * (1.4f64).ln();
        assert!((psi(&[30, 70], &[0.5, 0.5]) - want).abs() < 1e-12);
        assert_eq!(psi(&[5, 5], &[0.5, 0.5]), 0.0);
        assert!(psi(&[0, 10], &[0.5, 0.5]).is_finite());
    }

    #[test]
    fn limits_parse_and_classify() {
        let l = Limits::parse("0.1,0.25").unwrap();
        assert_eq!(l.level(0.05), Level::Keep);
        assert_eq!(l.level(0.1), Level::Watch);
        assert_eq!(l.level(0.3), Level::Refit);
        assert!(Limits::parse("0.3,0.1").is_err());
        assert!(Limits::parse("0.3").is_err());
    }
}
