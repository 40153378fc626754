//! Checkpoints: the weights (our key names), the model config, tokenizer and head, and for
//! resuming the optimizer moments and the trainer's position (step, epoch, next batch, the
//! dropout generator's state). A checkpoint folder is replaced atomically: written beside,
//! then renamed into place.

use super::optim::AdamW;
use super::swap;
use crate::model::init::RngState;
use crate::model::load::{Classifier, LoadOptions, LoadReport};
use crate::model::{HeadKind, ModelError};
use crate::store::faults::point;
use crate::store::write_atomic;
use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadInfo {
    pub head: HeadKind,
    pub labels: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    pub step: u64,
    pub epoch: usize,
    /// Index of the next batch within the epoch.
    pub next_batch: usize,
    pub rng: RngState,
    pub best_macro_f1: Option<f64>,
    pub best_step: u64,
    pub stale_evals: usize,
    pub train_seconds: f64,
    /// Index of the stage being trained (multi-stage distillation), and the step it began at.
    #[serde(default)]
    pub stage: usize,
    #[serde(default)]
    pub stage_start: u64,
    /// Tokens read in training so far (pretraining reports them).
    #[serde(default)]
    pub tokens: u64,
    /// The best validation loss so far, where a run chooses by loss (pretraining).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_loss: Option<f64>,
}

impl TrainState {
    /// The position of a run that has not taken a step.
    pub fn fresh(seed: u64) -> Self {
        Self {
            step: 0,
            epoch: 0,
            next_batch: 0,
            rng: crate::model::init::SeededRng::for_name(seed, "dropout").state(),
            best_macro_f1: None,
            best_step: 0,
            stale_evals: 0,
            train_seconds: 0.0,
            stage: 0,
            stage_start: 0,
            tokens: 0,
            best_loss: None,
        }
    }
}

/// What a `last` checkpoint keeps beside the weights so a run can resume exactly.
pub struct ResumeState<'a> {
    pub optimizer: &'a AdamW,
    pub state: &'a TrainState,
    /// Trainable variables outside the model (distillation projections).
    pub extra: &'a [(String, Var)],
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ModelError + '_ {
    move |e| ModelError::io(path, e)
}

/// Writes the checkpoint into `dir`, replacing the one there so that a crash at any point
/// leaves a whole checkpoint to resume from (`swap.rs`).
pub fn save(
    dir: &Path,
    model: &Classifier,
    resume: Option<&ResumeState>,
) -> Result<(), ModelError> {
    swap::recover(dir).map_err(io(dir))?;
    let staging = swap::staging(dir);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io(&staging))?;
    }
    point("swap:staging-cleared").map_err(io(&staging))?;
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    write_files(&staging, model, resume)?;
    point("swap:staging-written").map_err(io(&staging))?;
    swap::seal(&staging).map_err(io(&staging))?;
    point("swap:sealed").map_err(io(&staging))?;
    swap::commit(dir).map_err(io(dir))
}

fn write_files(
    staging: &Path,
    model: &Classifier,
    resume: Option<&ResumeState>,
) -> Result<(), ModelError> {
    // A quantised model's int8 layers go to their own file, the rest stays f32.
    let int8 = crate::model::int8::folder::matrices_of(model);
    let tensors: HashMap<String, Tensor> = model
        .named_vars()
        .into_iter()
        .filter(|(k, _)| !int8.contains_key(k))
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    if !int8.is_empty() {
        crate::model::int8::folder::save(
            &staging.join(crate::model::int8::folder::INT8_FILE),
            &int8,
        )?;
    }
    let weights = staging.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &weights)
        .map_err(|e| ModelError::file(&weights, e.to_string()))?;
    let mut config = model.config.clone();
    config.set_labels(&model.labels);
    write_atomic(&staging.join("config.json"), pretty(&config).as_bytes()).map_err(io(staging))?;
    let head = HeadInfo {
        head: model.head_kind,
        labels: model.labels.clone(),
    };
    write_atomic(&staging.join("alambic.json"), pretty(&head).as_bytes()).map_err(io(staging))?;
    if let Some(tok) = &model.tokenizer {
        tok.save(staging)?;
    }
    if let Some(r) = resume {
        let moments = staging.join("optimizer.safetensors");
        candle_core::safetensors::save(&r.optimizer.state(), &moments)
            .map_err(|e| ModelError::file(&moments, e.to_string()))?;
        write_atomic(&staging.join("state.json"), pretty(r.state).as_bytes())
            .map_err(io(staging))?;
        if !r.extra.is_empty() {
            let extra: HashMap<String, Tensor> = r
                .extra
                .iter()
                .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                .collect();
            let file = staging.join(EXTRA_FILE);
            candle_core::safetensors::save(&extra, &file)
                .map_err(|e| ModelError::file(&file, e.to_string()))?;
        }
    }
    Ok(())
}

/// The checkpoint folder to read: `dir`, or the whole version a crash in the swap left beside
/// it (the sealed new one first, else the previous one).
pub fn existing(dir: &Path) -> Option<PathBuf> {
    swap::readable(dir)
}

pub fn load_model(
    dir: &Path,
    seed: u64,
    device: &Device,
) -> Result<(Classifier, LoadReport), ModelError> {
    let path = dir.join("alambic.json");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let head: HeadInfo =
        serde_json::from_str(&text).map_err(|e| ModelError::file(&path, e.to_string()))?;
    let opts = LoadOptions {
        // An encoder-only checkpoint (pretraining) gets the placeholder head of a bare folder.
        labels: (!head.labels.is_empty()).then_some(head.labels),
        head: Some(head.head),
        seed,
        calibration: None,
        corpus: None,
    };
    Classifier::from_folder(dir, &opts, device)
}

/// Whether the checkpoint holds an encoder without a classifier (a pretraining run's).
pub fn encoder_only(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("alambic.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<HeadInfo>(&t).ok())
        .is_some_and(|h| h.labels.is_empty())
}

pub fn load_state(
    dir: &Path,
    device: &Device,
) -> Result<(HashMap<String, Tensor>, TrainState), ModelError> {
    let opt = candle_core::safetensors::load(dir.join("optimizer.safetensors"), device)?;
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    let state = serde_json::from_str(&text).map_err(|e| ModelError::file(&path, e.to_string()))?;
    Ok((opt, state))
}

/// The step of the run's last good checkpoint (`last` in `run`), for the message of a loss
/// that went non-finite.
pub fn last_good_step(run: &crate::store::RunDir) -> Option<u64> {
    existing(&run.checkpoint_dir("last"))
        .and_then(|dir| load_state_only(&dir).ok())
        .map(|s| s.step)
}

/// The trainer's position alone (no tensors).
pub fn load_state_only(dir: &Path) -> Result<TrainState, ModelError> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).map_err(io(&path))?;
    serde_json::from_str(&text).map_err(|e| ModelError::file(&path, e.to_string()))
}

const EXTRA_FILE: &str = "extra.safetensors";

/// Sets `extra` from a checkpoint's saved values (left as they are when it has none).
pub fn restore_extra(dir: &Path, extra: &[(String, Var)]) -> Result<(), ModelError> {
    let path = dir.join(EXTRA_FILE);
    if extra.is_empty() || !path.is_file() {
        return Ok(());
    }
    let saved = candle_core::safetensors::load(&path, &Device::Cpu)?;
    for (name, var) in extra {
        let value = saved
            .get(name)
            .ok_or_else(|| ModelError::file(&path, format!("no tensor `{name}`")))?;
        var.set(&value.to_device(var.device())?)?;
    }
    Ok(())
}

fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
