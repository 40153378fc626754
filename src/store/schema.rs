//! The typed files of a run folder, and the only code that writes or reads them:
//! `summary.json` ([`RunSummary`]), `predictions.json` ([`Predictions`]) and a sweep's
//! `teacher.json` ([`TeacherPass`]). Each carries a schema version; files from before versions
//! (no `schema` field) are version 1, whose layout version 2 keeps. A file of a version this
//! build does not know is a clear error, never a silent misreading.

use super::write_atomic;
use crate::data::Task;
use crate::train::evaluate::Scores;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The version this build writes.
pub const SCHEMA: u32 = 2;
/// The versions this build reads.
const READS: [u32; 2] = [1, 2];

fn unversioned() -> u32 {
    1
}

pub const SUMMARY_FILE: &str = "summary.json";
pub const PREDICTIONS_FILE: &str = "predictions.json";
pub const TEACHER_FILE: &str = "teacher.json";

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a valid {what}: {msg}", path.display())]
    Parse {
        path: PathBuf,
        what: &'static str,
        msg: String,
    },
    #[error(
        "{}: schema version {found}, which this build of Alambic does not read (it reads {}); \
         open it with the version that wrote it",
        path.display(),
        READS.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    )]
    Version { path: PathBuf, found: u32 },
}

/// The run folder a checkpoint belongs to: `<run>/checkpoints/<kind>` (the one place that
/// knows a checkpoint sits two levels below its run).
pub fn run_of_checkpoint(checkpoint: &Path) -> Option<&Path> {
    checkpoint.parent()?.parent()
}

fn read<T: DeserializeOwned>(path: &Path, what: &'static str) -> Result<T, SchemaError> {
    let text = std::fs::read_to_string(path).map_err(|source| SchemaError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // The version first, so a newer layout is reported as such rather than as a parse error.
    #[derive(Deserialize)]
    struct Version {
        #[serde(default = "unversioned")]
        schema: u32,
    }
    if let Ok(v) = serde_json::from_str::<Version>(&text)
        && !READS.contains(&v.schema)
    {
        return Err(SchemaError::Version {
            path: path.to_path_buf(),
            found: v.schema,
        });
    }
    serde_json::from_str(&text).map_err(|e| SchemaError::Parse {
        path: path.to_path_buf(),
        what,
        msg: e.to_string(),
    })
}

fn write<T: Serialize>(path: &Path, value: &T) -> Result<(), SchemaError> {
    let io = |source| SchemaError::Io {
        path: path.to_path_buf(),
        source,
    };
    let text = serde_json::to_string_pretty(value).map_err(|e| io(std::io::Error::other(e)))?;
    write_atomic(path, text.as_bytes()).map_err(io)
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SplitSizes {
    pub train: usize,
    pub valid: usize,
    pub test: usize,
}

/// How often a distilled student's verdict is its teacher's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Agreement {
    pub valid: Option<f64>,
    pub test: Option<f64>,
}

/// `summary.json`: what a finished run measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    #[serde(default = "unversioned")]
    pub schema: u32,
    pub run_id: String,
    pub role: String,
    /// The model source the run trained.
    pub model: String,
    pub task: Task,
    pub classes: Vec<String>,
    pub parameters: u64,
    /// Mixture-of-Experts models: the parameters one token goes through (embeddings, head,
    /// router, shared neurons and top-k experts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_parameters: Option<u64>,
    /// The weights in MB (10^6 bytes): 4 per f32 parameter, 1 per int8 one plus its scales.
    /// Absent in summaries older than int8 models (4 bytes per parameter then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_mb: Option<f64>,
    pub latency_ms_per_contract: Option<f64>,
    pub steps: u64,
    pub best_step: u64,
    pub best_valid_macro_f1: Option<f64>,
    pub train_seconds: f64,
    pub contracts: SplitSizes,
    pub valid: Scores,
    pub test: Option<Scores>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teacher_agreement: Option<Agreement>,
}

impl RunSummary {
    pub fn path(run: &Path) -> PathBuf {
        run.join(SUMMARY_FILE)
    }

    pub fn read(run: &Path) -> Result<Self, SchemaError> {
        read(&Self::path(run), "run summary")
    }

    pub fn write(&self, run: &Path) -> Result<(), SchemaError> {
        write(&Self::path(run), self)
    }

    /// The binary decision threshold chosen on validation.
    pub fn valid_threshold(&self) -> Option<f64> {
        self.valid.threshold
    }

    /// The weights in MB: as measured (`size_mb`), else 4 bytes per parameter.
    pub fn weights_mb(&self) -> f64 {
        self.size_mb.unwrap_or(self.parameters as f64 * 4.0 / 1e6)
    }

    pub fn test_macro_f1(&self) -> Option<f64> {
        self.test.as_ref().map(|t| t.metrics.macro_f1)
    }

    /// Any number in the summary by its dotted path (`valid.macro_f1`, `parameters`): a
    /// sweep's objective may name any of them.
    pub fn number(&self, path: &str) -> Option<f64> {
        // The numbers views ask for on every frame, without a round trip through JSON.
        match path {
            "parameters" => return Some(self.parameters as f64),
            "latency_ms_per_contract" => return self.latency_ms_per_contract,
            "size_mb" => return self.size_mb,
            "best_valid_macro_f1" => return self.best_valid_macro_f1,
            "valid.macro_f1" => return Some(self.valid.metrics.macro_f1),
            "test.macro_f1" => return self.test_macro_f1(),
            "test.accuracy" => return self.test.as_ref().map(|t| t.metrics.accuracy),
            _ => {}
        }
        let v = serde_json::to_value(self).ok()?;
        path.split('.')
            .try_fold(&v, |v, key| v.get(key))
            .and_then(serde_json::Value::as_f64)
    }
}

/// One contract's predicted (`p`) and true (`t`) class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    pub p: usize,
    pub t: Option<usize>,
}

/// `predictions.json`: per split, every scored contract's verdict by id, so views can join a
/// teacher's and a student's verdicts contract by contract.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Predictions {
    #[serde(default = "unversioned")]
    pub schema: u32,
    #[serde(flatten)]
    pub splits: BTreeMap<String, BTreeMap<String, Prediction>>,
}

impl Predictions {
    pub fn read(run: &Path) -> Result<Self, SchemaError> {
        read(&run.join(PREDICTIONS_FILE), "predictions file")
    }

    pub fn write(&self, run: &Path) -> Result<(), SchemaError> {
        write(&run.join(PREDICTIONS_FILE), self)
    }

    pub fn split(&self, name: &str) -> Option<&BTreeMap<String, Prediction>> {
        self.splits.get(name)
    }
}

/// A sweep's `teacher.json`: what preparing the teacher did (its first, uncached pass).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TeacherPass {
    #[serde(default = "unversioned")]
    pub schema: u32,
    pub checkpoint: PathBuf,
    pub seconds: f64,
    pub cache_hit: bool,
}

impl TeacherPass {
    pub fn read(sweep: &Path) -> Result<Self, SchemaError> {
        read(&sweep.join(TEACHER_FILE), "teacher record")
    }

    pub fn write(&self, sweep: &Path) -> Result<(), SchemaError> {
        write(&sweep.join(TEACHER_FILE), self)
    }

    /// The teacher's own run summary (two levels above its checkpoint).
    pub fn summary(&self) -> Option<RunSummary> {
        RunSummary::read(run_of_checkpoint(&self.checkpoint)?).ok()
    }
}

pub const PRETRAIN_FILE: &str = "pretrain.json";

/// Scores on the corpus's held-out windows: masked-language modelling's (the same masks every
/// time), or general distillation's loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOutScores {
    /// MLM: mean cross-entropy over the masked tokens; general distillation: its weighted
    /// terms, each a mean over real tokens.
    pub loss: f64,
    /// exp(loss) (MLM only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub perplexity: Option<f64>,
    /// Share of masked tokens whose original the model ranks first (MLM only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_accuracy: Option<f64>,
    /// The tokens the loss averages over (masked ones for MLM).
    #[serde(alias = "masked_tokens")]
    pub tokens: u64,
}

/// What `alambic pretrain` leaves in `pretrain.json`: the run is a model source (its best
/// checkpoint, by validation loss) for any later run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PretrainSummary {
    pub run_id: String,
    /// `mlm` (pretraining) or `general` (general distillation).
    #[serde(default = "mlm")]
    pub objective: String,
    /// The model source trained (the student, in general distillation).
    pub model: String,
    pub corpus: String,
    pub steps: u64,
    pub epochs: usize,
    /// Tokens the model read in training (special tokens included, padding not).
    pub tokens: u64,
    pub train_seconds: f64,
    pub tokens_per_s: f64,
    /// Training windows per epoch and held-out windows, as counted before training.
    pub train_windows: u64,
    pub valid_windows: u64,
    /// Held-out scores before the first step (absent when the run was resumed past it).
    pub before: Option<HeldOutScores>,
    /// Held-out scores of the best checkpoint.
    pub best: HeldOutScores,
    pub best_step: u64,
}

fn mlm() -> String {
    "mlm".into()
}

impl PretrainSummary {
    pub fn path(run: &Path) -> PathBuf {
        run.join(PRETRAIN_FILE)
    }

    pub fn read(run: &Path) -> Result<Self, SchemaError> {
        read(&Self::path(run), "pretraining summary")
    }

    pub fn write(&self, run: &Path) -> Result<(), SchemaError> {
        write(&Self::path(run), self)
    }
}
