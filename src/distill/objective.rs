//! One stage's distillation objective: its weighted terms over the student's forward pass and
//! the teacher's outputs (contract logits always; window-level outputs for token-level terms).
//! Every term's unweighted value goes to the step event's `terms`, named per student layer
//! (`hidden_mse.2`, `attention_score_mse.2`), so curves can be drawn term by term.

use super::LossSpec;
use super::attention::{masked_score_mse, prob_kl};
use super::cache::TeacherLogits;
use super::cosine::cosine;
use super::hidden::masked_mse;
use super::logits::{hard_ce, logit_mse, soft_kl_t2};
use super::teacher_tokens::{TeacherBatch, TeacherTokens};
use crate::model::heads::mean_pool;
use crate::model::init::SeededRng;
use crate::train::evaluate::ContractForward;
use crate::train::loss::Objective;
use crate::train::samples::{Sample, Target};
use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::Linear;
use std::collections::BTreeMap;

/// TinyBERT's `W_h`: student width → teacher width, learned with the student.
pub struct Projection {
    pub linear: Linear,
    pub vars: Vec<(String, Var)>,
}

/// A projection when the widths differ (initialised as transformers initialises a Linear,
/// from the run's seed); `None` when they agree.
pub fn projection(
    student_width: usize,
    teacher_width: usize,
    seed: u64,
    device: &Device,
) -> Result<Option<Projection>> {
    if student_width == teacher_width {
        return Ok(None);
    }
    let mut rng = SeededRng::for_name(seed, "distill.projection");
    let weight = Var::from_tensor(&rng.normal(&[teacher_width, student_width], 0.02, device)?)?;
    let bias = Var::zeros(teacher_width, DType::F32, device)?;
    Ok(Some(Projection {
        linear: Linear::new(weight.as_tensor().clone(), Some(bias.as_tensor().clone())),
        vars: vec![
            ("distill.projection.bias".into(), bias),
            ("distill.projection.weight".into(), weight),
        ],
    }))
}

pub struct DistillLoss<'a> {
    pub terms: Vec<LossSpec>,
    /// `[distill]` alpha and temperature, for response terms that do not set their own.
    pub alpha: f64,
    pub temperature: f64,
    pub logits: &'a TeacherLogits,
    pub tokens: Option<&'a TeacherTokens>,
    /// `(student layer, teacher layer)`.
    pub hidden_pairs: Vec<(usize, usize)>,
    pub attention_pairs: Vec<(usize, usize)>,
    pub projection: Option<&'a Linear>,
}

struct Sum {
    total: Option<Tensor>,
    terms: BTreeMap<String, f64>,
}

impl Sum {
    fn add(&mut self, name: String, value: &Tensor, weight: f64) -> Result<()> {
        self.terms.insert(name, value.to_scalar::<f32>()? as f64);
        let weighted = (value * weight)?;
        self.total = Some(match self.total.take() {
            Some(t) => (t + weighted)?,
            None => weighted,
        });
        Ok(())
    }
}

impl DistillLoss<'_> {
    fn teacher_logits(&self, batch: &[&Sample], like: &Tensor) -> Result<Tensor> {
        let mut rows = Vec::with_capacity(batch.len() * like.dim(1)?);
        for s in batch {
            let Some(row) = self.logits.get(&s.record) else {
                candle_core::bail!("no teacher logits for record {}", s.record);
            };
            rows.extend_from_slice(row);
        }
        Tensor::from_vec(rows, like.dims(), like.device())
    }

    fn project(&self, x: &Tensor) -> Result<Tensor> {
        match self.projection {
            Some(p) => p.forward(x),
            None => Ok(x.clone()),
        }
    }
}

/// Cross-entropy on the labelled contracts of the batch (transfer-set contracts have none);
/// 0 when there are none.
fn labelled_ce(student: &Tensor, batch: &[&Sample]) -> Result<Tensor> {
    let mut rows = Vec::new();
    let mut labels = Vec::new();
    for (i, s) in batch.iter().enumerate() {
        match s.target {
            Target::Class(c) => {
                rows.push(i as u32);
                labels.push(c);
            }
            Target::Unlabeled => {}
            Target::Labels(_) => candle_core::bail!("distillation needs single-label targets"),
        }
    }
    if rows.is_empty() {
        return Tensor::zeros((), DType::F32, student.device());
    }
    let idx = Tensor::new(rows.as_slice(), student.device())?;
    hard_ce(&student.index_select(&idx, 0)?, &labels)
}

fn layer(list: &[Tensor], i: usize, what: &str) -> Result<Tensor> {
    list.get(i)
        .cloned()
        .ok_or_else(|| candle_core::Error::Msg(format!("the student has no {what} {i}")))
}

fn teacher_part<'t>(
    map: &'t std::collections::HashMap<usize, Tensor>,
    layer: usize,
    what: &str,
) -> Result<&'t Tensor> {
    map.get(&layer).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "the teacher's {what} at layer {layer} were not kept"
        ))
    })
}

impl Objective for DistillLoss<'_> {
    fn wants_scores(&self) -> bool {
        self.terms.iter().any(LossSpec::attention)
    }

    fn loss(
        &self,
        forward: &ContractForward,
        batch: &[&Sample],
    ) -> Result<(Tensor, BTreeMap<String, f64>)> {
        let student = &forward.logits;
        let enc = &forward.output.encoder;
        let mut sum = Sum {
            total: None,
            terms: BTreeMap::new(),
        };
        let needs_logits = self.terms.iter().any(|t| !t.token_level());
        let teacher = if needs_logits {
            Some(self.teacher_logits(batch, student)?)
        } else {
            None
        };
        let mut tokens: Option<TeacherBatch> = None;
        for term in &self.terms {
            if term.token_level() && tokens.is_none() {
                let source = self.tokens.ok_or_else(|| {
                    candle_core::Error::Msg("token-level term without teacher outputs".into())
                })?;
                tokens = Some(source.batch(batch, &forward.padded)?);
            }
            let tb = tokens.as_ref();
            match term {
                LossSpec::Response { alpha, temperature } => {
                    let (Some(t), a) = (&teacher, alpha.unwrap_or(self.alpha)) else {
                        continue;
                    };
                    let temp = temperature.unwrap_or(self.temperature);
                    sum.add("soft_kl".into(), &soft_kl_t2(student, t, temp)?, a)?;
                    sum.add("hard_ce".into(), &labelled_ce(student, batch)?, 1.0 - a)?;
                }
                LossSpec::LogitMse { weight } => {
                    if let Some(t) = &teacher {
                        sum.add("logit_mse".into(), &logit_mse(student, t)?, *weight)?;
                    }
                }
                LossSpec::HiddenMse { weight } => {
                    let Some(tb) = tb else { continue };
                    for &(s, t) in &self.hidden_pairs {
                        let sh = layer(&enc.hidden_states, s, "layer")?;
                        let th = teacher_part(&tb.hidden, t, "hidden states")?;
                        let v = masked_mse(&sh, th, self.projection, &enc.mask)?;
                        sum.add(format!("hidden_mse.{s}"), &v, *weight)?;
                    }
                }
                LossSpec::EmbeddingMse { weight } => {
                    let Some(tb) = tb else { continue };
                    let sh = layer(&enc.hidden_states, 0, "layer")?;
                    let th = teacher_part(&tb.hidden, 0, "hidden states")?;
                    let v = masked_mse(&sh, th, self.projection, &enc.mask)?;
                    sum.add("embedding_mse".into(), &v, *weight)?;
                }
                LossSpec::AttentionScoreMse { weight } | LossSpec::AttentionProbKl { weight } => {
                    let Some(tb) = tb else { continue };
                    let kl = matches!(term, LossSpec::AttentionProbKl { .. });
                    for &(s, t) in &self.attention_pairs {
                        let ss = layer(&enc.scores, s - 1, "attention scores of layer index")?;
                        let ts = teacher_part(&tb.scores, t, "attention scores")?;
                        let (name, v) = if kl {
                            ("attention_prob_kl", prob_kl(&ss, ts, &enc.mask)?)
                        } else {
                            ("attention_score_mse", masked_score_mse(&ss, ts, &enc.mask)?)
                        };
                        sum.add(format!("{name}.{s}"), &v, *weight)?;
                    }
                }
                LossSpec::Cosine { weight } => {
                    let Some(tb) = tb else { continue };
                    let Some(tp) = &tb.pooled else {
                        candle_core::bail!("the teacher's pooled vectors were not kept");
                    };
                    let sp = self.project(&mean_pool(enc.last()?, &enc.mask)?)?;
                    sum.add("cosine".into(), &cosine(&sp, tp)?, *weight)?;
                }
            }
        }
        let total = match sum.total {
            Some(t) => t,
            None => Tensor::zeros((), DType::F32, student.device())?,
        };
        Ok((total, sum.terms))
    }
}
