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

use super::Stats;

/// Centroids packed for the kernels: lane block b holds centroids b·kb.. as d rows of kb lanes, contiguous
/// (kp = k rounded up to kb; padding lanes never win: +∞ for the exact tiles of k ≤ `DIRECT_MAX`, else 0 with
/// ‖c‖² = +∞ so that their GEMM-form score is +∞), plus each centroid's ‖c‖², its row-major values for
/// the exact form, and the bound constants of [`Transposed::threshold`].
#[derive(Debug, Clone)]
pub struct Transposed {
    ct: Vec<f32>,
    norms: Vec<f32>,
    rows: Vec<f32>,
    kp: usize,
    kb: usize,
    k: usize,
    d: usize,
    /// An upper bound on max ‖c‖² over the centroids.
    cmax2: f64,
    /// Relative error bounds of the GEMM form and of the exact form for this d (see `threshold`).
    gamma_gemm: f64,
    gamma_exact: f64,
}

/// γ_n = n·u / (1 − n·u), u = 2⁻²⁴: the classic bound on the relative rounding error of n f32 operations
/// (Higham, "Accuracy and Stability of Numerical Algorithms", §3.1).
pub(crate) fn gamma(n: usize) -> f64 {
    let nu = n as f64 * f64::from(f32::EPSILON) / 2.0;
    nu / (1.0 - nu)
}

/// ‖c‖² of a centroid, summed in f64 (every square is exact and the sum errs by ~d·2⁻⁵³) for one rounding
/// to f32: the norms of both GEMM forms, CPU (`Transposed`) and GPU.
pub(crate) fn norm2_f64(row: &[f32]) -> f64 {
    row.iter().map(|&v| f64::from(v) * f64::from(v)).sum()
}

impl Transposed {
    /// `c` is k × d row-major; the lane block suits `isa`'s registers.
    pub fn new(isa: Isa, c: &[f32], k: usize, d: usize) -> Self {
        let kb = lane_block(isa, k);
        let kp = k.div_ceil(kb) * kb;
        let pad = if k <= DIRECT_MAX { f32::INFINITY } else { 0.0 };
        let mut ct = vec![pad; d * kp];
        let mut norms = vec![f32::INFINITY; kp];
        let mut cmax2 = 0f64;
        for (ci, row) in c.chunks_exact(d.max(1)).take(k).enumerate() {
            let (b, lane) = (ci / kb, ci % kb);
            for (j, &v) in row.iter().enumerate() {
                ct[b * d * kb + j * kb + lane] = v;
            }
            let n2 = norm2_f64(row);
            norms[ci] = n2 as f32;
            cmax2 = cmax2.max(n2);
        }
        Transposed {
            ct,
            norms,
            rows: c[..k * d].to_vec(),
            kp,
            kb,
            k,
            d,
            cmax2: cmax2 * (1.0 + 1e-12),
            gamma_gemm: gamma(d + 4),
            gamma_exact: gamma(d + 6),
        }
    }
    pub fn k(&self) -> usize {
        self.k
    }
    fn row(&self, c: usize) -> &[f32] {
        &self.rows[c * self.d..(c + 1) * self.d]
    }

    /// The GEMM-form score above which a centroid is strictly farther, in the exact form, than the centroid
    /// a with the lowest score `low`, for a row x with ‖x‖² = `x2` (as `norm2` computes it); +∞ when
    /// nothing can be ruled out (non-finite values, or a centroid whose ‖c‖² overflows f32).
    ///
    /// Scores s_c = fl(‖c‖² − 2·fl(x·c)) err from S_c = ‖c‖² − 2x·c = D_c − ‖x‖² by at most
    /// e = γ_gemm·(‖c‖² + 2‖x‖‖c‖) ≤ γ_gemm·(2·cmax² + ‖x‖²) (Higham's dot-product bound plus the
    /// roundings of ‖c‖² and of the difference; 2‖x‖‖c‖ ≤ ‖x‖² + ‖c‖²). The exact form and `norm2` err by
    /// at most γ_exact relative (sums of non-negative terms). a's computed exact distance is therefore at
    /// most E⁺ = (1 + γ_exact)·(low + e + ‖x‖²). If s_c > low + 2e + 2.01·γ_exact·E⁺, then
    /// D_c − D_a = S_c − S_a > 2.01·γ_exact·E_a and E_c ≥ (1 − γ_exact)·D_c >
    /// (1 − γ_exact)·(E_a/(1 + γ_exact) + 2.01·γ_exact·E_a) ≥ E_a. The slack of 1.01 on e covers the f64
    /// arithmetic here, and the absolute term f32 underflow.
    #[inline(always)]
    fn threshold(&self, low: f32, x2: f32) -> f32 {
        let g = self.gamma_exact;
        let x2 = f64::from(x2) * (1.0 + g);
        let e = 1.01 * self.gamma_gemm * (2.0 * self.cmax2 + x2);
        let ea = (1.0 + g) * (f64::from(low) + e + x2).max(0.0);
        let tiny = f64::from(f32::MIN_POSITIVE) * (self.d + 8) as f64;
        let t = f64::from(low) + 2.0 * e + 2.01 * g * ea + tiny;
        // Nudged up by 2⁻²³ of itself before rounding to f32, so that the f32 is never below t and comparing
        // f32 scores with it never rules out too much. A NaN or infinite t (overflowed values), or a
        // centroid whose score may have overflowed to +∞ or NaN, rules out nothing.
        let up = (t + t.abs() * f64::from(f32::EPSILON)) as f32;
        if up.is_finite() && self.cmax2 < f64::from(f32::MAX) {
            up
        } else {
            f32::INFINITY
        }
    }
}

/// The most centroids for which the kernels compute the exact form directly, in one lane block: there
/// the GEMM form's re-checks cost more than the subtract it saves (measured on an AVX-512 Xeon, whose
/// separate FP-add ports make the subtract nearly free: 200K × 64 K=32 17–18 ms per step in the GEMM form
/// against 13.8 exact, 200K × 16 K=32 7.0 against 4.1; 100K × 32 K=256 1.35× faster in the GEMM form).
const DIRECT_MAX: usize = 32;

/// Lane block for k centroids. Up to `DIRECT_MAX`: all of them in one block (8, 16 or 32 lanes), so the
/// exact-form tile holds each row's whole argmin. Above: blocks wide enough to fill the registers of
/// `isa` for the GEMM tile (AVX2 and portable have 16 vector registers, too few for 32 lanes × 6 rows;
/// AVX-512's 32 hold 6 rows × 64 lanes, 24 accumulators: per feature 4 centroid loads and 6 broadcasts feed
/// 24 FMAs. Measured against 8 rows × 32, one core, min of 5 rounds: 100K × 64 K=128 16.5 against 18.6 ms,
/// 100K × 128 K=64 22.9 against 24.5, 250K × 32 K=256 41.3 against 41.4, 200K × 16 K=64 8.7 against 8.7.)
fn lane_block(isa: Isa, k: usize) -> usize {
    match (isa, k) {
        (_, 0..=8) => 8,
        (_, 9..=16) => 16,
        (_, k) if k <= DIRECT_MAX => 32,
        (Isa::Avx512(_), _) => 64,
        _ => 16,
    }
}

/// Proof that this CPU has AVX-512 (F and VL) besides AVX2 and FMA; made only by [`Isa::detect`], like
/// [`Avx2Fma`], which it contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx512(Avx2Fma);

/// Proof that this CPU has AVX2 and FMA. The private field means only [`Isa::detect`] (runtime feature
/// detection) can make one, and every `#[target_feature(enable = "avx2,fma")]` entry point takes one, so
/// safe code cannot run the AVX2 kernels on a CPU without AVX2 (the pattern of `pulp` and `std::arch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx2Fma(());

/// The instruction set the kernels run with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 AVX-512 (F, VL) with AVX2 and FMA, proven present by the token: 512-bit vectors.
    Avx512(Avx512),
    /// x86-64 AVX2 with fused multiply-add, proven present by the token.
    Avx2Fma(Avx2Fma),
    /// Whatever the build target guarantees (SSE2 on x86-64, NEON on aarch64).
    Portable,
}

impl Isa {
    /// The best instruction set this CPU has, or a lesser one named by `STRATA_CPU_ISA` (`avx2`,
    /// `portable`: for comparing kernels; a name this CPU cannot run is ignored).
    pub fn detect() -> Isa {
        match std::env::var("STRATA_CPU_ISA").as_deref() {
            Ok("portable") => return Isa::Portable,
            Ok("avx2") => return Isa::avx2().unwrap_or(Isa::Portable),
            _ => {}
        }
        match Isa::avx2() {
            Some(Isa::Avx2Fma(t)) if Isa::has_avx512() => Isa::Avx512(Avx512(t)),
            Some(isa) => isa,
            None => Isa::Portable,
        }
    }
    /// AVX2+FMA if this CPU has it, even where AVX-512 is also present (tests and benchmarks compare them).
    pub fn avx2() -> Option<Isa> {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Some(Isa::Avx2Fma(Avx2Fma(())));
        }
        None
    }
    fn has_avx512() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512vl");
        #[cfg(not(target_arch = "x86_64"))]
        false
    }
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512(_) => "avx512",
            Isa::Avx2Fma(_) => "avx2+fma",
            Isa::Portable => "portable",
        }
    }
}

/// The per-instruction-set primitives of the kernels.
trait Arith: Sized {
    /// `acc + a·a`: fused where the instruction set has FMA (one rounding), else multiply then add.
    fn sq_add(a: f32, acc: f32) -> f32;
    /// `acc + a·b`, fused likewise.
    fn mul_add(a: f32, b: f32, acc: f32) -> f32;
    /// `add_rows_impl`, compiled as a function of its own: inlined into the kernels, its loop competes for
    /// registers with theirs and spills on every row.
    fn add_rows(tally: &mut Tally, x: &[f32], labels: &[u32], w: Option<&[f32]>) {
        add_rows_portable(tally, x, labels, w)
    }
    /// The lowest of the KB lanes of each of R rows (lowest lane on ties) and its value.
    fn argmin_rows<const KB: usize, const R: usize>(
        acc: &[[f32; KB]; R],
        labels: &mut [u32],
        dist: &mut [f32],
    ) {
        argmin_rows_portable(acc, labels, dist)
    }
    /// Nearest centroid and exact distance of every row of a chunk, for k ≤ `DIRECT_MAX` (one lane block):
    /// `tile` in the exact form then `argmin_rows`, R rows at a time.
    fn direct_rows<const KB: usize, const R: usize>(
        xc: &[f32],
        t: &Transposed,
        lab: &mut [u32],
        dist: &mut [f32],
    ) {
        direct_rows_tiled::<Self, KB, R>(xc, t, lab, dist)
    }
    /// `lanes8`: Σ (x_j − c_j)² (`DIFF`) or Σ x_j² in 8 lanes.
    fn lanes8<const DIFF: bool>(x: &[f32], c: &[f32]) -> f32 {
        lanes8_portable::<Self, DIFF>(x, c)
    }
    /// The lowest of the scores `g` (NaN ignored; +∞ if none).
    fn scan_min(g: &[f32]) -> f32 {
        scan_min_portable(g)
    }
    /// How many scores of `g` are not above `th`, and the sum of their indices (wrapping).
    fn scan_hits(g: &[f32], th: f32) -> (u32, u32) {
        scan_hits_portable(g, th)
    }
    /// GEMM-form scores of R rows against lane block b, into lanes b..b + KB of their rows of `g`
    /// (R × kp): `tile` with `DOT`, then ‖c‖² − 2·dot.
    fn score_tile<const KB: usize, const R: usize>(
        x: &[f32],
        t: &Transposed,
        b: usize,
        g: &mut [f32],
    ) {
        score_tile_portable::<Self, KB, R>(x, t, b, g)
    }
}
/// Fused multiply-add with AVX2 (and the hot loops in AVX2 intrinsics); with `WIDE` the GEMM tiles in
/// AVX-512 intrinsics, the same bits (every lane is the same FMA chain).
struct Fused<const WIDE: bool = false>;
/// `Fused` with the AVX-512 GEMM tiles.
type Wide = Fused<true>;
/// Separate multiply and add, for any target.
struct Plain;
impl<const WIDE: bool> Arith for Fused<WIDE> {
    #[inline(always)]
    fn sq_add(a: f32, acc: f32) -> f32 {
        a.mul_add(a, acc)
    }
    #[inline(always)]
    fn mul_add(a: f32, b: f32, acc: f32) -> f32 {
        a.mul_add(b, acc)
    }
    #[inline(always)]
    fn add_rows(tally: &mut Tally, x: &[f32], labels: &[u32], w: Option<&[f32]>) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Fused` is private to this module and only instantiated inside the `twin!` functions,
        // which take an `Avx2Fma` or `Avx512` token (which holds an `Avx2Fma`): this CPU has AVX2 and FMA.
        unsafe {
            add_rows_avx2(tally, x, labels, w)
        }
        #[cfg(not(target_arch = "x86_64"))]
        add_rows_portable(tally, x, labels, w)
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
            return unsafe { argmin_8x8_avx2(acc, labels, dist) };
        }
        #[cfg(target_arch = "x86_64")]
        for ((v, l), e) in acc.iter().zip(labels.iter_mut()).zip(dist.iter_mut()) {
            // SAFETY: as in `add_rows`: only reached from functions that hold an `Avx2Fma` token.
            (*l, *e) = unsafe { argmin_avx2(v) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        argmin_rows_portable(acc, labels, dist)
    }
    #[inline(always)]
    fn direct_rows<const KB: usize, const R: usize>(
        xc: &[f32],
        t: &Transposed,
        lab: &mut [u32],
        dist: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        if WIDE && (KB == 16 || KB == 32) {
            // 8 rows × 16 lanes or 4 rows × 32 lanes (16 or 8 zmm accumulators), whatever the AVX2 row
            // block R. SAFETY (both closures): `Wide` is only reached with an `Avx512` token, as in
            // `score_tile`.
            const R16: usize = 8;
            const R32: usize = 4;
            by_row_blocks(
                xc,
                t.d,
                if KB == 16 { R16 } else { R32 },
                lab,
                dist,
                |x, l, e| unsafe {
                    if KB == 16 {
                        direct_tile_avx512::<KB, R16>(x, t, l, e)
                    } else {
                        direct_tile_avx512::<KB, R32>(x, t, l, e)
                    }
                },
                |x, l, e| unsafe { direct_tile_avx512::<KB, 1>(x, t, l, e) },
            );
            return;
        }
        direct_rows_tiled::<Self, KB, R>(xc, t, lab, dist)
    }
    #[inline(always)]
    fn lanes8<const DIFF: bool>(x: &[f32], c: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `add_rows`: only reached from functions that hold an `Avx2Fma` token.
        return unsafe { lanes8_avx2::<DIFF>(x, c) };
        #[cfg(not(target_arch = "x86_64"))]
        lanes8_portable::<Self, DIFF>(x, c)
    }
    #[inline(always)]
    fn scan_min(g: &[f32]) -> f32 {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Wide` only with an `Avx512` token (as in `score_tile`), else as in `add_rows`.
        return unsafe {
            if WIDE {
                scan_min_avx512(g)
            } else {
                scan_min_avx2(g)
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        scan_min_portable(g)
    }
    #[inline(always)]
    fn scan_hits(g: &[f32], th: f32) -> (u32, u32) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `scan_min`.
        return unsafe {
            if WIDE {
                scan_hits_avx512(g, th)
            } else {
                scan_hits_avx2(g, th)
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        scan_hits_portable(g, th)
    }
    #[inline(always)]
    fn score_tile<const KB: usize, const R: usize>(
        x: &[f32],
        t: &Transposed,
        b: usize,
        g: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Wide` (`Fused<true>`) is only instantiated inside the `twin!` functions that take an
        // `Avx512` token: this CPU has AVX-512F; `Fused<false>` as in `add_rows`.
        return unsafe {
            if WIDE {
                score_tile_avx512::<KB, R>(x, t, b, g)
            } else {
                score_tile_avx2::<KB, R>(x, t, b, g)
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        score_tile_portable::<Self, KB, R>(x, t, b, g)
    }
}
/// Expands to `Arith::score_tile` over vectors of `$lanes` f32 (KB a multiple of `$lanes`, at most 4
/// vectors): per lane Σ_j x_j·c_j as one FMA chain in feature order, then ‖c‖² − (dot + dot) (the doubling
/// is exact), the bits of `score_tile_portable` with FMA, stored straight into `g`. Intrinsics because
/// LLVM's own vectorisation of `tile` at AVX-512 turned the R × KB accumulators into gathers and scatters;
/// the scores are stored from the registers because reading a 512-bit store back in 256-bit halves stalls.
macro_rules! score_tile_fn {
    ($name:ident, $feature:literal, $lanes:literal, $v:ty, $zero:ident, $load:ident, $set1:ident, $fma:ident,
     $add:ident, $sub:ident, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        #[inline]
        fn $name<const KB: usize, const R: usize>(
            x: &[f32],
            t: &Transposed,
            b: usize,
            g: &mut [f32],
        ) {
            use std::arch::x86_64::*;
            let (d, kp) = (t.d, t.kp);
            let block = &t.ct[b * d..(b + KB) * d];
            let norms = &t.norms[b..b + KB];
            assert!(KB.is_multiple_of($lanes) && KB <= 4 * $lanes);
            assert!(x.len() == R * d && g.len() >= R * kp && b + KB <= kp);
            let nv = KB / $lanes;
            // SAFETY: loads at KB·j + $lanes·v + $lanes ≤ KB·d within `block` (j < d, v < nv), row values at
            // r·d + j < R·d within `x`, norms at $lanes·v + $lanes ≤ KB, stores at
            // r·kp + b + $lanes·v + $lanes ≤ R·kp within `g`.
            unsafe {
                let mut acc: [[$v; 4]; R] = [[$zero(); 4]; R];
                let (xp, cp) = (x.as_ptr(), block.as_ptr());
                for j in 0..d {
                    let c: [$v; 4] =
                        std::array::from_fn(|v| $load(cp.add(KB * j + v.min(nv - 1) * $lanes)));
                    for (r, a) in acc.iter_mut().enumerate() {
                        let xb = $set1(*xp.add(r * d + j));
                        for v in 0..nv {
                            a[v] = $fma(xb, c[v], a[v]);
                        }
                    }
                }
                for (r, a) in acc.iter().enumerate() {
                    for v in 0..nv {
                        let n = $load(norms.as_ptr().add(v * $lanes));
                        $store(
                            g.as_mut_ptr().add(r * kp + b + v * $lanes),
                            $sub(n, $add(a[v], a[v])),
                        );
                    }
                }
            }
        }
    };
}
score_tile_fn!(
    score_tile_avx2,
    "avx2,fma",
    8,
    __m256,
    _mm256_setzero_ps,
    _mm256_loadu_ps,
    _mm256_set1_ps,
    _mm256_fmadd_ps,
    _mm256_add_ps,
    _mm256_sub_ps,
    _mm256_storeu_ps
);
score_tile_fn!(
    score_tile_avx512,
    "avx512f,avx2,fma",
    16,
    __m512,
    _mm512_setzero_ps,
    _mm512_loadu_ps,
    _mm512_set1_ps,
    _mm512_fmadd_ps,
    _mm512_add_ps,
    _mm512_sub_ps,
    _mm512_storeu_ps
);

/// The exact-form tile and argmin of R rows against the KB (16 or 32) centroids of lane block 0, in
/// AVX-512: per lane Σ_j (x_j − c_j)² as one FMA chain in feature order (the bits of `tile` with FMA), then
/// the lowest value and the lowest lane holding it, from a mask (as `argmin_avx2`; the distances are never
/// NaN: inputs are checked and the padding lanes are +∞). Kept in registers from the FMAs to the argmin:
/// storing the zmm accumulators for the AVX2 argmin would read 512-bit stores back in 256-bit halves.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn direct_tile_avx512<const KB: usize, const R: usize>(
    x: &[f32],
    t: &Transposed,
    lab: &mut [u32],
    dist: &mut [f32],
) {
    use std::arch::x86_64::*;
    let d = t.d;
    let block = &t.ct[..KB * d];
    assert!(KB == 16 || KB == 32);
    assert!(t.kb == KB && x.len() == R * d && lab.len() == R && dist.len() == R);
    let nv = KB / 16;
    // SAFETY: loads at KB·j + 16·v + 16 ≤ KB·d within `block` (j < d, v < nv), row values at r·d + j < R·d
    // within `x`.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        let (xp, cp) = (x.as_ptr(), block.as_ptr());
        for j in 0..d {
            let c = [
                _mm512_loadu_ps(cp.add(KB * j)),
                _mm512_loadu_ps(cp.add(KB * j + (nv - 1) * 16)),
            ];
            for (r, a) in acc.iter_mut().enumerate() {
                let xb = _mm512_set1_ps(*xp.add(r * d + j));
                for v in 0..nv {
                    let df = _mm512_sub_ps(xb, c[v]);
                    a[v] = _mm512_fmadd_ps(df, df, a[v]);
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            let m = if nv == 2 {
                _mm512_min_ps(a[0], a[1])
            } else {
                a[0]
            };
            let low = _mm512_reduce_min_ps(m);
            let lb = _mm512_set1_ps(low);
            let mut mask = u32::from(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a[0], lb));
            if nv == 2 {
                mask |= u32::from(_mm512_cmp_ps_mask::<_CMP_EQ_OQ>(a[1], lb)) << 16;
            }
            // No lane equals the minimum only if all are NaN: then lane 0, a real centroid.
            lab[r] = if mask == 0 { 0 } else { mask.trailing_zeros() };
            dist[r] = low;
        }
    }
}

impl Arith for Plain {
    #[inline(always)]
    fn sq_add(a: f32, acc: f32) -> f32 {
        acc + a * a
    }
    #[inline(always)]
    fn mul_add(a: f32, b: f32, acc: f32) -> f32 {
        acc + a * b
    }
}

/// `Arith::argmin_rows` as a pairwise tree over the lanes of each row (vectorisable).
#[inline(always)]
fn argmin_rows_portable<const KB: usize, const R: usize>(
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

/// Nearest of 8 centroids for 8 rows at once: the 8×8 distance tile is transposed in registers so that each
/// vector holds one centroid's distances to the 8 rows, then a vertical minimum and the lowest centroid
/// index equal to it (the lower index wins ties) give labels and distances with no horizontal reduction
/// per row.
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
        let best = c[1..].iter().fold(c[0], |b, &cj| _mm256_min_ps(b, cj));
        // The lowest j with c[j] = best, as 8 + min_j (j − 8 where equal, else 0): a compare, an and and
        // a minimum per centroid (a variable blend costs 2–3 µops).
        let mut low = _mm256_setzero_si256();
        for (j, &cj) in c.iter().enumerate() {
            let eq = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_EQ_OQ>(cj, best));
            low = _mm256_min_epi32(low, _mm256_and_si256(eq, _mm256_set1_epi32(j as i32 - 8)));
        }
        // No lane equals the minimum only if it is NaN (never: inputs are checked): then 8, masked to 0.
        let idx = _mm256_and_si256(
            _mm256_add_epi32(low, _mm256_set1_epi32(8)),
            _mm256_set1_epi32(7),
        );
        _mm256_storeu_si256(labels.as_mut_ptr() as *mut __m256i, idx);
        _mm256_storeu_ps(dist.as_mut_ptr(), best);
    }
}

/// `argmin_rows_portable` of one row in AVX2: fold the KB/8 lane vectors into one (ties to the lower
/// index), then a horizontal minimum and the lowest index among the lanes equal to it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn argmin_avx2<const KB: usize>(v: &[f32; KB]) -> (u32, f32) {
    use std::arch::x86_64::*;
    assert!(KB.is_multiple_of(8));
    // SAFETY: all loads read 8 lanes at offsets 8·g < KB within `v` (KB is a multiple of 8).
    unsafe {
        let mut bv = _mm256_loadu_ps(v.as_ptr());
        let mut bi = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for g in 1..KB / 8 {
            let v2 = _mm256_loadu_ps(v.as_ptr().add(8 * g));
            let i2 = _mm256_add_epi32(
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                _mm256_set1_epi32(8 * g as i32),
            );
            // Later blocks hold higher indices: strictly lower values only.
            let take = _mm256_cmp_ps::<_CMP_LT_OQ>(v2, bv);
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

/// R rows (`x`, R × d) against the KB centroids of lane block `b` (which starts at centroid b): Σ_j x_j·c_j
/// when `DOT` (the GEMM form's micro-kernel), else the exact Σ_j (x_j − c_j)², each summed in feature order.
#[inline(always)]
fn tile<M: Arith, const KB: usize, const R: usize, const DOT: bool>(
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
                    M::mul_add(xj, lane[c], a[c])
                } else {
                    M::sq_add(xj - lane[c], a[c])
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
fn exact<M: Arith>(x: &[f32], c: &[f32]) -> f32 {
    M::lanes8::<true>(x, c)
}

/// ‖x‖² in `exact`'s order.
#[inline(always)]
fn norm2<M: Arith>(x: &[f32]) -> f32 {
    M::lanes8::<false>(x, x)
}

/// Σ (x_j − c_j)² (`DIFF`) or Σ x_j² in 8 lanes (see `exact`).
#[inline(always)]
fn lanes8_portable<M: Arith, const DIFF: bool>(x: &[f32], c: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (xs, xt) = x.as_chunks::<8>();
    let (cs, ct) = c.as_chunks::<8>();
    let lanes = |acc: &mut [f32; 8], a: &[f32; 8], b: &[f32; 8]| {
        for l in 0..8 {
            acc[l] = M::sq_add(if DIFF { a[l] - b[l] } else { a[l] }, acc[l]);
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
fn padded_tail(xt: &[f32], ct: &[f32]) -> Option<([f32; 8], [f32; 8])> {
    let (mut a, mut b) = ([0f32; 8], [0f32; 8]);
    a[..xt.len()].copy_from_slice(xt);
    b[..ct.len()].copy_from_slice(ct);
    (!xt.is_empty()).then_some((a, b))
}

/// The 8 lanes of `lanes8` added in their fixed tree.
#[inline(always)]
fn tree8(acc: [f32; 8]) -> f32 {
    let h = [
        acc[0] + acc[4],
        acc[1] + acc[5],
        acc[2] + acc[6],
        acc[3] + acc[7],
    ];
    (h[0] + h[2]) + (h[1] + h[3])
}

/// `lanes8_portable` with FMA in one AVX2 vector (LLVM split the portable one into 2-lane pieces): the
/// same operations in the same order, so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn lanes8_avx2<const DIFF: bool>(x: &[f32], c: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let (xs, xt) = x.as_chunks::<8>();
    let (cs, ct) = c.as_chunks::<8>();
    let tail = padded_tail(xt, ct);
    let mut out = [0f32; 8];
    // SAFETY: every load reads one [f32; 8]; the store writes `out`.
    unsafe {
        let mut acc = _mm256_setzero_ps();
        for (p, q) in xs.iter().zip(cs).chain(tail.as_ref().map(|(a, b)| (a, b))) {
            let v = _mm256_loadu_ps(p.as_ptr());
            let v = if DIFF {
                _mm256_sub_ps(v, _mm256_loadu_ps(q.as_ptr()))
            } else {
                v
            };
            acc = _mm256_fmadd_ps(v, v, acc);
        }
        _mm256_storeu_ps(out.as_mut_ptr(), acc);
    }
    tree8(out)
}

/// GEMM-form scores s_c = ‖c‖² − 2x·c of every row of `x` against every packed centroid, into `g`
/// (rows × kp, row-major; padding lanes get +∞).
#[inline(always)]
fn scores<M: Arith, const KB: usize, const R: usize>(x: &[f32], t: &Transposed, g: &mut [f32]) {
    let (d, kp) = (t.d, t.kp);
    let n = g.len() / kp;
    assert!(x.len() == n * d && t.norms.len() == kp);
    let full = n / R * R;
    for r0 in (0..full).step_by(R) {
        let (xr, gr) = (&x[r0 * d..(r0 + R) * d], &mut g[r0 * kp..(r0 + R) * kp]);
        for b in (0..kp).step_by(KB) {
            M::score_tile::<KB, R>(xr, t, b, gr);
        }
    }
    for r in full..n {
        let (xr, gr) = (&x[r * d..(r + 1) * d], &mut g[r * kp..(r + 1) * kp]);
        for b in (0..kp).step_by(KB) {
            M::score_tile::<KB, 1>(xr, t, b, gr);
        }
    }
}

/// `Arith::score_tile` over plain arrays.
#[inline(always)]
fn score_tile_portable<M: Arith, const KB: usize, const R: usize>(
    x: &[f32],
    t: &Transposed,
    b: usize,
    g: &mut [f32],
) {
    let mut acc = tile::<M, KB, R, true>(x, t, b);
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
const SCAN: usize = 16;

/// `Arith::scan_min` a vector of lanes at a time.
#[inline(always)]
fn scan_min_portable(g: &[f32]) -> f32 {
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
fn scan_hits_portable(g: &[f32], th: f32) -> (u32, u32) {
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

/// `scan_min_portable` in AVX2 (LLVM split the portable one into 2-lane pieces).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn scan_min_avx2(g: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let mut out = [0f32; 8];
    // SAFETY: every load reads one [f32; 8]; the store writes `out`.
    unsafe {
        let mut m = _mm256_set1_ps(f32::INFINITY);
        for ch in g.as_chunks::<8>().0 {
            // minps returns its second operand when either is NaN: NaN scores are skipped.
            m = _mm256_min_ps(_mm256_loadu_ps(ch.as_ptr()), m);
        }
        _mm256_storeu_ps(out.as_mut_ptr(), m);
    }
    out.into_iter().fold(f32::INFINITY, f32::min)
}

/// `scan_hits_portable` in AVX2 (LLVM scalarised the portable one).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn scan_hits_avx2(g: &[f32], th: f32) -> (u32, u32) {
    use std::arch::x86_64::*;
    let (mut hits, mut at) = ([0u32; 8], [0u32; 8]);
    // SAFETY: every load reads one [f32; 8]; the stores write `hits` and `at`.
    unsafe {
        let (t, eight) = (_mm256_set1_ps(th), _mm256_set1_epi32(8));
        let (mut n, mut sum) = (_mm256_setzero_si256(), _mm256_setzero_si256());
        let mut idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        for ch in g.as_chunks::<8>().0 {
            let hit =
                _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LE_OQ>(_mm256_loadu_ps(ch.as_ptr()), t));
            n = _mm256_sub_epi32(n, hit);
            sum = _mm256_add_epi32(sum, _mm256_and_si256(hit, idx));
            idx = _mm256_add_epi32(idx, eight);
        }
        _mm256_storeu_si256(hits.as_mut_ptr() as *mut __m256i, n);
        _mm256_storeu_si256(at.as_mut_ptr() as *mut __m256i, sum);
    }
    (hits.iter().sum(), wrapping_sum(&at))
}

/// `scan_min_avx2` 16 lanes at a time (`g`'s length a multiple of 16: rows of the AVX-512 GEMM path's
/// 64-lane blocks); the same value, NaN scores skipped alike.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn scan_min_avx512(g: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let (ch, rest) = g.as_chunks::<16>();
    assert!(rest.is_empty());
    // SAFETY: every load reads one [f32; 16].
    unsafe {
        let mut m = _mm512_set1_ps(f32::INFINITY);
        for c in ch {
            m = _mm512_min_ps(_mm512_loadu_ps(c.as_ptr()), m);
        }
        // No NaN is left in m (+∞ when every score was NaN), so the reduction's order does not matter.
        _mm512_reduce_min_ps(m)
    }
}

/// `scan_hits_avx2` 16 lanes at a time, with compare masks (same length rule as `scan_min_avx512`); the
/// same count and index sum.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
fn scan_hits_avx512(g: &[f32], th: f32) -> (u32, u32) {
    use std::arch::x86_64::*;
    let (ch, rest) = g.as_chunks::<16>();
    assert!(rest.is_empty());
    let (mut hits, mut at) = ([0u32; 16], [0u32; 16]);
    // SAFETY: every load reads one [f32; 16]; the stores write `hits` and `at`.
    unsafe {
        let (t, sixteen, one) = (
            _mm512_set1_ps(th),
            _mm512_set1_epi32(16),
            _mm512_set1_epi32(1),
        );
        let (mut n, mut sum) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        let mut idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        for c in ch {
            let hit = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(_mm512_loadu_ps(c.as_ptr()), t);
            n = _mm512_mask_add_epi32(n, hit, n, one);
            sum = _mm512_mask_add_epi32(sum, hit, sum, idx);
            idx = _mm512_add_epi32(idx, sixteen);
        }
        _mm512_storeu_si512(hits.as_mut_ptr() as *mut __m512i, n);
        _mm512_storeu_si512(at.as_mut_ptr() as *mut __m512i, sum);
    }
    (hits.iter().sum(), wrapping_sum(&at))
}

/// Σ v, wrapping: the index sum of `scan_hits` is only used when it is one index (< kp); with many hits at
/// a large k it may wrap, and must not panic doing so.
fn wrapping_sum(v: &[u32]) -> u32 {
    v.iter().fold(0, |a, &b| a.wrapping_add(b))
}

/// The nearest centroid of each row of the chunk `xc` in the exact form (lowest index on exact ties) and
/// its exact distance, into `lab` and `dist`, from the rows' scores `g` (rows × kp). Per row: the lowest
/// score, its `threshold`, then how many scores are not above it and the sum of their indices. One such
/// centroid (almost every row) is the nearest: only its exact distance is computed. More (a near tie) or
/// none (non-finite values) go to `settle`. Each step is a pass over all the chunk's rows, so that the
/// rows' long dependency chains (minimum, norm, bound, exact distance) overlap instead of queueing.
#[inline(always)]
fn pick<M: Arith>(xc: &[f32], g: &[f32], t: &Transposed, lab: &mut [u32], dist: &mut [f32]) {
    let (d, kp, m) = (t.d, t.kp, lab.len());
    assert!(m <= MAX_CHUNK && g.len() == m * kp && xc.len() == m * d && dist.len() == m);
    let (mut low, mut x2) = ([0f32; MAX_CHUNK], [0f32; MAX_CHUNK]);
    for (((gr, row), l), n) in g
        .chunks_exact(kp)
        .zip(xc.chunks_exact(d))
        .zip(&mut low)
        .zip(&mut x2)
    {
        (*l, *n) = (M::scan_min(gr), norm2::<M>(row));
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
        let (hits, at) = M::scan_hits(gr, h);
        (*l, *one) = (at, hits == 1 && h < f32::INFINITY);
    }
    for (r, ((row, l), e)) in xc.chunks_exact(d).zip(lab.iter_mut()).zip(dist).enumerate() {
        (*l, *e) = if single[r] {
            (*l, exact::<M>(row, t.row(*l as usize)))
        } else {
            settle::<M>(row, &g[r * kp..(r + 1) * kp], t, th[r])
        };
    }
}

/// A near tie (or non-finite values): the exact form decides between the centroids whose score is not
/// above `th` (all of them when `th` is +∞ or none is).
#[cold]
fn settle<M: Arith>(x: &[f32], g: &[f32], t: &Transposed, th: f32) -> (u32, f32) {
    let g = &g[..t.k];
    let all = th == f32::INFINITY || !g.iter().any(|&s| s <= th);
    let mut best = (f32::NAN, usize::MAX);
    for (c, &s) in g.iter().enumerate() {
        if all || s <= th {
            let e = (exact::<M>(x, t.row(c)), c);
            if best.1 == usize::MAX || lower(best, e) {
                best = e;
            }
        }
    }
    (best.1 as u32, best.0)
}

/// Whether (value, index) b orders before a: lower value, then lower index.
#[inline(always)]
fn lower(a: (f32, usize), b: (f32, usize)) -> bool {
    b.0 < a.0 || (b.0 == a.0 && b.1 < a.1)
}

/// The nearest and second-nearest centroid of row `x` in the exact form (lowest index on ties) and their
/// exact distances. A centroid whose score is above the `threshold` of the second-lowest score is strictly
/// farther than both lowest-score centroids (the threshold grows with the score), so it is neither; the
/// rest are decided in the exact form.
fn pick2<M: Arith>(x: &[f32], g: &[f32], t: &Transposed) -> (u32, f32, u32, f32) {
    let g = &g[..t.k];
    let (mut s1, mut s2) = (f32::INFINITY, f32::INFINITY);
    for &s in g {
        if s < s1 {
            (s1, s2) = (s, s1);
        } else if s < s2 {
            s2 = s;
        }
    }
    let th = t.threshold(if t.k == 1 { s1 } else { s2 }, norm2::<M>(x));
    let all = th == f32::INFINITY || g.iter().filter(|&&s| s <= th).count() < 2.min(t.k);
    let mut best = [(f32::INFINITY, usize::MAX); 2];
    for (c, &s) in g.iter().enumerate() {
        if all || s <= th {
            let e = (exact::<M>(x, t.row(c)), c);
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
fn chunk_rows(t: &Transposed) -> usize {
    let bytes = 4 * (t.d + t.k.next_multiple_of(32));
    ((24 * 1024 / bytes) / 24 * 24).clamp(24, MAX_CHUNK)
}
const MAX_CHUNK: usize = 240;

/// Nearest centroid (lowest index on ties) and its exact-form distance for each row of a chunk `xc`. Up to
/// `DIRECT_MAX` centroids (one lane block) the micro-kernel computes Σ (x_j − c_j)² itself. Above, the
/// GEMM form's scores go through `g` (at least rows × kp) and are settled by `pick`.
#[inline(always)]
fn nearest_rows<M: Arith, const KB: usize, const R: usize>(
    xc: &[f32],
    t: &Transposed,
    g: &mut [f32],
    lab: &mut [u32],
    dist: &mut [f32],
) {
    let n = lab.len();
    if t.k <= DIRECT_MAX {
        M::direct_rows::<KB, R>(xc, t, lab, dist);
    } else {
        let g = &mut g[..n * t.kp];
        scores::<M, KB, R>(xc, t, g);
        pick::<M>(xc, g, t, lab, dist);
    }
}

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

/// Runs `block` on the chunk's rows (`xc`, d features) `rb` at a time, asking for the rows
/// `PREFETCH_BYTES` ahead first, then `one` on each row left over; each gets its rows' labels and
/// distances.
#[inline(always)]
fn by_row_blocks(
    xc: &[f32],
    d: usize,
    rb: usize,
    lab: &mut [u32],
    dist: &mut [f32],
    mut block: impl FnMut(&[f32], &mut [u32], &mut [f32]),
    mut one: impl FnMut(&[f32], &mut [u32], &mut [f32]),
) {
    let n = lab.len();
    let full = n / rb * rb;
    for r0 in (0..full).step_by(rb) {
        prefetch(xc, r0 * d + PREFETCH_BYTES / 4, rb * d);
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
    xc: &[f32],
    t: &Transposed,
    lab: &mut [u32],
    dist: &mut [f32],
) {
    by_row_blocks(
        xc,
        t.d,
        R,
        lab,
        dist,
        |x, l, e| M::argmin_rows(&tile::<M, KB, R, false>(x, t, 0), l, e),
        |x, l, e| M::argmin_rows(&tile::<M, KB, 1, false>(x, t, 0), l, e),
    );
}

/// The score buffer of `nearest_rows` for chunks of `chunk_rows` rows (empty for k ≤ `DIRECT_MAX`).
fn score_buffer(t: &Transposed) -> Vec<f32> {
    vec![
        0f32;
        if t.k <= DIRECT_MAX {
            0
        } else {
            chunk_rows(t) * t.kp
        }
    ]
}

/// `nearest_rows` over any number of rows, a chunk at a time, with a buffer `g` from `score_buffer`.
#[inline(always)]
fn nearest_chunks<M: Arith, const KB: usize, const R: usize>(
    x: &[f32],
    t: &Transposed,
    g: &mut [f32],
    labels: &mut [u32],
    dist: &mut [f32],
) {
    let (d, rows) = (t.d, chunk_rows(t));
    for (i, (l, e)) in labels
        .chunks_mut(rows)
        .zip(dist.chunks_mut(rows))
        .enumerate()
    {
        let xc = &x[i * rows * d..(i * rows + l.len()) * d];
        nearest_rows::<M, KB, R>(xc, t, g, l, e);
    }
}

#[inline(always)]
fn nearest_impl<M: Arith, const KB: usize, const R: usize>(
    x: &[f32],
    t: &Transposed,
    labels: &mut [u32],
    dist: &mut [f32],
) {
    nearest_chunks::<M, KB, R>(x, t, &mut score_buffer(t), labels, dist)
}

/// Nearest and second-nearest centroid of every row; the nearest is bit for bit `nearest_impl`'s. For
/// k ≤ `DIRECT_MAX` from the same exact tiles (a scan in centroid order with strict `<`, so the lowest index wins
/// ties for both); above, from the GEMM scores with the exact re-checks of `pick2`.
#[inline(always)]
fn nearest2_impl<M: Arith, const KB: usize, const R: usize>(
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
            let acc = tile::<M, KB, R, false>(&x[r0 * d..(r0 + R) * d], t, 0);
            for (r, a) in acc.iter().enumerate() {
                put(r0 + r, scan(a));
            }
        }
        for r in full..n {
            put(
                r,
                scan(&tile::<M, KB, 1, false>(&x[r * d..(r + 1) * d], t, 0)[0]),
            );
        }
        return;
    }
    let (rows, mut g) = (chunk_rows(t), score_buffer(t));
    for first in (0..n).step_by(rows) {
        let m = rows.min(n - first);
        let (xc, g) = (&x[first * d..(first + m) * d], &mut g[..m * kp]);
        scores::<M, KB, R>(xc, t, g);
        for (r, (row, gr)) in xc.chunks_exact(d).zip(g.chunks_exact(kp)).enumerate() {
            put(first + r, pick2::<M>(row, gr, t));
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
            let acc = tile::<M, KB, R, false>(&x[r0 * d..(r0 + R) * d], t, b);
            for (r, a) in acc.iter().enumerate() {
                add(r0 + r, a);
            }
        }
        for r in full..n {
            add(r, &tile::<M, KB, 1, false>(&x[r * d..(r + 1) * d], t, b)[0]);
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
#[inline(always)]
fn assign_impl<M: Arith, const KB: usize, const R: usize>(
    x: &[f32],
    w: Option<&[f32]>,
    t: &Transposed,
    labels: &mut [u32],
    s: &mut Stats,
) {
    let (d, k) = (t.d, t.k);
    let (mut lab, mut dist) = ([0u32; MAX_CHUNK], [0f32; MAX_CHUNK]);
    // This chunk's sums in f32 (at most MAX_CHUNK rows each, so the f32 error stays ~1e-7 relative), added
    // into the f64 totals once per chunk: half the vector work of f64 per row and no conversions.
    let mut tally = Tally {
        part: vec![0f32; k * d],
        counts: vec![0u32; k],
        weights: vec![0f64; k],
    };
    // A local instead of a field behind `s`: the compiler keeps it in a register across the row loop.
    let mut moved = 0u64;
    assert!(s.sums.len() >= k * d && s.weights.len() >= k && s.sse.len() >= k);
    let mut g = score_buffer(t);
    for (c, old) in labels.chunks_mut(MAX_CHUNK).enumerate() {
        let (first, m) = (c * MAX_CHUNK, old.len());
        let xc = &x[first * d..(first + m) * d];
        nearest_chunks::<M, KB, R>(xc, t, &mut g, &mut lab[..m], &mut dist[..m]);
        for (o, &l) in old.iter_mut().zip(&lab[..m]) {
            moved += (*o != l) as u64;
            *o = l;
        }
        let wc = w.map(|w| &w[first..first + m]);
        M::add_rows(&mut tally, xc, &lab[..m], wc);
        add_sse(&mut s.sse[..k], &dist[..m], &lab[..m], wc);
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
            // 8 rows × 16 lanes or 4 × 32); the other kernels of these twins (second-nearest, potentials) run the AVX2 tiles
            // of the same shapes as below.
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(tok), 32) => unsafe { $twin::avx512::<32, 2>(tok, $($arg),*) },
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(tok), 16) => unsafe { $twin::avx512::<16, 4>(tok, $($arg),*) },
            // Everything else on AVX-512 CPUs runs the AVX2 kernels: compiled for AVX-512, LLVM turned the
            // plain-array tiles into gathers and scatters.
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512(Avx512(tok)) | Isa::Avx2Fma(tok), kb) => match (kb, direct) {
                (8, _) => unsafe { $twin::avx2::<8, 8>(tok, $($arg),*) },
                (16, true) => unsafe { $twin::avx2::<16, 4>(tok, $($arg),*) },
                (16, false) => unsafe { $twin::avx2::<16, 6>(tok, $($arg),*) },
                _ => unsafe { $twin::avx2::<32, 2>(tok, $($arg),*) },
            },
            (_, 8) => $impl::<Plain, 8, 4>($($arg),*),
            (_, 16) => $impl::<Plain, 16, 2>($($arg),*),
            _ => $impl::<Plain, 32, 2>($($arg),*),
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
            pub(super) fn avx2<const KB: usize, const R: usize>(_proof: Avx2Fma, $($arg: $ty),*) {
                $imp::<Fused, KB, R>($($arg),*)
            }
            // AVX2 code around the AVX-512 tiles (`Wide::score_tile`, not inlined): compiled for AVX-512,
            // LLVM turned plain loops over the tiles into gathers and scatters.
            #[target_feature(enable = "avx2,fma")]
            pub(super) fn avx512<const KB: usize, const R: usize>(_proof: Avx512, $($arg: $ty),*) {
                $imp::<Wide, KB, R>($($arg),*)
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
    x: &[f32], w: Option<&[f32]>, t: &Transposed, l: &mut [u32], s: &mut Stats
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
    dispatch!(isa, t, assign_impl, assign_twin, (x, w, t, labels, s))
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

/// Rounds of the peak loop: 8 vectors of lanes each, 2 flops per lane and round.
const PEAK_ROUNDS: usize = 4_000_000;

/// L lanes = 8 vectors of independent multiply-adds: enough to cover the FMA latency on two pipes.
#[inline(always)]
fn peak_impl<M: Arith, const L: usize>(seed: f32) -> f32 {
    let mut acc = [seed; L];
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
    peak_impl::<Fused, 64>(seed)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
fn peak_avx512(_proof: Avx512, seed: f32) -> f32 {
    peak_impl::<Fused, 128>(seed)
}

/// Multiply-add throughput of all rayon threads right now with `isa`'s widest vectors, GFLOP/s: the
/// ceiling for the distance kernels.
pub fn peak_gflops(isa: Isa) -> f64 {
    use rayon::prelude::*;
    let threads = rayon::current_num_threads();
    let lanes = match isa {
        Isa::Avx512(_) => 128,
        _ => 64,
    };
    let t = std::time::Instant::now();
    let s: f32 = (0..threads)
        .into_par_iter()
        .map(|i| match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves this CPU has AVX-512.
            Isa::Avx512(tok) => unsafe { peak_avx512(tok, i as f32) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the token proves this CPU has AVX2 and FMA.
            Isa::Avx2Fma(tok) => unsafe { peak_avx2(tok, i as f32) },
            _ => peak_impl::<Plain, 64>(i as f32),
        })
        .sum();
    std::hint::black_box(s);
    (threads * PEAK_ROUNDS * lanes * 2) as f64 / t.elapsed().as_secs_f64() / 1e9
}
