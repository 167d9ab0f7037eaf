//! Per-segment statistics in original units: what a relationship manager reads ("segment 2: many calls,
//! low limits"). Computed from the prepared matrix by inverting the preparation value by value.

use rayon::prelude::*;

use crate::data::FeatureMatrix;
use crate::prep::Preprocessor;
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

fn describe(values: &mut [f32], segment: Option<u32>, feature: &str) -> FeatureProfile {
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

/// Profiles of every segment (in segment order) followed by the overall rows, feature by feature.
pub fn profiles(
    m: &FeatureMatrix,
    prep: &Preprocessor,
    labels: &[u32],
    k: usize,
) -> Vec<FeatureProfile> {
    // Rows grouped by segment (a counting sort), so each segment's values are gathered in one sweep.
    let mut start = vec![0usize; k + 1];
    for &l in labels {
        start[l as usize + 1] += 1;
    }
    for s in 0..k {
        start[s + 1] += start[s];
    }
    let mut order = vec![0u32; labels.len()];
    let mut fill = start.clone();
    for (i, &l) in labels.iter().enumerate() {
        order[fill[l as usize]] = i as u32;
        fill[l as usize] += 1;
    }
    let mut segs: Vec<Vec<FeatureProfile>> = vec![Vec::new(); k];
    let mut overall = Vec::with_capacity(m.d);
    for (j, name) in m.names.iter().enumerate() {
        let value = |i: usize| prep.invert(j, m.data[i * m.d + j] as f64) as f32;
        let mut all: Vec<f32> = (0..m.n).map(value).collect();
        let all_p = describe(&mut all, None, name);
        drop(all);
        let per: Vec<FeatureProfile> = (0..k)
            .into_par_iter()
            .map(|s| {
                let mut v: Vec<f32> = order[start[s]..start[s + 1]]
                    .iter()
                    .map(|&i| value(i as usize))
                    .collect();
                let mut p = if v.is_empty() {
                    FeatureProfile {
                        segment: Some(s as u32),
                        feature: name.clone(),
                        customers: 0,
                        ..nan_profile()
                    }
                } else {
                    describe(&mut v, Some(s as u32), name)
                };
                p.z = if all_p.std > 0.0 && p.customers > 0 {
                    (p.mean - all_p.mean) / all_p.std
                } else {
                    0.0
                };
                p
            })
            .collect();
        for (s, p) in per.into_iter().enumerate() {
            segs[s].push(p);
        }
        overall.push(all_p);
    }
    segs.into_iter().flatten().chain(overall).collect()
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
