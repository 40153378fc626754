//! Arithmetic the fused kernels share: reductions in eight independent lanes and an exp the
//! compiler vectorises.

/// Lanes of the reductions below: eight independent accumulators, so the compiler vectorises
/// them and each add waits on the one eight back, not on the previous (a plain `iter().sum()`
/// of f32 is one serial chain of adds: 4 ms per attention layer in softmax alone).
pub(crate) const LANES: usize = 8;

#[inline(always)]
pub fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}

#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
pub fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] = if c[i] > acc[i] { c[i] } else { acc[i] };
        }
    }
    chunks
        .remainder()
        .iter()
        .chain(acc.iter())
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// e^x in plain arithmetic the compiler vectorises (libm's `expf` is a call per element: 6 %
/// of an inference step in softmax alone): x = k·ln 2 + r, |r| ≤ ln 2 / 2, e^r by its Taylor
/// polynomial to degree 7 (relative error < 2e-7), 2^k built in the exponent bits. Below −87
/// the result is exactly 0, as `expf` underflows there too — so masked keys stay exactly 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    // Adding and subtracting 1.5·2²³ rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(-87.0, 88.0);
    let rounded = xc * LOG2E + ROUND;
    let k = rounded - ROUND;
    let r = xc - k * LN2_HI - k * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r / 5040.0))))));
    // 2^k from the bits of `rounded` (ROUND's bits plus k, as its unit in the last place is
    // 1): integer arithmetic only, which vectorises — `k as i32` is a saturating cast that
    // the compiler leaves scalar (4 % of an inference step).
    let scale = f32::from_bits(
        rounded
            .to_bits()
            .wrapping_sub(ROUND.to_bits())
            .wrapping_add(127)
            << 23,
    );
    if x < -87.0 { 0.0 } else { p * scale }
}
