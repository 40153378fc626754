//! Scoring trained models: a run folder (or any model source with a config) becomes a
//! [`Scorer`] that gives verdicts for contract texts (`predict`) and scores a labelled dataset
//! split (`eval`). The CLI only parses arguments and prints what comes back.

pub mod evaluate;
pub mod scorer;

pub use evaluate::{Evaluation, evaluate};
pub use scorer::{Reading, Scorer, Verdict};

#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Tokenize(#[from] crate::tokenize::TokenizeError),
    #[error(transparent)]
    Config(#[from] crate::train::config::ConfigError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// This input cannot be scored (an empty contract, an unreadable file); the others can.
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Invalid(String),
}
