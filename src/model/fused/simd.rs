//! The kernels' inner loops compiled for the widest vector unit of the CPU they run on.
//!
//! The crate is built for baseline x86-64 (SSE2, four f32 lanes) so that one binary runs on
//! any machine a user copies it to; the loops in `math` are written so the compiler
//! vectorises them, and `dispatch` runs one of them in a copy compiled with AVX-512 or
//! AVX2 + FMA when the CPU has them (detected once, then a load and a branch per call). The
//! kernel bodies are `#[inline(always)]`, so each copy is the whole loop in that instruction
//! set, not a call back into the baseline code. Measured on the softmax row (MiniLM, 16 × 256
//! inference): see BENCHMARKS.md.

/// Runs `f` in the copy compiled for this CPU's widest vector unit. `f` must be marked
/// `#[inline(always)]` (and so must what it calls) for the copy to be vectorised.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above), all `avx512` enables.
            return unsafe { avx512(f) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA (checked just above).
            return unsafe { avx2(f) };
        }
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}
