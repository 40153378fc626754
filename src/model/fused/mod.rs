//! Fused CPU kernels with their backward passes, as candle custom ops, one file each: masked
//! scaled softmax, layer normalisation, erf-GELU, the bias of a dense layer, the attention
//! heads' split and merge, dropout, softmax cross-entropy, and the optimizer's arithmetic. Composed from candle's
//! elementwise ops, each of these is 4–10 passes over the activations, each allocating, most
//! on one thread; fused, the forward is one pass and the backward one or two, split across the
//! thread pool by rows. Parallel reductions add their partial sums in a fixed order, so one
//! seed gives one result.
//!
//! Only f32 contiguous CPU tensors take the fused path; anything else (a GPU device, another
//! dtype) gets the composition in `ops`, which computes the same function.

mod bias;
mod cross_entropy;
mod dropout;
mod gelu;
mod heads;
mod layer_norm;
pub mod math;
mod optim;
pub mod simd;
mod softmax;

pub use bias::{add_bias, linear};
pub use cross_entropy::cross_entropy_rows;
pub use dropout::dropout;
pub use gelu::{gelu_erf, gelu_erf_in_place};
pub use heads::{merge_heads, split_heads};
pub use layer_norm::layer_norm;
pub use math::exp;
pub use optim::{AdamWStep, adamw_update, sum_of_squares};
pub use softmax::{exp_row_softmax, masked_softmax, softmax_rows_with_bias};

use candle_core::{CpuStorage, DType, Layout, Result, Storage, Tensor};

/// Rows per parallel task: enough work per task to amortise scheduling.
pub(crate) const MIN_ELEMS_PER_TASK: usize = 16 * 1024;

pub(crate) fn slice<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let all = match s {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("{op}: f32 only"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&all[a..b]),
        None => candle_core::bail!("{op}: contiguous input only"),
    }
}

/// A tensor's values as one contiguous f32 slice, for a backward pass that needs several.
pub fn with_values<R>(t: &Tensor, op: &str, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(slice(cpu, layout, op)?),
        _ => candle_core::bail!("{op}: CPU tensors only"),
    }
}

/// Whether the fused kernels apply to `t`.
pub fn fusable(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

pub fn rows_per_task(row: usize) -> usize {
    MIN_ELEMS_PER_TASK.div_ceil(row.max(1)).max(1)
}
