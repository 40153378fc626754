//! Distillation recipes as lists of stages, each with its terms, epochs and learning rate.
//!
//! - `response`: one stage on `alpha · KL·T² + (1 − alpha) · CE` plus any other term whose
//!   weight in `[distill]` is above 0 (so multi-level distillation in one stage is a weight away).
//! - `tinybert`: TinyBERT's task distillation (Jiao et al., 2020): stage 1 matches embeddings,
//!   hidden states and attention scores (each weight 1, as its `task_distill.py` sums them),
//!   stage 2 the prediction layer (the response terms).
//! - `stages`: the `[[distill.stages]]` list as written.

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
}

/// A stage with its defaults filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct ResolvedStage {
    pub name: String,
    pub epochs: usize,
    pub lr: f64,
    pub terms: Vec<LossSpec>,
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
        Recipe::Tinybert => vec![
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
