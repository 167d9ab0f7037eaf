//! Initial centroids: greedy k-means++ (as scikit-learn does it), k-means‖, random rows, or given centroids.
//! The distance passes run on the device the fit runs on ([`Resident::nearest`] and
//! [`Resident::potentials`]); sums over rows are merged over fixed row blocks in block order.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{Init, KMeans};
use crate::compute::cpu::BLOCK_ROWS;
use crate::compute::{Backend, CpuBackend, Dataset, Resident, sum_in_order};
use crate::error::Result;

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

/// Lowers `closest[i]` to the distance from row i to its nearest row of `centers` (m × d) where that is
/// strictly closer, and then sets `owner[i]` to `base` + that centre's index. One `closest` pass on the
/// device the fit runs on.
fn update_closest(
    res: &mut dyn Resident,
    centers: &[f32],
    d: usize,
    closest: &mut [f32],
    owner: Option<(&mut [u32], u32)>,
) -> Result<()> {
    let near = res.closest(centers, centers.len() / d)?;
    match owner {
        Some((own, base)) => closest
            .par_iter_mut()
            .zip(own)
            .zip(near.labels.par_iter().zip(&near.dist2))
            .for_each(|((c, o), (&l, &nd))| {
                if nd < *c {
                    *c = nd;
                    *o = base + l;
                }
            }),
        None => closest
            .par_iter_mut()
            .zip(&near.dist2)
            .for_each(|(c, &nd)| *c = c.min(nd)),
    }
    Ok(())
}

/// Picks one row ∝ weight (uniformly when unweighted).
fn first_center(ds: &Dataset, rng: &mut ChaCha8Rng) -> usize {
    let total_w: f64 = (0..ds.n).map(|i| ds.weight(i)).sum();
    pick(
        (0..ds.n).map(|i| ds.weight(i)),
        total_w,
        rng.random::<f64>(),
        ds.n,
    )
}

/// Greedy k-means++ (Arthur & Vassilvitskii; scikit-learn's variant): each new centre is the best of
/// 2 + ⌊ln k⌋ candidates sampled ∝ w·D², the one that lowers the potential most. Per centre: one fused
/// pass for all candidates' potentials and one to update the distances.
pub fn kmeans_plus_plus(
    res: &mut dyn Resident,
    ds: &Dataset,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f32>> {
    let (n, d) = (ds.n, ds.d);
    let trials = 2 + (k as f64).ln().floor() as usize;
    let first = first_center(ds, rng);
    let mut centers: Vec<f32> = ds.row(first).to_vec();
    let mut closest: Vec<f32> = vec![f32::INFINITY; n];
    update_closest(res, &centers, d, &mut closest, None)?;
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
        // Potential after adding each candidate.
        let pots = res.potentials(&cand_rows, trials, &closest)?;
        let best = (0..trials).fold(0, |b, t| if pots[t] < pots[b] { t } else { b });
        let c = &cand_rows[best * d..(best + 1) * d];
        update_closest(res, c, d, &mut closest, None)?;
        pot = pots[best];
        centers.extend_from_slice(c);
    }
    Ok(centers)
}

/// Rounds of k-means‖ sampling; Bahmani et al. find 5 enough with oversampling 2k.
const PARALLEL_ROUNDS: usize = 5;
/// k-means‖ runs on a uniform sample of this many rows (more when k is large) of bigger inputs.
const PARALLEL_SAMPLE_ROWS: usize = 1 << 18;

/// k-means‖ (Bahmani et al., 2012): a few rounds that each sample every row independently with probability
/// min(1, 2k·w·D²/φ), then the candidates, weighted by the rows nearest to them, are clustered by k-means++
/// and Lloyd. Its 1 + rounds passes each compare rows with ~2k new candidates, about as many distances as
/// greedy k-means++ needs, so on inputs larger than max(2^18, 256·k) rows it runs on a uniform sample of
/// that size (a segment of 0.1 % of the rows still has ~260 rows in it); Lloyd then
/// refines on all rows. Falls back to greedy k-means++ on all rows when too few distinct candidates are found.
pub fn kmeans_parallel(
    backend: &dyn Backend,
    res: &mut dyn Resident,
    ds: &Dataset,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<f32>> {
    let d = ds.d;
    let m = PARALLEL_SAMPLE_ROWS.max(256 * k);
    let found = if ds.n > m {
        let mut idx = rand::seq::index::sample(rng, ds.n, m).into_vec();
        idx.sort_unstable();
        let x: Vec<f32> = idx.iter().flat_map(|&i| ds.row(i)).copied().collect();
        let w: Option<Vec<f32>> = ds.weights.map(|w| idx.iter().map(|&i| w[i]).collect());
        let sample = Dataset::new(&x, d, w.as_deref());
        // The sample is made resident on the same device.
        parallel_on(backend.load(sample)?.as_mut(), &sample, k, rng)?
    } else {
        parallel_on(res, ds, k, rng)?
    };
    match found {
        Some(c) => Ok(c),
        None => kmeans_plus_plus(res, ds, k, rng),
    }
}

/// k-means‖ on all rows of `ds` (resident as `res`); None when the candidates cannot be clustered into k.
fn parallel_on(
    res: &mut dyn Resident,
    ds: &Dataset,
    k: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Option<Vec<f32>>> {
    let (n, d) = (ds.n, ds.d);
    let oversample = 2.0 * k as f64;
    let mut cands: Vec<f32> = ds.row(first_center(ds, rng)).to_vec();
    let mut closest = vec![f32::INFINITY; n];
    let mut owner = vec![0u32; n];
    update_closest(res, &cands, d, &mut closest, Some((&mut owner, 0)))?;
    for _ in 0..PARALLEL_ROUNDS {
        let phi = weighted_sum(ds, &closest);
        if phi <= 0.0 {
            break;
        }
        // One random stream per block: the sample does not depend on the thread count.
        let seed: u64 = rng.random();
        let picked: Vec<Vec<usize>> = closest
            .par_chunks(BLOCK_ROWS)
            .enumerate()
            .map(|(b, cl)| {
                let mut r = ChaCha8Rng::seed_from_u64(seed);
                r.set_stream(b as u64);
                let start = b * BLOCK_ROWS;
                cl.iter()
                    .enumerate()
                    .filter_map(|(i, &c)| {
                        let u: f64 = r.random();
                        let p = oversample * ds.weight(start + i) * c as f64 / phi;
                        (u < p).then_some(start + i)
                    })
                    .collect()
            })
            .collect();
        let new: Vec<f32> = picked
            .iter()
            .flatten()
            .flat_map(|&i| ds.row(i).iter().copied())
            .collect();
        if new.is_empty() {
            continue;
        }
        let base = (cands.len() / d) as u32;
        update_closest(res, &new, d, &mut closest, Some((&mut owner, base)))?;
        cands.extend_from_slice(&new);
    }
    // Candidate weights: the weight of the rows nearest to each, merged in block order.
    let m = cands.len() / d;
    let parts: Vec<Vec<f64>> = owner
        .par_chunks(BLOCK_ROWS)
        .enumerate()
        .map(|(b, own)| {
            let mut wsum = vec![0.0f64; m];
            for (i, &o) in own.iter().enumerate() {
                wsum[o as usize] += ds.weight(b * BLOCK_ROWS + i);
            }
            wsum
        })
        .collect();
    let cw: Vec<f32> = sum_in_order(&parts, m).iter().map(|&w| w as f32).collect();
    let cds = Dataset::new(&cands, d, Some(&cw));
    let Ok(cfg) = KMeans::params(k)
        .init(Init::KMeansPlusPlus)
        .n_init(1)
        .max_iter(30)
        .seed(rng.random())
        .check()
    else {
        return Ok(None);
    };
    // A few thousand weighted candidates: the CPU is the right place whatever device the fit runs on.
    Ok(super::fit(&CpuBackend::default(), &cds, &cfg)
        .ok()
        .map(|r| r.centroids))
}

fn weighted_sum(ds: &Dataset, v: &[f32]) -> f64 {
    let parts: Vec<f64> = v
        .par_chunks(BLOCK_ROWS)
        .enumerate()
        .map(|(b, c)| match ds.weights {
            None => c.iter().map(|&x| x as f64).sum(),
            Some(w) => c
                .iter()
                .zip(&w[b * BLOCK_ROWS..])
                .map(|(&x, &w)| w as f64 * x as f64)
                .sum(),
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
