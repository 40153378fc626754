//! Tokenizers (the `tokenizers` crate) as the model families publish them, tokenizer training
//! for scratch models, and windowing of long contracts.

mod load;
mod prune;
mod train;
mod window;

pub use load::{Offsets, TextTokenizer};
pub use prune::KeptIds;
pub use train::{TokenizerKind, train_tokenizer};
pub use window::{Window, WindowSpec, window_count};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("{}: {msg}", path.display())]
    Load { path: PathBuf, msg: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("windowing: {0}")]
    Window(String),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<tokenizers::Error> for TokenizeError {
    fn from(e: tokenizers::Error) -> Self {
        Self::Tokenizer(e.to_string())
    }
}
