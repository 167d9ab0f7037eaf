//! The hot loops in AVX2 and AVX-512 intrinsics: the same operations in the same order as their portable
//! versions in `arith`, where LLVM vectorised those badly.

use super::*;

/// Expands to `Arith::score_tile` over vectors of `$lanes` f32 (KB a multiple of `$lanes`, at most 4
/// vectors): per lane Σ_j x_j·c_j as one FMA chain in feature order, then ‖c‖² − (dot + dot) (the doubling
/// is exact), the bits of `score_tile_portable` with FMA, stored straight into `g`. Intrinsics because
/// LLVM's own vectorisation of `tile` at AVX-512 turned the R × KB accumulators into gathers and scatters;
/// the scores are stored from the registers because reading a 512-bit store back in 256-bit halves stalls.
macro_rules! score_tile_fn {
    ($name:ident, $tok:ty, $feature:literal, $lanes:literal, $v:ty, $zero:ident, $load:ident, $set1:ident, $fma:ident,
     $add:ident, $sub:ident, $store:ident) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $feature)]
        #[inline]
        pub(super) fn $name<const KB: usize, const R: usize>(
            _proof: $tok,
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
/// The exact-form tile and argmin of R rows against the KB (16 or 32) centroids of lane block 0, in
/// AVX-512: per lane Σ_j (x_j − c_j)² as one FMA chain in feature order (the bits of `tile` with FMA), then
/// the lowest value and the lowest lane holding it, from a mask (as `argmin_avx2`; the distances are never
/// NaN: inputs are checked and the padding lanes are +∞). Kept in registers from the FMAs to the argmin:
/// storing the zmm accumulators for the AVX2 argmin would read 512-bit stores back in 256-bit halves.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(super) fn direct_tile_avx512<const KB: usize, const R: usize, const SPREAD: bool>(
    _proof: Avx512,
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
            // With `SPREAD`, the rows `PREFETCH_BYTES` ahead, a cache line per feature (`by_row_blocks`).
            if SPREAD && 16 * j < R * d {
                _mm_prefetch::<_MM_HINT_T0>(
                    xp.wrapping_add(PREFETCH_BYTES / 4 + 16 * j) as *const i8
                );
            }
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

/// The exact-form tile and argmin of 16 rows against the 8 centroids of lane block 0 (k ≤ 8) in AVX-512, two
/// rows per vector: lane 2c + h holds row 2p + h against centroid c, so the 8 centroids fill all 16 lanes
/// (a 256-bit vector per row, as the AVX2 tile has, needs twice the subtracts and FMAs). Per lane Σ_j
/// (x_j − c_j)² as one FMA chain in feature order: the bits of `tile` with FMA. Each feature's pair of row
/// values comes from one 64-bit broadcast load, so the rows are first interleaved in pairs (two permutes per
/// 16 features and pair), 16 features at a time into a 1 KB buffer. The 8 accumulators are then transposed
/// as 8 × 8 64-bit elements (24 shuffles) so that each vector holds one centroid's distances to the 16 rows
/// in row order: a vertical minimum and the lowest centroid equal to it give labels and distances (the
/// lower index wins ties; the distances are never NaN: inputs are checked, padding lanes are +∞).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(super) fn direct_pairs_avx512(
    _proof: Avx512,
    x: &[f32],
    t: &Transposed,
    lab: &mut [u32],
    dist: &mut [f32],
) {
    use std::arch::x86_64::*;
    const ROWS: usize = 16;
    let d = t.d;
    assert!(t.kb == 8 && t.pairs.len() == 16 * d);
    assert!(x.len() == ROWS * d && lab.len() == ROWS && dist.len() == ROWS);
    /// Each pair's 16-feature chunk interleaved, [a_0 b_0 a_1 b_1 …], in a cache line of its own pair.
    #[repr(align(64))]
    struct Pairs([[f32; 32]; ROWS / 2]);
    let mut buf = Pairs([[0f32; 32]; ROWS / 2]);
    // SAFETY: row loads read lanes j0 + l < d of rows r < 16 within `x` (the mask leaves the lanes at or
    // past d unread); stores write `buf.0[p]`'s 32 floats; broadcast loads read 8 bytes at 2·jj + 2 ≤ 32
    // in `buf.0[p]` (jj < w ≤ 16); centroid loads read 16 floats at 16·j + 16 ≤ 16·d within `t.pairs`; the
    // label and distance stores write 16 values into slices checked to hold 16.
    unsafe {
        let mut acc = [_mm512_setzero_ps(); ROWS / 2];
        let (xp, cp) = (x.as_ptr(), t.pairs.as_ptr());
        let lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        for j0 in (0..d).step_by(16) {
            let w = (d - j0).min(16);
            let mask = ((1u32 << w) - 1) as u16;
            for (p, b) in buf.0.iter_mut().enumerate() {
                let a = _mm512_maskz_loadu_ps(mask, xp.add(2 * p * d + j0));
                let c = _mm512_maskz_loadu_ps(mask, xp.add((2 * p + 1) * d + j0));
                _mm512_storeu_ps(b.as_mut_ptr(), _mm512_permutex2var_ps(a, lo, c));
                _mm512_storeu_ps(b.as_mut_ptr().add(16), _mm512_permutex2var_ps(a, hi, c));
            }
            for jj in 0..w {
                // The 16 rows `PREFETCH_BYTES` ahead (d cache lines), one per feature: asked for all at
                // once (`by_row_blocks`) they waited on the line-fill buffers (BENCHMARKS.md, session 20).
                _mm_prefetch::<_MM_HINT_T0>(
                    xp.wrapping_add(PREFETCH_BYTES / 4 + 16 * (j0 + jj)) as *const i8
                );
                let c = _mm512_loadu_ps(cp.add(16 * (j0 + jj)));
                for (a, b) in acc.iter_mut().zip(&buf.0) {
                    let pair = (b.as_ptr().add(2 * jj) as *const f64).read_unaligned();
                    let xb = _mm512_castpd_ps(_mm512_set1_pd(pair));
                    let df = _mm512_sub_ps(xb, c);
                    *a = _mm512_fmadd_ps(df, df, *a);
                }
            }
        }
        // acc[p], as 64-bit elements: element c = (row 2p, row 2p + 1) against centroid c. Transposed:
        // v[c], element p = the same pair.
        let a: [__m512d; 8] = std::array::from_fn(|p| _mm512_castps_pd(acc[p]));
        let t1: [__m512d; 8] = std::array::from_fn(|i| {
            let (x0, x1) = (a[i & !1], a[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_pd(x0, x1)
            } else {
                _mm512_unpackhi_pd(x0, x1)
            }
        });
        // t1[2i] element 2m + h = pair 2i + h, centroid 2m; t1[2i + 1] the same for centroid 2m + 1.
        let lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
        let hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
        // t2[4g + 2e + s]: pairs 4g..4g + 4 for centroids e + 2s (elements 0–3) and e + 2s + 4 (4–7).
        let t2: [__m512d; 8] = std::array::from_fn(|i| {
            let (g, e, s) = (i / 4, (i / 2) % 2, i % 2);
            let (x0, x1) = (t1[4 * g + e], t1[4 * g + 2 + e]);
            _mm512_permutex2var_pd(x0, if s == 0 { lo } else { hi }, x1)
        });
        // v[c]: pairs 0–3 from t2[c'], 4–7 from t2[4 + c'], the low or high half.
        let v: [__m512; 8] = std::array::from_fn(|c| {
            let (e, s, h) = (c % 2, (c / 2) % 2, c / 4);
            let (x0, x1) = (t2[2 * e + s], t2[4 + 2 * e + s]);
            _mm512_castpd_ps(if h == 0 {
                _mm512_shuffle_f64x2::<0b01_00_01_00>(x0, x1)
            } else {
                _mm512_shuffle_f64x2::<0b11_10_11_10>(x0, x1)
            })
        });
        let best = v[1..].iter().fold(v[0], |b, &vc| _mm512_min_ps(b, vc));
        // The lowest c with v[c] = best: written from the highest down, the last write wins. No lane equals
        // the minimum only if it is NaN (never): then 0.
        let mut idx = _mm512_setzero_si512();
        for c in (0..8).rev() {
            let eq = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(v[c], best);
            idx = _mm512_mask_mov_epi32(idx, eq, _mm512_set1_epi32(c as i32));
        }
        _mm512_storeu_si512(lab.as_mut_ptr() as *mut __m512i, idx);
        _mm512_storeu_ps(dist.as_mut_ptr(), best);
    }
}

/// Nearest of 8 centroids for 8 rows at once: the 8×8 distance tile is transposed in registers so that each
/// vector holds one centroid's distances to the 8 rows, then a vertical minimum and the lowest centroid
/// index equal to it (the lower index wins ties) give labels and distances with no horizontal reduction
/// per row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn argmin_8x8_avx2(
    _proof: Avx2Fma,
    acc: &[[f32; 8]; 8],
    labels: &mut [u32],
    dist: &mut [f32],
) {
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
pub(super) fn argmin_avx2<const KB: usize>(_proof: Avx2Fma, v: &[f32; KB]) -> (u32, f32) {
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

/// `lanes8_portable` with FMA in one AVX2 vector (LLVM split the portable one into 2-lane pieces): the
/// same operations in the same order, so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn lanes8_avx2<const DIFF: bool>(_proof: Avx2Fma, x: &[f32], c: &[f32]) -> f32 {
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

/// `scan_min_portable` in AVX2 (LLVM split the portable one into 2-lane pieces).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn scan_min_avx2(_proof: Avx2Fma, g: &[f32]) -> f32 {
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
pub(super) fn scan_hits_avx2(_proof: Avx2Fma, g: &[f32], th: f32) -> (u32, u32) {
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

/// The last n = d mod 8 (< 8) features of a row added into its cluster's last 8 sums (`add_rows_scaled`;
/// `sum` is that whole vector, padding lanes included), scaled by `wr` when `WEIGHTED` (a multiply, then an
/// add: the portable loop's roundings). The row is read under a mask (lanes past n are 0 and never read);
/// the sums are read and written whole, so that a later row of the same cluster gets them by store
/// forwarding (a masked store would hold it up: 10–19 % slower at d = 10 and 12 when measured).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(super) fn add_tail_avx2<const WEIGHTED: bool>(sum: &mut [f32], row: &[f32], wr: f32) {
    use std::arch::x86_64::*;
    let n = row.len();
    assert!(n < 8 && sum.len() == 8);
    // SAFETY: the masked load reads lanes j < n of `row` only; the load and store of `sum` its 8 values.
    unsafe {
        let mask = _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        );
        let r = _mm256_maskload_ps(row.as_ptr(), mask);
        let r = if WEIGHTED {
            _mm256_mul_ps(_mm256_set1_ps(wr), r)
        } else {
            r
        };
        let v = _mm256_add_ps(_mm256_loadu_ps(sum.as_ptr()), r);
        _mm256_storeu_ps(sum.as_mut_ptr(), v);
    }
}

/// `scan_min_avx2` 16 lanes at a time (`g`'s length a multiple of 16: rows of the AVX-512 GEMM path's
/// 64-lane blocks); the same value, NaN scores skipped alike.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
#[inline]
pub(super) fn scan_min_avx512(_proof: Avx512, g: &[f32]) -> f32 {
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
pub(super) fn scan_hits_avx512(_proof: Avx512, g: &[f32], th: f32) -> (u32, u32) {
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

score_tile_fn!(
    score_tile_avx2,
    Avx2Fma,
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
    Avx512,
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

/// `sse_rows_portable` for at most KM (8 or 16) clusters: each cluster's 8 lanes in a register, 16 rows at
/// a time (a compare of their labels and two masked adds per cluster, rows 0–7 then 8–15, instead of a load,
/// add and store per row): every lane gets the same rows in the same order as there, so the same bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
pub(super) fn sse_rows_avx512<const KM: usize>(
    _proof: Avx512,
    labels: &[u32],
    dist: &[f32],
    lanes: &mut [f64],
) {
    use std::arch::x86_64::*;
    let (n, k) = (labels.len(), lanes.len() / 8);
    assert!(dist.len() == n && lanes.len() == 8 * k && k <= KM);
    // Loops over all KM registers (unrolled, so that `acc` stays in registers), those past k left alone.
    let mut acc = [_mm512_setzero_pd(); KM];
    for (c, a) in acc.iter_mut().enumerate() {
        if c < k {
            // SAFETY: reads lanes[8c..8c + 8], within `lanes` (8k values, c < k).
            *a = unsafe { _mm512_loadu_pd(lanes.as_ptr().add(8 * c)) };
        }
    }
    // The largest label seen: one at or past k would match no register that is stored back, so it is
    // refused below, as the portable version's index check does.
    let mut top = _mm512_setzero_si512();
    let mut add = |l: __m512i, v: __m512, valid: __mmask16| {
        top = _mm512_max_epu32(top, l);
        let (lo, hi) = (
            _mm512_cvtps_pd(_mm512_castps512_ps256(v)),
            _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(
                _mm512_castps_pd(v),
            ))),
        );
        for (c, a) in acc.iter_mut().enumerate() {
            let m = _mm512_mask_cmpeq_epi32_mask(valid, l, _mm512_set1_epi32(c as i32));
            *a = _mm512_mask_add_pd(*a, m as __mmask8, *a, lo);
            *a = _mm512_mask_add_pd(*a, (m >> 8) as __mmask8, *a, hi);
        }
    };
    let (lc, lt) = labels.as_chunks::<16>();
    let (dc, dt) = dist.as_chunks::<16>();
    for (l, v) in lc.iter().zip(dc) {
        // SAFETY: each load reads one [u32; 16] or [f32; 16].
        let (l, v) = unsafe {
            (
                _mm512_loadu_si512(l.as_ptr() as *const __m512i),
                _mm512_loadu_ps(v.as_ptr()),
            )
        };
        add(l, v, u16::MAX);
    }
    if !lt.is_empty() {
        let valid = ((1u32 << lt.len()) - 1) as __mmask16;
        // SAFETY: the masked loads read only the lt.len() (< 16) values left in `labels` and `dist`.
        let (l, v) = unsafe {
            (
                _mm512_maskz_loadu_epi32(valid, lt.as_ptr() as *const i32),
                _mm512_maskz_loadu_ps(valid, dt.as_ptr()),
            )
        };
        add(l, v, valid);
    }
    assert!(
        (_mm512_reduce_max_epu32(top) as usize) < k.max(1),
        "label out of range"
    );
    for (c, a) in acc.iter().enumerate() {
        if c < k {
            // SAFETY: writes lanes[8c..8c + 8], within `lanes` (8k values, c < k).
            unsafe { _mm512_storeu_pd(lanes.as_mut_ptr().add(8 * c), *a) };
        }
    }
}
