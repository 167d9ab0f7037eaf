//! Quality indices of a segmentation, as scikit-learn defines them (`sklearn.metrics`): Calinski–Harabasz
//! and Davies–Bouldin over all rows from the clusters' member means, and the silhouette (exact Euclidean
//! distances) over a sample of rows. All arithmetic is in f64 over the f32 prepared rows.
//!
//! The silhouette of several segmentations of the same sample (a sweep over k) is computed in one pass
//! over the pairs of sample rows: each distance is computed once and added, for every segmentation, to
//! the row's sum for the other row's segment: s² · (d + number of segmentations) operations instead of
//! s² · d per segmentation.

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

/// Rows of the sample per parallel block in [`silhouettes`], and other rows per distance tile.
const BLOCK: usize = 64;
const TILE: usize = 512;

/// Mean silhouette of each segmentation of the sample rows `x` (`d` columns): `labelings[t]` holds the
/// segment of every sample row and the segment count. A row alone in its segment scores 0.
///
/// Rows with the same segment in every segmentation (a "joint group"; segmentations of one data set at
/// different k mostly nest, so there are few) always share a sum. The sample is therefore ordered by joint
/// group once, in a column-major f64 copy: for each row, its distances to every sample row are computed in
/// that order (vector arithmetic over tiles of other rows, then a vector square root), each joint group's
/// sum is a contiguous sum, and each segmentation's per-segment sums add up its groups' sums. No gathers,
/// and each row's sums run in a fixed order, so the result does not depend on the thread count.
pub fn silhouettes(x: &[f32], d: usize, labelings: &[(&[u32], usize)]) -> Vec<f64> {
    let n = x.len() / d.max(1);
    if n == 0 {
        return vec![0.0; labelings.len()];
    }
    let joint = |j: usize| labelings.iter().map(move |(l, _)| l[j]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| joint(a).cmp(joint(b)).then(a.cmp(&b)));
    // Joint groups: bounds in `order`, and each group's segment in every segmentation.
    let mut bounds = vec![0usize];
    for p in 1..n {
        if !joint(order[p]).eq(joint(order[p - 1])) {
            bounds.push(p);
        }
    }
    bounds.push(n);
    let groups = bounds.len() - 1;
    let group_segment: Vec<Vec<u32>> = (labelings.iter())
        .map(|(l, _)| (0..groups).map(|g| l[order[bounds[g]]]).collect())
        .collect();
    let sizes: Vec<Vec<usize>> = (labelings.iter())
        .map(|&(l, k)| {
            let mut size = vec![0usize; k];
            l.iter().for_each(|&c| size[c as usize] += 1);
            size
        })
        .collect();
    let columns: Vec<Vec<f64>> = (0..d)
        .map(|c| order.iter().map(|&j| x[j * d + c] as f64).collect())
        .collect();
    let scores: Vec<Vec<f64>> = (0..n)
        .into_par_iter()
        .chunks(BLOCK)
        .map(|rows| {
            let mut dist = vec![0f64; n];
            let mut group_sum = vec![0f64; groups];
            rows.into_iter()
                .map(|i| {
                    // Tiles of the other rows small enough for the first-level cache.
                    for (t, tile) in dist.chunks_mut(TILE).enumerate() {
                        tile.iter_mut().for_each(|v| *v = 0.0);
                        let range = t * TILE..t * TILE + tile.len();
                        // Four columns per pass over the tile: a quarter of the loads and stores.
                        let mut c = 0;
                        while c + 4 <= d {
                            let xi: [f64; 4] = std::array::from_fn(|u| x[i * d + c + u] as f64);
                            let ys: [&[f64]; 4] =
                                std::array::from_fn(|u| &columns[c + u][range.clone()]);
                            for (p, v) in tile.iter_mut().enumerate() {
                                let sq = |u: usize| (ys[u][p] - xi[u]) * (ys[u][p] - xi[u]);
                                *v += (sq(0) + sq(1)) + (sq(2) + sq(3));
                            }
                            c += 4;
                        }
                        for (c, col) in columns.iter().enumerate().skip(c) {
                            let xi = x[i * d + c] as f64;
                            tile.iter_mut()
                                .zip(&col[range.clone()])
                                .for_each(|(v, &y)| *v += (y - xi) * (y - xi));
                        }
                        tile.iter_mut().for_each(|v| *v = v.sqrt());
                    }
                    for (s, w) in group_sum.iter_mut().zip(bounds.windows(2)) {
                        *s = sum4(&dist[w[0]..w[1]]);
                    }
                    // The row itself adds a distance of 0 to its own segment: no correction needed.
                    (labelings.iter().zip(&group_segment).zip(&sizes))
                        .map(|((&(labels, k), seg), size)| {
                            let mut sums = vec![0f64; k];
                            for (&c, &s) in seg.iter().zip(&group_sum) {
                                sums[c as usize] += s;
                            }
                            silhouette(labels[i] as usize, &sums, size)
                        })
                        .collect()
                })
                .collect::<Vec<Vec<f64>>>()
        })
        .flatten()
        .collect();
    (0..labelings.len())
        .map(|t| scores.iter().map(|s| s[t]).sum::<f64>() / n as f64)
        .collect()
}

/// Σ v in four interleaved partial sums (independent additions) combined in a fixed order.
fn sum4(v: &[f64]) -> f64 {
    let mut acc = [0f64; 4];
    let chunks = v.chunks_exact(4);
    let rest: f64 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + rest
}

/// The silhouette of a row in segment `own`, from its summed distances to each segment's rows.
fn silhouette(own: usize, sum: &[f64], size: &[usize]) -> f64 {
    if size[own] <= 1 {
        return 0.0;
    }
    let a = sum[own] / (size[own] - 1) as f64;
    let b = (0..sum.len())
        .filter(|&c| c != own && size[c] > 0)
        .map(|c| sum[c] / size[c] as f64)
        .fold(f64::INFINITY, f64::min);
    if b.is_infinite() {
        0.0
    } else {
        (b - a) / a.max(b)
    }
}

/// The adjusted Rand index of two labelings of the same rows (Hubert and Arabie 1985; scikit-learn's
/// `adjusted_rand_score`): 1 for the same partition, about 0 for independent ones.
pub fn adjusted_rand(a: &[u32], b: &[u32]) -> f64 {
    let n = a.len();
    let (ka, kb) = (
        a.iter().max().map_or(0, |&m| m as usize + 1),
        b.iter().max().map_or(0, |&m| m as usize + 1),
    );
    let mut table = vec![0u64; ka * kb];
    let (mut rows, mut cols) = (vec![0u64; ka], vec![0u64; kb]);
    for (&x, &y) in a.iter().zip(b) {
        table[x as usize * kb + y as usize] += 1;
        rows[x as usize] += 1;
        cols[y as usize] += 1;
    }
    let pairs = |c: &u64| (*c as f64) * (*c as f64 - 1.0) / 2.0;
    let index: f64 = table.iter().map(pairs).sum();
    let (sa, sb): (f64, f64) = (rows.iter().map(pairs).sum(), cols.iter().map(pairs).sum());
    let total = pairs(&(n as u64));
    let expected = if total > 0.0 { sa * sb / total } else { 0.0 };
    let max = (sa + sb) / 2.0;
    // One cluster each, or each row its own cluster, in both: the same partition (scikit-learn's 1.0).
    if max == expected {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_empty_sample_has_no_silhouette_to_speak_of() {
        assert_eq!(super::silhouettes(&[], 3, &[(&[], 2)]), vec![0.0]);
    }

    /// The examples of scikit-learn's `adjusted_rand_score` documentation.
    #[test]
    fn adjusted_rand_matches_scikit_learns_examples() {
        use super::adjusted_rand as ari;
        assert_eq!(ari(&[0, 0, 1, 1], &[0, 0, 1, 1]), 1.0);
        assert_eq!(ari(&[0, 0, 1, 1], &[1, 1, 0, 0]), 1.0);
        assert!((ari(&[0, 0, 1, 2], &[0, 0, 1, 1]) - 0.5714285714285715).abs() < 1e-15);
        assert!((ari(&[0, 0, 1, 1], &[0, 0, 1, 2]) - 0.5714285714285715).abs() < 1e-15);
        assert_eq!(ari(&[0, 0, 0, 0], &[0, 1, 2, 3]), 0.0);
        assert!((ari(&[0, 0, 1, 1], &[0, 1, 0, 1]) + 0.5).abs() < 1e-15);
    }

    use super::*;

    #[test]
    fn conventions_for_degenerate_segmentations() {
        // Two tight pairs far apart: silhouette by hand. Row 0: a = 1 (to row 1), b = mean(10, 11) = 10.5.
        let x = [0.0f32, 1.0, 10.0, 11.0];
        let labels = [0u32, 0, 1, 1];
        let s = silhouettes(&x, 1, &[(&labels, 2)])[0];
        let row = |a: f64, b: f64| (b - a) / a.max(b);
        let want = (row(1.0, 10.5) + row(1.0, 9.5) + row(1.0, 9.5) + row(1.0, 10.5)) / 4.0;
        assert!((s - want).abs() < 1e-15, "{s} vs {want}");
        // A row alone in its segment scores 0.
        let single = [0u32, 1, 1, 1];
        let s = silhouettes(&x, 1, &[(&single, 2)])[0];
        let rest = [row(9.5, 1.0), row(5.0, 10.0), row(5.5, 11.0)];
        assert!((s - rest.iter().sum::<f64>() / 4.0).abs() < 1e-15);
        // Identical rows in each segment: no within dispersion (CH is 1 by convention), no spread (DB 0).
        let same = [1.0f32, 1.0, 5.0, 5.0];
        assert_eq!(calinski_harabasz(&same, 1, &labels, 2), 1.0);
        assert_eq!(davies_bouldin(&same, 1, &labels, 2), 0.0);
        // CH and DB by hand: means 0.5 and 10.5, overall 5.5; between = 2·25 + 2·25, within = 4 · 0.25.
        assert!((calinski_harabasz(&x, 1, &labels, 2) - 100.0 * 2.0 / 1.0).abs() < 1e-12);
        assert!((davies_bouldin(&x, 1, &labels, 2) - (0.5 + 0.5) / 10.0).abs() < 1e-15);
    }
}
