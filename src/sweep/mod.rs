//! Sweeps: a grid (or random trials) over any config keys, alpha × temperature by default.
//! A sweep is a folder of ordinary run folders, one per cell, that any number of workers fill
//! in: cells are claimed atomically, a crashed worker's claim is taken over, an interrupted
//! cell resumes from its checkpoint, a failed one is recorded and the sweep goes on. The
//! teacher is fine-tuned and cached once; the best cell is chosen on validation and only it
//! is scored on test.

pub mod cells;
pub mod claim;
pub mod folder;
pub mod slurm;
pub mod spec;
pub mod summary;
pub mod work;

pub use folder::{CellRun, SweepDir};
pub use spec::{Axis, Cell, SweepSpec};
pub use work::{Placement, WorkReport, prepare_teacher, prepare_teacher_on, work};

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Config(#[from] crate::train::config::ConfigError),
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}
