//! Initial centroids: greedy k-means++ (as scikit-learn does it), random rows, or given centroids.
//! Distance work runs over fixed row blocks in parallel with per-block partial sums merged in block order.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::compute::Dataset;
use crate::compute::cpu::{BLOCK_ROWS, sq_dist};

/// The generator for restart `r` of a run with `seed`: independent streams, reproducible.
pub fn restart_rng(seed: u64, r: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(r as u64);
    rng
}

/// Picks a row with probability ∝ `mass[i]`, given `total` = Σ mass (one sequential scan).
fn pick(mass: impl Iterator<Item = f64>, total: f64, u: f64, n: usize) -> usize {
    let target = u * total;
    let mut acc = 0.0;
    for (i, m) in mass.enumerate() {
        acc += m;
        if acc > target {
            return i;
        }
    }
    n - 1
}

/// Greedy k-means++ (Arthur & Vassilvitskii; scikit-learn's variant): each new centre is the best of
/// 2 + ⌊ln k⌋ candidates sampled ∝ w·D², the one that lowers the potential most.
pub fn kmeans_plus_plus(ds: &Dataset, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let (n, d) = (ds.n, ds.d);
    let trials = 2 + (k as f64).ln().floor() as usize;
    let total_w: f64 = (0..n).map(|i| ds.weight(i)).sum();
    let first = pick(
        (0..n).map(|i| ds.weight(i)),
        total_w,
        rng.random::<f64>(),
        n,
    );
    let mut centers: Vec<f32> = ds.row(first).to_vec();
    let mut closest: Vec<f32> = vec![0.0; n];
    closest
        .par_chunks_mut(BLOCK_ROWS)
        .enumerate()
        .for_each(|(b, out)| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = sq_dist(ds.row(b * BLOCK_ROWS + i), &centers[..d]);
            }
        });
    let mut pot = weighted_sum(ds, &closest);
    for _ in 1..k {
        // Candidates ∝ w·D²: sorted uniform targets found in one cumulative scan.
        let mut targets: Vec<(f64, usize)> = (0..trials)
            .map(|t| (rng.random::<f64>() * pot, t))
            .collect();
        targets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut cand = vec![n - 1; trials];
        let mut acc = 0.0;
        let mut next = 0;
        for (i, &c) in closest.iter().enumerate() {
            acc += ds.weight(i) * c as f64;
            while next < trials && acc > targets[next].0 {
                cand[targets[next].1] = i;
                next += 1;
            }
            if next == trials {
                break;
            }
        }
        let cand_rows: Vec<f32> = cand
            .iter()
            .flat_map(|&i| ds.row(i).iter().copied())
            .collect();
        // Potential after adding each candidate, in one pass over the data.
        let parts: Vec<Vec<f64>> = closest
            .par_chunks(BLOCK_ROWS)
            .enumerate()
            .map(|(b, cl)| {
                let mut p = vec![0.0f64; trials];
                for (i, &c) in cl.iter().enumerate() {
                    let row = b * BLOCK_ROWS + i;
                    let (x, w) = (ds.row(row), ds.weight(row));
                    for (t, ct) in cand_rows.chunks_exact(d).enumerate() {
                        p[t] += w * sq_dist(x, ct).min(c) as f64;
                    }
                }
                p
            })
            .collect();
        let mut pots = vec![0.0f64; trials];
        for p in &parts {
            for (a, b) in pots.iter_mut().zip(p) {
                *a += b;
            }
        }
        let best = (0..trials).fold(0, |b, t| if pots[t] < pots[b] { t } else { b });
        let c = &cand_rows[best * d..(best + 1) * d];
        closest
            .par_chunks_mut(BLOCK_ROWS)
            .enumerate()
            .for_each(|(b, out)| {
                for (i, o) in out.iter_mut().enumerate() {
                    *o = o.min(sq_dist(ds.row(b * BLOCK_ROWS + i), c));
                }
            });
        pot = pots[best];
        centers.extend_from_slice(c);
    }
    centers
}

fn weighted_sum(ds: &Dataset, v: &[f32]) -> f64 {
    let parts: Vec<f64> = v
        .par_chunks(BLOCK_ROWS)
        .enumerate()
        .map(|(b, c)| {
            c.iter()
                .enumerate()
                .map(|(i, &x)| ds.weight(b * BLOCK_ROWS + i) * x as f64)
                .sum()
        })
        .collect();
    parts.iter().sum()
}

/// k distinct rows drawn without replacement, ∝ weight (scikit-learn's `init="random"`).
pub fn random_rows(ds: &Dataset, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let idx: Vec<usize> = match ds.weights {
        None => rand::seq::index::sample(rng, ds.n, k).into_vec(),
        Some(w) => rand::seq::index::sample_weighted(rng, ds.n, |i| w[i] as f64, k)
            .map(|s| s.into_vec())
            .unwrap_or_else(|_| (0..k).collect()),
    };
    idx.iter()
        .flat_map(|&i| ds.row(i).iter().copied())
        .collect()
}

/// Number of distinct rows, counting only up to `limit` (stops early on typical data).
pub fn distinct_rows_up_to(ds: &Dataset, limit: usize) -> usize {
    let mut seen = std::collections::HashSet::new();
    for i in 0..ds.n {
        // +0.0 folds −0.0 into 0.0 so that equal values hash equally.
        let key: Vec<u32> = ds.row(i).iter().map(|v| (v + 0.0).to_bits()).collect();
        seen.insert(key);
        if seen.len() >= limit {
            break;
        }
    }
    seen.len()
}
