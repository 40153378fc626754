//! What a run on the unlabelled corpus minimises: masked-language modelling of one model, or
//! TinyBERT's general distillation (a student's embeddings, hidden states and attention scores
//! matched to a frozen teacher's on the same unmasked windows). Both read windows from the same
//! stream and share the loop of `run.rs`.

use super::head::MlmHead;
use super::mask::{MaskSpec, Masked, Vocabulary, mask, window_rng};
use crate::distill::attention::masked_score_mse;
use crate::distill::hidden::masked_mse;
use crate::distill::objective::Projection;
use crate::model::encoder::{Batch, EncoderOutput};
use crate::model::{Classifier, Mode};
use crate::train::TrainError;
use candle_core::{Tensor, Var};
use std::collections::BTreeMap;

pub struct Mlm {
    pub head: MlmHead,
    pub vocab: Vocabulary,
    pub spec: MaskSpec,
}

/// Weights of general distillation's terms.
#[derive(Clone, Copy, Debug)]
pub struct GeneralWeights {
    pub embedding: f64,
    pub hidden: f64,
    pub attention: f64,
}

pub struct General {
    pub teacher: Classifier,
    pub projection: Option<Projection>,
    /// `(student layer, teacher layer)`; 0 is the embedding output.
    pub hidden_pairs: Vec<(usize, usize)>,
    pub attention_pairs: Vec<(usize, usize)>,
    pub weights: GeneralWeights,
}

pub enum Objective {
    Mlm(Box<Mlm>),
    General(Box<General>),
}

/// One part's loss: a mean over `weight` tokens (masked ones for MLM), so parts combine by
/// their weights into the step's mean.
pub struct PartLoss {
    pub loss: Tensor,
    pub terms: BTreeMap<String, f64>,
    /// Masked tokens ranked first (MLM, when counted).
    pub correct: u64,
}

impl Objective {
    /// `mlm` or `general`: the run's kind in its summary and events.
    pub fn name(&self) -> &'static str {
        match self {
            Objective::Mlm(_) => "mlm",
            Objective::General(_) => "general",
        }
    }

    /// The model input of window `index` of `epoch`: masked for MLM, as it is otherwise.
    pub fn prepare(&self, window: &[u32], seed: u64, epoch: usize, index: u64) -> Masked {
        match self {
            Objective::Mlm(m) => mask(
                window,
                &m.vocab,
                &m.spec,
                &mut window_rng(seed, epoch, index),
            ),
            Objective::General(_) => Masked {
                input: window.to_vec(),
                targets: Vec::new(),
            },
        }
    }

    /// The tokens a part's mean runs over.
    pub fn weight(&self, part: &[Masked]) -> usize {
        match self {
            Objective::Mlm(_) => part.iter().map(|m| m.targets.len()).sum(),
            Objective::General(_) => part.iter().map(|m| m.input.len()).sum(),
        }
    }

    /// Trainable variables besides the model's (general distillation's projection).
    pub fn extra_vars(&self) -> Vec<(String, Var)> {
        match self {
            Objective::General(g) => g
                .projection
                .as_ref()
                .map(|p| p.vars.clone())
                .unwrap_or_default(),
            Objective::Mlm(_) => Vec::new(),
        }
    }

    pub fn loss(
        &self,
        model: &Classifier,
        part: &[Masked],
        mode: &mut Mode,
        count_correct: bool,
    ) -> Result<PartLoss, TrainError> {
        match self {
            Objective::Mlm(m) => mlm_loss(model, &m.head, part, mode, count_correct),
            Objective::General(g) => general_loss(model, g, part, mode),
        }
    }
}

/// Rows padded to the longest with `pad`, and their attention masks.
fn padded(part: &[Masked], pad: u32) -> (Vec<Vec<u32>>, Vec<Vec<u32>>) {
    let len = part.iter().map(|m| m.input.len()).max().unwrap_or(0);
    part.iter()
        .map(|m| {
            let mut row = m.input.clone();
            let mut mask = vec![1u32; row.len()];
            row.resize(len, pad);
            mask.resize(len, 0);
            (row, mask)
        })
        .unzip()
}

fn forward(
    model: &Classifier,
    part: &[Masked],
    mode: &mut Mode,
    scores: bool,
) -> Result<EncoderOutput, TrainError> {
    let (ids, attention) = padded(part, model.config.pad_token_id);
    let batch = Batch {
        input_ids: &ids,
        attention_mask: &attention,
    };
    Ok(model.encoder.forward(&batch, mode, scores)?)
}

/// The mean cross-entropy over the masked positions and, when asked, how many of them the
/// model ranks first. Only the masked rows reach the vocabulary projection.
pub fn mlm_loss(
    model: &Classifier,
    head: &MlmHead,
    part: &[Masked],
    mode: &mut Mode,
    count_correct: bool,
) -> Result<PartLoss, TrainError> {
    let out = forward(model, part, mode, false)?;
    let hidden = out.last()?;
    let (b, len, h) = hidden.dims3()?;
    let mut rows: Vec<u32> = Vec::new();
    let mut targets: Vec<usize> = Vec::new();
    for (i, m) in part.iter().enumerate() {
        for &(pos, original) in &m.targets {
            rows.push((i * len + pos) as u32);
            targets.push(original as usize);
        }
    }
    let flat = hidden.reshape((b * len, h))?;
    let index = Tensor::new(rows.as_slice(), flat.device())?;
    let logits = head.logits(&flat.index_select(&index, 0)?)?;
    let loss = crate::train::loss::cross_entropy(&logits, &targets, None)?;
    let correct = if count_correct {
        let best: Vec<u32> = logits.argmax(candle_core::D::Minus1)?.to_vec1()?;
        best.iter()
            .zip(&targets)
            .filter(|(p, t)| **p as usize == **t)
            .count() as u64
    } else {
        0
    };
    let value = loss.to_scalar::<f32>()? as f64;
    Ok(PartLoss {
        loss,
        terms: [("mlm".to_string(), value)].into(),
        correct,
    })
}

/// TinyBERT's general distillation on one part: the embedding output and each hidden-state
/// pair through the projection (MSE over real tokens), each attention pair's pre-softmax
/// scores (MSE over real query-key pairs); the teacher runs without dropout or gradient.
fn general_loss(
    model: &Classifier,
    g: &General,
    part: &[Masked],
    mode: &mut Mode,
) -> Result<PartLoss, TrainError> {
    let scores = g.weights.attention > 0.0;
    let student = forward(model, part, mode, scores)?;
    let teacher = {
        let _no_grad = candle_core::no_grad();
        forward(&g.teacher, part, &mut Mode::Eval, scores)?
    };
    let proj = g.projection.as_ref().map(|p| &p.linear);
    let layer = |list: &[Tensor], i: usize| -> Result<Tensor, TrainError> {
        list.get(i)
            .cloned()
            .ok_or_else(|| TrainError::Invalid(format!("general distillation: no layer {i}")))
    };
    let mut terms = BTreeMap::new();
    let mut total: Option<Tensor> = None;
    let mut add = |name: String, v: Tensor, w: f64| -> Result<(), TrainError> {
        terms.insert(name, v.to_scalar::<f32>()? as f64);
        let weighted = (v * w)?;
        total = Some(match total.take() {
            Some(t) => (t + weighted)?,
            None => weighted,
        });
        Ok(())
    };
    let mask = &student.mask;
    if g.weights.embedding > 0.0 {
        let t = layer(&teacher.hidden_states, 0)?.detach();
        let v = masked_mse(&layer(&student.hidden_states, 0)?, &t, proj, mask)?;
        add("embedding_mse".into(), v, g.weights.embedding)?;
    }
    if g.weights.hidden > 0.0 {
        for &(s, t) in g.hidden_pairs.iter().filter(|(s, _)| *s > 0) {
            let th = layer(&teacher.hidden_states, t)?.detach();
            let v = masked_mse(&layer(&student.hidden_states, s)?, &th, proj, mask)?;
            add(format!("hidden_mse.{s}"), v, g.weights.hidden)?;
        }
    }
    if scores {
        for &(s, t) in &g.attention_pairs {
            let ts = layer(&teacher.scores, t - 1)?.detach();
            let v = masked_score_mse(&layer(&student.scores, s - 1)?, &ts, mask)?;
            add(format!("attention_score_mse.{s}"), v, g.weights.attention)?;
        }
    }
    let loss =
        total.ok_or_else(|| TrainError::Invalid("general distillation has no terms".into()))?;
    Ok(PartLoss {
        loss,
        terms,
        correct: 0,
    })
}
