//! int8 inference: post-training quantisation of the encoder's dense layers (symmetric int8
//! weights with one scale per output channel) and their product with activations quantised
//! per row on the fly (`kernel.rs`). Everything else (embeddings, LayerNorm, attention scores
//! and softmax, the classification head) stays f32.

pub mod folder;
pub mod kernel;

use super::dense_block::{finish_output, start_output};
use super::fused::{fusable, slice};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
pub use kernel::{PackedInt8, kernel_name};
use std::sync::Arc;

/// `q[n, k]` and `scale[n]` with `w[n, k] ≈ q[n, k] · scale[n]`, rounding to nearest.
pub fn quantize_weight(w: &[f32], n: usize, k: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = Vec::with_capacity(n * k);
    let mut scale = Vec::with_capacity(n);
    for row in w.chunks(k.max(1)).take(n) {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let s = max / 127.0;
        let inv = if max > 0.0 { 127.0 / max } else { 0.0 };
        q.extend(
            row.iter()
                .map(|&v| (v * inv).round().clamp(-127.0, 127.0) as i8),
        );
        scale.push(s);
    }
    (q, scale)
}

/// The f32 weights an int8 matrix stands for.
pub fn dequantize(q: &[i8], scale: &[f32], k: usize) -> Vec<f32> {
    q.chunks(k.max(1))
        .zip(scale)
        .flat_map(|(row, &s)| row.iter().map(move |&v| f32::from(v) * s))
        .collect()
}

struct Int8Dense {
    weight: Arc<PackedInt8>,
    residual: Option<Tensor>,
    gelu: bool,
}

impl CustomOp2 for Int8Dense {
    fn name(&self) -> &'static str {
        "int8-dense"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, b) = (slice(sx, lx, self.name())?, slice(sb, lb, self.name())?);
        let (n, k) = (self.weight.n, self.weight.k);
        let rows = x.len() / k.max(1);
        if b.len() != n || rows * k != x.len() {
            candle_core::bail!("int8 dense: input {:?}, weight {n} × {k}", lx.dims());
        }
        let mut out = start_output(b, self.residual.as_ref(), rows, self.name())?;
        kernel::matmul_add(x, &self.weight, &mut out);
        finish_output(out, self.gelu, lx, n)
    }
}

/// `x · Wᵀ + bias (+ residual)`, then GELU when `gelu`, with `W` in int8, for inference.
/// `None` when `x` is not a CPU f32 tensor (the caller then uses the f32 weights).
pub fn int8_dense(
    x: &Tensor,
    weight: &Arc<PackedInt8>,
    bias: &Tensor,
    residual: Option<&Tensor>,
    gelu: bool,
) -> Result<Option<Tensor>> {
    if !fusable(x) {
        return Ok(None);
    }
    let op = Int8Dense {
        weight: weight.clone(),
        residual: residual.map(Tensor::contiguous).transpose()?,
        gelu,
    };
    Ok(Some(
        x.contiguous()?.apply_op2_no_bwd(&bias.contiguous()?, &op)?,
    ))
}
