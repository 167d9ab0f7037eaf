//! The per-instruction-set primitives of the kernels (`Arith`) and their portable versions: the operations
//! and their order, which every instruction set follows so that all give the same bits.

use super::*;

/// The per-instruction-set primitives of the kernels.
pub(super) trait Arith: Sized + Copy {
    /// `acc + a·a`: fused where the instruction set has FMA (one rounding), else multiply then add.
    fn sq_add(self, a: f32, acc: f32) -> f32;
    /// `acc + a·b`, fused likewise.
    fn mul_add(self, a: f32, b: f32, acc: f32) -> f32;
    /// `add_rows_impl`, compiled as a function of its own: inlined into the kernels, its loop competes for
    /// registers with theirs and spills on every row.
    fn add_rows(self, tally: &mut Tally, x: &[f32], labels: &[u32], rest: Rest) {
        add_rows_portable(tally, x, labels, rest)
    }
    /// `sse_rows_portable`: each row's distance into its cluster's SSE lanes (k × 8).
    fn sse_rows(self, labels: &[u32], dist: &[f32], lanes: &mut [f64]) {
        sse_rows_portable(labels, dist, lanes)
    }
    /// The lowest of the KB lanes of each of R rows (lowest lane on ties) and its value.
    fn argmin_rows<const KB: usize, const R: usize>(
        self,
        acc: &[[f32; KB]; R],
        labels: &mut [u32],
        dist: &mut [f32],
    ) {
        argmin_rows_portable(acc, labels, dist)
    }
    /// Nearest centroid and exact distance of every row of a chunk, for k ≤ `DIRECT_MAX` (one lane block):
    /// `tile` in the exact form then `argmin_rows`, R rows at a time.
    fn direct_rows<const KB: usize, const R: usize>(
        self,
        xc: &[f32],
        t: &Transposed,
        lab: &mut [u32],
        dist: &mut [f32],
    ) {
        direct_rows_tiled::<Self, KB, R>(self, xc, t, lab, dist)
    }
    /// On AVX-512 CPUs, for the shapes of `fused::fits`: labels and distances of all but the last n mod 16
    /// rows, by the GEMM form in registers, bit for bit what the kernels for this k give; returns how many
    /// rows it did (elsewhere none).
    fn fused_rows(self, _x: &[f32], _t: &Transposed, _lab: &mut [u32], _dist: &mut [f32]) -> usize {
        0
    }
    /// `lanes8`: Σ (x_j − c_j)² (`DIFF`) or Σ x_j² in 8 lanes.
    fn lanes8<const DIFF: bool>(self, x: &[f32], c: &[f32]) -> f32 {
        lanes8_portable::<Self, DIFF>(self, x, c)
    }
    /// The lowest of the scores `g` (NaN ignored; +∞ if none).
    fn scan_min(self, g: &[f32]) -> f32 {
        scan_min_portable(g)
    }
    /// How many scores of `g` are not above `th`, and the sum of their indices (wrapping).
    fn scan_hits(self, g: &[f32], th: f32) -> (u32, u32) {
        scan_hits_portable(g, th)
    }
    /// GEMM-form scores of R rows against lane block b, into lanes b..b + KB of their rows of `g`
    /// (R × kp): `tile` with `DOT`, then ‖c‖² − 2·dot.
    fn score_tile<const KB: usize, const R: usize>(
        self,
        x: &[f32],
        t: &Transposed,
        b: usize,
        g: &mut [f32],
    ) {
        score_tile_portable::<Self, KB, R>(self, x, t, b, g)
    }
}
/// The proof the fused primitives run with: AVX2 and FMA, or AVX-512 (which holds that one) for the wide
/// tiles.
pub(super) trait Proof: Copy {
    /// The AVX2+FMA proof.
    fn avx2(self) -> Avx2Fma;
    /// The AVX-512 proof, for the AVX-512 tiles (None: the AVX2 ones).
    fn wide(self) -> Option<Avx512>;
}

impl Proof for Avx2Fma {
    #[inline(always)]
    fn avx2(self) -> Avx2Fma {
        self
    }
    #[inline(always)]
    fn wide(self) -> Option<Avx512> {
        None
    }
}

impl Proof for Avx512 {
    #[inline(always)]
    fn avx2(self) -> Avx2Fma {
        Avx512::avx2(self)
    }
    #[inline(always)]
    fn wide(self) -> Option<Avx512> {
        Some(self)
    }
}

/// Fused multiply-add with AVX2 (and the hot loops in AVX2 intrinsics); holding the AVX-512 proof, the
/// GEMM tiles in AVX-512 intrinsics, the same bits (every lane is the same FMA chain). It holds the token
/// its intrinsics need, so only code that has one can make it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fused<P: Proof = Avx2Fma>(pub(super) P);
/// `Fused` with the AVX-512 GEMM tiles.
pub(super) type Wide = Fused<Avx512>;
/// Separate multiply and add, for any target.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plain;
impl<P: Proof> Arith for Fused<P> {
    #[inline(always)]
    fn sq_add(self, a: f32, acc: f32) -> f32 {
        a.mul_add(a, acc)
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, acc: f32) -> f32 {
        a.mul_add(b, acc)
    }
    #[inline(always)]
    fn add_rows(self, tally: &mut Tally, x: &[f32], labels: &[u32], rest: Rest) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: self holds the AVX2+FMA token.
        unsafe {
            add_rows_avx2(self.0.avx2(), tally, x, labels, rest)
        }
        #[cfg(not(target_arch = "x86_64"))]
        add_rows_portable(tally, x, labels, rest)
    }
    #[inline(always)]
    fn sse_rows(self, labels: &[u32], dist: &[f32], lanes: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if let Some(w) = self.0.wide()
            && lanes.len() <= 16 * 8
        {
            // SAFETY: `w` is the AVX-512 token.
            return unsafe {
                if lanes.len() <= 8 * 8 {
                    sse_rows_avx512::<8>(w, labels, dist, lanes)
                } else {
                    sse_rows_avx512::<16>(w, labels, dist, lanes)
                }
            };
        }
        sse_rows_portable(labels, dist, lanes)
    }
    #[inline(always)]
    fn argmin_rows<const KB: usize, const R: usize>(
        self,
        acc: &[[f32; KB]; R],
        labels: &mut [u32],
        dist: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if KB == 8 && R == 8 {
            // SAFETY: the shapes were just checked.
            let acc = unsafe { &*(acc as *const [[f32; KB]; R] as *const [[f32; 8]; 8]) };
            // SAFETY: self holds the AVX2+FMA token.
            return unsafe { argmin_8x8_avx2(self.0.avx2(), acc, labels, dist) };
        }
        #[cfg(target_arch = "x86_64")]
        for ((v, l), e) in acc.iter().zip(labels.iter_mut()).zip(dist.iter_mut()) {
            // SAFETY: self holds the AVX2+FMA token.
            (*l, *e) = unsafe { argmin_avx2(self.0.avx2(), v) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        argmin_rows_portable(acc, labels, dist)
    }
    #[inline(always)]
    fn direct_rows<const KB: usize, const R: usize>(
        self,
        xc: &[f32],
        t: &Transposed,
        lab: &mut [u32],
        dist: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if let Some(w) = self.0.wide()
            && KB == 8
        {
            // 16 rows at a time, two per 512-bit vector; the last n mod 16 rows through the AVX2 tiles,
            // called here rather than from a closure, which LLVM may leave un-inlined and compiled
            // without FMA. SAFETY: `w` is the AVX-512 token.
            let full = lab.len() / 16 * 16;
            let ((l0, l1), (e0, e1)) = (lab.split_at_mut(full), dist.split_at_mut(full));
            let (x0, x1) = xc.split_at(full * t.d);
            let pairs = |x: &[f32], l: &mut [u32], e: &mut [f32]| unsafe {
                direct_pairs_avx512(w, x, t, l, e)
            };
            // The tile asks for its rows itself, spread over its loop (`direct_pairs_avx512`).
            by_row_blocks(x0, 16, false, l0, e0, pairs, |_, _, _| {});
            return direct_rows_tiled::<Self, KB, R>(self, x1, t, l1, e1);
        }
        // 17–32 centroids on AVX-512: all but the last n mod 16 rows in registers (`fused`).
        let done = self.fused_rows(xc, t, lab, dist);
        let (xc, lab, dist) = (&xc[done * t.d..], &mut lab[done..], &mut dist[done..]);
        #[cfg(target_arch = "x86_64")]
        if let Some(w) = self.0.wide()
            && (KB == 16 || KB == 32)
        {
            // 8 rows × 16 lanes or 4 rows × 32 lanes (16 or 8 zmm accumulators), whatever the AVX2 row
            // block R. SAFETY (both closures): `w` is the AVX-512 token.
            const R16: usize = 8;
            const R32: usize = 4;
            // The blocks ask for their rows themselves, spread over their loops (`SPREAD`).
            by_row_blocks(
                xc,
                if KB == 16 { R16 } else { R32 },
                false,
                lab,
                dist,
                |x, l, e| unsafe {
                    if KB == 16 {
                        direct_tile_avx512::<KB, R16, true>(w, x, t, l, e)
                    } else {
                        direct_tile_avx512::<KB, R32, true>(w, x, t, l, e)
                    }
                },
                |x, l, e| unsafe { direct_tile_avx512::<KB, 1, false>(w, x, t, l, e) },
            );
            return;
        }
        direct_rows_tiled::<Self, KB, R>(self, xc, t, lab, dist)
    }
    #[inline(always)]
    fn fused_rows(self, x: &[f32], t: &Transposed, lab: &mut [u32], dist: &mut [f32]) -> usize {
        #[cfg(target_arch = "x86_64")]
        if let Some(w) = self.0.wide()
            && fused::fits(t)
        {
            // SAFETY: `w` is the AVX-512 token.
            return unsafe { fused::fused_rows_avx512(w, x, t, lab, dist) };
        }
        let _ = (x, t, lab, dist);
        0
    }
    #[inline(always)]
    fn lanes8<const DIFF: bool>(self, x: &[f32], c: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: self holds the AVX2+FMA token.
        return unsafe { lanes8_avx2::<DIFF>(self.0.avx2(), x, c) };
        #[cfg(not(target_arch = "x86_64"))]
        lanes8_portable::<Self, DIFF>(self, x, c)
    }
    #[inline(always)]
    fn scan_min(self, g: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `w` is the AVX-512 token, and self holds the AVX2+FMA one.
        return unsafe {
            match self.0.wide() {
                Some(w) => scan_min_avx512(w, g),
                None => scan_min_avx2(self.0.avx2(), g),
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        scan_min_portable(g)
    }
    #[inline(always)]
    fn scan_hits(self, g: &[f32], th: f32) -> (u32, u32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `scan_min`.
        return unsafe {
            match self.0.wide() {
                Some(w) => scan_hits_avx512(w, g, th),
                None => scan_hits_avx2(self.0.avx2(), g, th),
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        scan_hits_portable(g, th)
    }
    #[inline(always)]
    fn score_tile<const KB: usize, const R: usize>(
        self,
        x: &[f32],
        t: &Transposed,
        b: usize,
        g: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `w` is the AVX-512 token, and self holds the AVX2+FMA one.
        return unsafe {
            match self.0.wide() {
                Some(w) => score_tile_avx512::<KB, R>(w, x, t, b, g),
                None => score_tile_avx2::<KB, R>(self.0.avx2(), x, t, b, g),
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        score_tile_portable::<Self, KB, R>(self, x, t, b, g)
    }
}
impl Arith for Plain {
    #[inline(always)]
    fn sq_add(self, a: f32, acc: f32) -> f32 {
        acc + a * a
    }
    #[inline(always)]
    fn mul_add(self, a: f32, b: f32, acc: f32) -> f32 {
        acc + a * b
    }
}

/// `Arith::argmin_rows` as a pairwise tree over the lanes of each row (vectorisable).
#[inline(always)]
pub(super) fn argmin_rows_portable<const KB: usize, const R: usize>(
    acc: &[[f32; KB]; R],
    labels: &mut [u32],
    dist: &mut [f32],
) {
    for ((v, l), e) in acc.iter().zip(labels.iter_mut()).zip(dist.iter_mut()) {
        let (mut v, mut i) = (*v, std::array::from_fn::<u32, KB, _>(|c| c as u32));
        let mut h = KB / 2;
        while h > 0 {
            for c in 0..h {
                let (v2, i2) = (v[c + h], i[c + h]);
                let take = v2 < v[c] || (v2 == v[c] && i2 < i[c]);
                v[c] = if take { v2 } else { v[c] };
                i[c] = if take { i2 } else { i[c] };
            }
            h /= 2;
        }
        (*l, *e) = (i[0], v[0]);
    }
}

/// R rows (`x`, R × d) against the KB centroids of lane block `b` (which starts at centroid b): Σ_j x_j·c_j
/// when `DOT` (the GEMM form's micro-kernel), else the exact Σ_j (x_j − c_j)², each summed in feature order.
#[inline(always)]
pub(super) fn tile<M: Arith, const KB: usize, const R: usize, const DOT: bool>(
    ar: M,
    x: &[f32],
    t: &Transposed,
    b: usize,
) -> [[f32; KB]; R] {
    let d = t.d;
    let block = &t.ct[b * d..(b + KB) * d];
    assert_eq!(x.len(), R * d);
    // One base pointer per row, indexed by j: no per-row address arithmetic in the inner loop.
    let mut rows: [&[f32]; R] = [&[]; R];
    for (r, row) in rows.iter_mut().zip(x.chunks_exact(d)) {
        *r = row;
    }
    let mut acc = [[0f32; KB]; R];
    for (j, lane) in block.chunks_exact(KB).enumerate() {
        let lane: &[f32; KB] = lane.try_into().expect("chunks_exact");
        for (a, row) in acc.iter_mut().zip(&rows) {
            // SAFETY: j < d (block has d lanes) and every row has d values.
            let xj = unsafe { *row.get_unchecked(j) };
            for c in 0..KB {
                a[c] = if DOT {
                    ar.mul_add(xj, lane[c], a[c])
                } else {
                    ar.sq_add(xj - lane[c], a[c])
                };
            }
        }
    }
    acc
}

/// The exact squared distance of the GEMM path's re-checks: feature j goes to lane j mod 8, each lane sums
/// (x_j − c_j)² in feature order, and the 8 lanes are added in a fixed tree. Every instruction set with
/// FMA computes the same bits (the portable kernels, without FMA, round the squares separately).
#[inline(always)]
pub(super) fn exact<M: Arith>(ar: M, x: &[f32], c: &[f32]) -> f32 {
    ar.lanes8::<true>(x, c)
}

/// ‖x‖² in `exact`'s order.
#[inline(always)]
pub(super) fn norm2<M: Arith>(ar: M, x: &[f32]) -> f32 {
    ar.lanes8::<false>(x, x)
}

/// Σ (x_j − c_j)² (`DIFF`) or Σ x_j² in 8 lanes (see `exact`).
#[inline(always)]
pub(super) fn lanes8_portable<M: Arith, const DIFF: bool>(ar: M, x: &[f32], c: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (xs, xt) = x.as_chunks::<8>();
    let (cs, ct) = c.as_chunks::<8>();
    let lanes = |acc: &mut [f32; 8], a: &[f32; 8], b: &[f32; 8]| {
        for l in 0..8 {
            acc[l] = ar.sq_add(if DIFF { a[l] - b[l] } else { a[l] }, acc[l]);
        }
    };
    let tail = padded_tail(xt, ct);
    for (a, b) in xs.iter().zip(cs).chain(tail.as_ref().map(|(a, b)| (a, b))) {
        lanes(&mut acc, a, b);
    }
    tree8(acc)
}

/// The last d mod 8 features of x and c, zero-padded to 8 (none when d is a multiple of 8): the padding
/// adds (0 − 0)² = +0 to a lane that is ≥ +0, which leaves it unchanged, and a whole vector keeps LLVM
/// from splitting the 8 lanes into pieces.
#[inline(always)]
pub(super) fn padded_tail(xt: &[f32], ct: &[f32]) -> Option<([f32; 8], [f32; 8])> {
    let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
    a[..xt.len()].copy_from_slice(xt);
    b[..ct.len()].copy_from_slice(ct);
    (!xt.is_empty()).then_some((a, b))
}

/// The 8 lanes of `lanes8` added in their fixed tree.
#[inline(always)]
pub(super) fn tree8(acc: [f32; 8]) -> f32 {
    let h = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (h[0] + h[2]) + (h[1] + h[3])
}

/// `Arith::score_tile` over plain arrays.
#[inline(always)]
pub(super) fn score_tile_portable<M: Arith, const KB: usize, const R: usize>(
    ar: M,
    x: &[f32],
    t: &Transposed,
    b: usize,
    g: &mut [f32],
) {
    let mut acc = tile::<M, KB, R, true>(ar, x, t, b);
    let norms: [f32; KB] = t.norms[b..b + KB].try_into().expect("KB lanes");
    for a in acc.iter_mut() {
        for c in 0..KB {
            // 2·acc is exact: one rounding, fused or not.
            a[c] = norms[c] - 2.0 * a[c];
        }
    }
    for (a, out) in acc.iter().zip(g.chunks_exact_mut(t.kp)) {
        out[b..b + KB].copy_from_slice(a);
    }
}

/// Lanes of the GEMM path's scans over a row's scores (every kp of that path is a multiple).
pub(super) const SCAN: usize = 16;

/// `Arith::scan_min` a vector of lanes at a time.
#[inline(always)]
pub(super) fn scan_min_portable(g: &[f32]) -> f32 {
    let mut v = [f32::INFINITY; SCAN];
    for ch in g.as_chunks::<SCAN>().0 {
        for c in 0..SCAN {
            v[c] = if ch[c] < v[c] { ch[c] } else { v[c] };
        }
    }
    v.into_iter().fold(f32::INFINITY, f32::min)
}

/// `Arith::scan_hits` a vector of lanes at a time.
#[inline(always)]
pub(super) fn scan_hits_portable(g: &[f32], th: f32) -> (u32, u32) {
    let (mut hits, mut at) = ([0u32; SCAN], [0u32; SCAN]);
    for (i, ch) in g.as_chunks::<SCAN>().0.iter().enumerate() {
        for c in 0..SCAN {
            let hit = ch[c] <= th;
            hits[c] += hit as u32;
            at[c] = at[c].wrapping_add(if hit { (i * SCAN + c) as u32 } else { 0 });
        }
    }
    (hits.iter().sum(), wrapping_sum(&at))
}

/// Σ v, wrapping: the index sum of `scan_hits` is only used when it is one index (< kp); with many hits at
/// a large k it may wrap, and must not panic doing so.
pub(super) fn wrapping_sum(v: &[u32]) -> u32 {
    v.iter().fold(0, |a, &b| a.wrapping_add(b))
}
