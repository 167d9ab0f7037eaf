//! Hierarchical segmentation: Ward agglomeration of weighted micro-centroids, cut at k.
//!
//! k-means first splits the customers into M micro-clusters (a few hundred); Ward's method then merges
//! them, each step the pair whose merge adds the least within-segment sum of squares:
//! ΔSSE(A, B) = w_A·w_B / (w_A + w_B) · ‖c_A − c_B‖², with w the customers' total weight. The micro-
//! clusters carry their weights, which kodama's Ward (every observation of size 1, sizes private) cannot
//! take, so the M³ search is done here; `kodama` is the test oracle for the unweighted case. Heights
//! follow scipy and kodama: √(2·ΔSSE), the Euclidean Ward distance.

use super::quality::adjusted_rand;
use super::{Init, KMeansConfig, KMeansResult, fit_resident, size_order};
use crate::compute::{Backend, Dataset};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// One merge in scipy's linkage numbering: leaves are 0..M, the cluster formed by merge s is M + s.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Merge {
    pub a: usize,
    pub b: usize,
    pub height: f64,
    /// Total weight of the merged cluster.
    pub weight: f64,
}

/// Ward's linkage of the M points (row-major M × d) with weights `w` (all positive). Ties go to the
/// lowest pair (a, b), so the result does not depend on anything but the input.
pub fn linkage(points: &[f32], d: usize, w: &[f64]) -> Vec<Merge> {
    let m = w.len();
    // Active clusters: weight, mean (f64) and scipy id.
    let mut weight = w.to_vec();
    let mut mean: Vec<Vec<f64>> = points
        .chunks_exact(d)
        .map(|r| r.iter().map(|&v| v as f64).collect())
        .collect();
    let mut id: Vec<usize> = (0..m).collect();
    let mut alive = vec![true; m];
    let cost = |wa: f64, ma: &[f64], wb: f64, mb: &[f64]| {
        let d2: f64 = ma.iter().zip(mb).map(|(a, b)| (a - b) * (a - b)).sum();
        wa * wb / (wa + wb) * d2
    };
    // delta[i][j] for i < j.
    let mut delta = vec![vec![f64::INFINITY; m]; m];
    for i in 0..m {
        for j in i + 1..m {
            delta[i][j] = cost(weight[i], &mean[i], weight[j], &mean[j]);
        }
    }
    let mut merges = Vec::with_capacity(m.saturating_sub(1));
    for step in 0..m.saturating_sub(1) {
        let (mut bi, mut bj, mut best) = (0, 0, f64::INFINITY);
        for i in (0..m).filter(|&i| alive[i]) {
            for j in (i + 1..m).filter(|&j| alive[j]) {
                if delta[i][j] < best {
                    (bi, bj, best) = (i, j, delta[i][j]);
                }
            }
        }
        // The merged cluster lives on in slot bi.
        let wsum = weight[bi] + weight[bj];
        let merged: Vec<f64> = (mean[bi].iter().zip(&mean[bj]))
            .map(|(a, b)| (weight[bi] * a + weight[bj] * b) / wsum)
            .collect();
        let (a, b) = (id[bi].min(id[bj]), id[bi].max(id[bj]));
        merges.push(Merge {
            a,
            b,
            height: (2.0 * best).max(0.0).sqrt(),
            weight: wsum,
        });
        alive[bj] = false;
        (weight[bi], mean[bi], id[bi]) = (wsum, merged, m + step);
        for o in (0..m).filter(|&o| alive[o] && o != bi) {
            let c = cost(weight[bi], &mean[bi], weight[o], &mean[o]);
            let (x, y) = (bi.min(o), bi.max(o));
            delta[x][y] = c;
        }
    }
    merges
}

/// The k clusters left after all but the last k − 1 merges: each leaf's cluster, numbered by its lowest
/// leaf, and each cluster's scipy id.
pub fn cut(merges: &[Merge], m: usize, k: usize) -> (Vec<usize>, Vec<usize>) {
    // Union the first m − k merges; a cluster's representative is its lowest leaf.
    let mut parent: Vec<usize> = (0..2 * m).collect();
    fn root(p: &mut [usize], mut x: usize) -> usize {
        while p[x] != x {
            p[x] = p[p[x]];
            x = p[x];
        }
        x
    }
    for (s, mg) in merges.iter().take(m - k.min(m)).enumerate() {
        let (ra, rb) = (root(&mut parent, mg.a), root(&mut parent, mg.b));
        let keep = ra.min(rb);
        parent[ra] = keep;
        parent[rb] = keep;
        parent[m + s] = keep;
    }
    let mut reps: Vec<usize> = (0..m).map(|l| root(&mut parent, l)).collect();
    let mut order = reps.clone();
    order.sort_unstable();
    order.dedup();
    // Each cluster's id: the last merge that formed it, or the leaf itself.
    let mut cluster_id: Vec<usize> = order.clone();
    for (s, mg) in merges.iter().take(m - k.min(m)).enumerate() {
        let r = root(&mut parent, mg.a);
        let c = order.binary_search(&r).expect("a root");
        cluster_id[c] = m + s;
    }
    for r in reps.iter_mut() {
        *r = order.binary_search(r).expect("a root");
    }
    (reps, cluster_id)
}

/// Micro-clusters when `--micro-clusters` is not given.
pub const DEFAULT_MICRO: usize = 256;

/// At most this many micro-clusters: the linkage is M² in memory and M³ in time (4.5 s at 2,000).
pub const MAX_MICRO: usize = 2_000;

/// The hierarchy behind a Ward segmentation, for summary.json, dendrogram.json and the report.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    /// Micro-clusters that held customers (the leaves).
    pub micro_clusters: usize,
    pub merges: Vec<Merge>,
    /// Each leaf's weight and segment index.
    pub leaf_weight: Vec<f64>,
    pub leaf_segment: Vec<usize>,
    /// Each segment's cluster in scipy numbering (a leaf, or the merge that formed it).
    pub segment_node: Vec<usize>,
    /// The share of customers whose nearest Ward centroid is their own branch's (the labels are the
    /// nearest centroid, as `assign` computes them).
    pub branch_agreement: f64,
    /// k-means with the same k on the same rows: its SSE, and the adjusted Rand index between the two.
    pub kmeans_sse: f64,
    pub adjusted_rand_vs_kmeans: f64,
}

/// `--method ward`: k-means to `micro` micro-clusters (one restart), Ward's linkage of their weighted
/// centroids, cut at `cfg.k`; segment centroids are the weighted means of their micro-centroids and the
/// labels the nearest of them (segments renumbered by size as in k-means). k-means with `cfg` is fitted
/// on the same resident data for the comparison. `progress` advances by one per restart (1 + `cfg`'s).
pub fn fit(
    backend: &dyn Backend,
    ds: &Dataset,
    cfg: &KMeansConfig,
    micro: usize,
    progress: &Progress,
) -> Result<(KMeansResult, Hierarchy)> {
    cfg.validate(ds)?;
    let mut res = backend.load(*ds)?;
    let res = res.as_mut();
    // No more micro-clusters than distinct rows (at least k: `validate` checked).
    let micro_cfg = KMeansConfig {
        k: super::init::distinct_rows_up_to(ds, micro.min(ds.n)),
        init: Init::Auto,
        n_init: 1,
        ..cfg.clone()
    };
    let small = fit_resident(backend, res, ds, &micro_cfg, progress)?;
    let (k, d) = (cfg.k, ds.d);
    let (mut weight, mut count) = (vec![0f64; small.k], vec![0usize; small.k]);
    for (i, &l) in small.nearest.labels.iter().enumerate() {
        weight[l as usize] += ds.weight(i);
        count[l as usize] += 1;
    }
    // Leaves: the micro-clusters that hold customers (k-means renumbers by size: empty ones are last).
    let leaves: Vec<usize> = (0..small.k).filter(|&c| count[c] > 0).collect();
    // Customers of weight 0 weigh nothing in Ward's criterion, but their micro-clusters still need a
    // positive weight to be merged (and a mean): a negligible one.
    let floor = weight.iter().copied().fold(0.0, f64::max).max(1.0) * 1e-12;
    let m = leaves.len();
    if m < k {
        return Err(Error::usage(format!(
            "`method` ward found only {m} distinct micro-clusters for `k` {k}; lower `k` or raise `micro_clusters`"
        )));
    }
    let points: Vec<f32> = leaves
        .iter()
        .flat_map(|&c| small.centroids[c * d..(c + 1) * d].to_vec())
        .collect();
    let leaf_weight: Vec<f64> = leaves.iter().map(|&c| weight[c].max(floor)).collect();
    let merges = linkage(&points, d, &leaf_weight);
    let (leaf_cluster, node) = cut(&merges, m, k);
    let mut sums = vec![0f64; k * d];
    let mut wsum = vec![0f64; k];
    for (l, &c) in leaf_cluster.iter().enumerate() {
        wsum[c] += leaf_weight[l];
        for j in 0..d {
            sums[c * d + j] += leaf_weight[l] * points[l * d + j] as f64;
        }
    }
    let unordered: Vec<f32> = (0..k * d).map(|i| (sums[i] / wsum[i / d]) as f32).collect();
    let order = size_order(&res.closest(&unordered, k)?.labels, k);
    let mut rank = vec![0usize; k];
    for (new, &old) in order.iter().enumerate() {
        rank[old] = new;
    }
    let centroids: Vec<f32> = (order.iter())
        .flat_map(|&old| unordered[old * d..(old + 1) * d].to_vec())
        .collect();
    let stats = res.step(&centroids, k)?;
    let nearest = res.nearest(&centroids, k)?;
    let mut leaf_of_micro = vec![usize::MAX; small.k];
    for (l, &c) in leaves.iter().enumerate() {
        leaf_of_micro[c] = l;
    }
    let agree = (small.nearest.labels.iter().zip(&nearest.labels))
        .filter(|&(&mi, &s)| rank[leaf_cluster[leaf_of_micro[mi as usize]]] == s as usize)
        .count();
    let km = fit_resident(backend, res, ds, cfg, progress)?;
    let hierarchy = Hierarchy {
        micro_clusters: m,
        leaf_segment: leaf_cluster.iter().map(|&c| rank[c]).collect(),
        segment_node: order.iter().map(|&old| node[old]).collect(),
        merges,
        leaf_weight,
        branch_agreement: agree as f64 / ds.n as f64,
        kmeans_sse: km.sse,
        adjusted_rand_vs_kmeans: adjusted_rand(&nearest.labels, &km.nearest.labels),
    };
    let result = KMeansResult {
        k,
        d,
        centroids,
        nearest,
        segment_sse: stats.sse.clone(),
        sse: stats.total_sse(),
        iterations: small.iterations,
        converged: small.converged,
        best_restart: 0,
        restarts: small.restarts,
        sse_history: Vec::new(),
        init_seconds: small.init_seconds + km.init_seconds,
        iterate_seconds: small.iterate_seconds + km.iterate_seconds,
    };
    Ok((result, hierarchy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn points() -> Vec<f32> {
        // Deterministic scattered points in 3 dimensions.
        (0..60u32)
            .map(|i| ((i.wrapping_mul(2654435761) >> 7) % 1000) as f32 / 100.0)
            .collect()
    }

    #[test]
    fn unit_weights_give_kodamas_ward() {
        let (x, d) = (points(), 3);
        let m = x.len() / d;
        let mut condensed = Vec::new();
        for i in 0..m {
            for j in i + 1..m {
                let d2: f64 = (0..d)
                    .map(|t| (x[i * d + t] as f64 - x[j * d + t] as f64).powi(2))
                    .sum();
                condensed.push(d2.sqrt());
            }
        }
        let want = kodama::linkage(&mut condensed, m, kodama::Method::Ward);
        let got = linkage(&x, d, &vec![1.0; m]);
        let mut wh: Vec<f64> = want.steps().iter().map(|s| s.dissimilarity).collect();
        let mut gh: Vec<f64> = got.iter().map(|s| s.height).collect();
        wh.sort_by(f64::total_cmp);
        gh.sort_by(f64::total_cmp);
        for (a, b) in wh.iter().zip(&gh) {
            assert!((a - b).abs() < 1e-9 * a.max(1.0), "{a} vs {b}");
        }
        // The same partition at every cut: compare co-membership of leaf pairs.
        for k in [2, 3, 5, 8] {
            let (ours, _) = cut(&got, m, k);
            let mut theirs: Vec<usize> = (0..m).collect();
            let steps = want.steps();
            let mut members: Vec<Vec<usize>> = (0..m).map(|i| vec![i]).collect();
            for s in &steps[..m - k] {
                let mut joined = members[s.cluster1].clone();
                joined.extend(&members[s.cluster2]);
                members.push(joined);
            }
            for (c, mem) in members.iter().enumerate().skip(m).take(m - k) {
                for &l in mem {
                    theirs[l] = c;
                }
            }
            for i in 0..m {
                for j in 0..m {
                    assert_eq!(
                        ours[i] == ours[j],
                        theirs[i] == theirs[j],
                        "k {k}: {i}, {j}"
                    );
                }
            }
        }
    }

    #[test]
    fn weights_count_as_repeated_points() {
        // A point of weight 2 merges like two copies of it (scipy convention on the copies).
        let x = [0f32, 1.0, 5.0];
        let weighted = linkage(&x, 1, &[2.0, 1.0, 1.0]);
        let copies = linkage(&[0f32, 0.0, 1.0, 5.0], 1, &[1.0; 4]);
        assert_eq!(weighted[0].height, copies[1].height);
        assert_eq!(weighted[1].height, copies[2].height);
        assert_eq!(weighted[1].weight, 4.0);
    }

    #[test]
    fn cut_numbers_clusters_by_lowest_leaf() {
        // Leaves 0 and 2 close, 1 and 3 close, far apart.
        let x = [0f32, 10.0, 0.1, 10.1];
        let merges = linkage(&x, 1, &[1.0; 4]);
        let (labels, ids) = cut(&merges, 4, 2);
        assert_eq!(labels, vec![0, 1, 0, 1]);
        assert_eq!(ids.len(), 2);
        assert!(ids.iter().all(|&i| i >= 4));
        let (one, _) = cut(&merges, 4, 1);
        assert_eq!(one, vec![0; 4]);
    }
}
