//! An inference dense layer in f32 (`dense_block`: gemm with the bias folded in) against the
//! same layer in int8 (`int8_dense`: activations quantised per row, VNNI where the CPU has it),
//! on the shapes MiniLM's encoder multiplies at batch 16 × 128 and batch 1 × 128, alternating
//! the two, best of the rounds. `cargo bench --bench int8_dense`

use alambic::model::dense_block::dense_block;
use alambic::model::int8::{PackedInt8, int8_dense, kernel_name, quantize_weight};
use candle_core::{Device, Tensor};
use std::sync::Arc;
use std::time::Instant;

fn best(rounds: usize, mut f: impl FnMut() -> candle_core::Result<()>) -> candle_core::Result<f64> {
    f()?;
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64());
    }
    Ok(best)
}

fn main() -> candle_core::Result<()> {
    let d = Device::Cpu;
    println!("int8 kernel: {}", kernel_name());
    println!("| rows × in → out | f32 ms | int8 ms | f32 / int8 |");
    println!("|---|--:|--:|--:|");
    for rows in [2048, 128] {
        for (k, n) in [(384, 384), (384, 1536), (1536, 384)] {
            let x = Tensor::randn(0f32, 1.0, (rows, k), &d)?;
            let w = Tensor::randn(0f32, 0.05, (n, k), &d)?;
            let b = Tensor::zeros(n, candle_core::DType::F32, &d)?;
            let (q, s) = quantize_weight(&w.flatten_all()?.to_vec1::<f32>()?, n, k);
            let packed = Arc::new(PackedInt8::pack(&q, s, n, k));
            let (mut f32_s, mut int8_s) = (f64::MAX, f64::MAX);
            for _ in 0..3 {
                f32_s = f32_s.min(best(5, || {
                    dense_block(&x, &w, &b, None, false).map(|_| ())
                })?);
                int8_s = int8_s.min(best(5, || {
                    int8_dense(&x, &packed, &b, None, false).map(|_| ())
                })?);
            }
            println!(
                "| {rows} × {k} → {n} | {:.3} | {:.3} | {:.2} |",
                f32_s * 1e3,
                int8_s * 1e3,
                f32_s / int8_s
            );
        }
    }
    Ok(())
}
