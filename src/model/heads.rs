//! Classifier heads: BERT's pooler + linear, RoBERTa's dense + out_proj, and a pooler-free head
//! over the CLS token, the mean of the tokens (the study's "no pooler" students) or their
//! element-wise max (a detector: one function of a contract can carry the verdict).

use super::Mode;
use super::config::ModelConfig;
use super::ops::dropout;
use candle_core::{D, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    Cls,
    Mean,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadKind {
    /// `bert.pooler.dense` (tanh) then `classifier`: BertForSequenceClassification.
    BertPooler,
    /// `classifier.dense` (tanh) then `classifier.out_proj` on the CLS token:
    /// RobertaForSequenceClassification.
    Roberta,
    /// `classifier` straight on a pooled vector; no pooler.
    Plain(Pooling),
}

impl HeadKind {
    /// `(name, shape)` of every head parameter for a model of this config.
    pub fn params(self, cfg: &ModelConfig, labels: usize) -> Vec<(String, Vec<usize>)> {
        let h = cfg.hidden_size;
        let linear = |name: &str, inp: usize, out: usize| {
            vec![
                (format!("{name}.weight"), vec![out, inp]),
                (format!("{name}.bias"), vec![out]),
            ]
        };
        match self {
            HeadKind::BertPooler => {
                let mut p = linear("bert.pooler.dense", h, h);
                p.extend(linear("classifier", h, labels));
                p
            }
            HeadKind::Roberta => {
                let mut p = linear("classifier.dense", h, h);
                p.extend(linear("classifier.out_proj", h, labels));
                p
            }
            HeadKind::Plain(_) => linear("classifier", h, labels),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Head {
    pub kind: HeadKind,
    dense: Option<Linear>,
    out: Linear,
    dropout: f64,
}

fn linear(vb: VarBuilder, inp: usize, out: usize) -> Result<Linear> {
    Ok(Linear::new(
        vb.get((out, inp), "weight")?,
        Some(vb.get(out, "bias")?),
    ))
}

impl Head {
    /// `vb` is the model's root.
    pub fn new(vb: VarBuilder, kind: HeadKind, cfg: &ModelConfig, labels: usize) -> Result<Self> {
        let h = cfg.hidden_size;
        let (dense, out) = match kind {
            HeadKind::BertPooler => (
                Some(linear(vb.pp("bert.pooler.dense"), h, h)?),
                linear(vb.pp("classifier"), h, labels)?,
            ),
            HeadKind::Roberta => (
                Some(linear(vb.pp("classifier.dense"), h, h)?),
                linear(vb.pp("classifier.out_proj"), h, labels)?,
            ),
            HeadKind::Plain(_) => (None, linear(vb.pp("classifier"), h, labels)?),
        };
        Ok(Self {
            kind,
            dense,
            out,
            dropout: cfg.classifier_dropout_prob(),
        })
    }

    /// The vector the classifier reads, before the last linear layer.
    pub fn pooled(&self, hidden: &Tensor, mask: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let cls = hidden.narrow(1, 0, 1)?.squeeze(1)?;
        match (self.kind, &self.dense) {
            (HeadKind::BertPooler, Some(dense)) => {
                let pooled = dense.forward(&cls)?.tanh()?;
                dropout(&pooled, self.dropout, mode)
            }
            (HeadKind::Roberta, Some(dense)) => {
                let x = dropout(&cls, self.dropout, mode)?;
                let x = dense.forward(&x)?.tanh()?;
                dropout(&x, self.dropout, mode)
            }
            (HeadKind::Plain(Pooling::Mean), _) => {
                let pooled = mean_pool(hidden, mask)?;
                dropout(&pooled, self.dropout, mode)
            }
            (HeadKind::Plain(Pooling::Max), _) => {
                let pooled = max_pool(hidden, mask)?;
                dropout(&pooled, self.dropout, mode)
            }
            _ => dropout(&cls, self.dropout, mode),
        }
    }

    pub fn forward(&self, hidden: &Tensor, mask: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        self.out.forward(&self.pooled(hidden, mask, mode)?)
    }
}

/// Mean of the token vectors under the mask (`[batch, seq]` of 0/1 floats).
pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.unsqueeze(D::Minus1)?;
    let summed = hidden.broadcast_mul(&m)?.sum(1)?;
    let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
    summed.broadcast_div(&counts)
}

/// Element-wise max of the token vectors under the mask: padding is pushed far below any
/// activation first, so it never wins (and takes no gradient).
pub fn max_pool(hidden: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.unsqueeze(D::Minus1)?;
    let pushed_down = ((m - 1.0)? * 1e4)?;
    hidden.broadcast_add(&pushed_down)?.max(1)
}
