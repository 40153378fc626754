//! `factor:SRC?size=E`: factorised word embeddings (ALBERT, Lan et al. 2020). The vocabulary
//! is embedded at width E and projected to the hidden width H (`vocab × E` then `E × H`
//! instead of `vocab × H`); positions and token types stay at H, where they are cheap.
//!
//! Initialised from the source's word embeddings W by truncated SVD: with W = U S Vᵀ, the
//! rows become `W V_E` (= U_E S_E) and the projection `V_E`, the best rank-E version of W.
//! V comes from the eigenvectors of the H × H Gram matrix WᵀW, so the vocabulary-sized matrix
//! is only multiplied, never decomposed; with E = H nothing is truncated and the outputs equal
//! the source's.

use super::ModelError;
use super::load::{Classifier, LoadReport};
use super::rewrite::{rebuild, without_word_embeddings};
use super::svd::{to_matrix, to_tensor};
use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

/// `alambic_embedding` in `config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmbeddingConfig {
    /// E, the width the vocabulary is embedded at.
    pub size: usize,
}

/// The weights of the projection from E to H (`[H, E]`, no bias), under `embeddings.`.
pub const PROJECTION: &str = "word_projection";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FactorSpec {
    pub size: usize,
}

impl FactorSpec {
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut size = None;
        for part in query.split('&').filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("size", v)) => {
                    size = Some(
                        v.parse::<usize>()
                            .ok()
                            .filter(|&e| e > 0)
                            .ok_or_else(|| format!("size=`{v}`: a whole number above 0"))?,
                    )
                }
                _ => return Err(format!("unknown option `{part}` (size=E)")),
            }
        }
        Ok(Self {
            size: size.ok_or("expected size=E, the embedding width")?,
        })
    }

    pub fn query(&self) -> String {
        format!("size={}", self.size)
    }
}

/// `model` with its word embeddings factorised at width `spec.size`.
pub fn to_factored(
    model: Classifier,
    spec: &FactorSpec,
    seed: u64,
    report: &mut LoadReport,
) -> Result<Classifier, ModelError> {
    let cfg = &model.config;
    let h = cfg.hidden_size;
    if cfg.alambic_embedding.is_some() {
        return Err(ModelError::Config(
            "the source's word embeddings are already factorised".into(),
        ));
    }
    if spec.size > h {
        return Err(ModelError::Config(format!(
            "size={}: at most the hidden width {h}",
            spec.size
        )));
    }
    let (mut tensors, key, word) = without_word_embeddings(&model)?;
    let w = to_matrix(&word)?;
    let basis = top_right_singular_vectors(&w, spec.size);
    let device = model.device().clone();
    let rows = &w * &basis;
    tensors.insert(key.clone(), to_tensor(&rows, false, &device)?);
    let projection = key.replace("word_embeddings", PROJECTION);
    tensors.insert(projection, to_tensor(&basis, false, &device)?);
    let kept = kept_energy(&w, &rows);
    let mut config = cfg.clone();
    config.alambic_embedding = Some(EmbeddingConfig { size: spec.size });
    let factored = rebuild(&model, &config, tensors, seed, report)?;
    report.notes.push(format!(
        "factor: word embeddings {} × {h} → {} × {} then {} × {h} ({:.1} % of their energy kept)",
        cfg.vocab_size,
        cfg.vocab_size,
        spec.size,
        spec.size,
        100.0 * kept
    ));
    Ok(factored)
}

/// The `k` right singular vectors of `w` with the largest singular values, as columns
/// (`H × k`).
fn top_right_singular_vectors(w: &DMatrix<f64>, k: usize) -> DMatrix<f64> {
    let gram = w.transpose() * w;
    let eigen = gram.symmetric_eigen();
    let mut order: Vec<usize> = (0..eigen.eigenvalues.len()).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let mut basis = DMatrix::zeros(w.ncols(), k);
    for (j, &i) in order.iter().take(k).enumerate() {
        basis.set_column(j, &eigen.eigenvectors.column(i));
    }
    basis
}

/// ‖W V_E‖² / ‖W‖²: the share of the squared singular values the factorisation keeps.
fn kept_energy(w: &DMatrix<f64>, rows: &DMatrix<f64>) -> f64 {
    let total = w.norm_squared();
    if total == 0.0 {
        return 1.0;
    }
    rows.norm_squared() / total
}
