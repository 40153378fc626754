//! `prune:SRC?min_count=N`: a model that keeps only the word embeddings of the token ids its
//! training (and transfer) contracts use, with a tokenizer renumbered to match
//! (`tokenize/prune.rs` says what is kept and why kept text tokenizes the same). On any text
//! whose pieces are all kept the pruned model's logits equal the source's: the same rows, in
//! the same computation.

use super::ModelError;
use super::load::{Classifier, LoadReport};
use super::rewrite::{rebuild, without_word_embeddings};
use candle_core::Tensor;
use std::sync::Arc;

/// The contracts a run trains on (its training split and transfer set), for `prune:`.
pub type Corpus = Arc<Vec<String>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneSpec {
    /// Ids used fewer times than this are dropped (special and fallback pieces never are).
    pub min_count: usize,
}

impl Default for PruneSpec {
    fn default() -> Self {
        Self { min_count: 1 }
    }
}

impl PruneSpec {
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut spec = Self::default();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some(("min_count", v)) => {
                    spec.min_count = v
                        .parse::<usize>()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or_else(|| format!("min_count=`{v}`: a whole number above 0"))?
                }
                _ => return Err(format!("unknown option `{part}` (min_count=N)")),
            }
        }
        Ok(spec)
    }

    pub fn query(&self) -> String {
        format!("min_count={}", self.min_count)
    }
}

/// `model` with the word embeddings of the ids `corpus` uses, and its tokenizer pruned alike.
pub fn prune_vocab(
    model: Classifier,
    spec: &PruneSpec,
    corpus: Option<&Corpus>,
    seed: u64,
    report: &mut LoadReport,
) -> Result<Classifier, ModelError> {
    let corpus = corpus.ok_or_else(|| {
        ModelError::Config(
            "prune: keeps the tokens of the training contracts, so it needs a dataset: train \
             and distill runs give theirs, `alambic model info|export` take `--data FILE`"
                .into(),
        )
    })?;
    let tok = model
        .tokenizer
        .as_ref()
        .ok_or_else(|| ModelError::Config("prune: the source has no tokenizer".into()))?;
    let texts: Vec<&str> = corpus.iter().map(String::as_str).collect();
    let cfg = &model.config;
    let counted = tok.kept_ids(&texts, spec.min_count)?;
    let mut kept = counted.ids;
    // Ids up to the pad token keep their number: RoBERTa counts positions from it.
    kept.extend(0..=cfg.pad_token_id);
    kept.sort_unstable();
    kept.dedup();
    if let Some(&bad) = kept.iter().find(|&&id| id as usize >= cfg.vocab_size) {
        return Err(ModelError::Config(format!(
            "prune: the tokenizer gives id {bad}, beyond the model's {} embeddings",
            cfg.vocab_size
        )));
    }
    let pruned_tok = tok.pruned(&kept)?;
    let (mut tensors, key, word) = without_word_embeddings(&model)?;
    let index = Tensor::new(kept.as_slice(), word.device())?;
    tensors.insert(key, word.index_select(&index, 0)?);
    let mut config = cfg.clone();
    config.vocab_size = kept.len();
    let mut pruned = rebuild(&model, &config, tensors, seed, report)?;
    pruned.tokenizer = Some(pruned_tok);
    report.notes.push(format!(
        "prune: kept {} of {} token ids: {} used {} in {} contracts, and {} special and \
         fallback pieces",
        kept.len(),
        cfg.vocab_size,
        counted.used,
        match spec.min_count {
            1 => "at least once".to_string(),
            n => format!("at least {n} times"),
        },
        corpus.len(),
        kept.len() - counted.used,
    ));
    Ok(pruned)
}
