//! Per-segment statistics in original units: what a relationship manager reads ("segment 2: many calls,
//! low limits"). Computed from the prepared matrix by inverting the preparation value by value.

use rayon::prelude::*;

use crate::data::FeatureMatrix;
use crate::prep::FittedPrep;
use crate::quantile::quantiles;

/// Statistics of one feature over one group of customers (a segment, or all of them).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureProfile {
    /// None = all customers.
    pub segment: Option<u32>,
    pub feature: String,
    pub customers: u64,
    pub mean: f64,
    /// Population standard deviation.
    pub std: f64,
    pub min: f64,
    pub p25: f64,
    pub median: f64,
    pub p75: f64,
    pub max: f64,
    /// (segment mean − overall mean) / overall std; 0 when the feature is constant. For a category:
    /// (segment share − overall share) / √(p(1 − p)) of the overall share p.
    pub z: f64,
    /// For a categorical feature: the category, and its share of the group's customers (the numeric
    /// statistics are then NaN and written as nulls).
    pub category: Option<String>,
    pub share: f64,
}

fn describe(values: &[f32], segment: Option<u32>, feature: &str) -> FeatureProfile {
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = values
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let q = quantiles(values, &[0.0, 0.25, 0.5, 0.75, 1.0]);
    FeatureProfile {
        segment,
        feature: feature.to_string(),
        customers: values.len() as u64,
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

/// Features profiled at once: each holds one column (n values) in memory.
const PARALLEL_FEATURES: usize = 4;

/// Profiles of every segment (in segment order) followed by the overall rows, feature by feature.
pub fn profiles(
    m: &FeatureMatrix,
    prep: &FittedPrep,
    labels: &[u32],
    k: usize,
) -> Vec<FeatureProfile> {
    // Where each segment's rows go in a segment-ordered column (a counting sort).
    let mut start = vec![0usize; k + 1];
    for &l in labels {
        start[l as usize + 1] += 1;
    }
    for s in 0..k {
        start[s + 1] += start[s];
    }
    let features: Vec<usize> = (0..prep.columns.len()).collect();
    let mut per_feature = Vec::with_capacity(features.len());
    for group in features.chunks(PARALLEL_FEATURES) {
        per_feature.par_extend(
            group
                .par_iter()
                .map(|&j| feature_profiles(m, prep, labels, &start, j)),
        );
    }
    let mut segs: Vec<Vec<FeatureProfile>> = vec![Vec::with_capacity(m.d); k];
    let mut overall = Vec::with_capacity(m.d);
    for (per, all) in per_feature {
        for (s, p) in per.into_iter().enumerate() {
            segs[s].push(p);
        }
        overall.push(all);
    }
    let cats = category_profiles(m, prep, labels, &start);
    segs.into_iter()
        .flatten()
        .chain(overall)
        .chain(cats)
        .collect()
}

/// Category shares per segment and overall, for each categorical feature: one row per (group, category).
fn category_profiles(
    m: &FeatureMatrix,
    prep: &FittedPrep,
    labels: &[u32],
    start: &[usize],
) -> Vec<FeatureProfile> {
    let k = start.len() - 1;
    let mut out = Vec::new();
    let mut at = prep.columns.len();
    for c in &prep.categorical {
        let m_c = c.categories.len();
        // counts[s][j]: members of segment s in category j (s = k: everyone).
        let mut counts = vec![vec![0u64; m_c]; k + 1];
        for (row, &l) in m.data.chunks_exact(m.d).zip(labels) {
            if let Some(j) = row[at..at + m_c].iter().position(|&v| v != 0.0) {
                counts[l as usize][j] += 1;
                counts[k][j] += 1;
            }
        }
        let n = labels.len() as u64;
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
        at += m_c;
    }
    out
}

/// One feature: its values in original units scattered into a segment-ordered column in one sequential
/// sweep of the matrix, each segment's slice described in parallel, then the whole column.
fn feature_profiles(
    m: &FeatureMatrix,
    prep: &FittedPrep,
    labels: &[u32],
    start: &[usize],
    j: usize,
) -> (Vec<FeatureProfile>, FeatureProfile) {
    let name = &m.names[j];
    let mut col = vec![0f32; m.n];
    let mut fill = start.to_vec();
    for (row, &l) in m.data.chunks_exact(m.d).zip(labels) {
        let f = &mut fill[l as usize];
        col[*f] = prep.invert(j, row[j] as f64) as f32;
        *f += 1;
    }
    let mut per: Vec<FeatureProfile> = start
        .par_windows(2)
        .enumerate()
        .map(|(s, w)| {
            let v = &col[w[0]..w[1]];
            if v.is_empty() {
                FeatureProfile {
                    segment: Some(s as u32),
                    feature: name.clone(),
                    customers: 0,
                    ..nan_profile()
                }
            } else {
                describe(v, Some(s as u32), name)
            }
        })
        .collect();
    let all = describe(&col, None, name);
    for p in &mut per {
        p.z = if all.std > 0.0 && p.customers > 0 {
            (p.mean - all.mean) / all.std
        } else {
            0.0
        };
    }
    (per, all)
}

fn nan_profile() -> FeatureProfile {
    FeatureProfile {
        segment: None,
        feature: String::new(),
        customers: 0,
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

/// The features of a segment with the largest |z|, most distinctive first.
pub fn distinctive(profiles: &[FeatureProfile], segment: u32, top: usize) -> Vec<&FeatureProfile> {
    let mut v: Vec<&FeatureProfile> = profiles
        .iter()
        .filter(|p| p.segment == Some(segment))
        .collect();
    v.sort_by(|a, b| b.z.abs().total_cmp(&a.z.abs()));
    v.truncate(top);
    v
}
