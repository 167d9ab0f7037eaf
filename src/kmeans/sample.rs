//! k-means on a uniform sample of the rows (`--sample N`): the restarts run on N rows drawn without
//! replacement with the fit's seed (the same input and seed give the same sample at any thread count); the
//! renumbering by size, the final labels and the SSE come from passes over every row.

use rand::SeedableRng;
use rand::seq::index::sample;
use rand_chacha::ChaCha8Rng;

use super::{KMeansConfig, KMeansResult, fit_resident, size_order};
use crate::compute::{Backend, Dataset};
use crate::error::Result;
use crate::progress::Progress;

/// A uniform sample of `m` of `n` rows without replacement, ascending (read in row order), drawn with
/// `seed`: this one, the sweep's silhouette sample and the explanations' tree sample.
pub fn rows(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut r = sample(&mut ChaCha8Rng::seed_from_u64(seed), n, m.min(n)).into_vec();
    r.sort_unstable();
    r
}

/// Fits `cfg` on `m` rows of `ds` drawn uniformly ([`rows`]), then labels every row of `ds` with the
/// centroids found. The result is `fit_resident`'s for all rows: centroids renumbered by their segments'
/// sizes over all rows, every row's nearest and second-nearest, the SSE over all rows; its restarts,
/// iterations and SSE history are the sample's.
pub fn fit_sampled(
    backend: &dyn Backend,
    ds: &Dataset,
    cfg: &KMeansConfig,
    m: usize,
    progress: &Progress,
) -> Result<KMeansResult> {
    let (n, d, k) = (ds.n, ds.d, cfg.k());
    let picked = rows(n, m, cfg.seed());
    let x: Vec<f32> = picked
        .iter()
        .flat_map(|&r| ds.row(r).iter().copied())
        .collect();
    let w: Option<Vec<f32>> = ds.weights.map(|w| picked.iter().map(|&r| w[r]).collect());
    let sub = Dataset::new(&x, d, w.as_deref());
    let mut on_sample = {
        let mut res = backend.load(sub)?;
        fit_resident(backend, res.as_mut(), &sub, cfg, progress)?
    };
    drop((x, w));
    // The passes over every row count as iterating (the summary's phases add up to the total).
    let t = std::time::Instant::now();
    let mut res = backend.load(*ds)?;
    let order = size_order(&res.closest(&on_sample.centroids, k)?.labels, k);
    let centroids: Vec<f32> = (order.iter())
        .flat_map(|&old| on_sample.centroids[old * d..(old + 1) * d].to_vec())
        .collect();
    let nearest = res.nearest(&centroids, k)?;
    let mut segment_sse = vec![0.0f64; k];
    for (i, (&l, &e)) in nearest.labels.iter().zip(&nearest.dist2).enumerate() {
        segment_sse[l as usize] += ds.weight(i) * e as f64;
    }
    on_sample.sse = segment_sse.iter().sum();
    on_sample.segment_sse = segment_sse;
    on_sample.centroids = centroids;
    on_sample.nearest = nearest;
    on_sample.iterate_seconds += t.elapsed().as_secs_f64();
    Ok(on_sample)
}
