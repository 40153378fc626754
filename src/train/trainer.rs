//! The training loop. One optimizer step = `accumulation` batches of `batch_size` contracts;
//! every random draw comes from seeded generators (data order from (seed, epoch), dropout from
//! a generator whose state is checkpointed), so a run interrupted and resumed ends with the
//! same weights as one that never stopped.

use super::TrainError;
use super::checkpoint::{self, TrainState};
use super::config::{ClassWeights, ExperimentConfig};
use super::fit::{RunContext, fit};
use super::loss::{LabelLoss, Objective};
use super::samples::{Sample, Target, samples};
use super::setup::build_model;
use super::validation::finish;
use crate::data::{Dataset, Split};
use crate::model::Classifier;
use crate::store::schema::RunSummary;
use crate::store::{EventSink, RunDir, TrainEvent};
use candle_core::{Tensor, Var};
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;

pub enum Outcome {
    Finished(Box<RunSummary>),
    /// Stopped on request after checkpointing; resume continues from `step`.
    Interrupted {
        step: u64,
    },
}

/// A prepared dataset and its samples per split, tokenized for one model.
pub struct Data {
    pub ds: Dataset,
    pub train: Vec<Sample>,
    pub valid: Vec<Sample>,
    pub test: Vec<Sample>,
    pub class_weights: Option<Vec<f32>>,
    /// The teacher's verdict per record (distillation), for the agreement in the summary.
    pub teacher_votes: Option<HashMap<usize, usize>>,
}

pub fn prepare_data(cfg: &ExperimentConfig) -> Result<Dataset, TrainError> {
    let mut ds = Dataset::prepare(&cfg.dataset)?;
    if cfg.dataset.limit > 0 && ds.records.len() > cfg.dataset.limit {
        ds.records.truncate(cfg.dataset.limit);
    }
    Ok(ds)
}

pub fn load_samples(
    cfg: &ExperimentConfig,
    ds: Dataset,
    model: &Classifier,
) -> Result<Data, TrainError> {
    let tok = model
        .tokenizer
        .as_ref()
        .ok_or_else(|| TrainError::Invalid("the model has no tokenizer".into()))?;
    let get = |s| samples(&ds, s, tok, &cfg.dataset);
    let (train, valid, test) = (get(Split::Train)?, get(Split::Valid)?, get(Split::Test)?);
    if train.is_empty() {
        return Err(TrainError::Invalid(format!(
            "{}: no training contracts",
            cfg.dataset.file.display()
        )));
    }
    let class_weights = match cfg.train.class_weights {
        ClassWeights::None => None,
        ClassWeights::Balanced => {
            let k = ds.classes.len();
            let mut counts = vec![0usize; k];
            for s in &train {
                if let Target::Class(c) = s.target {
                    counts[c] += 1;
                }
            }
            Some(
                counts
                    .iter()
                    .map(|&n| {
                        if n == 0 {
                            0.0
                        } else {
                            train.len() as f32 / (k * n) as f32
                        }
                    })
                    .collect(),
            )
        }
    };
    Ok(Data {
        ds,
        train,
        valid,
        test,
        class_weights,
        teacher_votes: None,
    })
}

/// Trains the role's model (`teacher` or `student`) into `run`. With `resume`, continues from
/// the run's last checkpoint.
pub fn train(
    cfg: &ExperimentConfig,
    role: &str,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<Outcome, TrainError> {
    let result = train_inner(cfg, role, run, sink, stop, resume);
    record_failure(run, sink, result)
}

/// A run that fails says so in its events (viewers then show it failed, not dead).
pub fn record_failure(
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    result: Result<Outcome, TrainError>,
) -> Result<Outcome, TrainError> {
    if let Err(e) = &result {
        let event = TrainEvent::Failed {
            error: e.to_string(),
        };
        emit(run, sink, &event);
    }
    result
}

fn train_inner(
    cfg: &ExperimentConfig,
    role: &str,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<Outcome, TrainError> {
    let device = super::device::open_for(cfg.device, cfg.train.precision)?;
    run.set_device(&cfg.device.to_string());
    let section = match role {
        "teacher" => &cfg.teacher,
        "student" => &cfg.student,
        other => {
            return Err(TrainError::Invalid(format!(
                "role `{other}`: teacher or student"
            )));
        }
    };
    let ds = prepare_data(cfg)?;
    let (model, resumed) = model_for_run(cfg, section, &ds, run, resume, &device)?;
    let data = load_samples(cfg, ds, &model)?;
    let objective = LabelLoss {
        class_weights: data.class_weights.clone(),
    };
    let plan = Plan::single(cfg, "train", &objective);
    let ctx = RunContext {
        cfg,
        role,
        run,
        sink,
        stop,
    };
    fit(ctx, &model, &data, resumed, &plan)
}

/// The model a run trains: its last checkpoint when resuming, else built from the section.
pub fn model_for_run(
    cfg: &ExperimentConfig,
    section: &super::config::ModelSection,
    ds: &Dataset,
    run: &RunDir,
    resume: bool,
    device: &candle_core::Device,
) -> Result<(Classifier, Option<Resumed>), TrainError> {
    let seed = cfg.train.seed;
    // A run killed before its first checkpoint starts again from step 0 with the same config
    // and seed: the same weights as if it had never stopped.
    if resume && let Some(dir) = checkpoint::existing(&run.checkpoint_dir("last")) {
        let (model, _) = checkpoint::load_model(&dir, seed, device)?;
        return Ok((model, Some(checkpoint::load_state(&dir, device)?)));
    }
    let model = build_model(
        section,
        ds,
        &cfg.dataset,
        cfg.train.pooling,
        &run.path,
        seed,
        device,
    )?
    .0;
    if model.config.alambic_int8.is_some() {
        return Err(TrainError::Invalid(format!(
            "model `{}` is int8-quantised, for inference: train from the run it was quantised \
             from",
            section.model
        )));
    }
    if model.labels.len() != ds.classes.len() {
        return Err(TrainError::Invalid(format!(
            "the model predicts {} classes, the dataset has {} ({})",
            model.labels.len(),
            ds.classes.len(),
            ds.classes.join(", ")
        )));
    }
    Ok((model, None))
}

/// Optimizer moments and trainer position from a checkpoint.
pub type Resumed = (HashMap<String, Tensor>, TrainState);

/// One stage of a training plan: what it minimises, for how many epochs, at which peak
/// learning rate. Fine-tuning is one stage; TinyBERT's recipe is two (the intermediate layers,
/// then the prediction layer). Each stage has its own optimizer and warm-up.
pub struct Stage<'a> {
    pub name: String,
    pub epochs: usize,
    pub lr: f64,
    pub objective: &'a dyn Objective,
    /// Name prefixes of the variables this stage trains; `None`: all of them. The others
    /// keep their values (no update, no weight decay) and their optimizer moments.
    pub trains: Option<Vec<String>>,
}

pub struct Plan<'a> {
    pub stages: Vec<Stage<'a>>,
    /// Trainable variables outside the model (distillation projections): optimised with it,
    /// kept in `last` checkpoints for resuming, never exported.
    pub extra: Vec<(String, Var)>,
}

impl<'a> Plan<'a> {
    /// One stage over `[train] epochs` and `lr`.
    pub fn single(cfg: &ExperimentConfig, name: &str, objective: &'a dyn Objective) -> Self {
        Self {
            stages: vec![Stage {
                name: name.to_string(),
                epochs: cfg.train.epochs,
                lr: cfg.train.lr,
                objective,
                trains: None,
            }],
            extra: Vec::new(),
        }
    }
}

pub(crate) fn emit(run: &mut RunDir, sink: &mut dyn EventSink, event: &TrainEvent) {
    run.emit(event);
    sink.emit(event);
}

/// Scores a finished run's best checkpoint as its end of training does (threshold chosen on
/// validation), test split included: how a sweep scores its best cell, and only that one.
pub fn score_run(
    cfg: &ExperimentConfig,
    run: &RunDir,
    role: &str,
) -> Result<RunSummary, TrainError> {
    let device = cfg.device.open()?;
    let ds = prepare_data(cfg)?;
    let last = checkpoint::existing(&run.checkpoint_dir("last")).ok_or_else(|| {
        TrainError::Invalid(format!("{}: no checkpoint to score", run.path.display()))
    })?;
    let (model, _) = checkpoint::load_model(&last, cfg.train.seed, &device)?;
    let (_, state) = checkpoint::load_state(&last, &device)?;
    let data = load_samples(cfg, ds, &model)?;
    let pooling = cfg.train.pooling;
    let mut cfg = cfg.clone();
    cfg.train.test = true;
    finish(&model, &data, &cfg, role, pooling, &state, run, None)
}
