//! What the machine allows: one streaming read of the rows and the multiply-add peak, the floor that
//! `strata bench` reports the kernels against.

use super::*;

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
pub(super) const PEAK_ROUNDS: usize = 4_000_000;

/// L lanes = 8 vectors of independent multiply-adds: enough to cover the FMA latency on two pipes.
#[inline(always)]
pub(super) fn peak_impl<M: Arith, const L: usize>(ar: M, seed: f32) -> f32 {
    let mut acc = [seed; L];
    let a = std::hint::black_box(1e-4f32);
    for _ in 0..PEAK_ROUNDS {
        for v in acc.iter_mut() {
            *v = ar.sq_add(a, *v);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
pub(super) fn peak_avx2(proof: Avx2Fma, seed: f32) -> f32 {
    peak_impl::<Fused, 64>(Fused(proof), seed)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
pub(super) fn peak_avx512(proof: Avx512, seed: f32) -> f32 {
    peak_impl::<Fused, 128>(Fused(proof.avx2()), seed)
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
            _ => peak_impl::<Plain, 64>(Plain, i as f32),
        })
        .sum();
    std::hint::black_box(s);
    (threads * PEAK_ROUNDS * lanes * 2) as f64 / t.elapsed().as_secs_f64() / 1e9
}
