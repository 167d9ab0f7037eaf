//! CPU distance kernels: the nearest centroid of each row and its squared distance in the exact form
//! Σ (x_j − c_j)², labels equal to that form's argmin (lowest index on ties), by a register-blocked
//! micro-kernel: centroids packed in lane blocks of KB (8/16/32/64) so that KB centroids sit side by side in
//! SIMD lanes, R rows at a time so that R·KB lanes of independent accumulators hide the FMA latency
//! (BLIS's micro-kernel with the centroids as the packed panel).
//!
//! Up to `DIRECT_MAX` centroids the tile computes the exact form itself. Above, it computes the GEMM form
//! ‖c‖² − 2x·c (the row's ‖x‖² is the same for every centroid): one FMA per feature and centroid instead
//! of a subtract and an FMA. That form cancels, so `pick` decides in the exact form ([`exact`]) between
//! every centroid that a rigorous bound on both forms' rounding errors cannot rule out (usually one per
//! row): labels and distances are the exact form's, whatever the GEMM form rounded.
//!
//! The code is written once over plain arrays and compiled for AVX2+FMA (selected at run time) and
//! portable; the hot loops LLVM vectorised badly are AVX2 or AVX-512 intrinsics computing the same
//! operations in the same order, so AVX-512 and AVX2 give the same bits. Results never depend on threads.
//!
//! Here: the passes over a block of rows and the run-time dispatch. `isa`: the instruction set and the
//! tokens proving it; `panel`: the packed centroids and the GEMM form's error bound; `arith`: the
//! primitives, portable; `x86`: those in AVX2/AVX-512 intrinsics; `gemm`: scores and exact re-checks
//! above `DIRECT_MAX`; `fused`: on AVX-512, the GEMM form for 17–64 centroids with everything in
//! registers, bit for bit the results of the kernels it replaces; `sums`: the accumulation; `floor`: the
//! machine's floor for `strata bench`.

mod arith;
mod floor;
#[cfg(target_arch = "x86_64")]
mod fused;
mod gemm;
mod isa;
mod panel;
mod sums;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use floor::{peak_gflops, stream_sum};
pub use isa::{Avx2Fma, Avx512, Isa};
pub use panel::Transposed;
pub(crate) use panel::{gamma, norm2_f64};

use arith::*;
use gemm::*;
use panel::DIRECT_MAX;
use sums::*;
#[cfg(target_arch = "x86_64")]
use x86::*;

use super::Stats;

/// Bytes ahead of the exact tiles whose cache lines they ask for, about what one core's memory latency ×
/// bandwidth keeps in flight: without it the tiles stalled on their rows' first loads (the hardware
/// prefetcher did not run far enough ahead of 8 rows read a feature at a time). Measured, 1 core: 1M × 16
/// K=8 1.24× faster, K=16 1.27×, 1M × 64 K=32 1.16×; 2, 8 and 16 KB ahead were no better. The GEMM path's
/// score tiles, compute-bound, gained nothing measurable and do not prefetch.
const PREFETCH_BYTES: usize = 4096;

/// Asks for the cache lines of `x[from..from + len]` (which may run past the end of `x`, into the rows of
/// the next chunk, or beyond: a prefetch never faults) to be brought into L1.
#[inline(always)]
fn prefetch(x: &[f32], from: usize, len: usize) {
    #[cfg(target_arch = "x86_64")]
    for off in (from..from + len).step_by(16) {
        // SAFETY: a prefetch is a hint: it reads nothing and never faults, whatever the address;
        // `wrapping_add` forms the address without claiming it is in bounds.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                x.as_ptr().wrapping_add(off) as *const i8,
            )
        };
    }
}

/// Runs `block` on the chunk's rows (`xc`, `lab.len()` rows) `rb` at a time, asking for the rows
/// `PREFETCH_BYTES` ahead first if `ask`, then `one` on each row left over; each gets its rows' labels and
/// distances. The AVX-512 exact tiles do not `ask`: they ask for their rows themselves, a cache line per
/// feature inside their loop, as a block's lines asked for at once waited on the line-fill buffers (above
/// 16 features since session 18: 1M × 64 K=8 1.22× faster; at every d since session 20, once the
/// moved-rows sums had made the step shorter: 1M × 16 K=8 1.10×; BENCHMARKS.md).
#[inline(always)]
fn by_row_blocks(
    xc: &[f32],
    rb: usize,
    ask: bool,
    lab: &mut [u32],
    dist: &mut [f32],
    mut block: impl FnMut(&[f32], &mut [u32], &mut [f32]),
    mut one: impl FnMut(&[f32], &mut [u32], &mut [f32]),
) {
    let n = lab.len();
    let d = xc.len().checked_div(n).unwrap_or(0);
    let full = n / rb * rb;
    for r0 in (0..full).step_by(rb) {
        if ask {
            prefetch(xc, r0 * d + PREFETCH_BYTES / 4, rb * d);
        }
        block(
            &xc[r0 * d..(r0 + rb) * d],
            &mut lab[r0..r0 + rb],
            &mut dist[r0..r0 + rb],
        );
    }
    for r in full..n {
        one(
            &xc[r * d..(r + 1) * d],
            &mut lab[r..r + 1],
            &mut dist[r..r + 1],
        );
    }
}

/// `Arith::direct_rows` from `tile` and `argmin_rows`.
#[inline(always)]
fn direct_rows_tiled<M: Arith, const KB: usize, const R: usize>(
    ar: M,
    xc: &[f32],
    t: &Transposed,
    lab: &mut [u32],
    dist: &mut [f32],
) {
    by_row_blocks(
        xc,
        R,
        true,
        lab,
        dist,
        // Inlined by force: a closure is compiled on its own unless inlined, without the AVX2+FMA of the
        // function it sits in, and `mul_add` there became a call to libm's `fmaf` per multiply-add
        // (9–32 centroids on AVX2-only CPUs ran ~50× slower, BENCHMARKS.md session 20).
        #[inline(always)]
        |x, l, e| ar.argmin_rows(&tile::<M, KB, R, false>(ar, x, t, 0), l, e),
        #[inline(always)]
        |x, l, e| ar.argmin_rows(&tile::<M, KB, 1, false>(ar, x, t, 0), l, e),
    );
}

/// Nearest centroid (lowest index on ties) and its exact-form distance for each row of `x`. Up to
/// `DIRECT_MAX` centroids (one lane block) the micro-kernel computes Σ (x_j − c_j)² itself, over all the
/// rows in one run. Above, a chunk at a time, the GEMM form's scores go through `g` (from `score_buffer`)
/// and are settled by `pick`.
#[inline(always)]
fn nearest_chunks<M: Arith, const KB: usize, const R: usize>(
    ar: M,
    x: &[f32],
    t: &Transposed,
    g: &mut [f32],
    labels: &mut [u32],
    dist: &mut [f32],
) {
    if t.k <= DIRECT_MAX {
        return ar.direct_rows::<KB, R>(x, t, labels, dist);
    }
    // On AVX-512 up to 64 centroids, all but the last n mod 16 rows in registers (`fused`).
    let done = ar.fused_rows(x, t, labels, dist);
    let (x, labels, dist) = (&x[done * t.d..], &mut labels[done..], &mut dist[done..]);
    let (d, kp, rows) = (t.d, t.kp, chunk_rows(t));
    for (i, (l, e)) in labels
        .chunks_mut(rows)
        .zip(dist.chunks_mut(rows))
        .enumerate()
    {
        let xc = &x[i * rows * d..(i * rows + l.len()) * d];
        let g = &mut g[..l.len() * kp];
        scores::<M, KB, R>(ar, xc, t, g);
        pick::<M>(ar, xc, g, t, l, e);
    }
}

#[inline(always)]
fn nearest_impl<M: Arith, const KB: usize, const R: usize>(
    ar: M,
    x: &[f32],
    t: &Transposed,
    labels: &mut [u32],
    dist: &mut [f32],
) {
    nearest_chunks::<M, KB, R>(ar, x, t, &mut score_buffer(t), labels, dist)
}

/// Nearest and second-nearest centroid of every row; the nearest is bit for bit `nearest_impl`'s. For
/// k ≤ `DIRECT_MAX` from the same exact tiles (a scan in centroid order with strict `<`, so the lowest index wins
/// ties for both); above, from the GEMM scores with the exact re-checks of `pick2`.
#[inline(always)]
fn nearest2_impl<M: Arith, const KB: usize, const R: usize>(
    ar: M,
    x: &[f32],
    t: &Transposed,
    out: &mut NearestRows,
) {
    let (d, kp, n) = (t.d, t.kp, out.labels.len());
    let mut put = |r: usize, best: (u32, f32, u32, f32)| {
        (
            out.labels[r],
            out.dist2[r],
            out.second[r],
            out.second_dist2[r],
        ) = best
    };
    if t.k <= DIRECT_MAX {
        let scan = |acc: &[f32; KB]| {
            let (mut b1, mut i1, mut b2, mut i2) =
                (f32::INFINITY, u32::MAX, f32::INFINITY, u32::MAX);
            for (c, &v) in acc.iter().enumerate().take(t.k) {
                let c = c as u32;
                if v < b1 || i1 == u32::MAX {
                    (b2, i2) = (b1, i1);
                    (b1, i1) = (v, c);
                } else if v < b2 || i2 == u32::MAX {
                    (b2, i2) = (v, c);
                }
            }
            (i1, b1, i2, b2)
        };
        let full = n / R * R;
        for r0 in (0..full).step_by(R) {
            let acc = tile::<M, KB, R, false>(ar, &x[r0 * d..(r0 + R) * d], t, 0);
            for (r, a) in acc.iter().enumerate() {
                put(r0 + r, scan(a));
            }
        }
        for r in full..n {
            put(
                r,
                scan(&tile::<M, KB, 1, false>(ar, &x[r * d..(r + 1) * d], t, 0)[0]),
            );
        }
        return;
    }
    let (rows, mut g) = (chunk_rows(t), score_buffer(t));
    for first in (0..n).step_by(rows) {
        let m = rows.min(n - first);
        let (xc, g) = (&x[first * d..(first + m) * d], &mut g[..m * kp]);
        scores::<M, KB, R>(ar, xc, t, g);
        for (r, (row, gr)) in xc.chunks_exact(d).zip(g.chunks_exact(kp)).enumerate() {
            put(first + r, pick2::<M>(ar, row, gr, t));
        }
    }
}

/// Output slices of `nearest2` for a run of rows.
pub struct NearestRows<'a> {
    pub labels: &'a mut [u32],
    pub dist2: &'a mut [f32],
    pub second: &'a mut [u32],
    pub second_dist2: &'a mut [f32],
}

/// Σ_rows w·min(cur, ‖x − c‖²) for every centroid c (k-means++ candidate potentials), added into `pot`.
#[inline(always)]
fn potential_impl<M: Arith, const KB: usize, const R: usize>(
    ar: M,
    x: &[f32],
    t: &Transposed,
    cur: &[f32],
    w: Option<&[f32]>,
    pot: &mut [f64],
) {
    let d = t.d;
    let n = cur.len();
    let full = n / R * R;
    for b in (0..t.kp).step_by(KB) {
        let mut p = [0f64; KB];
        let mut add = |r: usize, acc: &[f32; KB]| {
            let wr = w.map_or(1.0, |w| w[r] as f64);
            for c in 0..KB {
                p[c] += wr * acc[c].min(cur[r]) as f64;
            }
        };
        for r0 in (0..full).step_by(R) {
            let acc = tile::<M, KB, R, false>(ar, &x[r0 * d..(r0 + R) * d], t, b);
            for (r, a) in acc.iter().enumerate() {
                add(r0 + r, a);
            }
        }
        for r in full..n {
            add(
                r,
                &tile::<M, KB, 1, false>(ar, &x[r * d..(r + 1) * d], t, b)[0],
            );
        }
        for (c, &v) in p.iter().enumerate() {
            if b + c < t.k {
                pot[b + c] += v;
            }
        }
    }
}

/// One Lloyd pass over a block of rows: nearest centroid of each row (counting rows whose label changes
/// against `labels`, then overwriting it), and w·x, w, w·dist summed into `s`, a chunk at a time so that
/// the rows are still in L1 when summed. The distances themselves are not kept: writing them would add 8
/// bytes of memory traffic per row and pass (`nearest` gives them again, bit for bit, when needed).
///
/// With `moves` (every label in `labels` already one of these k centroids'), `s.sums` gets only what the
/// rows that changed cluster move: −w·x out of the old cluster, +w·x into the new, in f64, and so do the
/// counts of unweighted rows in `s.weights` (−1, +1); weights and the SSE are still summed over every row.
/// After the first few iterations of a fit ~0.1–3 % of the rows move, so this skips almost all of the
/// sums' work.
#[inline(always)]
fn assign_impl<M: Arith, const KB: usize, const R: usize>(
    ar: M,
    x: &[f32],
    w: Option<&[f32]>,
    t: &Transposed,
    labels: &mut [u32],
    s: &mut Stats,
    moves: bool,
) {
    let (d, k) = (t.d, t.k);
    let (mut lab, mut dist) = ([0u32; MAX_CHUNK], [0f32; MAX_CHUNK]);
    // This chunk's sums in f32 (at most MAX_CHUNK rows each, so the f32 error stays ~1e-7 relative), added
    // into the f64 totals once per chunk: half the vector work of f64 per row and no conversions.
    let mut tally = Tally::new(k, d);
    // Unweighted moved-rows steps: the SSE in 8 lanes per cluster (`sse_rows`), added up at the end.
    let mut lanes = vec![0f64; if moves && w.is_none() { 8 * k } else { 0 }];
    // A local instead of a field behind `s`: the compiler keeps it in a register across the row loop.
    let mut moved = 0u64;
    assert!(s.sums.len() >= k * d && s.weights.len() >= k && s.sse.len() >= k);
    let mut g = score_buffer(t);
    for (c, old) in labels.chunks_mut(MAX_CHUNK).enumerate() {
        let (first, m) = (c * MAX_CHUNK, old.len());
        let xc = &x[first * d..(first + m) * d];
        nearest_chunks::<M, KB, R>(ar, xc, t, &mut g, &mut lab[..m], &mut dist[..m]);
        let wc = w.map(|w| &w[first..first + m]);
        if moves {
            let mv = old.iter().zip(&lab[..m]).filter(|(o, l)| o != l).count();
            if mv > 0 {
                move_rows(
                    xc,
                    wc,
                    (old, &lab[..m]),
                    &mut s.sums[..k * d],
                    &mut s.weights[..k],
                );
            }
            moved += mv as u64;
            old.copy_from_slice(&lab[..m]);
            match wc {
                Some(wc) => weigh_rows(&mut tally, &lab[..m], wc, &dist[..m], &mut s.sse[..k]),
                None => ar.sse_rows(&lab[..m], &dist[..m], &mut lanes),
            }
            continue;
        }
        for (o, &l) in old.iter_mut().zip(&lab[..m]) {
            moved += (*o != l) as u64;
            *o = l;
        }
        let rest = Rest {
            w: wc,
            dist: &dist[..m],
            sse: &mut s.sse[..k],
        };
        ar.add_rows(&mut tally, xc, &lab[..m], rest);
        tally.flush(&mut s.sums[..k * d]);
    }
    for (e, l) in s.sse.iter_mut().zip(lanes.chunks_exact(8)) {
        *e += sum_lanes(l);
    }
    for ((wt, &n), &tw) in s.weights.iter_mut().zip(&tally.counts).zip(&tally.weights) {
        *wt += if w.is_some() { tw } else { n as f64 };
    }
    s.moved += moved;
}

/// Expands to a runtime dispatch over (instruction set, lane block) for one kernel entry point; the row
/// block R gives R·KB lanes of independent accumulators in about 12–16 registers: enough to cover the FMA
/// latency, few enough to leave registers for the centroid lanes and the broadcast row value.
macro_rules! dispatch {
    ($isa:expr, $t:expr, $impl:ident, $twin:ident, ($($arg:expr),*)) => {{
        let direct = $t.k <= DIRECT_MAX;
        match ($isa, $t.kb) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY (every arm): the token proves this CPU has the instruction set of the twin.
            // The GEMM form's score tile in AVX-512: 6 rows × 64 lanes (`lane_block`).
            (Isa::Avx512(tok), 64) => unsafe { $twin::avx512::<64, 6>(tok, $($arg),*) },
            // The exact form's nearest-centroid tile for 9–32 centroids in AVX-512 (`direct_tile_avx512`,
            // 8 rows × 16 lanes or 4 × 32; for 17–32 centroids and 16–128 features the GEMM form of
            // `fused`, the same bits); the other kernels of these twins (second-nearest, potentials) run
            // the AVX2 tiles of the same shapes as below.
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(tok), 32) => unsafe { $twin::avx512::<32, 2>(tok, $($arg),*) },
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(tok), 16) => unsafe { $twin::avx512::<16, 4>(tok, $($arg),*) },
            // Up to 8 centroids, the nearest-centroid tile takes two rows per 512-bit vector
            // (`direct_pairs_avx512`); the other kernels run the AVX2 8 × 8 tile.
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(tok), 8) => unsafe { $twin::avx512::<8, 8>(tok, $($arg),*) },
            // Everything else on AVX-512 CPUs runs the AVX2 kernels: compiled for AVX-512, LLVM turned the
            // plain-array tiles into gathers and scatters.
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(_) | Isa::Avx2Fma(_), kb) => {
                let tok = $isa.avx2_proof().expect("AVX-512 and AVX2 CPUs hold the AVX2 proof");
                match (kb, direct) {
                    (8, _) => unsafe { $twin::avx2::<8, 8>(tok, $($arg),*) },
                    (16, true) => unsafe { $twin::avx2::<16, 4>(tok, $($arg),*) },
                    (16, false) => unsafe { $twin::avx2::<16, 6>(tok, $($arg),*) },
                    _ => unsafe { $twin::avx2::<32, 2>(tok, $($arg),*) },
                }
            }
            (_, 8) => $impl::<Plain, 8, 4>(Plain, $($arg),*),
            (_, 16) => $impl::<Plain, 16, 2>(Plain, $($arg),*),
            _ => $impl::<Plain, 32, 2>(Plain, $($arg),*),
        }
    }};
}

/// Declares module `$twin` with `avx2` and `avx512`: `$imp::<Fused, KB, R>` compiled with AVX2+FMA and
/// with AVX-512 enabled (same parameters), each callable only with the token that proves the CPU has it.
macro_rules! twin {
    ($twin:ident => $imp:ident($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        mod $twin {
            use super::*;
            #[target_feature(enable = "avx2,fma")]
            pub(super) fn avx2<const KB: usize, const R: usize>(proof: Avx2Fma, $($arg: $ty),*) {
                $imp::<Fused, KB, R>(Fused(proof), $($arg),*)
            }
            // AVX2 code around the AVX-512 tiles (`Wide::score_tile`, not inlined): compiled for AVX-512,
            // LLVM turned plain loops over the tiles into gathers and scatters.
            #[target_feature(enable = "avx2,fma")]
            pub(super) fn avx512<const KB: usize, const R: usize>(proof: Avx512, $($arg: $ty),*) {
                $imp::<Wide, KB, R>(Fused(proof), $($arg),*)
            }
        }
    };
}

twin!(nearest_twin => nearest_impl(x: &[f32], t: &Transposed, l: &mut [u32], dd: &mut [f32]));
twin!(nearest2_twin => nearest2_impl(x: &[f32], t: &Transposed, out: &mut NearestRows));
twin!(potential_twin => potential_impl(
    x: &[f32], t: &Transposed, cur: &[f32], w: Option<&[f32]>, pot: &mut [f64]
));
twin!(assign_twin => assign_impl(
    x: &[f32], w: Option<&[f32]>, t: &Transposed, l: &mut [u32], s: &mut Stats, moves: bool
));

/// For each row of `x` (row-major, `labels.len()` rows): the nearest centroid (lowest index on ties) and
/// its squared distance.
pub fn nearest(isa: Isa, x: &[f32], t: &Transposed, labels: &mut [u32], dist: &mut [f32]) {
    debug_assert_eq!(x.len(), labels.len() * t.d);
    dispatch!(isa, t, nearest_impl, nearest_twin, (x, t, labels, dist))
}

/// For each row of `x`: the nearest and second-nearest centroid and their squared distances; the nearest
/// is bit for bit what [`nearest`] gives.
pub fn nearest2(isa: Isa, x: &[f32], t: &Transposed, out: &mut NearestRows) {
    debug_assert_eq!(x.len(), out.labels.len() * t.d);
    dispatch!(isa, t, nearest2_impl, nearest2_twin, (x, t, out))
}

/// Adds Σ_rows w·min(cur[row], ‖x_row − c‖²) to `pot[c]` for every centroid c of `t`.
pub fn potential(
    isa: Isa,
    x: &[f32],
    t: &Transposed,
    cur: &[f32],
    w: Option<&[f32]>,
    pot: &mut [f64],
) {
    debug_assert_eq!(x.len(), cur.len() * t.d);
    dispatch!(isa, t, potential_impl, potential_twin, (x, t, cur, w, pot))
}

/// One Lloyd pass over a block of rows (`x` row-major, `labels.len()` rows; `w` their weights): see
/// `assign_impl`. The statistics are added into `s`; with `moves`, its sums (and, unweighted, its weights:
/// the counts) are only the moved rows' changes to those of the assignment in `labels`.
pub fn assign(
    isa: Isa,
    x: &[f32],
    w: Option<&[f32]>,
    t: &Transposed,
    labels: &mut [u32],
    s: &mut Stats,
    moves: bool,
) {
    debug_assert_eq!(x.len(), labels.len() * t.d);
    dispatch!(
        isa,
        t,
        assign_impl,
        assign_twin,
        (x, w, t, labels, s, moves)
    )
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// The SSE lanes in AVX-512 registers get the same rows in the same order as the portable loop, bit
    /// for bit, on distances of every size from 2^-40 to 2^40 (where f64 sums round, so that another order
    /// shows), for 1–16 clusters and chunk tails of every kind, added into lanes that already hold sums.
    #[test]
    fn sse_lanes_avx512_add_in_the_portable_order() {
        let Isa::Avx512(w) = Isa::detect() else {
            eprintln!("SKIPPING: this CPU has no AVX-512");
            return;
        };
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u32
        };
        for k in 1..=16usize {
            for n in [1usize, 15, 16, 17, 237, 240] {
                let labels: Vec<u32> = (0..n).map(|_| next() % k as u32).collect();
                let dist: Vec<f32> = (0..n)
                    .map(|_| (1.0 + next() as f32 / 2e9) * 2f32.powi((next() % 81) as i32 - 40))
                    .collect();
                let mut want = vec![0.3f64; 8 * k];
                let mut got = want.clone();
                sse_rows_portable(&labels, &dist, &mut want);
                // SAFETY: `w` is the AVX-512 token.
                unsafe {
                    if k <= 8 {
                        sse_rows_avx512::<8>(w, &labels, &dist, &mut got)
                    } else {
                        sse_rows_avx512::<16>(w, &labels, &dist, &mut got)
                    }
                }
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "k={k} n={n}");
            }
        }
    }
}
