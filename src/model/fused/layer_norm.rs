//! The fused kernel for layer normalisation over the last dimension.

use super::math::{LANES, dot, sum};
use super::{rows_per_task, simd, slice, with_values};
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

struct LayerNormOp {
    eps: f32,
}

/// Mean and 1/σ of one row (population variance, as PyTorch's layer norm).
#[inline(always)]
fn row_stats(row: &[f32], eps: f32) -> (f32, f32) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    let mut acc = [0f32; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] += (c[i] - mean) * (c[i] - mean);
        }
    }
    let tail: f32 = chunks
        .remainder()
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum();
    let var = (acc.iter().sum::<f32>() + tail) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice(s1, l1, self.name())?;
        let w = slice(s2, l2, self.name())?;
        let b = slice(s3, l3, self.name())?;
        let h = w.len();
        if b.len() != h || x.len() % h.max(1) != 0 {
            candle_core::bail!(
                "layer-norm: weight {h}, bias {}, input {:?}",
                b.len(),
                l1.dims()
            );
        }
        let mut out = vec![0f32; x.len()];
        let chunk = rows_per_task(h) * h;
        out.par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .for_each(|(o, xc)| {
                simd::dispatch(
                    #[inline(always)]
                    || {
                        for (orow, xrow) in o.chunks_mut(h).zip(xc.chunks(h)) {
                            let (mean, rstd) = row_stats(xrow, self.eps);
                            for i in 0..h {
                                orow[i] = (xrow[i] - mean) * rstd * w[i] + b[i];
                            }
                        }
                    },
                )
            });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let h = w.elem_count();
        let (dx, dw, db) = with_values(x, self.name(), |x| {
            with_values(w, self.name(), |w| {
                with_values(grad, self.name(), |g| {
                    Ok(layer_norm_backward(x, w, g, h, self.eps))
                })
            })
        })?;
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), dev)?),
            Some(Tensor::from_vec(dw, w.shape(), dev)?),
            Some(Tensor::from_vec(db, w.shape(), dev)?),
        ))
    }
}

/// x̂ = (x − μ)·rstd; dw = Σ g ⊙ x̂, db = Σ g over rows;
/// dx = rstd · (g ⊙ w − mean(g ⊙ w) − x̂ · mean(g ⊙ w ⊙ x̂)).
fn layer_norm_backward(
    x: &[f32],
    w: &[f32],
    g: &[f32],
    h: usize,
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut dx = vec![0f32; x.len()];
    let chunk = rows_per_task(h) * h;
    let partial: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk).zip(g.par_chunks(chunk)))
        .map(|(dxc, (xc, gc))| {
            simd::dispatch(
                #[inline(always)]
                || {
                    let (mut dw, mut db) = (vec![0f32; h], vec![0f32; h]);
                    let (mut xhat, mut gw) = (vec![0f32; h], vec![0f32; h]);
                    for ((dxrow, xrow), grow) in
                        dxc.chunks_mut(h).zip(xc.chunks(h)).zip(gc.chunks(h))
                    {
                        let (mean, rstd) = row_stats(xrow, eps);
                        for i in 0..h {
                            xhat[i] = (xrow[i] - mean) * rstd;
                            gw[i] = grow[i] * w[i];
                            dw[i] += grow[i] * xhat[i];
                            db[i] += grow[i];
                        }
                        let (mean_gw, mean_gwx) = (sum(&gw) / h as f32, dot(&gw, &xhat) / h as f32);
                        for i in 0..h {
                            dxrow[i] = rstd * (gw[i] - mean_gw - xhat[i] * mean_gwx);
                        }
                    }
                    (dw, db)
                },
            )
        })
        .collect();
    let (mut dw, mut db) = (vec![0f32; h], vec![0f32; h]);
    for (pw, pb) in partial {
        for i in 0..h {
            dw[i] += pw[i];
            db[i] += pb[i];
        }
    }
    (dx, dw, db)
}

/// Layer normalisation over the last dimension, differentiable in all three inputs.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f64) -> Result<Tensor> {
    x.contiguous()?.apply_op3(
        &weight.contiguous()?,
        &bias.contiguous()?,
        LayerNormOp { eps: eps as f32 },
    )
}
