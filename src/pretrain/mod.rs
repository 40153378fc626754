//! Domain-adaptive pretraining: masked-language modelling on an unlabelled corpus of
//! contracts (`alambic pretrain`), whose run folder is then a model source like any other.
//! The corpus is streamed (`corpus.rs`), masked per epoch from the run's seed (`mask.rs`),
//! and the loss reads only the masked positions through a head tied to the word embeddings
//! (`head.rs`); `run.rs` is the loop, with the checkpoints, events and resume every run has.

pub mod build;
pub mod corpus;
pub mod export;
pub mod head;
pub mod mask;
pub mod objective;
pub mod run;

pub use run::{PretrainOutcome, general_distill, pretrain};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The `[pretrain]` section. The model adapted is `[teacher].model`; window length, batch,
/// learning rate, epochs, warm-up, seed, logging and `max_steps` come from `[dataset]` and
/// `[train]` as for every run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainConfig {
    /// Any dataset file (JSONL or CSV, gzipped or not, or a folder of .sol files); labels
    /// are ignored.
    pub corpus: PathBuf,
    pub mask_share: f64,
    pub mask_token: f64,
    pub random_token: f64,
    pub whole_words: bool,
    pub window_share: f64,
    pub valid_share: f64,
    pub valid_windows: usize,
    pub shuffle_buffer: usize,
}

impl PretrainConfig {
    pub fn mask_spec(&self) -> mask::MaskSpec {
        mask::MaskSpec {
            share: self.mask_share,
            mask_token: self.mask_token,
            random_token: self.random_token,
            whole_words: self.whole_words,
        }
    }
}
