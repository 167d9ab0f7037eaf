//! Quantiles with linear interpolation between order statistics (numpy's default "linear" method, which
//! pandas and scikit-learn's RobustScaler also use), computed by selection instead of a full sort.

/// Above this many values the order statistics are found through a histogram of the keys' top 16 bits.
const RADIX_MIN: usize = 1 << 16;

/// Returns the `qs` quantiles (each in [0, 1]) of `values`. NaNs must have been removed. Empty input
/// gives NaN.
pub fn quantiles<T: Sortable>(values: &[T], qs: &[f64]) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return vec![f64::NAN; qs.len()];
    }
    // The ranks each quantile interpolates between.
    let pos: Vec<(usize, usize, f64)> = qs
        .iter()
        .map(|&q| {
            let p = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = p.floor() as usize;
            (lo, (lo + 1).min(n - 1), p - lo as f64)
        })
        .collect();
    let mut ranks: Vec<usize> = pos.iter().flat_map(|&(lo, hi, _)| [lo, hi]).collect();
    ranks.sort_unstable();
    ranks.dedup();
    let found = if n < RADIX_MIN {
        let mut keys: Vec<T::Key> = values.iter().map(|&v| v.key()).collect();
        select_ranks(&mut keys, &ranks, 0)
    } else {
        radix_ranks(values, &ranks)
    };
    let at = |r: usize| T::value(found[ranks.binary_search(&r).expect("rank selected")]);
    pos.iter()
        .map(|&(lo, hi, frac)| {
            let (a, b) = (at(lo), at(hi));
            a + (b - a) * frac
        })
        .collect()
}

/// The keys of ranks `ranks` (ascending) of `keys`, whose first element has rank `base`.
fn select_ranks<K: Ord + Copy>(keys: &mut [K], ranks: &[usize], base: usize) -> Vec<K> {
    // Ascending selections each work on the part right of the previous one.
    let mut done = 0;
    ranks
        .iter()
        .map(|&r| {
            let k = r - base;
            let tail = &mut keys[done.min(k)..];
            let (_, v, _) = tail.select_nth_unstable(k - done.min(k));
            done = k;
            *v
        })
        .collect()
}

/// Order statistics in three sequential passes: the keys' range, a histogram of 65,536 equal slices of that
/// range locating each rank's bucket, then only those buckets' keys gathered and selected. (Slicing the range
/// rather than taking the top 16 key bits keeps the buckets small for f64, whose top 16 bits are mostly the
/// exponent.)
fn radix_ranks<T: Sortable>(values: &[T], ranks: &[usize]) -> Vec<T::Key> {
    let (lo, hi) = values.iter().fold((u64::MAX, 0u64), |(lo, hi), &v| {
        let k = T::wide(v.key());
        (lo.min(k), hi.max(k))
    });
    let shift = (64 - (hi - lo).leading_zeros()).saturating_sub(16);
    let slice = |k: T::Key| ((T::wide(k) - lo) >> shift) as usize;
    // Four interleaved histograms: runs of equal values (integer counts) would otherwise serialise on
    // one counter's store-to-load latency.
    let mut h4 = vec![[0u32; 4]; 1 << 16];
    let mut quads = values.chunks_exact(4);
    for q in &mut quads {
        for (lane, &v) in q.iter().enumerate() {
            h4[slice(v.key())][lane] += 1;
        }
    }
    for &v in quads.remainder() {
        h4[slice(v.key())][0] += 1;
    }
    let hist: Vec<u32> = h4.iter().map(|h| h.iter().sum()).collect();
    drop(h4);
    // For each rank: its bucket and the rank of the bucket's first key.
    let mut at = Vec::with_capacity(ranks.len());
    let (mut bucket, mut before) = (0usize, 0usize);
    for &r in ranks {
        while before + hist[bucket] as usize <= r {
            before += hist[bucket] as usize;
            bucket += 1;
        }
        at.push((bucket, before));
    }
    // Each needed bucket gets a slot (a buffer for its keys).
    let mut slot = vec![u8::MAX; 1 << 16];
    let mut bufs: Vec<Vec<T::Key>> = Vec::new();
    for &(b, _) in &at {
        if slot[b] == u8::MAX {
            assert!(bufs.len() < u8::MAX as usize, "too many quantiles at once");
            slot[b] = bufs.len() as u8;
            bufs.push(Vec::with_capacity(hist[b] as usize));
        }
    }
    for &v in values {
        let k = v.key();
        let s = slot[slice(k)];
        if s != u8::MAX {
            bufs[s as usize].push(k);
        }
    }
    // A bucket of one repeated key (an integer count shared by a fifth of the rows, say) needs no selection;
    // selecting in it anyway costs a partition pass per rank.
    let single: Vec<bool> = bufs.iter().map(|b| b.iter().all(|&k| k == b[0])).collect();
    ranks
        .iter()
        .zip(&at)
        .map(|(&r, &(b, first))| {
            let s = slot[b] as usize;
            let buf = &mut bufs[s];
            if single[s] {
                buf[0]
            } else {
                *buf.select_nth_unstable(r - first).1
            }
        })
        .collect()
}

/// A float with an unsigned key in the order of `total_cmp` (unsigned integer comparisons select faster).
pub trait Sortable: Copy {
    type Key: Ord + Copy;
    fn key(self) -> Self::Key;
    fn value(k: Self::Key) -> f64;
    /// The key widened to 64 bits (same order).
    fn wide(k: Self::Key) -> u64;
}

impl Sortable for f32 {
    type Key = u32;
    #[inline]
    fn key(self) -> u32 {
        let b = self.to_bits();
        if b >> 31 == 1 { !b } else { b | 0x8000_0000 }
    }
    #[inline]
    fn value(k: u32) -> f64 {
        let b = if k >> 31 == 1 { k & 0x7fff_ffff } else { !k };
        f32::from_bits(b) as f64
    }
    #[inline]
    fn wide(k: u32) -> u64 {
        k as u64
    }
}

impl Sortable for f64 {
    type Key = u64;
    #[inline]
    fn key(self) -> u64 {
        let b = self.to_bits();
        if b >> 63 == 1 { !b } else { b | (1 << 63) }
    }
    #[inline]
    fn value(k: u64) -> f64 {
        let b = if k >> 63 == 1 { k & !(1 << 63) } else { !k };
        f64::from_bits(b)
    }
    #[inline]
    fn wide(k: u64) -> u64 {
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_sorted_interpolation() {
        let mut rng = 12345u64;
        // (n, distinct values): 5 distinct integers make buckets of one repeated key.
        let cases = [1usize, 2, 3, 10, 101, 1000, 70_000, 200_001]
            .map(|n| (n, 1000))
            .into_iter()
            .chain([(70_000, 5), (200_001, 5), (200_001, 1)]);
        for (n, levels) in cases {
            let v: Vec<f32> = (0..n)
                .map(|_| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    let r = (rng >> 33) % levels;
                    if levels == 1000 {
                        r as f32 / 7.0 - 60.0
                    } else {
                        r as f32
                    }
                })
                .collect();
            let mut sorted = v.clone();
            sorted.sort_by(f32::total_cmp);
            let qs = [0.0, 0.25, 0.5, 0.75, 1.0];
            let got = quantiles(&v, &qs);
            let v64: Vec<f64> = v.iter().map(|&x| x as f64 * 1.000_000_1).collect();
            let got64 = quantiles(&v64, &qs);
            for ((q, g), g64) in qs.iter().zip(got).zip(got64) {
                let pos = q * (n - 1) as f64;
                let lo = pos.floor() as usize;
                let hi = pos.ceil() as usize;
                let want =
                    sorted[lo] as f64 + (sorted[hi] as f64 - sorted[lo] as f64) * (pos - lo as f64);
                assert!(
                    (g - want).abs() < 1e-9,
                    "n={n} levels={levels} q={q}: {g} vs {want}"
                );
                let (a, b) = (
                    sorted[lo] as f64 * 1.000_000_1,
                    sorted[hi] as f64 * 1.000_000_1,
                );
                let want64 = a + (b - a) * (pos - lo as f64);
                assert!(
                    (g64 - want64).abs() < 1e-9,
                    "f64 n={n} q={q}: {g64} vs {want64}"
                );
            }
        }
    }
}
