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
pub mod run;

pub use run::distill;

use serde::{Deserialize, Serialize};

/// The `[distill]` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistillConfig {
    /// Weight of the teacher's soft targets; 1 − alpha weighs the labels.
    pub alpha: f64,
    pub temperature: f64,
    pub logit_mse: f64,
    pub cache: bool,
}

/// One weighted term of a distillation objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "term", rename_all = "snake_case", deny_unknown_fields)]
pub enum LossSpec {
    /// `alpha · soft_kl · T² + (1 − alpha) · hard_ce`.
    Response {
        alpha: f64,
        temperature: f64,
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
