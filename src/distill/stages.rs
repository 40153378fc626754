//! Distillation recipes as lists of stages, each with its terms, epochs and learning rate.
//!
//! - `response`: one stage on `alpha · KL·T² + (1 − alpha) · CE` plus any other term whose
//!   weight in `[distill]` is above 0 (so multi-level distillation in one stage is a weight away).
//! - `tinybert`: TinyBERT's task distillation (Jiao et al., 2020): stage 1 matches embeddings,
//!   hidden states and attention scores (each weight 1, as its `task_distill.py` sums them),
//!   stage 2 the prediction layer (the response terms).
//! - `progressive`: MobileBERT's progressive knowledge transfer (Sun et al., 2020): one stage
//!   per student layer l, matching the teacher's paired layer (hidden states, attention
//!   probabilities; layer 1 also the embeddings) with only layer l training (layer 1 with the
//!   embeddings) and the layers below frozen, then the prediction stage with every weight.
//!   Needs a layer map that gives every student layer one teacher layer.
//! - `stages`: the `[[distill.stages]]` list as written.
//!
//! A stage of `layer = "each"` becomes one stage per student layer once the student is known
//! (`expand`); a stage of `layer = N` trains layer N alone.

use super::{DistillConfig, LossSpec, Recipe};
use crate::train::config::TrainConfig;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub name: String,
    /// 0 = `[train] epochs`.
    #[serde(default)]
    pub epochs: usize,
    /// 0 = `[train] lr`.
    #[serde(default)]
    pub lr: f64,
    pub terms: Vec<LossSpec>,
    /// Which of the student's weights train: every one (the default), one encoder layer, or
    /// each layer in turn.
    #[serde(default, skip_serializing_if = "StageLayers::is_all")]
    pub layer: StageLayers,
}

/// `layer` of a stage: `"all"`, `"each"` or a 1-based layer number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StageLayers {
    #[default]
    #[serde(with = "all")]
    All,
    #[serde(with = "each")]
    Each,
    /// This layer trains (layer 1 with the embeddings), the layers below are frozen, and the
    /// token-level terms read only its pairs of the layer map.
    One(usize),
}

impl StageLayers {
    pub fn is_all(&self) -> bool {
        *self == Self::All
    }
}

/// A unit variant as the one string it is written as.
macro_rules! word {
    ($module:ident, $word:literal) => {
        mod $module {
            pub fn serialize<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($word)
            }
            pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(), D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                match text == $word {
                    true => Ok(()),
                    false => Err(serde::de::Error::custom(format!("expected {}", $word))),
                }
            }
        }
    };
}
word!(all, "all");
word!(each, "each");

/// A stage with its defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedStage {
    pub name: String,
    pub epochs: usize,
    pub lr: f64,
    pub terms: Vec<LossSpec>,
    pub layer: StageLayers,
}

fn response_terms(cfg: &DistillConfig) -> Vec<LossSpec> {
    let mut terms = vec![LossSpec::Response {
        alpha: None,
        temperature: None,
    }];
    if cfg.logit_mse > 0.0 {
        terms.push(LossSpec::LogitMse {
            weight: cfg.logit_mse,
        });
    }
    terms
}

pub fn resolve(cfg: &DistillConfig, train: &TrainConfig) -> Result<Vec<ResolvedStage>, String> {
    let stage = |name: &str, terms: Vec<LossSpec>| ResolvedStage {
        name: name.to_string(),
        epochs: train.epochs,
        lr: train.lr,
        terms,
        layer: StageLayers::All,
    };
    let stages = match cfg.recipe {
        Recipe::Response => {
            let mut terms = response_terms(cfg);
            let weighted = [
                (cfg.hidden_mse, LossSpec::HiddenMse { weight: 0.0 }),
                (cfg.embedding_mse, LossSpec::EmbeddingMse { weight: 0.0 }),
                (
                    cfg.attention_score_mse,
                    LossSpec::AttentionScoreMse { weight: 0.0 },
                ),
                (
                    cfg.attention_prob_kl,
                    LossSpec::AttentionProbKl { weight: 0.0 },
                ),
                (cfg.cosine, LossSpec::Cosine { weight: 0.0 }),
            ];
            for (w, spec) in weighted {
                if w > 0.0 {
                    terms.push(with_weight(spec, w));
                }
            }
            vec![stage("distill", terms)]
        }
        Recipe::General => {
            return Err(
                "distill.recipe = \"general\" trains on [pretrain].corpus, not in stages: run \
                 it with `alambic distill` (a sweep cell cannot)"
                    .into(),
            );
        }
        Recipe::Tinybert | Recipe::TinybertFull => vec![
            stage(
                "intermediate",
                vec![
                    LossSpec::EmbeddingMse { weight: 1.0 },
                    LossSpec::HiddenMse { weight: 1.0 },
                    LossSpec::AttentionScoreMse { weight: 1.0 },
                ],
            ),
            stage("prediction", response_terms(cfg)),
        ],
        Recipe::Progressive => vec![
            ResolvedStage {
                layer: StageLayers::Each,
                epochs: match cfg.layer_epochs {
                    0 => train.epochs,
                    n => n,
                },
                ..stage(
                    "layer",
                    vec![
                        LossSpec::EmbeddingMse { weight: 1.0 },
                        LossSpec::HiddenMse { weight: 1.0 },
                        LossSpec::AttentionProbKl { weight: 1.0 },
                    ],
                )
            },
            stage("prediction", response_terms(cfg)),
        ],
        Recipe::Stages => {
            if cfg.stages.is_empty() {
                return Err(
                    "distill.recipe = \"stages\" but distill.stages is empty: add [[distill.stages]] tables"
                        .into(),
                );
            }
            cfg.stages
                .iter()
                .map(|s| ResolvedStage {
                    name: s.name.clone(),
                    epochs: if s.epochs == 0 {
                        train.epochs
                    } else {
                        s.epochs
                    },
                    lr: if s.lr > 0.0 { s.lr } else { train.lr },
                    terms: s.terms.clone(),
                    layer: s.layer,
                })
                .collect()
        }
    };
    for s in &stages {
        if s.terms.is_empty() {
            return Err(format!("distill stage `{}` has no terms", s.name));
        }
    }
    Ok(stages)
}

/// The stages for a student of `layers` encoder layers: a stage of `layer = "each"` becomes
/// `NAME-1` … `NAME-L`, each training its layer alone; the embedding term stays only where
/// the embeddings train (layer 1).
pub fn expand(stages: Vec<ResolvedStage>, layers: usize) -> Result<Vec<ResolvedStage>, String> {
    let mut out = Vec::new();
    for s in stages {
        match s.layer {
            StageLayers::Each => out.extend((1..=layers).map(|l| ResolvedStage {
                name: format!("{}-{l}", s.name),
                terms: one_layer_terms(&s.terms, l),
                layer: StageLayers::One(l),
                ..s.clone()
            })),
            StageLayers::One(l) if l == 0 || l > layers => {
                return Err(format!(
                    "distill stage `{}`: layer = {l}, but the student has layers 1..{layers}",
                    s.name
                ));
            }
            StageLayers::One(l) => out.push(ResolvedStage {
                terms: one_layer_terms(&s.terms, l),
                ..s
            }),
            StageLayers::All => out.push(s),
        }
    }
    Ok(out)
}

fn one_layer_terms(terms: &[LossSpec], layer: usize) -> Vec<LossSpec> {
    terms
        .iter()
        .filter(|t| layer == 1 || !matches!(t, LossSpec::EmbeddingMse { .. }))
        .cloned()
        .collect()
}

fn with_weight(spec: LossSpec, weight: f64) -> LossSpec {
    match spec {
        LossSpec::LogitMse { .. } => LossSpec::LogitMse { weight },
        LossSpec::HiddenMse { .. } => LossSpec::HiddenMse { weight },
        LossSpec::EmbeddingMse { .. } => LossSpec::EmbeddingMse { weight },
        LossSpec::AttentionScoreMse { .. } => LossSpec::AttentionScoreMse { weight },
        LossSpec::AttentionProbKl { .. } => LossSpec::AttentionProbKl { weight },
        LossSpec::Cosine { .. } => LossSpec::Cosine { weight },
        response @ LossSpec::Response { .. } => response,
    }
}
