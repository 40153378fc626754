//! An inference dense layer as one pass over its output: the output starts as the bias (plus
//! the residual the layer adds, for the attention and feed-forward outputs), the product
//! `x · Wᵀ` accumulates into it inside gemm, and GELU, when the layer has it, runs in place.
//! Composed, the same layer is a product, a bias pass and a residual pass, each allocating
//! and streaming the whole activation through memory (at 16 × 256 the feed-forward output is
//! 25 MB).
//!
//! Inference only (no backward); training keeps the differentiable `fused::linear`.

use super::fused::{fusable, gelu_erf_in_place, rows_per_task, slice, with_values};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;
use std::mem::MaybeUninit;

struct DenseBlock {
    /// `[rows, n]`, added to the output; the caller's tensor, read in place.
    residual: Option<Tensor>,
    gelu: bool,
}

impl CustomOp3 for DenseBlock {
    fn name(&self) -> &'static str {
        "dense-block"
    }

    fn cpu_fwd(
        &self,
        sx: &CpuStorage,
        lx: &Layout,
        sw: &CpuStorage,
        lw: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (
            slice(sx, lx, self.name())?,
            slice(sw, lw, self.name())?,
            slice(sb, lb, self.name())?,
        );
        let (n, k) = lw.shape().dims2()?;
        let rows = x.len() / k.max(1);
        if b.len() != n || rows * k != x.len() {
            candle_core::bail!(
                "dense block: input {:?}, weight {:?}, bias {}",
                lx.dims(),
                lw.dims(),
                b.len()
            );
        }
        let mut out = start_output(b, self.residual.as_ref(), rows, self.name())?;
        // SAFETY: x is rows × k and w is n × k, row-major, both contiguous; out is rows × n.
        // dst = 1 · dst + 1 · x · wᵀ.
        unsafe {
            gemm::gemm(
                rows,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                k as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(rayon::current_num_threads()),
            );
        }
        finish_output(out, self.gelu, lx, n)
    }
}

/// A dense layer's output before its product: every row the bias, plus the residual's row when
/// there is one. Written once, not zero-filled first, split across the pool by rows.
pub(crate) fn start_output(
    b: &[f32],
    residual: Option<&Tensor>,
    rows: usize,
    op: &str,
) -> Result<Vec<f32>> {
    let n = b.len();
    let mut out: Vec<f32> = Vec::with_capacity(rows * n);
    let start = |out: &mut [MaybeUninit<f32>], r: Option<&[f32]>| {
        let chunk = rows_per_task(n) * n;
        out.par_chunks_mut(chunk.max(1))
            .enumerate()
            .for_each(|(i, o)| {
                for (j, row) in o.chunks_mut(n.max(1)).enumerate() {
                    let at = i * chunk + j * n;
                    match r {
                        Some(r) => {
                            for ((v, &bv), &rv) in row.iter_mut().zip(b).zip(&r[at..at + n]) {
                                v.write(bv + rv);
                            }
                        }
                        None => {
                            for (v, &bv) in row.iter_mut().zip(b) {
                                v.write(bv);
                            }
                        }
                    }
                }
            });
    };
    let spare = &mut out.spare_capacity_mut()[..rows * n];
    match residual {
        Some(res) => with_values(res, op, |r| {
            if r.len() != rows * n {
                candle_core::bail!("{op}: residual of {} for {rows} × {n}", r.len());
            }
            start(spare, Some(r));
            Ok(())
        })?,
        None => start(spare, None),
    }
    // SAFETY: `start` wrote all rows × n values (every row of every chunk in full).
    unsafe { out.set_len(rows * n) };
    Ok(out)
}

/// GELU in place when the layer has it, and the output shaped as the input with `n` last.
pub(crate) fn finish_output(
    mut out: Vec<f32>,
    gelu: bool,
    lx: &Layout,
    n: usize,
) -> Result<(CpuStorage, Shape)> {
    if gelu {
        gelu_erf_in_place(&mut out);
    }
    let mut dims = lx.dims().to_vec();
    if let Some(last) = dims.last_mut() {
        *last = n;
    }
    Ok((CpuStorage::F32(out), Shape::from(dims)))
}

/// `x · Wᵀ + bias (+ residual)`, then GELU when `gelu`, for inference: `x` `[.., k]`, `weight`
/// `[n, k]`, `residual` shaped as the output. `None` when the inputs are not CPU f32.
pub fn dense_block(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    residual: Option<&Tensor>,
    gelu: bool,
) -> Result<Option<Tensor>> {
    if !fusable(x) {
        return Ok(None);
    }
    let op = DenseBlock {
        residual: residual.map(Tensor::contiguous).transpose()?,
        gelu,
    };
    Ok(Some(x.contiguous()?.apply_op3_no_bwd(
        &weight.contiguous()?,
        &bias.contiguous()?,
        &op,
    )?))
}
