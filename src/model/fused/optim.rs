//! The fused kernel for the optimizer's arithmetic.

use super::{MIN_ELEMS_PER_TASK, with_values};
use candle_core::{Result, Tensor};
use rayon::prelude::*;

/// Σ x² of a tensor in one parallel pass (gradient clipping's norm).
pub fn sum_of_squares(t: &Tensor) -> Result<f64> {
    with_values(t, "sum-of-squares", |x| {
        // Partials summed in chunk order, for the same result on every run.
        let partials: Vec<f64> = x
            .par_chunks(MIN_ELEMS_PER_TASK)
            .map(|c| c.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>())
            .collect();
        Ok(partials.iter().sum())
    })
}

/// One AdamW update of one parameter, as `torch.optim.AdamW` computes it, in one pass:
/// w ← w·(1 − lr·wd); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
/// w ← w − lr · (m / bias₁) / (√(v / bias₂) + ε). Returns the new (w, m, v).
#[derive(Clone, Copy, Debug)]
pub struct AdamWStep {
    pub lr: f32,
    pub decay: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub bias1: f32,
    pub bias2: f32,
    pub eps: f32,
    /// Gradient clipping's factor, applied on the fly.
    pub grad_scale: f32,
}

pub fn adamw_update(
    w: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    p: AdamWStep,
) -> Result<(Tensor, Tensor, Tensor)> {
    let n = w.elem_count();
    let (mut nw, mut nm, mut nv) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
    with_values(w, "adamw", |w| {
        with_values(g, "adamw", |g| {
            with_values(m, "adamw", |m| {
                with_values(v, "adamw", |v| {
                    let c = MIN_ELEMS_PER_TASK;
                    nw.par_chunks_mut(c)
                        .zip(nm.par_chunks_mut(c))
                        .zip(nv.par_chunks_mut(c))
                        .enumerate()
                        .for_each(|(i, ((ow, om), ov))| {
                            let r = i * c..(i * c + ow.len());
                            let (w, g, m, v) = (&w[r.clone()], &g[r.clone()], &m[r.clone()], &v[r]);
                            for j in 0..ow.len() {
                                let gj = g[j] * p.grad_scale;
                                let mj = p.beta1 * m[j] + (1.0 - p.beta1) * gj;
                                let vj = p.beta2 * v[j] + (1.0 - p.beta2) * gj * gj;
                                let denom = (vj / p.bias2).sqrt() + p.eps;
                                ow[j] =
                                    w[j] * (1.0 - p.lr * p.decay) - p.lr * (mj / p.bias1) / denom;
                                om[j] = mj;
                                ov[j] = vj;
                            }
                        });
                    Ok(())
                })
            })
        })
    })?;
    let (shape, dev) = (w.shape(), w.device());
    Ok((
        Tensor::from_vec(nw, shape, dev)?,
        Tensor::from_vec(nm, shape, dev)?,
        Tensor::from_vec(nv, shape, dev)?,
    ))
}
