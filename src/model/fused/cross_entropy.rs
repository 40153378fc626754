//! The fused kernel for softmax cross-entropy: one row's loss is log Σ e^x − x[target], its
//! gradient softmax(x) − one-hot(target). Composed from candle's ops (log-softmax, gather,
//! their backward passes: max, subtract, exp, sum, log, subtract, a scatter into zeros) it is
//! about fifteen passes over `[rows, classes]`, most on one thread; the masked-language model's
//! loss runs over 30,522 classes for every masked token, so those passes were a few per cent of
//! a pretraining step. Here the forward is two passes per row (max, then Σ exp) and the
//! backward four (max, exp, sum, scale: the softmax of `softmax::softmax_into`), split across
//! the thread pool by rows.

use super::math::{LANES, exp, max};
use super::softmax::softmax_into;
use super::{rows_per_task, simd, slice};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

/// Each row's target and weight (already divided by the total), shared by the forward and
/// its backward.
struct CrossEntropy {
    targets: Vec<u32>,
    weights: Vec<f32>,
}

/// Σ_j e^(x_j − m) in eight lanes, as `math::sum` adds.
#[inline(always)]
fn sum_exp(x: &[f32], m: f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = x.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] += exp(c[i] - m);
        }
    }
    let tail: f32 = chunks.remainder().iter().map(|&v| exp(v - m)).sum();
    acc.iter().sum::<f32>() + tail
}

impl CustomOp1 for CrossEntropy {
    fn name(&self) -> &'static str {
        "cross-entropy"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l, self.name())?;
        let (rows, classes) = l.shape().dims2()?;
        let mut out = vec![0f32; rows];
        out.par_iter_mut()
            .zip(x.par_chunks(classes))
            .enumerate()
            .with_min_len(rows_per_task(classes))
            .for_each(|(i, (o, row))| {
                let lse = simd::dispatch(
                    #[inline(always)]
                    || {
                        let m = max(row);
                        m + sum_exp(row, m).ln()
                    },
                );
                *o = self.weights[i] * (lse - row[self.targets[i] as usize]);
            });
        Ok((CpuStorage::F32(out), Shape::from(rows)))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let x = x.contiguous()?;
        let g: Vec<f32> = grad.to_vec1()?;
        let (rows, classes) = x.dims2()?;
        let out = super::with_values(&x, "cross-entropy-backward", |x| {
            let mut out = vec![0f32; x.len()];
            out.par_chunks_mut(classes)
                .zip(x.par_chunks(classes))
                .enumerate()
                .with_min_len(rows_per_task(classes))
                .for_each(|(i, (o, row))| {
                    // d loss_i / d x_ij = w_i (softmax_ij − [j = t_i]), times the gradient
                    // that reaches row i's loss.
                    let scale = g[i] * self.weights[i];
                    simd::dispatch(
                        #[inline(always)]
                        || softmax_into(o, row, scale),
                    );
                    o[self.targets[i] as usize] -= scale;
                });
            Ok(out)
        })?;
        Ok(Some(Tensor::from_vec(out, (rows, classes), x.device())?))
    }
}

/// Each row's weighted cross-entropy `w_i / Σw · (log Σ_j e^(x_ij) − x_i,t_i)` of `[rows,
/// classes]` logits, as a `[rows]` tensor whose sum is the weighted mean loss; differentiable.
/// Targets must be below `classes` (checked).
pub fn cross_entropy_rows(logits: &Tensor, targets: &[u32], weights: &[f32]) -> Result<Tensor> {
    let (rows, classes) = logits.dims2()?;
    if targets.len() != rows || weights.len() != rows {
        candle_core::bail!(
            "cross-entropy: {rows} rows, {} targets, {} weights",
            targets.len(),
            weights.len()
        );
    }
    if let Some(t) = targets.iter().find(|&&t| t as usize >= classes) {
        candle_core::bail!("cross-entropy: target {t} out of {classes} classes");
    }
    let total: f32 = weights.iter().sum();
    logits.contiguous()?.apply_op1(CrossEntropy {
        targets: targets.to_vec(),
        weights: weights.iter().map(|w| w / total).collect(),
    })
}
