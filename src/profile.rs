//! Per-segment statistics: what a relationship manager reads ("segment 2: many calls, low limits").
//! The statistics (mean, quartiles, …) come from the original values in f64, missing ones left out; the
//! direction and size of a difference (`z`) come from the space the clustering used — the centroid's
//! distance from the overall mean of the prepared feature, in its standard deviations — so that a summary
//! never contradicts the centroids (with `--log1p`, a raw mean can sit below average while every member
//! sits above the median).

use rayon::prelude::*;

use crate::data::RawColumns;
use crate::error::Result;
use crate::prep::{FittedPrep, column_mean_var};
use crate::quantile::quantiles;

/// Statistics of one feature over one group of customers (a segment, or all of them).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureProfile {
    /// None = all customers.
    pub segment: Option<u32>,
    pub feature: String,
    pub customers: u64,
    /// Customers of the group whose value was missing (imputed for the clustering; left out of the statistics).
    pub missing: u64,
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    pub min: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub max: f64,
    /// In the clustering space: (centroid − overall mean) / overall standard deviation of the prepared
    /// feature; 0 when the feature is constant. For a category: (segment share − overall share) / √(p(1 − p))
    /// of the overall share p.
    pub z: f64,
    /// For a categorical feature: the category, and its share of the group's customers (the numeric
    /// statistics are then NaN and written as nulls).
    pub category: Option<String>,
    pub share: f64,
}

/// The statistics of `values`; `known` its quantiles (0, 25, 50, 75 and 100 %) when already selected.
fn describe(
    values: &[f64],
    (segment, feature, customers): (Option<u32>, &str, usize),
    known: Option<[f64; 5]>,
) -> FeatureProfile {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|&v| (v - mean).powi(2)).sum::<f64>() / n;
    let q = known.map_or_else(
        || quantiles(values, &[0.0, 0.25, 0.5, 0.75, 1.0]),
        Vec::from,
    );
    FeatureProfile {
        segment,
        feature: feature.to_string(),
        customers: customers as u64,
        missing: (customers - values.len()) as u64,
        mean,
        std: var.sqrt(),
        min: q[0],
        p25: q[1],
        median: q[2],
        p75: q[3],
        max: q[4],
        z: 0.0,
        category: None,
        share: f64::NAN,
    }
}

/// The profiles with each segment index replaced by that segment's id (`ids[index]`).
pub fn with_ids(mut profiles: Vec<FeatureProfile>, ids: &[u32]) -> Vec<FeatureProfile> {
    for p in &mut profiles {
        p.segment = p.segment.map(|s| ids[s as usize]);
    }
    profiles
}

/// The fitted segmentation a profile describes.
pub struct Segmentation<'a> {
    /// The segment (index) of every row `raw` holds.
    pub labels: &'a [u32],
    /// k × prepared columns, in the prepared space.
    pub centroids: &'a [f32],
    pub k: usize,
    /// Per categorical feature: the members of each segment (then of everyone, at index k) in each of its
    /// categories ([`count_categories`]).
    pub categories: Vec<Vec<Vec<u64>>>,
    /// Whether the preparation imputed missing values (the prepared values a `z` is measured in).
    pub impute: bool,
}

/// No category counted yet: one table per categorical feature of `prep`, k segments and everyone.
pub fn no_categories(prep: &FittedPrep, k: usize) -> Vec<Vec<Vec<u64>>> {
    (prep.categorical.iter())
        .map(|c| vec![vec![0u64; c.categories.len()]; k + 1])
        .collect()
}

/// Where each categorical feature's indicator columns start in a prepared row of `prep`, and how many.
pub fn category_blocks(prep: &FittedPrep) -> Vec<(usize, usize)> {
    let mut at = prep.columns.len();
    (prep.categorical.iter())
        .map(|c| {
            at += c.categories.len();
            (at - c.categories.len(), c.categories.len())
        })
        .collect()
}

/// Adds prepared rows (`x`: row-major, `d` values each) of segments `labels` to `counts` (see
/// [`no_categories`]; `blocks` from [`category_blocks`]): each row's category is its nonzero indicator.
pub fn count_categories(
    counts: &mut [Vec<Vec<u64>>],
    blocks: &[(usize, usize)],
    (x, d): (&[f32], usize),
    labels: &[u32],
) {
    for (&(at, m_c), counts) in blocks.iter().zip(counts) {
        let k = counts.len() - 1;
        for (row, &l) in x.chunks_exact(d).zip(labels) {
            if let Some(j) = row[at..at + m_c].iter().position(|&v| v != 0.0) {
                counts[l as usize][j] += 1;
                counts[k][j] += 1;
            }
        }
    }
}

/// Profiles of every segment (in segment order) followed by the overall rows, feature by feature; `raw`
/// gives the original values (NaN = missing) of the numeric features, one column at a time (a column and
/// its segment-ordered copy are what this holds beyond the fit); `quartiles` the overall quantiles when
/// the preparation selected them ([`PrepReport::quartiles`](crate::prep::PrepReport)).
pub fn profiles(
    raw: &RawColumns,
    prep: &FittedPrep,
    seg: &Segmentation,
    quartiles: Option<&[[f64; 5]]>,
) -> Result<Vec<FeatureProfile>> {
    let (labels, k) = (seg.labels, seg.k);
    // Where each segment's rows go in a segment-ordered column (a counting sort).
    let mut start = vec![0usize; k + 1];
    for &l in labels {
        start[l as usize + 1] += 1;
    }
    for s in 0..k {
        start[s + 1] += start[s];
    }
    let dp = prep.prepared_d();
    let mut segs: Vec<Vec<FeatureProfile>> = vec![Vec::with_capacity(raw.d()); k];
    let mut overall = Vec::with_capacity(raw.d());
    let (mut col, mut by_segment, mut prepared) = (Vec::new(), Vec::new(), Vec::new());
    for (j, c) in prep.columns.iter().enumerate() {
        raw.column_into(j, &mut col)?;
        // The spread of the prepared feature, from its values prepared again (the same bits as the
        // clustering's; the values were checked when the clustering prepared them).
        prepared.clear();
        prepared.extend(
            col.iter()
                .map(|&v| c.prepare(v, seg.impute).unwrap_or(f32::NAN)),
        );
        let (mean, var) = column_mean_var(&prepared);
        let fill = scatter(&col, labels, &start, &mut by_segment);
        let known = quartiles.map(|q| q[j]);
        let (mut per, all) =
            feature_profiles(&raw.names[j], &mut by_segment, (&start, &fill), known);
        let constant = all.max <= all.min || all.max.is_nan();
        for (s, p) in per.iter_mut().enumerate() {
            let c = seg.centroids[s * dp + j] as f64;
            p.z = if var > 0.0 && !constant && p.customers > 0 {
                (c - mean) / var.sqrt()
            } else {
                0.0
            };
        }
        for (s, p) in per.into_iter().enumerate() {
            segs[s].push(p);
        }
        overall.push(all);
    }
    let cats = category_profiles(&seg.categories, prep, labels.len() as u64, &start);
    Ok(segs
        .into_iter()
        .flatten()
        .chain(overall)
        .chain(cats)
        .collect())
}

/// Category shares per segment and overall, for each categorical feature: one row per (group, category),
/// from `counts` ([`count_categories`]) over `n` rows.
fn category_profiles(
    counts: &[Vec<Vec<u64>>],
    prep: &FittedPrep,
    n: u64,
    start: &[usize],
) -> Vec<FeatureProfile> {
    let k = start.len() - 1;
    let mut out = Vec::new();
    for (c, counts) in prep.categorical.iter().zip(counts) {
        for s in 0..=k {
            let size = if s == k {
                n
            } else {
                (start[s + 1] - start[s]) as u64
            };
            for (j, cat) in c.categories.iter().enumerate() {
                let share = counts[s][j] as f64 / size.max(1) as f64;
                let all = counts[k][j] as f64 / n.max(1) as f64;
                let spread = (all * (1.0 - all)).sqrt();
                out.push(FeatureProfile {
                    segment: (s < k).then_some(s as u32),
                    feature: c.name.clone(),
                    customers: size,
                    category: Some(cat.clone()),
                    share: if size > 0 { share } else { f64::NAN },
                    z: if spread > 0.0 && size > 0 && s < k {
                        (share - all) / spread
                    } else {
                        0.0
                    },
                    ..nan_profile()
                });
            }
        }
    }
    out
}

/// One feature's values (`col`, in row order) scattered into a segment-ordered column `out` (missing values
/// left out); returns where each segment's values end.
fn scatter(col: &[f64], labels: &[u32], start: &[usize], out: &mut Vec<f64>) -> Vec<usize> {
    out.resize(col.len(), 0.0);
    let mut fill = start.to_vec();
    for (&v, &l) in col.iter().zip(labels) {
        if !v.is_nan() {
            let f = &mut fill[l as usize];
            out[*f] = v;
            *f += 1;
        }
    }
    fill
}

/// One feature's profiles from its scattered column (see [`scatter`]): each segment's slice described in
/// parallel, then the whole column.
fn feature_profiles(
    name: &str,
    col: &mut [f64],
    (start, fill): (&[usize], &[usize]),
    overall: Option<[f64; 5]>,
) -> (Vec<FeatureProfile>, FeatureProfile) {
    let per: Vec<FeatureProfile> = start
        .par_windows(2)
        .zip(fill.par_iter())
        .enumerate()
        .map(|(s, (w, &end))| {
            let v = &col[w[0]..end];
            if v.is_empty() {
                FeatureProfile {
                    segment: Some(s as u32),
                    feature: name.to_string(),
                    customers: (w[1] - w[0]) as u64,
                    missing: (w[1] - w[0]) as u64,
                    ..nan_profile()
                }
            } else {
                describe(v, (Some(s as u32), name, w[1] - w[0]), None)
            }
        })
        .collect();
    // The values of all segments, gaps (missing values) closed.
    let mut at = 0;
    for w in start.windows(2).zip(fill) {
        let ((lo, _), end) = ((w.0[0], w.0[1]), *w.1);
        col.copy_within(lo..end, at);
        at += end - lo;
    }
    let all = describe(&col[..at], (None, name, start[start.len() - 1]), overall);
    (per, all)
}

fn nan_profile() -> FeatureProfile {
    FeatureProfile {
        segment: None,
        feature: String::new(),
        customers: 0,
        missing: 0,
        mean: f64::NAN,
        std: f64::NAN,
        min: f64::NAN,
        p25: f64::NAN,
        median: f64::NAN,
        p75: f64::NAN,
        max: f64::NAN,
        z: 0.0,
        category: None,
        share: f64::NAN,
    }
}

/// Below this |z| a feature is not called high or low: the segment sits at the average.
pub const DESCRIBE_MIN_Z: f64 = 0.1;
