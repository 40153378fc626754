//! Distillation loss terms, one file each. `LossSpec` is the config surface: a typo in a term's
//! name fails when the config is parsed.
//!
//! Convention (DESIGN.md): **alpha weighs the teacher**,
//! `total = alpha · KL(teacher_T ‖ student_T) · T² + (1 − alpha) · CE(labels)`.

pub mod attention;
pub mod cache;
pub mod cosine;
pub mod hidden;
pub mod layer_map;
pub mod logits;
pub mod objective;
pub mod run;
pub mod stages;
pub mod teacher;
pub mod teacher_tokens;
pub mod transfer;

pub use layer_map::LayerMapSpec;
pub use run::distill;
pub use stages::StageSpec;

use serde::{Deserialize, Serialize};

/// The `[distill]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// Weight of the teacher's soft targets; 1 − alpha weighs the labels.
    pub alpha: f64,
    pub temperature: f64,
    /// Weights of the other terms in the `response` recipe (0 = off).
    pub logit_mse: f64,
    pub hidden_mse: f64,
    pub embedding_mse: f64,
    pub attention_score_mse: f64,
    pub attention_prob_kl: f64,
    pub cosine: f64,
    /// Which student layer learns from which teacher layer (token-level terms).
    pub layer_map: LayerMapSpec,
    /// `response`, `tinybert`, `progressive` or `stages` (the `stages` list).
    pub recipe: Recipe,
    pub stages: Vec<StageSpec>,
    /// Epochs of each layer's stage in the `progressive` recipe (0 = `[train] epochs`).
    pub layer_epochs: usize,
    /// Unlabelled contracts that feed the soft terms ("" = none).
    pub transfer: String,
    /// The teacher of general distillation in `tinybert-full` (TinyBERT's is the pretrained,
    /// not the fine-tuned, model); "" = `[teacher].model`.
    pub general_teacher: String,
    /// The general stage's own budget in `tinybert-full`, as it reads a corpus rather than the
    /// labelled set (0 = `[train]`'s `max_steps`, `epochs`, `lr`).
    pub general_steps: u64,
    pub general_epochs: usize,
    pub general_lr: f64,
    pub cache: bool,
}

/// `distill.recipe`: how the terms are staged (`stages.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recipe {
    Response,
    Tinybert,
    Progressive,
    Stages,
    /// TinyBERT's general distillation alone, on `[pretrain].corpus` (no labels).
    General,
    /// General distillation on the corpus, then `tinybert`'s two task stages on the labels.
    #[serde(rename = "tinybert-full")]
    TinybertFull,
}

/// One weighted term of a distillation objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "term", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossSpec {
    /// `alpha · soft_kl · T² + (1 − alpha) · hard_ce`; alpha and T default to `[distill]`'s.
    Response {
        #[serde(default)]
        alpha: Option<f64>,
        #[serde(default)]
        temperature: Option<f64>,
    },
    LogitMse {
        weight: f64,
    },
    HiddenMse {
        weight: f64,
    },
    AttentionScoreMse {
        weight: f64,
    },
    AttentionProbKl {
        weight: f64,
    },
    EmbeddingMse {
        weight: f64,
    },
    Cosine {
        weight: f64,
    },
}

impl LossSpec {
    /// Terms that compare the two models token by token (same tokenizer needed).
    pub fn token_level(&self) -> bool {
        !matches!(self, Self::Response { .. } | Self::LogitMse { .. })
    }

    pub fn attention(&self) -> bool {
        matches!(
            self,
            Self::AttentionScoreMse { .. } | Self::AttentionProbKl { .. }
        )
    }
}

/// Fails with the dims named when a loss gets tensors of the wrong shape.
pub(crate) fn check_same(
    name: &str,
    a: &candle_core::Tensor,
    b: &candle_core::Tensor,
) -> candle_core::Result<()> {
    if a.dims() != b.dims() {
        candle_core::bail!(
            "{name}: student shape {:?} differs from teacher shape {:?}",
            a.dims(),
            b.dims()
        );
    }
    Ok(())
}
