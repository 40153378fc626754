//! The training engine: configs, samples and batches, AdamW with warm-up and decay, the loop
//! with evaluation, checkpoints, resume and a stop flag. It reports through an `EventSink`
//! and knows nothing of screens.

pub mod batches;
pub mod calibration;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod evaluate;
pub mod fit;
pub mod loss;
pub mod optim;
pub mod quantize;
pub mod ranges;
pub mod samples;
pub mod setup;
mod suggest;
pub mod swap;
pub mod trainer;
pub(crate) mod validation;

pub use config::ExperimentConfig;
pub use trainer::{Outcome, train};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Tokenize(#[from] crate::tokenize::TokenizeError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Schema(#[from] crate::store::schema::SchemaError),
    #[error("config: {0}")]
    Invalid(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the loss became {loss} at step {step}; {} (lower train.lr or check the data)",
        match checkpoint {
            Some(s) => format!("the last good checkpoint (step {s}) is kept"),
            None => "no checkpoint had been saved yet".to_string(),
        }
    )]
    NonFinite {
        step: u64,
        loss: f64,
        /// The step of the last good checkpoint, if one was saved.
        checkpoint: Option<u64>,
    },
}
