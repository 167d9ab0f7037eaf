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
    /// (segment mean − overall mean) / overall std; 0 when the feature is constant.
    pub z: f64,
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
    let features: Vec<usize> = (0..m.d).collect();
    let mut per_feature = Vec::with_capacity(m.d);
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
    segs.into_iter().flatten().chain(overall).collect()
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
