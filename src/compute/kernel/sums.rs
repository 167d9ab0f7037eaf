//! The accumulation of a Lloyd pass: each row added into its cluster's sums, counts or weights, and SSE.

use super::isa::Avx2Fma;

/// A chunk's per-cluster sums (f32; cluster c's d sums at c·stride, the stride d rounded up to 8 so that
/// every cluster's sums are whole 8-lane vectors) and the block's per-cluster row counts (unweighted) or
/// weights.
pub(super) struct Tally {
    pub(super) part: Vec<f32>,
    pub(super) d: usize,
    pub(super) stride: usize,
    pub(super) counts: Vec<u32>,
    pub(super) weights: Vec<f64>,
}

impl Tally {
    pub(super) fn new(k: usize, d: usize) -> Self {
        let stride = d.next_multiple_of(8);
        Tally {
            part: vec![0.0; k * stride],
            d,
            stride,
            counts: vec![0; k],
            weights: vec![0.0; k],
        }
    }
    /// Adds the chunk's sums into `sums` (k × d, f64) and zeroes them for the next chunk.
    pub(super) fn flush(&mut self, sums: &mut [f64]) {
        let d = self.d;
        if self.stride == d {
            // No padding: one contiguous loop, which LLVM vectorises.
            for (a, p) in sums.iter_mut().zip(&mut self.part) {
                *a += std::mem::take(p) as f64;
            }
            return;
        }
        let (a, p) = (
            sums.chunks_exact_mut(d.max(1)),
            self.part.chunks_exact_mut(self.stride),
        );
        for (a, p) in a.zip(p) {
            let (p, pad) = p.split_at_mut(d);
            for (a, p) in a.iter_mut().zip(p) {
                *a += std::mem::take(p) as f64;
            }
            // +0 added to +0 while the weights are finite; zeroed all the same.
            pad.fill(0.0);
        }
    }
}

/// Adds each row of the chunk `x` (row-major, `tally.d` features) into its label's f32 sums in
/// `tally.part`, scaled by its weight if any, and counts it (unweighted) or adds up its weight; and its
/// w·dist into its label's `sse` (f64, in row order). One loop for both: the label is read once.
#[inline(always)]
fn add_rows_impl<const NB: usize, const MASKED: bool>(
    tally: &mut Tally,
    x: &[f32],
    labels: &[u32],
    rest: Rest,
) {
    // The masked tail as a compile-time case of its own, so that the loops without one have no branch.
    let tail = MASKED && cfg!(target_arch = "x86_64") && !tally.d.is_multiple_of(8);
    match (rest.w, tail) {
        (None, false) => add_rows_scaled::<NB, false, false>(tally, x, labels, &[], rest),
        (None, true) => add_rows_scaled::<NB, false, true>(tally, x, labels, &[], rest),
        (Some(w), false) => add_rows_scaled::<NB, true, false>(tally, x, labels, w, rest),
        (Some(w), true) => add_rows_scaled::<NB, true, true>(tally, x, labels, w, rest),
    }
}

/// The rows' weights (if any), distances and the SSE they are added into: `add_rows`'s other arguments.
pub(super) struct Rest<'a> {
    pub(super) w: Option<&'a [f32]>,
    pub(super) dist: &'a [f32],
    pub(super) sse: &'a mut [f64],
}

/// `add_rows_impl` for one case of weights, with NB = ⌊d/8⌋ when known at compile time (0: at run time), so
/// that the row loop has no inner loop or branch. The last d mod 8 features: with `TAIL` (AVX2 only, set by
/// `add_rows_impl`) the row's tail read under a mask and added into the cluster's whole last vector of sums
/// (its padding lanes get +0); else a loop of their own after the rows. Each feature's sum is the same
/// additions in the same order.
#[inline(always)]
fn add_rows_scaled<const NB: usize, const WEIGHTED: bool, const TAIL: bool>(
    tally: &mut Tally,
    x: &[f32],
    labels: &[u32],
    w: &[f32],
    rest: Rest,
) {
    let Tally {
        part,
        d,
        stride,
        counts,
        weights,
    } = tally;
    let (d, stride, k) = (*d, *stride, counts.len());
    let nb = if NB > 0 { NB } else { d / 8 };
    assert!(x.len() == labels.len() * d && weights.len() >= k && nb * 8 <= d && d <= stride);
    assert!(part.len() == k * stride && (!TAIL || stride == nb * 8 + 8));
    assert!(!WEIGHTED || w.len() == labels.len());
    let Rest { dist, sse, .. } = rest;
    assert!(dist.len() == labels.len() && sse.len() >= k);
    for (i, (&l, row)) in labels.iter().zip(x.chunks_exact(d)).enumerate() {
        let l = l as usize;
        assert!(l < k, "label {l} out of range");
        // SAFETY: i < labels.len() = w.len() when weighted (asserted above).
        let wr = if WEIGHTED {
            unsafe { *w.get_unchecked(i) }
        } else {
            1.0
        };
        // SAFETY: l < k was just checked and part holds k·stride values.
        let sum = unsafe { part.get_unchecked_mut(l * stride..(l + 1) * stride) };
        for b in 0..nb {
            // By value: with references the compiler cannot rule out that `sum` and `row` overlap.
            let r: [f32; 8] = row[8 * b..8 * b + 8].try_into().expect("8 values");
            let mut v: [f32; 8] = sum[8 * b..8 * b + 8].try_into().expect("8 values");
            (0..8).for_each(|j| v[j] += if WEIGHTED { wr * r[j] } else { r[j] });
            sum[8 * b..8 * b + 8].copy_from_slice(&v);
        }
        #[cfg(target_arch = "x86_64")]
        if TAIL {
            // SAFETY: `TAIL` is only set by `add_rows_impl` (private here) when called from `add_rows_avx2`,
            // compiled with AVX2 and called only with an `Avx2Fma` token (`Arith::add_rows`).
            // `add_tail_avx2` checks the lengths.
            unsafe {
                super::x86::add_tail_avx2::<WEIGHTED>(&mut sum[nb * 8..], &row[nb * 8..], wr)
            };
        }
        // SAFETY: i < labels.len() = dist.len() and l < k ≤ sse.len() (asserted above).
        let (v, e) = unsafe { (*dist.get_unchecked(i) as f64, sse.get_unchecked_mut(l)) };
        if WEIGHTED {
            weights[l] += wr as f64;
            *e += wr as f64 * v;
        } else {
            counts[l] += 1;
            *e += v;
        }
    }
    // The last d mod 8 features in a loop of their own: in the one above they cost a loop per row.
    if !TAIL && nb * 8 < d {
        for (i, (&l, row)) in labels.iter().zip(x.chunks_exact(d)).enumerate() {
            let wr = if WEIGHTED { w[i] } else { 1.0 };
            let sum = &mut part[l as usize * stride..(l as usize + 1) * stride];
            for j in nb * 8..d {
                sum[j] += if WEIGHTED { wr * row[j] } else { row[j] };
            }
        }
    }
}

/// Expands to `$name`: `add_rows_impl` with NB fixed for d < 72 (64 + a remainder), compiled on its own.
macro_rules! add_rows_fn {
    ($name:ident, $masked:literal $(, $feature:literal, $tok:ty)?) => {
        $(#[target_feature(enable = $feature)])?
        #[inline(never)]
        pub(super) fn $name($(_proof: $tok,)? tally: &mut Tally, x: &[f32], labels: &[u32], rest: Rest) {
            match tally.d / 8 {
                1 => add_rows_impl::<1, $masked>(tally, x, labels, rest),
                2 => add_rows_impl::<2, $masked>(tally, x, labels, rest),
                3 => add_rows_impl::<3, $masked>(tally, x, labels, rest),
                4 => add_rows_impl::<4, $masked>(tally, x, labels, rest),
                5 => add_rows_impl::<5, $masked>(tally, x, labels, rest),
                6 => add_rows_impl::<6, $masked>(tally, x, labels, rest),
                7 => add_rows_impl::<7, $masked>(tally, x, labels, rest),
                8 => add_rows_impl::<8, $masked>(tally, x, labels, rest),
                _ => add_rows_impl::<0, $masked>(tally, x, labels, rest),
            }
        }
    };
}
add_rows_fn!(add_rows_portable, false);
#[cfg(target_arch = "x86_64")]
add_rows_fn!(add_rows_avx2, true, "avx2,fma", Avx2Fma);

/// The sums' changes when the rows of `x` (row-major, weights `w`) go from cluster `old[i]` to `new[i]`:
/// each row that changed cluster, times its weight, is subtracted from its old cluster's sums and added to
/// its new one's, in f64 (`sums`: k × d), in row order. Unweighted, the row counts in `counts` change too
/// (−1, +1: exact in f64); weighted rows' weights are summed over every row by `weigh_rows` instead, as a
/// sum of changes could leave a residue where a cluster empties.
pub(super) fn move_rows(
    x: &[f32],
    w: Option<&[f32]>,
    (old, new): (&[u32], &[u32]),
    sums: &mut [f64],
    counts: &mut [f64],
) {
    let (n, k) = (new.len(), counts.len());
    let d = x.len() / n.max(1);
    assert!(x.len() == n * d && old.len() == n && sums.len() == k * d);
    assert!(w.is_none_or(|w| w.len() == n));
    for (i, ((&o, &l), row)) in old
        .iter()
        .zip(new)
        .zip(x.chunks_exact(d.max(1)))
        .enumerate()
    {
        if o == l {
            continue;
        }
        let (o, l) = (o as usize, l as usize);
        assert!(o < k && l < k, "label out of range");
        let wr = w.map_or(1.0, |w| w[i] as f64);
        for (a, &v) in sums[o * d..(o + 1) * d].iter_mut().zip(row) {
            *a -= wr * v as f64;
        }
        for (a, &v) in sums[l * d..(l + 1) * d].iter_mut().zip(row) {
            *a += wr * v as f64;
        }
        if w.is_none() {
            counts[o] -= 1.0;
            counts[l] += 1.0;
        }
    }
}

/// Adds each row's weight into its cluster's and its w·dist into the cluster's SSE (f64, in row order): the
/// weighted accumulation without the sums, the same additions as `add_rows` makes.
pub(super) fn weigh_rows(
    tally: &mut Tally,
    labels: &[u32],
    w: &[f32],
    dist: &[f32],
    sse: &mut [f64],
) {
    let k = tally.weights.len();
    assert!(labels.len() == dist.len() && w.len() == dist.len() && sse.len() == k);
    for ((&l, &v), &wr) in labels.iter().zip(dist).zip(w) {
        tally.weights[l as usize] += wr as f64;
        sse[l as usize] += wr as f64 * v as f64;
    }
}

/// Adds each row's distance (as f64) into lane i mod 8 of its cluster's 8 in `lanes` (k × 8; i the row's
/// index in the chunk), in row order; `sum_lanes` adds them up. The order `sse_rows_avx512` adds them in,
/// so that every instruction set gives the same bits.
pub(super) fn sse_rows_portable(labels: &[u32], dist: &[f32], lanes: &mut [f64]) {
    assert_eq!(labels.len(), dist.len());
    for (i, (&l, &v)) in labels.iter().zip(dist).enumerate() {
        lanes[l as usize * 8 + i % 8] += v as f64;
    }
}

/// One cluster's 8 SSE lanes added up in a fixed tree: (0 + 4, 1 + 5, 2 + 6, 3 + 7), then (0 + 2, 1 + 3),
/// then 0 + 1.
pub(super) fn sum_lanes(l: &[f64]) -> f64 {
    let a: [f64; 4] = std::array::from_fn(|j| l[j] + l[j + 4]);
    (a[0] + a[2]) + (a[1] + a[3])
}
