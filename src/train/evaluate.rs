//! Running a model over samples (inference, windows pooled per contract) and scoring it.

use super::batches::{Padded, eval_batches, pad};
use super::samples::{Sample, Target};
use crate::data::Task;
use crate::eval::{self, Interval, Metrics};
use crate::model::encoder::Batch;
use crate::model::load::Output;
use crate::model::{Classifier, Mode};
use candle_core::{D, Result, Tensor};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    Max,
    Mean,
}

impl Pooling {
    /// The config's spelling (cache keys hash it, so it must not change).
    pub fn name(self) -> &'static str {
        match self {
            Self::Max => "max",
            Self::Mean => "mean",
        }
    }
}

/// One forward pass over a batch of contracts: the contract-level logits `[batch, classes]`
/// (each contract's window logits pooled), and the window-level outputs they came from (hidden
/// states, attention, the padded batch) for losses that read inside the model.
pub struct ContractForward {
    pub logits: Tensor,
    pub output: Output,
    pub padded: Padded,
}

pub fn contract_forward(
    model: &Classifier,
    samples: &[&Sample],
    mode: &mut Mode,
    pooling: Pooling,
    want_scores: bool,
) -> Result<ContractForward> {
    let padded = pad(samples, model.config.pad_token_id);
    let output = model.forward(
        &Batch {
            input_ids: &padded.ids,
            attention_mask: &padded.mask,
        },
        mode,
        want_scores,
    )?;
    let pooled = padded
        .rows
        .iter()
        .map(|&(start, n)| {
            let rows = output.logits.narrow(0, start, n)?;
            match pooling {
                Pooling::Max => rows.max_keepdim(0),
                Pooling::Mean => rows.mean_keepdim(0),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ContractForward {
        logits: Tensor::cat(&pooled, 0)?,
        output,
        padded,
    })
}

/// Contract-level logits `[batch, classes]`: each contract's window logits pooled.
pub fn contract_logits(
    model: &Classifier,
    samples: &[&Sample],
    mode: &mut Mode,
    pooling: Pooling,
) -> Result<Tensor> {
    Ok(contract_forward(model, samples, mode, pooling, false)?.logits)
}

/// Per contract: class probabilities (softmax), or per-label probabilities (sigmoid).
pub fn predict(
    model: &Classifier,
    samples: &[Sample],
    task: Task,
    batch: usize,
    pooling: Pooling,
) -> Result<Vec<Vec<f32>>> {
    let mut probs = vec![Vec::new(); samples.len()];
    for idx in eval_batches(samples, batch) {
        let chosen: Vec<&Sample> = idx.iter().map(|&i| &samples[i]).collect();
        let logits = contract_logits(model, &chosen, &mut Mode::Eval, pooling)?;
        let p = match task {
            Task::Multilabel => candle_nn::ops::sigmoid(&logits)?,
            _ => candle_nn::ops::softmax(&logits, D::Minus1)?,
        };
        for (row, &i) in p.to_vec2::<f32>()?.into_iter().zip(&idx) {
            probs[i] = row;
        }
    }
    Ok(probs)
}

pub fn argmax(p: &[f32]) -> usize {
    p.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i)
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    #[serde(flatten)]
    pub metrics: Metrics,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roc_auc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_auc: Option<f64>,
    /// Binary: the threshold on P(positive) used for the metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multilabel: Option<eval::MultilabelMetrics>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy_ci: Option<Interval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub macro_f1_ci: Option<Interval>,
}

/// Scores of predictions against the samples' targets. `threshold`: for binary tasks, the
/// cut on the positive class (index 1); `None` = argmax.
pub fn score(
    samples: &[Sample],
    probs: &[Vec<f32>],
    classes: &[String],
    task: Task,
    threshold: Option<f64>,
    with_ci: bool,
) -> Scores {
    let truth: Vec<usize> = samples
        .iter()
        .map(|s| match &s.target {
            Target::Class(c) => *c,
            Target::Labels(v) => v.iter().position(|&x| x > 0.5).unwrap_or(0),
            Target::Unlabeled => 0,
        })
        .collect();
    let predicted: Vec<usize> = probs
        .iter()
        .map(|p| match (task, threshold) {
            (Task::Binary, Some(t)) => usize::from(p.get(1).copied().unwrap_or(0.0) as f64 >= t),
            _ => argmax(p),
        })
        .collect();
    let metrics = eval::classification(&truth, &predicted, classes);
    let (mut roc, mut pr) = (None, None);
    if task == Task::Binary {
        let s: Vec<f64> = probs
            .iter()
            .map(|p| p.get(1).copied().unwrap_or(0.0) as f64)
            .collect();
        let pos: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
        roc = eval::roc_auc(&s, &pos);
        pr = eval::average_precision(&s, &pos);
    }
    let multilabel = (task == Task::Multilabel).then(|| {
        let t: Vec<Vec<bool>> = samples
            .iter()
            .map(|s| match &s.target {
                Target::Labels(v) => v.iter().map(|&x| x > 0.5).collect(),
                Target::Class(_) | Target::Unlabeled => Vec::new(),
            })
            .collect();
        let p: Vec<Vec<bool>> = probs
            .iter()
            .map(|p| p.iter().map(|&x| x >= 0.5).collect())
            .collect();
        eval::multilabel(&t, &p, classes)
    });
    let (accuracy_ci, macro_f1_ci) = if with_ci {
        let sub = |idx: &[usize]| {
            let t: Vec<usize> = idx.iter().map(|&i| truth[i]).collect();
            let p: Vec<usize> = idx.iter().map(|&i| predicted[i]).collect();
            eval::classification(&t, &p, classes)
        };
        (
            Some(eval::bootstrap(truth.len(), 1000, 7, |idx| {
                sub(idx).accuracy
            })),
            Some(eval::bootstrap(truth.len(), 1000, 7, |idx| {
                sub(idx).macro_f1
            })),
        )
    } else {
        (None, None)
    };
    Scores {
        metrics,
        roc_auc: roc,
        pr_auc: pr,
        threshold: if task == Task::Binary {
            threshold
        } else {
            None
        },
        multilabel,
        accuracy_ci,
        macro_f1_ci,
    }
}
