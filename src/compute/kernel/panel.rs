//! The centroids packed for the micro-kernels (BLIS's panel) and the rounding-error bound that lets the
//! GEMM form's scores rule centroids out.

use super::*;

/// Centroids packed for the kernels: lane block b holds centroids b·kb.. as d rows of kb lanes, contiguous
/// (kp = k rounded up to kb; padding lanes never win: +∞ for the exact tiles of k ≤ `DIRECT_MAX`, else 0 with
/// ‖c‖² = +∞ so that their GEMM-form score is +∞), plus each centroid's ‖c‖², its row-major values for
/// the exact form, and the bound constants of [`Transposed::threshold`].
#[derive(Debug, Clone)]
pub struct Transposed {
    pub(super) ct: Vec<f32>,
    pub(super) norms: Vec<f32>,
    pub(super) rows: Vec<f32>,
    /// For one lane block of 8 (k ≤ 8) on AVX-512: feature j's 8 centroid values each twice,
    /// [c0 c0 c1 c1 … c7 c7], 16 lanes per feature (the two-rows-per-vector tile, `direct_pairs_avx512`,
    /// which only AVX-512 runs); else empty.
    pub(super) pairs: Vec<f32>,
    pub(super) kp: usize,
    pub(super) kb: usize,
    pub(super) k: usize,
    pub(super) d: usize,
    /// An upper bound on max ‖c‖² over the centroids.
    pub(super) cmax2: f64,
    /// Relative error bounds of the GEMM form and of the exact form for this d (see `threshold`).
    pub(super) gamma_gemm: f64,
    pub(super) gamma_exact: f64,
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
        let pairs = if kb == 8 && matches!(isa, Isa::Avx512(_)) {
            ct.iter().flat_map(|&v| [v, v]).collect()
        } else {
            Vec::new()
        };
        Transposed {
            ct,
            norms,
            rows: c[..k * d].to_vec(),
            pairs,
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
    pub(super) fn row(&self, c: usize) -> &[f32] {
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
    pub(super) fn threshold(&self, low: f32, x2: f32) -> f32 {
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
/// (On AVX-512, 17–32 centroids of 16–128 features run `fused` instead of the exact tile, and 33–64 instead
/// of the score buffer: the GEMM form with no buffer and no passes, with the results of the kernel it
/// replaces.)
pub(super) const DIRECT_MAX: usize = 32;

/// Lane block for k centroids. Up to `DIRECT_MAX`: all of them in one block (8, 16 or 32 lanes), so the
/// exact-form tile holds each row's whole argmin. Above: blocks wide enough to fill the registers of
/// `isa` for the GEMM tile (AVX2 and portable have 16 vector registers, too few for 32 lanes × 6 rows;
/// AVX-512's 32 hold 6 rows × 64 lanes, 24 accumulators: per feature 4 centroid loads and 6 broadcasts feed
/// 24 FMAs. Measured against 8 rows × 32, one core, min of 5 rounds: 100K × 64 K=128 16.5 against 18.6 ms,
/// 100K × 128 K=64 22.9 against 24.5, 250K × 32 K=256 41.3 against 41.4, 200K × 16 K=64 8.7 against 8.7.)
pub(super) fn lane_block(isa: Isa, k: usize) -> usize {
    match (isa, k) {
        (_, 0..=8) => 8,
        (_, 9..=16) => 16,
        (_, k) if k <= DIRECT_MAX => 32,
        (Isa::Avx512(_), _) => 64,
        _ => 16,
    }
}
