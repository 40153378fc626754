//! The fused kernel for x + bias over the last dimension.

use super::{fusable, rows_per_task, slice, with_values};
use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// `x [.., n] + bias [n]`. candle's broadcast add reduces the bias gradient over the leading
/// dimensions with a strided reduction (7 % of a training step); here it is a row-parallel
/// column sum.
struct AddBias;

impl CustomOp2 for AddBias {
    fn name(&self) -> &'static str {
        "add-bias"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let b = slice(s2, l2, self.name())?;
        let n = b.len();
        if n == 0 || x.len() % n != 0 {
            candle_core::bail!("add-bias: bias {n} for {:?}", l1.dims());
        }
        let mut out = vec![0f32; x.len()];
        let chunk = rows_per_task(n) * n;
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(o, xc)| {
                for (orow, xrow) in o.chunks_mut(n).zip(xc.chunks(n)) {
                    for ((ov, &xv), &bv) in orow.iter_mut().zip(xrow).zip(b) {
                        *ov = xv + bv;
                    }
                }
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let n = bias.elem_count();
        let db = with_values(grad, self.name(), |g| Ok(column_sums(g, n)))?;
        Ok((
            Some(grad.clone()),
            Some(Tensor::from_vec(db, bias.shape(), bias.device())?),
        ))
    }
}

/// Σ over rows of a row-major `[rows, n]` matrix, rows split across the pool. The partial sums
/// are added in chunk order, not in whatever order the threads finish: a run with one seed
/// gives the same weights bit for bit.
fn column_sums(g: &[f32], n: usize) -> Vec<f32> {
    let chunk = rows_per_task(n) * n;
    let partials: Vec<Vec<f32>> = g
        .par_chunks(chunk)
        .map(|gc| {
            let mut acc = vec![0f32; n];
            for row in gc.chunks(n) {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        })
        .collect();
    let mut total = vec![0f32; n];
    for p in partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// `x + bias` over the last dimension, differentiable in both.
pub fn add_bias(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op2(&bias.contiguous()?, AddBias)
}

/// A dense layer `x · Wᵀ + b` (the product on candle's matmul, the bias fused) — candle-nn's
/// `Linear` with the bias gradient computed fast.
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let dims = x.dims().to_vec();
    let (k, n) = (weight.dim(1)?, weight.dim(0)?);
    let rows = x.elem_count() / k.max(1);
    let y = x.contiguous()?.reshape((rows, k))?.matmul(&weight.t()?)?;
    let y = match bias {
        Some(b) if fusable(&y) => add_bias(&y, b)?,
        Some(b) => y.broadcast_add(b)?,
        None => y,
    };
    let mut out_dims = dims;
    if let Some(last) = out_dims.last_mut() {
        *last = n;
    }
    y.reshape(out_dims)
}
