//! The accumulation of a Lloyd pass: each row added into its cluster's sums, counts or weights, and SSE.

/// A chunk's per-cluster sums (k × d, f32) and the block's per-cluster row counts (unweighted) or weights.
pub(super) struct Tally {
    pub(super) part: Vec<f32>,
    pub(super) counts: Vec<u32>,
    pub(super) weights: Vec<f64>,
}

/// Adds each row of the chunk `x` (row-major, d = part.len() / k) into its label's f32 sums in
/// `tally.part`, scaled by its weight if any, and counts it (unweighted) or adds up its weight; and its
/// w·dist into its label's `sse` (f64, in row order). One loop for both: the label is read once.
#[inline(always)]
pub(super) fn add_rows_impl<const NB: usize>(
    tally: &mut Tally,
    x: &[f32],
    labels: &[u32],
    rest: Rest,
) {
    match rest.w {
        None => add_rows_scaled::<NB, false>(tally, x, labels, &[], rest),
        Some(w) => add_rows_scaled::<NB, true>(tally, x, labels, w, rest),
    }
}

/// The rows' weights (if any), distances and the SSE they are added into: `add_rows`'s other arguments.
pub(super) struct Rest<'a> {
    pub(super) w: Option<&'a [f32]>,
    pub(super) dist: &'a [f32],
    pub(super) sse: &'a mut [f64],
}

/// `add_rows_impl` for one case of weights, with NB = ⌊d/8⌋ when known at compile time (0: at run time), so
/// that the row loop has no inner loop or branch.
#[inline(always)]
pub(super) fn add_rows_scaled<const NB: usize, const WEIGHTED: bool>(
    tally: &mut Tally,
    x: &[f32],
    labels: &[u32],
    w: &[f32],
    rest: Rest,
) {
    let Tally {
        part,
        counts,
        weights,
    } = tally;
    let k = counts.len();
    let d = part.len() / k;
    let nb = if NB > 0 { NB } else { d / 8 };
    assert!(x.len() == labels.len() * d && weights.len() >= k && nb * 8 <= d);
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
        // SAFETY: l < k was just checked and part holds k·d values.
        let sum = unsafe { part.get_unchecked_mut(l * d..(l + 1) * d) };
        for b in 0..nb {
            // By value: with references the compiler cannot rule out that `sum` and `row` overlap.
            let r: [f32; 8] = row[8 * b..8 * b + 8].try_into().expect("8 values");
            let mut v: [f32; 8] = sum[8 * b..8 * b + 8].try_into().expect("8 values");
            (0..8).for_each(|j| v[j] += if WEIGHTED { wr * r[j] } else { r[j] });
            sum[8 * b..8 * b + 8].copy_from_slice(&v);
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
    if nb * 8 < d {
        for (i, (&l, row)) in labels.iter().zip(x.chunks_exact(d)).enumerate() {
            let wr = if WEIGHTED { w[i] } else { 1.0 };
            let sum = &mut part[l as usize * d..(l as usize + 1) * d];
            for j in nb * 8..d {
                sum[j] += if WEIGHTED { wr * row[j] } else { row[j] };
            }
        }
    }
}

/// Expands to `$name`: `add_rows_impl` with NB fixed for d < 72 (64 + a remainder), compiled on its own.
macro_rules! add_rows_fn {
    ($name:ident $(, $feature:literal)?) => {
        $(#[target_feature(enable = $feature)])?
        #[inline(never)]
        pub(super) fn $name(tally: &mut Tally, x: &[f32], labels: &[u32], rest: Rest) {
            match tally.part.len() / tally.counts.len().max(1) / 8 {
                1 => add_rows_impl::<1>(tally, x, labels, rest),
                2 => add_rows_impl::<2>(tally, x, labels, rest),
                3 => add_rows_impl::<3>(tally, x, labels, rest),
                4 => add_rows_impl::<4>(tally, x, labels, rest),
                5 => add_rows_impl::<5>(tally, x, labels, rest),
                6 => add_rows_impl::<6>(tally, x, labels, rest),
                7 => add_rows_impl::<7>(tally, x, labels, rest),
                8 => add_rows_impl::<8>(tally, x, labels, rest),
                _ => add_rows_impl::<0>(tally, x, labels, rest),
            }
        }
    };
}
add_rows_fn!(add_rows_portable);
#[cfg(target_arch = "x86_64")]
add_rows_fn!(add_rows_avx2, "avx2,fma");
