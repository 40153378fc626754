//! The fused kernel for softmax(x · scale + (1 − mask) · masked) over the last dimension.

use super::math::{dot, exp, max, sum};
use super::{rows_per_task, simd, slice};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `x`: `[batch, …, keys]` raw attention scores; `mask`: `[batch, keys]`, 1 for tokens, 0 for
/// padding. Padded keys get `masked` added before the softmax (exactly what adding the
/// broadcast additive mask does).
struct MaskedSoftmax {
    scale: f32,
    masked: f32,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let mask = slice(s2, l2, self.name())?;
        let dims = l1.dims();
        let keys = *dims.last().unwrap_or(&1);
        let batch = dims.first().copied().unwrap_or(1);
        if mask.len() != batch * keys {
            candle_core::bail!("masked-softmax: mask of {} for {dims:?}", mask.len());
        }
        let rows_per_batch = x.len() / (batch * keys).max(1);
        let mut out = vec![0f32; x.len()];
        let chunk = rows_per_task(keys) * keys;
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .enumerate()
            .for_each(|(task, (o, xin))| {
                let first_row = task * chunk / keys;
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for (r, (orow, xrow)) in
                            o.chunks_mut(keys).zip(xin.chunks(keys)).enumerate()
                        {
                            let b = (first_row + r) / rows_per_batch;
                            let m = &mask[b * keys..(b + 1) * keys];
                            for ((ov, &xv), &mv) in orow.iter_mut().zip(xrow).zip(m) {
                                *ov = xv * self.scale + (1.0 - mv) * self.masked;
                            }
                            softmax_in_place(orow);
                        }
                    },
                )
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dx =
            res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxBackward { scale: self.scale })?;
        Ok((Some(dx), None))
    }
}

/// One row's softmax in place (the scores already scaled and masked).
pub fn exp_row_softmax(row: &mut [f32]) {
    simd::dispatch(
        #[inline(always)]
        || softmax_in_place(row),
    )
}

/// Each row of `rows` (rows of `bias.len()`) plus `bias`, then its softmax, in place: the
/// inference attention's scores with the additive mask of their contract.
pub fn softmax_rows_with_bias(rows: &mut [f32], bias: &[f32]) {
    simd::dispatch(
        #[inline(always)]
        || {
            for row in rows.chunks_mut(bias.len().max(1)) {
                for (x, &b) in row.iter_mut().zip(bias) {
                    *x += b;
                }
                softmax_in_place(row);
            }
        },
    )
}

#[inline(always)]
fn softmax_in_place(row: &mut [f32]) {
    let top = max(row);
    for v in row.iter_mut() {
        *v = exp(*v - top);
    }
    scale_to_total(row, 1.0);
}

/// `out = scale · softmax(row)`, for a caller that must keep `row` (the cross-entropy's
/// backward); inside a `simd::dispatch` like the in-place one.
#[inline(always)]
pub(super) fn softmax_into(out: &mut [f32], row: &[f32], scale: f32) {
    let top = max(row);
    for (o, &v) in out.iter_mut().zip(row) {
        *o = exp(v - top);
    }
    scale_to_total(out, scale);
}

/// Scales the non-negative `row` so that it sums to `total`.
#[inline(always)]
fn scale_to_total(row: &mut [f32], total: f32) {
    let k = total / sum(row);
    for v in row.iter_mut() {
        *v *= k;
    }
}

/// dx = scale · y ⊙ (g − Σ g ⊙ y), row by row.
struct SoftmaxBackward {
    scale: f32,
}

impl CustomOp2 for SoftmaxBackward {
    fn name(&self) -> &'static str {
        "masked-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = slice(s1, l1, self.name())?;
        let g = slice(s2, l2, self.name())?;
        let keys = *l1.dims().last().unwrap_or(&1);
        let mut out = vec![0f32; y.len()];
        let chunk = rows_per_task(keys) * keys;
        out.par_chunks_mut(chunk)
            .zip(y.par_chunks(chunk).zip(g.par_chunks(chunk)))
            .for_each(|(o, (yc, gc))| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for ((orow, yrow), grow) in
                            o.chunks_mut(keys).zip(yc.chunks(keys)).zip(gc.chunks(keys))
                        {
                            let yg = dot(yrow, grow);
                            for ((ov, &yv), &gv) in orow.iter_mut().zip(yrow).zip(grow) {
                                *ov = self.scale * yv * (gv - yg);
                            }
                        }
                    },
                )
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// Attention probabilities `softmax(x · scale + (1 − mask) · masked)` over the last dimension,
/// `mask` `[batch, keys]` of 0/1. Differentiable in `x`.
pub fn masked_softmax(x: &Tensor, mask: &Tensor, scale: f64, masked: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op2(
        &mask.contiguous()?,
        MaskedSoftmax {
            scale: scale as f32,
            masked: masked as f32,
        },
    )
}
