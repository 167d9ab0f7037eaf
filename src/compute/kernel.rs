//! CPU distance kernels: squared Euclidean distances from a run of rows to a set of centroids, in the form
//! `Σ_j (x_j − c_j)²` summed in feature order (exact, no ‖x‖² − 2x·c cancellation).
//!
//! Centroids are transposed into blocks of KB (8/16/32) so that KB centroids sit side by side in SIMD lanes;
//! R rows are processed together so that R·KB/8 independent accumulators hide the FMA latency (register
//! blocking, the micro-kernel of a GEMM). For k ≤ 8 the 8 rows × 8 centroids tile is transposed in
//! registers and reduced vertically. The code is written once over plain arrays and compiled twice: for
//! AVX2+FMA (selected at run time) and portable. Results depend only on the instruction set, never on threads.

use super::Stats;

/// Centroids in lane blocks of `kb`: block b holds centroids b·kb.. as d rows of kb lanes, contiguous
/// (kp = k rounded up to kb; padding = +∞ never wins).
#[derive(Debug, Clone)]
pub struct Transposed {
    ct: Vec<f32>,
    kp: usize,
    kb: usize,
    k: usize,
    d: usize,
}

impl Transposed {
    /// `c` is k × d row-major.
    pub fn new(c: &[f32], k: usize, d: usize) -> Self {
        let kb = lane_block(k);
        let kp = k.div_ceil(kb) * kb;
        let mut ct = vec![f32::INFINITY; d * kp];
        for (ci, row) in c.chunks_exact(d).take(k).enumerate() {
            let (b, lane) = (ci / kb, ci % kb);
            for (j, &v) in row.iter().enumerate() {
                ct[b * d * kb + j * kb + lane] = v;
            }
        }
        Transposed { ct, kp, kb, k, d }
    }
    pub fn k(&self) -> usize {
        self.k
    }
}

/// Lane block for k centroids: wide enough to fill SIMD registers, narrow enough not to waste work.
fn lane_block(k: usize) -> usize {
    match k {
        0..=8 => 8,
        9..=16 => 16,
        _ => 32,
    }
}

/// Proof that this CPU has AVX2 and FMA. The private field means only [`Isa::detect`] (runtime feature
/// detection) can make one, and every `#[target_feature(enable = "avx2,fma")]` entry point takes one, so
/// safe code cannot run the AVX2 kernels on a CPU without AVX2 (the pattern of `pulp` and `std::arch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx2Fma(());

/// The instruction set the kernels run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 AVX2 with fused multiply-add, proven present by the token.
    Avx2Fma(Avx2Fma),
    /// Whatever the build target guarantees (SSE2 on x86-64, NEON on aarch64).
    Portable,
}

impl Isa {
    /// The best instruction set this CPU has.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Isa::Avx2Fma(Avx2Fma(()));
        }
        Isa::Portable
    }
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx2Fma(_) => "avx2+fma",
            Isa::Portable => "portable",
        }
    }
}

/// The per-instruction-set primitives of the kernels.
trait Arith {
    /// `acc + a·a`: fused where the instruction set has FMA (one rounding), else multiply then add.
    fn sq_add(a: f32, acc: f32) -> f32;
    /// `add_rows_impl`, compiled as a function of its own: inlined into the kernels, its loop competes for
    /// registers with theirs and spills on every row.
    fn add_rows(tally: &mut Tally, x: &[f32], labels: &[u32], w: Option<&[f32]>) {
        add_rows_portable(tally, x, labels, w)
    }
    /// Lowest value over the lanes and the lowest index among the lanes holding it.
    fn argmin<const KB: usize>(v: &[f32; KB], i: &[u32; KB]) -> (u32, f32) {
        lane_argmin(*v, *i)
    }
    /// `argmin` of each of R rows whose lane c is centroid c (a single lane block).
    fn argmin_rows<const KB: usize, const R: usize>(
        acc: &[[f32; KB]; R],
        labels: &mut [u32],
        dist: &mut [f32],
    ) {
        let iota = std::array::from_fn(|c| c as u32);
        for r in 0..R {
            (labels[r], dist[r]) = Self::argmin(&acc[r], &iota);
        }
    }
}
struct Fused;
struct Plain;
impl Arith for Fused {
    #[inline(always)]
    fn sq_add(a: f32, acc: f32) -> f32 {
        a.mul_add(a, acc)
    }
    #[inline(always)]
    fn add_rows(tally: &mut Tally, x: &[f32], labels: &[u32], w: Option<&[f32]>) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Fused` is private to this module and only instantiated inside the `avx2_twin!`
        // functions, which take an `Avx2Fma` token: this CPU has AVX2 and FMA.
        unsafe {
            add_rows_avx2(tally, x, labels, w)
        }
        #[cfg(not(target_arch = "x86_64"))]
        add_rows_portable(tally, x, labels, w)
    }
    #[inline(always)]
    fn argmin<const KB: usize>(v: &[f32; KB], i: &[u32; KB]) -> (u32, f32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `add_rows`: only reached from functions that hold an `Avx2Fma` token.
        return unsafe { argmin_avx2(v, i) };
        #[cfg(not(target_arch = "x86_64"))]
        lane_argmin(*v, *i)
    }
    #[inline(always)]
    fn argmin_rows<const KB: usize, const R: usize>(
        acc: &[[f32; KB]; R],
        labels: &mut [u32],
        dist: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if KB == 8 && R == 8 {
            // SAFETY: the shapes were just checked; as in `add_rows`, only reached with an `Avx2Fma` token.
            let acc = unsafe { &*(acc as *const [[f32; KB]; R] as *const [[f32; 8]; 8]) };
            return unsafe { argmin_8x8_avx2(acc, &mut labels[..8], &mut dist[..8]) };
        }
        let iota = std::array::from_fn(|c| c as u32);
        for r in 0..R {
            (labels[r], dist[r]) = Self::argmin(&acc[r], &iota);
        }
    }
}

/// Nearest of 8 centroids for 8 rows at once: the 8×8 distance tile is transposed in registers so that each
/// vector holds one centroid's distances to the 8 rows, then a vertical running minimum (strict `<`: the
/// lower centroid index wins ties) gives labels and distances with no horizontal reduction per row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn argmin_8x8_avx2(acc: &[[f32; 8]; 8], labels: &mut [u32], dist: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(labels.len() >= 8 && dist.len() >= 8);
    // SAFETY: loads of the 8 rows of `acc`; stores of 8 lanes into slices checked to hold 8.
    unsafe {
        let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(acc[i].as_ptr()));
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        let c = [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ];
        let mut best = c[0];
        let mut idx = _mm256_setzero_si256();
        for (j, &cj) in c.iter().enumerate().skip(1) {
            let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(cj, best);
            best = _mm256_blendv_ps(best, cj, lt);
            idx = _mm256_blendv_epi8(idx, _mm256_set1_epi32(j as i32), _mm256_castps_si256(lt));
        }
        _mm256_storeu_si256(labels.as_mut_ptr() as *mut __m256i, idx);
        _mm256_storeu_ps(dist.as_mut_ptr(), best);
    }
}

/// `Arith::argmin` in AVX2: fold the KB/8 lane vectors into one (ties to the lower index), then a
/// horizontal minimum and the lowest index among the lanes equal to it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn argmin_avx2<const KB: usize>(v: &[f32; KB], i: &[u32; KB]) -> (u32, f32) {
    use std::arch::x86_64::*;
    // SAFETY: all loads read 8 lanes at offsets 8·g < KB within the arrays (KB is a multiple of 8).
    unsafe {
        let mut bv = _mm256_loadu_ps(v.as_ptr());
        let mut bi = _mm256_loadu_si256(i.as_ptr() as *const __m256i);
        for g in 1..KB / 8 {
            let v2 = _mm256_loadu_ps(v.as_ptr().add(8 * g));
            let i2 = _mm256_loadu_si256(i.as_ptr().add(8 * g) as *const __m256i);
            let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(v2, bv);
            let eq = _mm256_cmp_ps::<_CMP_EQ_OQ>(v2, bv);
            let lower = _mm256_castsi256_ps(_mm256_cmpgt_epi32(bi, i2));
            let take = _mm256_or_ps(lt, _mm256_and_ps(eq, lower));
            bv = _mm256_blendv_ps(bv, v2, take);
            bi = _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(bi),
                _mm256_castsi256_ps(i2),
                take,
            ));
        }
        let m = _mm256_min_ps(bv, _mm256_permute2f128_ps::<1>(bv, bv));
        let m = _mm256_min_ps(m, _mm256_permute_ps::<0b01_00_11_10>(m));
        let m = _mm256_min_ps(m, _mm256_permute_ps::<0b10_11_00_01>(m));
        let eq = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_EQ_OQ>(bv, m));
        let c = _mm256_blendv_epi8(_mm256_set1_epi32(-1), bi, eq);
        let c = _mm256_min_epu32(c, _mm256_permute2x128_si256::<1>(c, c));
        let c = _mm256_min_epu32(c, _mm256_shuffle_epi32::<0b01_00_11_10>(c));
        let c = _mm256_min_epu32(c, _mm256_shuffle_epi32::<0b10_11_00_01>(c));
        (_mm256_cvtsi256_si32(c) as u32, _mm256_cvtss_f32(m))
    }
}
impl Arith for Plain {
    #[inline(always)]
    fn sq_add(a: f32, acc: f32) -> f32 {
        acc + a * a
    }
}

/// Distances of R rows (`x`, R × d) to the KB centroids of lane block `b` (which starts at centroid b).
#[inline(always)]
fn tile<M: Arith, const KB: usize, const R: usize>(
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
                a[c] = M::sq_add(xj - lane[c], a[c]);
            }
        }
    }
    acc
}

/// Lowest distance and its lowest centroid index over per-lane bests (a pairwise tree, vectorisable).
#[inline(always)]
fn lane_argmin<const KB: usize>(mut v: [f32; KB], mut i: [u32; KB]) -> (u32, f32) {
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
    (i[0], v[0])
}

/// Nearest centroid of R rows: per-lane running minimum over lane blocks, then a reduction over the lanes.
#[inline(always)]
fn nearest_tile<M: Arith, const KB: usize, const R: usize>(
    x: &[f32],
    t: &Transposed,
    labels: &mut [u32],
    dist: &mut [f32],
) {
    let mut bv = tile::<M, KB, R>(x, t, 0);
    if t.kp == KB {
        M::argmin_rows(&bv, labels, dist);
        return;
    }
    let mut bi = [std::array::from_fn::<u32, KB, _>(|c| c as u32); R];
    for b in (KB..t.kp).step_by(KB) {
        let acc = tile::<M, KB, R>(x, t, b);
        for r in 0..R {
            for c in 0..KB {
                let take = acc[r][c] < bv[r][c];
                bv[r][c] = if take { acc[r][c] } else { bv[r][c] };
                bi[r][c] = if take { (b + c) as u32 } else { bi[r][c] };
            }
        }
    }
    for r in 0..R {
        (labels[r], dist[r]) = M::argmin(&bv[r], &bi[r]);
    }
}

#[inline(always)]
fn nearest_impl<M: Arith, const KB: usize, const R: usize>(
    x: &[f32],
    t: &Transposed,
    labels: &mut [u32],
    dist: &mut [f32],
) {
    let d = t.d;
    let n = labels.len();
    let full = n / R * R;
    for r0 in (0..full).step_by(R) {
        nearest_tile::<M, KB, R>(
            &x[r0 * d..(r0 + R) * d],
            t,
            &mut labels[r0..r0 + R],
            &mut dist[r0..r0 + R],
        );
    }
    for r in full..n {
        nearest_tile::<M, KB, 1>(
            &x[r * d..(r + 1) * d],
            t,
            &mut labels[r..r + 1],
            &mut dist[r..r + 1],
        );
    }
}

/// Nearest and second-nearest centroid of every row, from the same tiles as `nearest_impl` (so the
/// nearest label and distance are the same bits): a scalar scan in centroid order with strict `<`, so the
/// lowest index wins ties for both.
#[inline(always)]
fn nearest2_impl<M: Arith, const KB: usize, const R: usize>(
    x: &[f32],
    t: &Transposed,
    out: &mut NearestRows,
) {
    let d = t.d;
    let n = out.labels.len();
    let mut best = vec![(f32::INFINITY, u32::MAX, f32::INFINITY, u32::MAX); n];
    let mut scan = |r: usize, b: usize, acc: &[f32; KB]| {
        let (b1, i1, b2, i2) = &mut best[r];
        for (c, &v) in acc.iter().enumerate().take(t.k.saturating_sub(b)) {
            let c = (b + c) as u32;
            if v < *b1 || *i1 == u32::MAX {
                (*b2, *i2) = (*b1, *i1);
                (*b1, *i1) = (v, c);
            } else if v < *b2 || *i2 == u32::MAX {
                (*b2, *i2) = (v, c);
            }
        }
    };
    let full = n / R * R;
    for b in (0..t.kp).step_by(KB) {
        for r0 in (0..full).step_by(R) {
            let acc = tile::<M, KB, R>(&x[r0 * d..(r0 + R) * d], t, b);
            for (r, a) in acc.iter().enumerate() {
                scan(r0 + r, b, a);
            }
        }
        for r in full..n {
            scan(r, b, &tile::<M, KB, 1>(&x[r * d..(r + 1) * d], t, b)[0]);
        }
    }
    for (r, &(b1, i1, b2, i2)) in best.iter().enumerate() {
        out.labels[r] = i1;
        out.dist2[r] = b1;
        out.second[r] = i2;
        out.second_dist2[r] = b2;
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
            let acc = tile::<M, KB, R>(&x[r0 * d..(r0 + R) * d], t, b);
            for (r, a) in acc.iter().enumerate() {
                add(r0 + r, a);
            }
        }
        for r in full..n {
            add(r, &tile::<M, KB, 1>(&x[r * d..(r + 1) * d], t, b)[0]);
        }
        for (c, &v) in p.iter().enumerate() {
            if b + c < t.k {
                pot[b + c] += v;
            }
        }
    }
}

/// Rows assigned at once before being accumulated, so that they are still in L1 when summed.
const CHUNK_ROWS: usize = 256;

/// One Lloyd pass over a block of rows: nearest centroid of each row (counting rows whose label changes
/// against `labels`, then overwriting it), and w·x, w, w·dist summed into `s`. The distances themselves
/// are not kept: writing them would add 8 bytes of memory traffic per row and pass (`nearest` gives them
/// again, bit for bit, when they are needed).
#[inline(always)]
fn assign_impl<M: Arith, const KB: usize, const R: usize>(
    x: &[f32],
    w: Option<&[f32]>,
    t: &Transposed,
    labels: &mut [u32],
    s: &mut Stats,
) {
    let d = t.d;
    let k = t.k;
    let (mut lab, mut dist) = ([0u32; CHUNK_ROWS], [0f32; CHUNK_ROWS]);
    // This chunk's sums in f32 (at most CHUNK_ROWS rows each, so the f32 error stays ~1e-7 relative), added
    // into the f64 totals once per chunk: half the vector work of f64 per row and no conversions.
    let mut tally = Tally {
        part: vec![0f32; k * d],
        counts: vec![0u32; k],
        weights: vec![0f64; k],
    };
    // A local instead of a field behind `s`: the compiler keeps it in a register across the row loop.
    let mut moved = 0u64;
    assert!(s.sums.len() >= k * d && s.weights.len() >= k && s.sse.len() >= k);
    for (c, old) in labels.chunks_mut(CHUNK_ROWS).enumerate() {
        let (first, m) = (c * CHUNK_ROWS, old.len());
        let xc = &x[first * d..(first + m) * d];
        let dd = &mut dist[..m];
        nearest_impl::<M, KB, R>(xc, t, &mut lab[..m], dd);
        for (o, &l) in old.iter_mut().zip(&lab[..m]) {
            moved += (*o != l) as u64;
            *o = l;
        }
        let wc = w.map(|w| &w[first..first + m]);
        M::add_rows(&mut tally, xc, &lab[..m], wc);
        add_sse(&mut s.sse[..k], dd, &lab[..m], wc);
        for (a, p) in s.sums.iter_mut().zip(tally.part.iter_mut()) {
            *a += std::mem::take(p) as f64;
        }
    }
    for ((wt, &n), &tw) in s.weights.iter_mut().zip(&tally.counts).zip(&tally.weights) {
        *wt += if w.is_some() { tw } else { n as f64 };
    }
    s.moved += moved;
}

/// Adds w·dist of each row into its cluster's SSE, in row order.
#[inline(always)]
fn add_sse(sse: &mut [f64], dist: &[f32], labels: &[u32], w: Option<&[f32]>) {
    match w {
        None => {
            for (&v, &l) in dist.iter().zip(labels) {
                sse[l as usize] += v as f64;
            }
        }
        Some(w) => {
            for ((&v, &l), &wi) in dist.iter().zip(labels).zip(w) {
                sse[l as usize] += wi as f64 * v as f64;
            }
        }
    }
}

/// A chunk's per-cluster sums (k × d, f32) and the block's per-cluster row counts (unweighted) or weights.
struct Tally {
    part: Vec<f32>,
    counts: Vec<u32>,
    weights: Vec<f64>,
}

/// Adds each row of the chunk `x` (row-major, d = part.len() / k) into its label's f32 sums in
/// `tally.part`, scaled by its weight if any, and counts it (unweighted) or adds up its weight.
#[inline(always)]
fn add_rows_impl<const NB: usize>(tally: &mut Tally, x: &[f32], labels: &[u32], w: Option<&[f32]>) {
    match w {
        None => add_rows_scaled::<NB, false>(tally, x, labels, &[]),
        Some(w) => add_rows_scaled::<NB, true>(tally, x, labels, w),
    }
}

/// `add_rows_impl` for one case of weights, with NB = ⌊d/8⌋ when known at compile time (0: at run time), so
/// that the row loop has no inner loop or branch.
#[inline(always)]
fn add_rows_scaled<const NB: usize, const WEIGHTED: bool>(
    tally: &mut Tally,
    x: &[f32],
    labels: &[u32],
    w: &[f32],
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
        if WEIGHTED {
            weights[l] += wr as f64;
        } else {
            counts[l] += 1;
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
        fn $name(tally: &mut Tally, x: &[f32], labels: &[u32], w: Option<&[f32]>) {
            match tally.part.len() / tally.counts.len().max(1) / 8 {
                1 => add_rows_impl::<1>(tally, x, labels, w),
                2 => add_rows_impl::<2>(tally, x, labels, w),
                3 => add_rows_impl::<3>(tally, x, labels, w),
                4 => add_rows_impl::<4>(tally, x, labels, w),
                5 => add_rows_impl::<5>(tally, x, labels, w),
                6 => add_rows_impl::<6>(tally, x, labels, w),
                7 => add_rows_impl::<7>(tally, x, labels, w),
                8 => add_rows_impl::<8>(tally, x, labels, w),
                _ => add_rows_impl::<0>(tally, x, labels, w),
            }
        }
    };
}
add_rows_fn!(add_rows_portable);
#[cfg(target_arch = "x86_64")]
add_rows_fn!(add_rows_avx2, "avx2,fma");

/// Expands to a runtime dispatch over (instruction set, lane block) for one kernel entry point; the row
/// block R gives R·KB/8 independent accumulators, enough to cover FMA latency.
macro_rules! dispatch {
    ($isa:expr, $t:expr, $impl:ident, $avx2:ident, ($($arg:expr),*)) => {{
        match ($isa, $t.kb) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves this CPU has AVX2 and FMA.
            (Isa::Avx2Fma(tok), 8) => unsafe { $avx2::<8, 8>(tok, $($arg),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            (Isa::Avx2Fma(tok), 16) => unsafe { $avx2::<16, 4>(tok, $($arg),*) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            (Isa::Avx2Fma(tok), _) => unsafe { $avx2::<32, 2>(tok, $($arg),*) },
            (_, 8) => $impl::<Plain, 8, 4>($($arg),*),
            (_, 16) => $impl::<Plain, 16, 2>($($arg),*),
            _ => $impl::<Plain, 32, 2>($($arg),*),
        }
    }};
}

/// Declares `$avx2`: `$imp::<Fused, KB, R>` compiled with AVX2 and FMA enabled (same parameters), callable
/// only with the token that proves the CPU has them.
macro_rules! avx2_twin {
    ($avx2:ident => $imp:ident($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx2<const KB: usize, const R: usize>(_proof: Avx2Fma, $($arg: $ty),*) {
            $imp::<Fused, KB, R>($($arg),*)
        }
    };
}

avx2_twin!(nearest_avx2 => nearest_impl(x: &[f32], t: &Transposed, l: &mut [u32], dd: &mut [f32]));
avx2_twin!(nearest2_avx2 => nearest2_impl(x: &[f32], t: &Transposed, out: &mut NearestRows));
avx2_twin!(potential_avx2 => potential_impl(
    x: &[f32], t: &Transposed, cur: &[f32], w: Option<&[f32]>, pot: &mut [f64]
));
avx2_twin!(assign_avx2 => assign_impl(
    x: &[f32], w: Option<&[f32]>, t: &Transposed, l: &mut [u32], s: &mut Stats
));

/// For each row of `x` (row-major, `labels.len()` rows): the nearest centroid (lowest index on ties) and
/// its squared distance.
pub fn nearest(isa: Isa, x: &[f32], t: &Transposed, labels: &mut [u32], dist: &mut [f32]) {
    debug_assert_eq!(x.len(), labels.len() * t.d);
    dispatch!(isa, t, nearest_impl, nearest_avx2, (x, t, labels, dist))
}

/// For each row of `x`: the nearest and second-nearest centroid and their squared distances; the nearest
/// is bit for bit what [`nearest`] gives.
pub fn nearest2(isa: Isa, x: &[f32], t: &Transposed, out: &mut NearestRows) {
    debug_assert_eq!(x.len(), out.labels.len() * t.d);
    dispatch!(isa, t, nearest2_impl, nearest2_avx2, (x, t, out))
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
    dispatch!(isa, t, potential_impl, potential_avx2, (x, t, cur, w, pot))
}

/// One Lloyd pass over a block of rows (`x` row-major, `labels.len()` rows; `w` their weights): see
/// `assign_impl`. The statistics are added into `s`.
pub fn assign(
    isa: Isa,
    x: &[f32],
    w: Option<&[f32]>,
    t: &Transposed,
    labels: &mut [u32],
    s: &mut Stats,
) {
    debug_assert_eq!(x.len(), labels.len() * t.d);
    dispatch!(isa, t, assign_impl, assign_avx2, (x, w, t, labels, s))
}

/// Σ x in 8 lanes over fixed blocks in parallel: one streaming read of `x`, the memory floor of a pass.
pub fn stream_sum(x: &[f32]) -> f32 {
    use rayon::prelude::*;
    x.par_chunks(1 << 16)
        .map(|c| {
            let mut acc = [0f32; 8];
            for v in c.chunks_exact(8) {
                for (a, &b) in acc.iter_mut().zip(v) {
                    *a += b;
                }
            }
            acc.iter().sum::<f32>()
        })
        .sum()
}

/// Rounds of the peak loop: 8×8 lanes each, 2 flops per lane and round.
const PEAK_ROUNDS: usize = 4_000_000;

#[inline(always)]
fn peak_impl<M: Arith>(seed: f32) -> f32 {
    let mut acc = [seed; 64];
    let a = std::hint::black_box(1e-4f32);
    for _ in 0..PEAK_ROUNDS {
        for v in acc.iter_mut() {
            *v = M::sq_add(a, *v);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn peak_avx2(_proof: Avx2Fma, seed: f32) -> f32 {
    peak_impl::<Fused>(seed)
}

/// Multiply-add throughput of all rayon threads right now, GFLOP/s (8 independent accumulator vectors
/// per thread: the ceiling for the distance kernels).
pub fn peak_gflops(isa: Isa) -> f64 {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let t = std::time::Instant::now();
    let s: f32 = (0..threads)
        .into_par_iter()
        .map(|i| match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves this CPU has AVX2 and FMA.
            Isa::Avx2Fma(tok) => unsafe { peak_avx2(tok, i as f32) },
            _ => peak_impl::<Plain>(i as f32),
        })
        .sum();
    std::hint::black_box(s);
    (threads * PEAK_ROUNDS * 64 * 2) as f64 / t.elapsed().as_secs_f64() / 1e9
}
