//! Losses on contract-level logits.

use super::evaluate::ContractForward;
use super::samples::{Sample, Target};
use candle_core::{D, Device, Result, Tensor};
use std::collections::BTreeMap;

/// What a training stage minimises: the loss of one batch and its named terms (for the
/// `terms` of step events). It sees the contract logits and the window-level forward outputs.
pub trait Objective {
    /// Whether the loss reads pre-softmax attention scores (the forward then keeps them).
    fn wants_scores(&self) -> bool {
        false
    }

    fn loss(
        &self,
        forward: &ContractForward,
        batch: &[&Sample],
    ) -> Result<(Tensor, BTreeMap<String, f64>)>;
}

/// Fine-tuning on labels: cross-entropy (or BCE for multi-label), optionally class-weighted.
pub struct LabelLoss {
    pub class_weights: Option<Vec<f32>>,
}

impl Objective for LabelLoss {
    fn loss(
        &self,
        forward: &ContractForward,
        batch: &[&Sample],
    ) -> Result<(Tensor, BTreeMap<String, f64>)> {
        let logits = &forward.logits;
        let targets: Vec<&Target> = batch.iter().map(|s| &s.target).collect();
        let l = loss(
            logits,
            &targets,
            self.class_weights.as_deref(),
            logits.device(),
        )?;
        let name = if matches!(targets.first(), Some(Target::Labels(_))) {
            "bce"
        } else {
            "ce"
        };
        let value = l.to_scalar::<f32>()? as f64;
        Ok((l, BTreeMap::from([(name.to_string(), value)])))
    }
}

/// Cross-entropy with optional class weights (PyTorch's weighted mean: Σ wᵢ·lossᵢ / Σ wᵢ):
/// the fused kernel on the CPU, candle's ops elsewhere.
pub fn cross_entropy(
    logits: &Tensor,
    targets: &[usize],
    weights: Option<&[f32]>,
) -> Result<Tensor> {
    let t: Vec<u32> = targets.iter().map(|&t| t as u32).collect();
    let w: Vec<f32> = targets
        .iter()
        .map(|&t| weights.and_then(|w| w.get(t).copied()).unwrap_or(1.0))
        .collect();
    if crate::model::fused::fusable(logits) {
        return crate::model::fused::cross_entropy_rows(logits, &t, &w)?.sum_all();
    }
    composed_cross_entropy(logits, &t, &w)
}

/// The same loss from candle's log-softmax and gather: per-row weights `w`, their mean.
pub fn composed_cross_entropy(logits: &Tensor, targets: &[u32], w: &[f32]) -> Result<Tensor> {
    let device = logits.device();
    let log_probs = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let idx = Tensor::from_vec(targets.to_vec(), (targets.len(), 1), device)?;
    let picked = log_probs.gather(&idx, 1)?.squeeze(1)?;
    let total: f32 = w.iter().sum();
    let w = Tensor::from_vec(w.to_vec(), targets.len(), device)?;
    (picked * w)?.sum_all()?.neg()? / total as f64
}

/// Binary cross-entropy with logits, mean over every (sample, label):
/// max(x, 0) − x·y + log(1 + e^(−|x|)).
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let relu = logits.relu()?;
    let xy = (logits * targets)?;
    let soft = ((logits.abs()?.neg()?.exp()? + 1.0)?).log()?;
    ((relu - xy)? + soft)?.mean_all()
}

pub fn loss(
    logits: &Tensor,
    targets: &[&Target],
    weights: Option<&[f32]>,
    device: &Device,
) -> Result<Tensor> {
    match targets.first() {
        Some(Target::Labels(_)) => {
            let rows: Vec<f32> = targets
                .iter()
                .flat_map(|t| match t {
                    Target::Labels(v) => v.clone(),
                    Target::Class(_) | Target::Unlabeled => Vec::new(),
                })
                .collect();
            let y = Tensor::from_vec(rows, logits.dims(), device)?;
            bce_with_logits(logits, &y)
        }
        _ => {
            let classes: Vec<usize> = targets
                .iter()
                .map(|t| match t {
                    Target::Class(c) => *c,
                    Target::Labels(_) | Target::Unlabeled => 0,
                })
                .collect();
            cross_entropy(logits, &classes, weights)
        }
    }
}
