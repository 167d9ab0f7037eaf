//! The GEMM form's path above `DIRECT_MAX` centroids: scores ‖c‖² − 2x·c for a chunk of rows, then the
//! exact form decides between the centroids the bound cannot rule out.

use super::*;

/// GEMM-form scores s_c = ‖c‖² − 2x·c of every row of `x` against every packed centroid, into `g`
/// (rows × kp, row-major; padding lanes get +∞). Lane blocks outside, row tiles inside: one block of the
/// panel (KB × d) stays in L1 across the chunk's rows instead of the whole panel streaming through once per
/// row tile (1–10 % faster above 32 centroids, BENCHMARKS.md session 16).
#[inline(always)]
pub(super) fn scores<M: Arith, const KB: usize, const R: usize>(
    ar: M,
    x: &[f32],
    t: &Transposed,
    g: &mut [f32],
) {
    let (d, kp) = (t.d, t.kp);
    let n = g.len() / kp;
    assert!(x.len() == n * d && t.norms.len() == kp);
    let full = n / R * R;
    for b in (0..kp).step_by(KB) {
        for r0 in (0..full).step_by(R) {
            let (xr, gr) = (&x[r0 * d..(r0 + R) * d], &mut g[r0 * kp..(r0 + R) * kp]);
            ar.score_tile::<KB, R>(xr, t, b, gr);
        }
    }
    for r in full..n {
        let (xr, gr) = (&x[r * d..(r + 1) * d], &mut g[r * kp..(r + 1) * kp]);
        for b in (0..kp).step_by(KB) {
            ar.score_tile::<KB, 1>(xr, t, b, gr);
        }
    }
}

/// The nearest centroid of each row of the chunk `xc` in the exact form (lowest index on exact ties) and
/// its exact distance, into `lab` and `dist`, from the rows' scores `g` (rows × kp). Per row: the lowest
/// score, its `threshold`, then how many scores are not above it and the sum of their indices. One such
/// centroid (almost every row) is the nearest: only its exact distance is computed. More (a near tie) or
/// none (non-finite values) go to `settle`. Each step is a pass over all the chunk's rows, so that the
/// rows' long dependency chains (minimum, norm, bound, exact distance) overlap instead of queueing.
#[inline(always)]
pub(super) fn pick<M: Arith>(
    ar: M,
    xc: &[f32],
    g: &[f32],
    t: &Transposed,
    lab: &mut [u32],
    dist: &mut [f32],
) {
    let (d, kp, m) = (t.d, t.kp, lab.len());
    assert!(m <= MAX_CHUNK && g.len() == m * kp && xc.len() == m * d && dist.len() == m);
    let (mut low, mut x2) = ([0f32; MAX_CHUNK], [0f32; MAX_CHUNK]);
    for (((gr, row), l), n) in g
        .chunks_exact(kp)
        .zip(xc.chunks_exact(d))
        .zip(&mut low)
        .zip(&mut x2)
    {
        (*l, *n) = (ar.scan_min(gr), norm2::<M>(ar, row));
    }
    let mut th = [0f32; MAX_CHUNK];
    for ((h, &l), &n) in th.iter_mut().zip(&low[..m]).zip(&x2[..m]) {
        *h = t.threshold(l, n);
    }
    let mut single = [false; MAX_CHUNK];
    for (((gr, &h), l), one) in g
        .chunks_exact(kp)
        .zip(&th)
        .zip(lab.iter_mut())
        .zip(&mut single)
    {
        let (hits, at) = ar.scan_hits(gr, h);
        (*l, *one) = (at, hits == 1 && h < f32::INFINITY);
    }
    for (r, ((row, l), e)) in xc.chunks_exact(d).zip(lab.iter_mut()).zip(dist).enumerate() {
        (*l, *e) = if single[r] {
            (*l, exact::<M>(ar, row, t.row(*l as usize)))
        } else {
            settle::<M>(ar, row, &g[r * kp..(r + 1) * kp], t, th[r])
        };
    }
}

/// A near tie (or non-finite values): the exact form decides between the centroids whose score is not
/// above `th` (all of them when `th` is +∞ or none is).
#[cold]
pub(super) fn settle<M: Arith>(ar: M, x: &[f32], g: &[f32], t: &Transposed, th: f32) -> (u32, f32) {
    let g = &g[..t.k];
    let all = th == f32::INFINITY || !g.iter().any(|&s| s <= th);
    nearest_of::<M>(ar, x, t, (0..t.k).filter(|&c| all || g[c] <= th))
}

/// The nearest of the `candidates` centroids of row `x` in the exact form (lowest index on exact ties)
/// and its exact distance.
#[inline(always)]
pub(super) fn nearest_of<M: Arith>(
    ar: M,
    x: &[f32],
    t: &Transposed,
    candidates: impl Iterator<Item = usize>,
) -> (u32, f32) {
    let mut best = (f32::NAN, usize::MAX);
    for c in candidates {
        let e = (exact::<M>(ar, x, t.row(c)), c);
        if best.1 == usize::MAX || lower(best, e) {
            best = e;
        }
    }
    (best.1 as u32, best.0)
}

/// Whether (value, index) b orders before a: lower value, then lower index.
#[inline(always)]
pub(super) fn lower(a: (f32, usize), b: (f32, usize)) -> bool {
    b.0 < a.0 || (b.0 == a.0 && b.1 < a.1)
}

/// The nearest and second-nearest centroid of row `x` in the exact form (lowest index on ties) and their
/// exact distances. A centroid whose score is above the `threshold` of the second-lowest score is strictly
/// farther than both lowest-score centroids (the threshold grows with the score), so it is neither; the
/// rest are decided in the exact form.
pub(super) fn pick2<M: Arith>(ar: M, x: &[f32], g: &[f32], t: &Transposed) -> (u32, f32, u32, f32) {
    let g = &g[..t.k];
    let (mut s1, mut s2) = (f32::INFINITY, f32::INFINITY);
    for &s in g {
        if s < s1 {
            (s1, s2) = (s, s1);
        } else if s < s2 {
            s2 = s;
        }
    }
    let th = t.threshold(if t.k == 1 { s1 } else { s2 }, norm2::<M>(ar, x));
    let all = th == f32::INFINITY || g.iter().filter(|&&s| s <= th).count() < 2.min(t.k);
    let mut best = [(f32::INFINITY, usize::MAX); 2];
    for (c, &s) in g.iter().enumerate() {
        if all || s <= th {
            let e = (exact::<M>(ar, x, t.row(c)), c);
            if best[0].1 == usize::MAX || lower(best[0], e) {
                best = [e, best[0]];
            } else if best[1].1 == usize::MAX || lower(best[1], e) {
                best[1] = e;
            }
        }
    }
    let [(e1, c1), (e2, c2)] = best;
    match c2 {
        usize::MAX => (c1 as u32, e1, u32::MAX, f32::INFINITY),
        _ => (c1 as u32, e1, c2 as u32, e2),
    }
}

/// Rows handled at once: on the GEMM path the chunk's rows and scores fit in about 24 KB (half of L1), so
/// that the re-checks and the accumulation read them from L1. A multiple of every row tile R, so that only
/// a block's last chunk has a tail. Depends on k and d alone (not on the lane block), so that every
/// instruction set sums the same chunks.
pub(super) fn chunk_rows(t: &Transposed) -> usize {
    let bytes = 4 * (t.d + t.k.next_multiple_of(32));
    ((24 * 1024 / bytes) / 24 * 24).clamp(24, MAX_CHUNK)
}
pub(super) const MAX_CHUNK: usize = 240;

/// The score buffer of `nearest_chunks` for chunks of `chunk_rows` rows (empty for k ≤ `DIRECT_MAX`).
pub(super) fn score_buffer(t: &Transposed) -> Vec<f32> {
    vec![
        0f32;
        if t.k <= DIRECT_MAX {
            0
        } else {
            chunk_rows(t) * t.kp
        }
    ]
}
