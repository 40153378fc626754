//! GFLOP/s of candle's CPU matmul on the shapes one MiniLM training step (batch 16 × 128)
//! multiplies, transposed operands as the backward pass has them: where the step's time goes.
//! `cargo bench --bench matmul_shapes`

use candle_core::{Device, Tensor};
use std::time::Instant;

fn rate(a: &Tensor, b: &Tensor, rounds: usize) -> candle_core::Result<f64> {
    let (m, k) = (a.dim(a.rank() - 2)?, a.dim(a.rank() - 1)?);
    let n = b.dim(b.rank() - 1)?;
    let batch: usize = a.dims()[..a.rank() - 2].iter().product();
    a.matmul(b)?;
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        a.matmul(b)?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(2.0 * (batch * m * n * k) as f64 / best / 1e9)
}

fn main() -> candle_core::Result<()> {
    let d = Device::Cpu;
    let r = |s: &[usize]| Tensor::randn(0f32, 1.0, s, &d);
    let cases: Vec<(&str, Tensor, Tensor)> = vec![
        (
            "x·Wᵀ 2048×384 · 384×384",
            r(&[2048, 384])?,
            r(&[384, 384])?.t()?,
        ),
        (
            "x·Wᵀ 2048×384 · 384×1536",
            r(&[2048, 384])?,
            r(&[1536, 384])?.t()?,
        ),
        (
            "x·Wᵀ 2048×1536 · 1536×384",
            r(&[2048, 1536])?,
            r(&[384, 1536])?.t()?,
        ),
        (
            "dY·W 2048×1536 · 1536×384",
            r(&[2048, 1536])?,
            r(&[1536, 384])?,
        ),
        (
            "dYᵀ·X 384×2048 · 2048×1536",
            r(&[2048, 384])?.t()?,
            r(&[2048, 1536])?,
        ),
        (
            "dYᵀ·X 1536×2048 · 2048×384",
            r(&[2048, 1536])?.t()?,
            r(&[2048, 384])?,
        ),
        (
            "q·kᵀ 192 × 128×32 · 32×128",
            r(&[192, 128, 32])?,
            r(&[192, 128, 32])?.t()?,
        ),
        (
            "p·v 192 × 128×128 · 128×32",
            r(&[192, 128, 128])?,
            r(&[192, 128, 32])?,
        ),
        (
            "pᵀ·g 192 × 128×128 · 128×32",
            r(&[192, 128, 128])?.t()?,
            r(&[192, 128, 32])?,
        ),
        // The masked-language model's vocabulary projection: 307 masked rows (15 % of 8 × 256)
        // against the tied word embeddings (30,522 × 384), and its two backward products.
        (
            "h·Eᵀ 307×384 · 384×30522",
            r(&[307, 384])?,
            r(&[30_522, 384])?.t()?,
        ),
        (
            "dY·E 307×30522 · 30522×384",
            r(&[307, 30_522])?,
            r(&[30_522, 384])?,
        ),
        (
            "dYᵀ·h 30522×307 · 307×384",
            r(&[307, 30_522])?.t()?,
            r(&[307, 384])?,
        ),
        ("square 2048³", r(&[2048, 2048])?, r(&[2048, 2048])?),
    ];
    for (name, a, b) in &cases {
        println!("{name:32} {:6.1} GFLOP/s", rate(a, b, 5)?);
    }
    Ok(())
}
