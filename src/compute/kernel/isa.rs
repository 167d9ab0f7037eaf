//! Which instruction set the kernels run with, and the tokens that prove the CPU has it.

/// Proof that this CPU has AVX-512 (F and VL) besides AVX2 and FMA; made only by [`Isa::detect`], like
/// [`Avx2Fma`], which it contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx512(Avx2Fma);

/// Proof that this CPU has AVX2 and FMA. The private field means only [`Isa::detect`] (runtime feature
/// detection) can make one, and every `#[target_feature(enable = "avx2,fma")]` entry point takes one, so
/// safe code cannot run the AVX2 kernels on a CPU without AVX2 (the pattern of `pulp` and `std::arch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Avx2Fma(());

impl Avx512 {
    /// The AVX2+FMA proof an AVX-512 CPU also holds.
    pub fn avx2(self) -> Avx2Fma {
        self.0
    }
}

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
    /// The best instruction set this CPU has.
    pub fn detect() -> Isa {
        match Isa::avx2() {
            Some(Isa::Avx2Fma(t)) if Isa::has_avx512() => Isa::Avx512(Avx512(t)),
            Some(isa) => isa,
            None => Isa::Portable,
        }
    }
    /// This instruction set, or the lesser one `name` asks for (`avx2`, `portable`; `best` keeps it), to
    /// compare kernels. A lesser set this CPU lacks gives the portable path.
    pub fn at_most(self, name: &str) -> std::result::Result<Isa, String> {
        match name {
            "best" => Ok(self),
            "avx2" if matches!(self, Isa::Portable) => Ok(self),
            "avx2" => Ok(Isa::avx2().unwrap_or(Isa::Portable)),
            "portable" => Ok(Isa::Portable),
            other => Err(format!(
                "'{other}' is not an instruction set: give best, avx2 or portable"
            )),
        }
    }

    /// The AVX2+FMA proof this instruction set holds (AVX-512 CPUs hold it too).
    pub fn avx2_proof(self) -> Option<Avx2Fma> {
        match self {
            Isa::Avx512(w) => Some(w.avx2()),
            Isa::Avx2Fma(t) => Some(t),
            Isa::Portable => None,
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
