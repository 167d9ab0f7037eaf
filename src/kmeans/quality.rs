//! Quality indices of a segmentation, as scikit-learn defines them (`sklearn.metrics`): Calinski–Harabasz
//! and Davies–Bouldin over all rows from the clusters' member means, and the silhouette (exact Euclidean
//! distances) over a sample of rows. All arithmetic is in f64 over the f32 prepared rows.
//!
//! The silhouette of several segmentations of the same sample (a sweep over k) is computed in one pass
//! over the pairs of sample rows: each pair's distance is computed once and added, for every
//! segmentation, to the row's running sum for the other row's segment. The cost is
//! s²/2 · (d + number of segmentations) instead of s²/2 · d per segmentation.

use rayon::prelude::*;

/// Member means (k × d) and sizes of the clusters of `labels`.
fn means(x: &[f32], d: usize, labels: &[u32], k: usize) -> (Vec<f64>, Vec<u64>) {
    let mut sum = vec![0f64; k * d];
    let mut n = vec![0u64; k];
    for (row, &l) in x.chunks_exact(d).zip(labels) {
        let l = l as usize;
        n[l] += 1;
        sum[l * d..(l + 1) * d]
            .iter_mut()
            .zip(row)
            .for_each(|(s, &v)| *s += v as f64);
    }
    for (c, &m) in n.iter().enumerate() {
        sum[c * d..(c + 1) * d]
            .iter_mut()
            .for_each(|s| *s /= m.max(1) as f64);
    }
    (sum, n)
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

fn row_dist2(row: &[f32], c: &[f64]) -> f64 {
    row.iter()
        .zip(c)
        .map(|(&x, y)| (x as f64 - y).powi(2))
        .sum()
}

/// Calinski–Harabasz: (between-cluster dispersion / (k − 1)) / (within-cluster dispersion / (n − k)),
/// 1 when the within dispersion is 0 (scikit-learn's convention). `k` counts the non-empty clusters.
pub fn calinski_harabasz(x: &[f32], d: usize, labels: &[u32], k: usize) -> f64 {
    let n = labels.len();
    let (mu, size) = means(x, d, labels, k);
    let overall: Vec<f64> = (0..d)
        .map(|j| (0..k).map(|c| mu[c * d + j] * size[c] as f64).sum::<f64>() / n as f64)
        .collect();
    let between: f64 = (0..k)
        .map(|c| size[c] as f64 * dist2(&mu[c * d..(c + 1) * d], &overall))
        .sum();
    let within: f64 = x
        .chunks_exact(d)
        .zip(labels)
        .map(|(row, &l)| row_dist2(row, &mu[l as usize * d..(l as usize + 1) * d]))
        .sum();
    let used = size.iter().filter(|&&m| m > 0).count();
    if within == 0.0 {
        1.0
    } else {
        between * (n - used) as f64 / (within * (used - 1) as f64)
    }
}

/// Davies–Bouldin: the mean over clusters of the largest (sᵢ + sⱼ) / ‖μᵢ − μⱼ‖, sᵢ the mean distance of
/// cluster i's members to its mean; 0 when every sᵢ or every distance between means is 0.
pub fn davies_bouldin(x: &[f32], d: usize, labels: &[u32], k: usize) -> f64 {
    let (mu, size) = means(x, d, labels, k);
    let mut spread = vec![0f64; k];
    for (row, &l) in x.chunks_exact(d).zip(labels) {
        let l = l as usize;
        spread[l] += row_dist2(row, &mu[l * d..(l + 1) * d]).sqrt();
    }
    let live: Vec<usize> = (0..k).filter(|&c| size[c] > 0).collect();
    for &c in &live {
        spread[c] /= size[c] as f64;
    }
    let sep = |i: usize, j: usize| dist2(&mu[i * d..(i + 1) * d], &mu[j * d..(j + 1) * d]).sqrt();
    let all_zero_spread = live.iter().all(|&c| spread[c] == 0.0);
    let all_zero_sep = live
        .iter()
        .all(|&i| live.iter().all(|&j| i == j || sep(i, j) == 0.0));
    if all_zero_spread || all_zero_sep {
        return 0.0;
    }
    let worst: f64 = live
        .iter()
        .map(|&i| {
            live.iter()
                .filter(|&&j| j != i)
                .map(|&j| {
                    let s = sep(i, j);
                    if s == 0.0 {
                        0.0
                    } else {
                        (spread[i] + spread[j]) / s
                    }
                })
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .sum();
    worst / live.len() as f64
}

/// Rows of the sample per parallel block in [`silhouettes`].
const BLOCK: usize = 64;

/// Mean silhouette of each segmentation of the sample rows `x` (`d` columns): `labelings[t]` holds the
/// segment of every sample row and the segment count. A row alone in its segment scores 0.
pub fn silhouettes(x: &[f32], d: usize, labelings: &[(&[u32], usize)]) -> Vec<f64> {
    let n = x.len() / d;
    let offsets: Vec<usize> = labelings
        .iter()
        .scan(0, |at, &(_, k)| {
            *at += k;
            Some(*at - k)
        })
        .collect();
    let width: usize = labelings.iter().map(|&(_, k)| k).sum();
    let sizes: Vec<Vec<usize>> = labelings
        .iter()
        .map(|&(labels, k)| {
            let mut m = vec![0; k];
            labels.iter().for_each(|&l| m[l as usize] += 1);
            m
        })
        .collect();
    // For each row: the sum of its distances to every segment's rows, for every segmentation (a row's
    // sums over all pairs in which it takes part, so the work is s² / 2 pairs computed twice over
    // blocks; kept simple and exactly symmetric).
    let scores: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .chunks(BLOCK)
        .map(|rows| {
            let mut out = Vec::with_capacity(rows.len());
            let mut sums = vec![0f64; width];
            for i in rows {
                sums.iter_mut().for_each(|s| *s = 0.0);
                let xi = &x[i * d..(i + 1) * d];
                for (j, xj) in x.chunks_exact(d).enumerate() {
                    if j == i {
                        continue;
                    }
                    let dist = xi
                        .iter()
                        .zip(xj)
                        .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    for ((labels, _), &off) in labelings.iter().zip(&offsets) {
                        sums[off + labels[j] as usize] += dist;
                    }
                }
                let per: Vec<f64> = (labelings.iter().zip(&offsets).zip(&sizes))
                    .map(|((&(labels, k), &off), size)| {
                        let own = labels[i] as usize;
                        let count = |c: usize| size[c];
                        let own_n = count(own);
                        if own_n <= 1 {
                            return 0.0;
                        }
                        let a = sums[off + own] / (own_n - 1) as f64;
                        let b = (0..k)
                            .filter(|&c| c != own)
                            .filter_map(|c| {
                                let m = count(c);
                                (m > 0).then(|| sums[off + c] / m as f64)
                            })
                            .fold(f64::INFINITY, f64::min);
                        if b.is_infinite() {
                            0.0
                        } else {
                            (b - a) / a.max(b)
                        }
                    })
                    .collect();
                out.push(per);
            }
            out
        })
        .flatten()
        .collect();
    (0..labelings.len())
        .map(|t| scores.iter().map(|s| s[t]).sum::<f64>() / n as f64)
        .collect()
}
