//! AdamW as `torch.optim.AdamW` computes it (decoupled weight decay applied before the Adam
//! step), with its state in our hands so checkpoints can hold it and resume exactly.

use crate::model::fused;
use candle_core::{Result, Tensor, Var};
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            lr: 5e-5,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        }
    }
}

/// Adds the gradients `store` holds for `vars` to `grads` (by name): how a step sums the
/// gradients of its parts.
pub fn add_grads(
    grads: &mut HashMap<String, Tensor>,
    store: &candle_core::backprop::GradStore,
    vars: &[(String, Var)],
) -> Result<()> {
    for (name, var) in vars {
        if let Some(g) = store.get(var.as_tensor()) {
            let sum = match grads.remove(name) {
                Some(prev) => (prev + g)?,
                None => g.clone(),
            };
            grads.insert(name.clone(), sum);
        }
    }
    Ok(())
}

/// Biases and LayerNorm parameters take no weight decay (as in BERT's recipe).
pub fn decays(name: &str) -> bool {
    !(name.ends_with("bias") || name.contains("LayerNorm"))
}

pub struct AdamW {
    pub config: AdamWConfig,
    /// Sorted by name: the order of the state in checkpoints.
    vars: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    pub step: u64,
}

impl AdamW {
    pub fn new(vars: Vec<(String, Var)>, config: AdamWConfig) -> Result<Self> {
        let m = vars
            .iter()
            .map(|(_, v)| v.as_tensor().zeros_like())
            .collect::<Result<Vec<_>>>()?;
        let v = m.clone();
        Ok(Self {
            config,
            vars,
            m,
            v,
            step: 0,
        })
    }

    pub fn vars(&self) -> &[(String, Var)] {
        &self.vars
    }

    /// One update with the given learning rate; `grads` by variable name (a variable with no
    /// gradient is left alone, as PyTorch skips parameters whose `.grad` is None).
    pub fn step(&mut self, grads: &HashMap<String, Tensor>, lr: f64) -> Result<()> {
        self.step += 1;
        let c = &self.config;
        let t = self.step as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2 = 1.0 - c.beta2.powi(t);
        for (i, (name, var)) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(name) else { continue };
            let step = fused::AdamWStep {
                lr: lr as f32,
                decay: if decays(name) {
                    c.weight_decay as f32
                } else {
                    0.0
                },
                beta1: c.beta1 as f32,
                beta2: c.beta2 as f32,
                bias1: bias1 as f32,
                bias2: bias2 as f32,
                eps: c.eps as f32,
                grad_scale: 1.0,
            };
            let (w, m, v) = if fused::fusable(g) {
                fused::adamw_update(var.as_tensor(), g, &self.m[i], &self.v[i], step)?
            } else {
                adamw_composed(var.as_tensor(), g, &self.m[i], &self.v[i], step)?
            };
            var.set(&w)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// The moments as named tensors (`m.NAME`, `v.NAME`) for a checkpoint.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.insert(format!("m.{name}"), self.m[i].clone());
            out.insert(format!("v.{name}"), self.v[i].clone());
        }
        out
    }

    pub fn restore(&mut self, state: &HashMap<String, Tensor>, step: u64) -> Result<()> {
        for (i, (name, _)) in self.vars.iter().enumerate() {
            let (m, v) = (
                state.get(&format!("m.{name}")),
                state.get(&format!("v.{name}")),
            );
            match (m, v) {
                (Some(m), Some(v)) => {
                    self.m[i] = m.clone();
                    self.v[i] = v.clone();
                }
                _ => candle_core::bail!("optimizer state lacks the moments of {name}"),
            }
        }
        self.step = step;
        Ok(())
    }
}

/// The AdamW update in candle tensor ops: the path off the CPU, and the reference the fused
/// kernel is tested against. Returns the new (w, m, v).
pub fn adamw_composed(
    w: &Tensor,
    g: &Tensor,
    m: &Tensor,
    v: &Tensor,
    p: fused::AdamWStep,
) -> Result<(Tensor, Tensor, Tensor)> {
    let (lr, b1, b2) = (p.lr as f64, p.beta1 as f64, p.beta2 as f64);
    let g = (g * p.grad_scale as f64)?;
    let w = (w * (1.0 - lr * p.decay as f64))?;
    let m = ((m * b1)? + (&g * (1.0 - b1))?)?;
    let v = ((v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
    let denom = ((&v / p.bias2 as f64)?.sqrt()? + p.eps as f64)?;
    let update = ((&m / p.bias1 as f64)? / denom)?;
    Ok(((w - (update * lr)?)?, m, v))
}

/// Linear warm-up over `warmup` steps, then linear decay to 0 at `total`.
pub fn lr_at(step: u64, base: f64, warmup: u64, total: u64) -> f64 {
    if step < warmup {
        return base * (step + 1) as f64 / warmup as f64;
    }
    let remaining = total.saturating_sub(step) as f64;
    let span = total.saturating_sub(warmup).max(1) as f64;
    base * (remaining / span).max(0.0)
}

/// Scales the gradients so their global L2 norm is at most `max_norm`; returns the norm
/// before clipping.
pub fn clip_grad_norm(grads: &mut HashMap<String, Tensor>, max_norm: f64) -> Result<f64> {
    let mut total = 0.0f64;
    for g in grads.values() {
        total += if fused::fusable(g) {
            fused::sum_of_squares(g)?
        } else {
            g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64
        };
    }
    let norm = total.sqrt();
    if max_norm > 0.0 && norm > max_norm {
        let scale = max_norm / (norm + 1e-6);
        for g in grads.values_mut() {
            *g = (&*g * scale)?;
        }
    }
    Ok(norm)
}
