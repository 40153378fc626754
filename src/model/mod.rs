//! BERT- and RoBERTa-family encoders on candle that expose every hidden state and attention map,
//! with classifier heads, loading from every format these checkpoints are published in, model
//! sources (folders, the Hub, scratch presets, students derived from a teacher) and export to
//! a Hugging Face folder.

pub mod attention_block;
pub mod bottleneck;
pub mod bottleneck_init;
pub mod config;
pub mod dense_block;
pub mod derive;
pub mod embedding_factor;
pub mod encoder;
pub mod export;
pub mod fused;
pub mod heads;
pub mod hub;
pub mod info;
pub mod init;
pub mod int8;
pub mod legacy_pickle;
pub mod load;
pub mod moe;
pub mod moe_init;
pub mod ops;
pub mod presets;
pub mod rewrite;
mod source;
pub mod svd;
pub mod vocab_prune;

pub use config::{Family, ModelConfig};
pub use encoder::{Encoder, EncoderOutput};
pub use heads::{Head, HeadKind, Pooling};
pub use load::{Classifier, LoadReport};
pub use source::{ModelSource, load_source};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {msg}", path.display())]
    File { path: PathBuf, msg: String },
    #[error("{0}")]
    Config(String),
    #[error("model source `{source_name}`: {msg}")]
    Source { source_name: String, msg: String },
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenize::TokenizeError),
}

impl ModelError {
    pub fn file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        Self::File {
            path: path.into(),
            msg: msg.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// Training or inference. Training activates dropout, with masks from the seeded generator it
/// carries (candle's CPU generator cannot be seeded), and uses only ops with a backward pass.
/// Inference (`Eval`) records no backprop graph (its outputs carry no gradient path, like
/// PyTorch under `torch.no_grad()`) and uses kernels that have no backward pass: to train
/// without dropout, use `Train` on a model whose dropout probabilities are 0. `Gradient` is
/// inference that records the graph (gradients with respect to the inputs, for attribution):
/// the ops of training, no dropout.
pub enum Mode<'a> {
    Eval,
    Train(&'a mut init::SeededRng),
    Gradient,
}

impl Mode<'_> {
    /// Whether the pass records a backprop graph (and so uses only ops with a backward pass).
    pub fn is_train(&self) -> bool {
        matches!(self, Mode::Train(_) | Mode::Gradient)
    }
}
