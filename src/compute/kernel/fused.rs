//! The GEMM form for 17–64 centroids in AVX-512, with the argmin, the bound and the exact distance of the
//! winner kept in registers: no score buffer and no passes over it.
//!
//! The exact tile needs a subtract and an FMA per feature and centroid; the GEMM form ‖c‖² − 2x·c one FMA.
//! Per tile of 8 rows: the 8 × 32 dot products (16 zmm; twice for 33–64 centroids), the scores, each row's
//! lowest score by a tree of shuffles that leaves the 8 rows' minima in one vector, their thresholds
//! ([`Transposed::threshold`], the same f64 arithmetic 8 rows at a time) and, per row, the mask of scores
//! not above it: one bit (almost every row) is the label. Rows with more or none (a near tie, non-finite
//! values) are decided in the exact form over all centroids. The distance of each label is then computed
//! as the kernels that own these centroid counts compute it (`exact_of_labels`), for 32 rows at once, a row
//! per lane: the rows, transposed on the way in, and the label's centroid values picked from the panel by
//! permutes. So labels and distances are bit for bit those of the exact tile (17–32 centroids) or of the
//! GEMM path's `pick` (33–64), which the parity suite checks against the nearest pass.

use super::*;

/// Rows of one call at most: four 8-row tiles, whose exact distances run as two 16-lane FMA chains (a chain
/// of d dependent FMAs per lane: with fewer rows its latency, not the ports, would set the pace). A chunk's
/// last 16 rows run as two tiles.
pub(super) const ROWS: usize = 32;
/// The most features for which the rows' transposed copy (`Columns`) stays on the stack and in L1.
pub(super) const MAX_D: usize = 128;

/// The rows of one call transposed: feature slot s holds the rows' values at 32·s.. (see `slot`). Left
/// uninitialised: `columns8` writes every slot below d rounded up to 16 before anything reads it, and
/// only slots of features below d are read.
#[repr(align(64))]
pub(super) struct Columns(std::mem::MaybeUninit<[f32; ROWS * MAX_D]>);

impl Columns {
    pub(super) fn new() -> Self {
        Columns(std::mem::MaybeUninit::uninit())
    }
}

/// Where feature j sits in `Columns`: the transposition leaves, per 16 features, features f and f + 4 of
/// each group of 8 in adjacent slots.
#[inline(always)]
fn slot(j: usize) -> usize {
    let l = j & 15;
    (j & !15) + (l & 8) + 2 * (l & 3) + ((l >> 2) & 1)
}

/// Whether these kernels run for `t` (on an AVX-512 CPU): 17–32 centroids (lane block 32, the exact
/// tile's panel) or 33–64 (lane block 64, the GEMM path's), a rows' copy that fits, and centroid norms that
/// cannot overflow (else every row's bound is +∞ and the exact form does all the work).
pub(super) fn fits(t: &Transposed) -> bool {
    let lanes =
        (t.kb == 32 && t.k > 16 && t.d >= MIN_D_32) || (t.kb == 64 && t.k <= 64 && t.d >= 2);
    lanes && t.d <= MAX_D && t.cmax2 < f64::from(f32::MAX)
}

/// Below this many features the exact tile is as fast for 17–32 centroids (measured; see BENCHMARKS.md,
/// session 18). For 33–64 the GEMM path with its score buffer is slower from d = 2 up; at d = 1 near ties
/// are so frequent that deciding them over all centroids here costs 3× more.
const MIN_D_32: usize = 16;

/// Labels and exact distances of the rows of `x` (`lab.len()` rows of d) 32 at a time, then 16, against
/// the centroids of `t` (`fits`); returns how many rows it did (all but the last n mod 16), which the
/// caller's other kernels finish.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
pub(super) fn fused_rows_avx512(
    w: Avx512,
    x: &[f32],
    t: &Transposed,
    lab: &mut [u32],
    dist: &mut [f32],
) -> usize {
    let (d, n) = (t.d, lab.len());
    assert!(fits(t) && x.len() == n * d && dist.len() == n);
    let mut cols = Columns::new();
    let mut done = 0;
    while n - done >= 16 {
        let m = if n - done >= 32 { 32 } else { 16 };
        let (xs, ls, es) = (
            &x[done * d..(done + m) * d],
            &mut lab[done..done + m],
            &mut dist[done..done + m],
        );
        match (t.kb, m) {
            (32, 32) => rows_avx512::<32, 4>(w, xs, t, &mut cols, ls, es),
            (32, _) => rows_avx512::<32, 2>(w, xs, t, &mut cols, ls, es),
            (_, 32) => rows_avx512::<64, 4>(w, xs, t, &mut cols, ls, es),
            _ => rows_avx512::<64, 2>(w, xs, t, &mut cols, ls, es),
        }
        done += m;
    }
    done
}

/// Labels and exact distances of 8·T rows (`x`, 8T × d; T = 2 or 4) against the centroids of `t`, whose
/// lane block is L (32 or 64).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
fn rows_avx512<const L: usize, const T: usize>(
    w: Avx512,
    x: &[f32],
    t: &Transposed,
    cols: &mut Columns,
    lab: &mut [u32],
    dist: &mut [f32],
) {
    use std::arch::x86_64::*;
    let d = t.d;
    let rows = 8 * T;
    assert!((T == 2 || T == 4) && (L == 32 || L == 64) && t.kb == L);
    assert!(fits(t) && x.len() == rows * d && lab.len() == rows && dist.len() == rows);
    assert!(t.ct.len() == L * d && t.norms.len() == L);
    let mut flagged = 0u32;
    for tile in 0..T {
        // Each tile asks for its 8 rows `PREFETCH_BYTES` ahead: above 32 features 2 rows before each of
        // its four steps, as all at once (32 lines at d = 64) they waited on the line-fill buffers (1M × 64
        // K=32 1.14× slower); up to 32, all at once (at d = 16 1.05× faster than spread).
        let (ahead, split) = (tile * 8 * d + PREFETCH_BYTES / 4, d > 32);
        prefetch(x, ahead, if split { 2 * d } else { 8 * d });
        let xr = &x[tile * 8 * d..(tile + 1) * 8 * d];
        let x2 = columns8(xr, d, cols, tile);
        if split {
            prefetch(x, ahead + 2 * d, 2 * d);
        }
        // Lanes 0–31, then (L = 64) lanes 32–63: 16 accumulators each.
        let s0 = scores8::<L>(xr, t, 0);
        let s = [s0, if L == 64 { scores8::<L>(xr, t, 32) } else { s0 }];
        if split {
            prefetch(x, ahead + 4 * d, 2 * d);
        }
        let m: [__m512; 8] = std::array::from_fn(|r| {
            let a = _mm512_min_ps(s[0][r][0], s[0][r][1]);
            if L == 64 {
                _mm512_min_ps(a, _mm512_min_ps(s[1][r][0], s[1][r][1]))
            } else {
                a
            }
        });
        let low = row_minima8(&m);
        if split {
            prefetch(x, ahead + 6 * d, 2 * d);
        }
        let th = thresholds8(t, low, x2);
        let finite = _mm256_cmp_ps_mask::<_CMP_LT_OQ>(
            _mm256_andnot_ps(_mm256_set1_ps(-0.0), th),
            _mm256_set1_ps(f32::INFINITY),
        );
        let mut tv = [0f32; 8];
        // SAFETY: stores 8 floats into `tv`.
        unsafe { _mm256_storeu_ps(tv.as_mut_ptr(), th) };
        for (r, &h) in tv.iter().enumerate() {
            let hb = _mm512_set1_ps(h);
            let le = |v: __m512| u64::from(_mm512_cmp_ps_mask::<_CMP_LE_OQ>(v, hb));
            let mut hits = le(s[0][r][0]) | le(s[0][r][1]) << 16;
            if L == 64 {
                hits |= le(s[1][r][0]) << 32 | le(s[1][r][1]) << 48;
            }
            let i = tile * 8 + r;
            if hits.is_power_of_two() && finite & (1 << r) != 0 {
                lab[i] = hits.trailing_zeros();
            } else {
                lab[i] = 0;
                flagged |= 1 << i;
            }
        }
    }
    exact_of_labels::<L, T>(t, cols, lab, dist);
    while flagged != 0 {
        let i = flagged.trailing_zeros() as usize;
        flagged &= flagged - 1;
        let (row, l, e) = (
            &x[i * d..(i + 1) * d],
            &mut lab[i..i + 1],
            &mut dist[i..i + 1],
        );
        if L == 32 {
            direct_tile_avx512::<32, 1, false>(w, row, t, l, e);
        } else {
            // Over all centroids in `exact`'s form: what `settle` returns, as its candidates always
            // include the nearest.
            (l[0], e[0]) = nearest_of(Fused(w), row, t, 0..t.k);
        }
    }
}

/// The exact distance of each of the 8T rows to its label, computed as the kernels that own these
/// centroids compute it, so that the bits are theirs: up to 32 centroids the exact tile's one FMA chain in
/// feature order per lane; above, `exact`'s (`lanes8`): feature j into partial sum j mod 8, each in
/// feature order, then the fixed tree of `tree8`. A row per lane, 16 rows per vector, from `cols`; the
/// label's centroid values picked from the panel by two-source permutes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
fn exact_of_labels<const L: usize, const T: usize>(
    t: &Transposed,
    cols: &Columns,
    lab: &[u32],
    dist: &mut [f32],
) {
    use std::arch::x86_64::*;
    let d = t.d;
    assert!(lab.len() == 8 * T && dist.len() == 8 * T && t.ct.len() == L * d);
    let nh = T / 2;
    // SAFETY: `lab` and `dist` hold 8T values (checked); panel loads at L·j + 16·v + 16 ≤ L·d; column loads
    // at 32·slot(j) + 16·h + 16 ≤ 32·(d rounded up to 16) ≤ 32·MAX_D, all written by `columns8`.
    unsafe {
        let ct = t.ct.as_ptr();
        let idx: [__m512i; 2] = std::array::from_fn(|h| {
            _mm512_loadu_si512(lab.as_ptr().add(16 * h.min(nh - 1)) as *const __m512i)
        });
        // Lanes whose label is 32–63: their values come from the panel's upper half.
        let upper: [__mmask16; 2] =
            std::array::from_fn(|h| _mm512_test_epi32_mask(idx[h], _mm512_set1_epi32(32)));
        let cp = cols.0.as_ptr() as *const f32;
        let pick = |j: usize, h: usize| {
            let c = _mm512_permutex2var_ps(
                _mm512_loadu_ps(ct.add(L * j)),
                idx[h],
                _mm512_loadu_ps(ct.add(L * j + 16)),
            );
            if L == 64 {
                let c2 = _mm512_permutex2var_ps(
                    _mm512_loadu_ps(ct.add(L * j + 32)),
                    idx[h],
                    _mm512_loadu_ps(ct.add(L * j + 48)),
                );
                _mm512_mask_blend_ps(upper[h], c, c2)
            } else {
                c
            }
        };
        let diff = |j: usize, h: usize| {
            _mm512_sub_ps(_mm512_load_ps(cp.add(32 * slot(j) + 16 * h)), pick(j, h))
        };
        if L == 32 {
            let mut acc = [_mm512_setzero_ps(); 2];
            for j in 0..d {
                for (h, a) in acc.iter_mut().enumerate().take(nh) {
                    let df = diff(j, h);
                    *a = _mm512_fmadd_ps(df, df, *a);
                }
            }
            for (h, a) in acc.iter().enumerate().take(nh) {
                _mm512_storeu_ps(dist.as_mut_ptr().add(16 * h), *a);
            }
        } else {
            let mut acc = [[_mm512_setzero_ps(); 8]; 2];
            for j0 in (0..d).step_by(8) {
                for (h, a) in acc.iter_mut().enumerate().take(nh) {
                    for (l, al) in a.iter_mut().enumerate().take(d - j0) {
                        let df = diff(j0 + l, h);
                        *al = _mm512_fmadd_ps(df, df, *al);
                    }
                }
            }
            for (h, a) in acc.iter().enumerate().take(nh) {
                let add = |i: usize, j: usize| _mm512_add_ps(a[i], a[j]);
                let (h0, h1, h2, h3) = (add(0, 4), add(1, 5), add(2, 6), add(3, 7));
                let e = _mm512_add_ps(_mm512_add_ps(h0, h2), _mm512_add_ps(h1, h3));
                _mm512_storeu_ps(dist.as_mut_ptr().add(16 * h), e);
            }
        }
    }
}

/// Transposes 8 rows (`x`, 8 × d) into lanes 8·tile.. of `cols`' slots (features past d as zeros) and
/// returns their ‖x‖² (summed in another order than `norm2`'s, within the same bound).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
fn columns8(x: &[f32], d: usize, cols: &mut Columns, tile: usize) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    assert!(x.len() == 8 * d && d <= MAX_D && tile < ROWS / 8);
    // o[f][s], lanes 0–7 / 8–15: features 8s + f / 8s + 4 + f of the 16 (slots 8s + 2f, 8s + 2f + 1).
    let ix = [
        _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23),
        _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31),
    ];
    let mut x2 = _mm512_setzero_ps();
    let (xp, cp) = (x.as_ptr(), cols.0.as_mut_ptr() as *mut f32);
    for j0 in (0..d).step_by(16) {
        let m = ((1u32 << (d - j0).min(16)) - 1) as u16;
        // SAFETY: masked loads read lanes j0 + l < d of rows r < 8 within `x`; the stores write 8 floats at
        // 32·s + 8·tile (lanes 0–7) and at 32·(s + 1) + 8·tile (lanes 8–15 of a masked store 8 floats
        // earlier), s + 1 < j0 + 16 ≤ MAX_D slots, within `cols`.
        unsafe {
            let r: [__m512; 8] =
                std::array::from_fn(|i| _mm512_maskz_loadu_ps(m, xp.add(i * d + j0)));
            // Per 128-bit lane q: [a_4q b_4q a_4q+1 b_4q+1] and [a_4q+2 b_4q+2 a_4q+3 b_4q+3], rows 2p, 2p + 1.
            let lo: [__m512d; 4] = std::array::from_fn(|p| {
                _mm512_castps_pd(_mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]))
            });
            let hi: [__m512d; 4] = std::array::from_fn(|p| {
                _mm512_castps_pd(_mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]))
            });
            // f4[f][h], lane q: feature 4q + f of rows 4h..4h + 4.
            let f4: [[__m512; 2]; 4] = std::array::from_fn(|f| {
                std::array::from_fn(|h| {
                    let (a, b) = if f < 2 {
                        (lo[2 * h], lo[2 * h + 1])
                    } else {
                        (hi[2 * h], hi[2 * h + 1])
                    };
                    _mm512_castpd_ps(if f % 2 == 0 {
                        _mm512_unpacklo_pd(a, b)
                    } else {
                        _mm512_unpackhi_pd(a, b)
                    })
                })
            });
            for (f, fh) in f4.iter().enumerate() {
                for (s, ixs) in ix.iter().enumerate() {
                    let o = _mm512_permutex2var_ps(fh[0], *ixs, fh[1]);
                    x2 = _mm512_fmadd_ps(o, o, x2);
                    let at = cp.add(32 * (j0 + 8 * s + 2 * f) + 8 * tile);
                    _mm256_storeu_ps(at, _mm512_castps512_ps256(o));
                    _mm512_mask_storeu_ps(at.add(32 - 8), 0xff00, o);
                }
            }
        }
    }
    _mm256_add_ps(
        _mm512_castps512_ps256(x2),
        _mm512_castps512_ps256(_mm512_shuffle_f32x4::<0b11_10_11_10>(x2, x2)),
    )
}

/// GEMM-form scores ‖c‖² − 2x·c of 8 rows against lanes b..b + 32 of a lane block of L (+∞ past k): per
/// lane one FMA chain in feature order, as `score_tile`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
fn scores8<const L: usize>(
    x: &[f32],
    t: &Transposed,
    b: usize,
) -> [[std::arch::x86_64::__m512; 2]; 8] {
    use std::arch::x86_64::*;
    let d = t.d;
    assert!(x.len() == 8 * d && t.ct.len() == L * d && t.norms.len() == L && b + 32 <= L);
    // SAFETY: panel loads at L·j + b + 16 + 16 ≤ L·d, row values at r·d + j < 8·d, norms b + 32 ≤ L.
    unsafe {
        let mut acc = [[_mm512_setzero_ps(); 2]; 8];
        let (xp, cp) = (x.as_ptr(), t.ct.as_ptr().add(b));
        for j in 0..d {
            let c = [
                _mm512_loadu_ps(cp.add(L * j)),
                _mm512_loadu_ps(cp.add(L * j + 16)),
            ];
            for (r, a) in acc.iter_mut().enumerate() {
                let xb = _mm512_set1_ps(*xp.add(r * d + j));
                a[0] = _mm512_fmadd_ps(xb, c[0], a[0]);
                a[1] = _mm512_fmadd_ps(xb, c[1], a[1]);
            }
        }
        let np = t.norms.as_ptr().add(b);
        let n = [_mm512_loadu_ps(np), _mm512_loadu_ps(np.add(16))];
        // Lanes past k: the exact tile's padding is +∞ (products ±∞ or NaN), the GEMM path's 0 with
        // ‖c‖² = +∞; both set to +∞.
        let valid = |v: usize| ((1u32 << t.k.saturating_sub(b + 16 * v).min(16)) - 1) as u16;
        let inf = _mm512_set1_ps(f32::INFINITY);
        let two = _mm512_set1_ps(2.0);
        acc.map(|a| {
            // n − 2a in one rounding, as `score_tile`'s n − (a + a) (the doubling is exact) where 2a is
            // finite; either way within `threshold`'s bound.
            std::array::from_fn(|v| {
                _mm512_mask_blend_ps(valid(v), inf, _mm512_fnmadd_ps(a[v], two, n[v]))
            })
        })
    }
}

/// The lowest of the 16 lanes of each of the 8 rows' vectors `m`, in lanes 0–7: rows merged pairwise by
/// shuffles so that every minimum works on 16 useful lanes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
fn row_minima8(m: &[std::arch::x86_64::__m512; 8]) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    // p1[p]: 128-bit lanes 0–1 row 2p's 8 partial minima, 2–3 row 2p + 1's.
    let p1: [__m512; 4] = std::array::from_fn(|p| {
        let (a, b) = (m[2 * p], m[2 * p + 1]);
        _mm512_min_ps(
            _mm512_shuffle_f32x4::<0b01_00_01_00>(a, b),
            _mm512_shuffle_f32x4::<0b11_10_11_10>(a, b),
        )
    });
    // p2[q]: 128-bit lane i holds row 4q + i's 4 partial minima.
    let p2: [__m512; 2] = std::array::from_fn(|q| {
        let (a, b) = (p1[2 * q], p1[2 * q + 1]);
        _mm512_min_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(a, b),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(a, b),
        )
    });
    // 128-bit lane q: elements 0–1 row q's 2 partial minima, 2–3 row 4 + q's.
    let p3 = _mm512_min_ps(
        _mm512_shuffle_ps::<0b01_00_01_00>(p2[0], p2[1]),
        _mm512_shuffle_ps::<0b11_10_11_10>(p2[0], p2[1]),
    );
    // Element 4q: row q's minimum; 4q + 2: row 4 + q's.
    let p4 = _mm512_min_ps(p3, _mm512_permute_ps::<0b10_11_00_01>(p3));
    let order = _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0);
    _mm512_castps512_ps256(_mm512_permutexvar_ps(order, p4))
}

/// `Transposed::threshold` of 8 rows at once: the same f64 operations in the same order, so the same
/// values (the caller decides the rows of a non-finite one in the exact form, as `threshold` maps it to +∞).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
#[inline]
fn thresholds8(
    t: &Transposed,
    low: std::arch::x86_64::__m256,
    x2: std::arch::x86_64::__m256,
) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let g = t.gamma_exact;
    let set = _mm512_set1_pd;
    let (low, x2) = (_mm512_cvtps_pd(low), _mm512_cvtps_pd(x2));
    let x2 = _mm512_mul_pd(x2, set(1.0 + g));
    let e = _mm512_mul_pd(
        set(1.01 * t.gamma_gemm),
        _mm512_add_pd(set(2.0 * t.cmax2), x2),
    );
    let sum = _mm512_add_pd(_mm512_add_pd(low, e), x2);
    let ea = _mm512_mul_pd(set(1.0 + g), _mm512_max_pd(sum, _mm512_setzero_pd()));
    let tiny = f64::from(f32::MIN_POSITIVE) * (t.d + 8) as f64;
    let th = _mm512_add_pd(
        _mm512_add_pd(
            _mm512_add_pd(low, _mm512_mul_pd(set(2.0), e)),
            _mm512_mul_pd(set(2.01 * g), ea),
        ),
        set(tiny),
    );
    let up = _mm512_add_pd(
        th,
        _mm512_mul_pd(_mm512_abs_pd(th), set(f64::from(f32::EPSILON))),
    );
    _mm512_cvtpd_ps(up)
}
