//! The training loop. One optimizer step = `accumulation` batches of `batch_size` contracts;
//! every random draw comes from seeded generators (data order from (seed, epoch), dropout from
//! a generator whose state is checkpointed), so a run interrupted and resumed ends with the
//! same weights as one that never stopped.

use super::TrainError;
use super::batches::epoch_batches;
use super::checkpoint::{self, TrainState};
use super::config::ExperimentConfig;
use super::evaluate::{Pooling, contract_logits};
use super::loss::{LabelLoss, Objective};
use super::optim::{AdamW, AdamWConfig, clip_grad_norm, lr_at};
use super::samples::{Sample, Target, samples};
use super::setup::build_model;
use super::validation::{finish, validate};
use crate::data::{Dataset, Split};
use crate::model::init::SeededRng;
use crate::model::{Classifier, Mode};
use crate::store::{EventSink, RunDir, TrainEvent};
use candle_core::Tensor;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub enum Outcome {
    Finished(serde_json::Value),
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
    let class_weights = match cfg.train.class_weights.as_str() {
        "none" => None,
        "balanced" => {
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
        other => {
            return Err(TrainError::Invalid(format!(
                "train.class_weights `{other}`: none or balanced"
            )));
        }
    };
    Ok(Data {
        ds,
        train,
        valid,
        test,
        class_weights,
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
    let device = super::device::device(&cfg.device)?;
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
    fit(
        cfg, role, run, sink, stop, &model, &data, resumed, &objective,
    )
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
    let model = if resume {
        let dir = checkpoint::existing(&run.checkpoint_dir("last")).ok_or_else(|| {
            TrainError::Invalid(format!(
                "{}: no checkpoint to resume from",
                run.path.display()
            ))
        })?;
        let (model, _) = checkpoint::load_model(&dir, seed, device)?;
        return Ok((model, Some(checkpoint::load_state(&dir, device)?)));
    } else {
        build_model(section, ds, &run.path, seed, device)?.0
    };
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

/// The loop proper: `objective` turns a batch's contract logits into the loss and its terms.
#[allow(clippy::too_many_arguments)]
pub fn fit(
    cfg: &ExperimentConfig,
    role: &str,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    model: &Classifier,
    data: &Data,
    resumed: Option<Resumed>,
    objective: &dyn Objective,
) -> Result<Outcome, TrainError> {
    let t = &cfg.train;
    let pooling = Pooling::parse(&t.pooling).map_err(TrainError::Invalid)?;
    let last_dir = run.checkpoint_dir("last");
    let accumulation = t.accumulation.max(1);
    let batches_per_epoch = data.train.len().div_ceil(t.batch_size.max(1));
    let steps_per_epoch = batches_per_epoch.div_ceil(accumulation) as u64;
    let mut total = steps_per_epoch * t.epochs as u64;
    if t.max_steps > 0 {
        total = total.min(t.max_steps);
    }
    let warmup = (t.warmup_ratio * total as f64).round() as u64;
    let mut opt = AdamW::new(
        model.named_vars(),
        AdamWConfig {
            lr: t.lr,
            weight_decay: t.weight_decay,
            ..AdamWConfig::default()
        },
    )?;
    let mut state = TrainState {
        step: 0,
        epoch: 0,
        next_batch: 0,
        rng: SeededRng::for_name(t.seed, "dropout").state(),
        best_macro_f1: None,
        best_step: 0,
        stale_evals: 0,
        train_seconds: 0.0,
    };
    let resuming = resumed.is_some();
    if let Some((moments, saved)) = resumed {
        opt.restore(&moments, saved.step)?;
        state = saved;
    }
    let mut rng = SeededRng::restore(&state.rng)
        .ok_or_else(|| TrainError::Invalid("corrupt generator state".into()))?;
    let started = TrainEvent::Started {
        run_id: run.info.run_id.clone(),
        role: role.to_string(),
        total_steps: total,
        resumed_from: resuming.then_some(state.step),
    };
    emit(run, sink, &started);

    let clock = Instant::now();
    let base_seconds = state.train_seconds;
    let mut window_clock = Instant::now();
    let mut window_samples = 0usize;
    let mut grads: HashMap<String, Tensor> = HashMap::new();
    'epochs: while state.epoch < t.epochs && state.step < total {
        let epoch = state.epoch;
        let batches = epoch_batches(&data.train, t.batch_size, t.seed, epoch, t.bucket);
        // Ends when the epoch rolls over (state.epoch moves on), so the next epoch reshuffles.
        while state.epoch == epoch && state.next_batch < batches.len() {
            let group_end = (state.next_batch + accumulation).min(batches.len());
            let group = &batches[state.next_batch..group_end];
            let (step_loss, contracts, terms) = accumulate(
                model, data, group, &mut rng, pooling, &opt, &mut grads, state.step, objective,
            )?;
            window_samples += contracts;
            clip_grad_norm(&mut grads, t.max_grad_norm)?;
            let lr = lr_at(state.step, t.lr, warmup, total);
            opt.step(&grads, lr)?;
            grads.clear();
            state.step += 1;
            state.next_batch = group_end;
            if state.next_batch >= batches.len() {
                state.epoch += 1;
                state.next_batch = 0;
            }
            if state.step.is_multiple_of(t.log_every.max(1)) || state.step == total {
                let secs = window_clock.elapsed().as_secs_f64().max(1e-9);
                let event = TrainEvent::Step {
                    step: state.step,
                    epoch: state.epoch,
                    loss: step_loss,
                    terms,
                    lr,
                    samples_per_s: window_samples as f64 / secs,
                };
                emit(run, sink, &event);
                window_clock = Instant::now();
                window_samples = 0;
            }
            let epoch_done = state.next_batch == 0;
            let eval_now = (t.eval_every > 0 && state.step.is_multiple_of(t.eval_every))
                || epoch_done
                || state.step == total;
            state.rng = rng.state();
            state.train_seconds = base_seconds + clock.elapsed().as_secs_f64();
            if eval_now {
                let improved = validate(model, data, cfg, pooling, &mut state, run, sink)?;
                if improved {
                    checkpoint::save(&run.checkpoint_dir("best"), model, None, None)?;
                }
                checkpoint::save(&last_dir, model, Some(&opt), Some(&state))?;
                emit(
                    run,
                    sink,
                    &TrainEvent::Checkpoint {
                        step: state.step,
                        kind: "last".into(),
                    },
                );
                // Events that could not be written would be lost silently: stop instead.
                if let Some(e) = run.write_error.take() {
                    return Err(TrainError::Invalid(format!(
                        "cannot write {}: {e}",
                        run.path.join("events.jsonl").display()
                    )));
                }
                if t.early_stopping > 0 && state.stale_evals >= t.early_stopping {
                    break 'epochs;
                }
            }
            if state.step >= total {
                break 'epochs;
            }
            if stop.load(Ordering::SeqCst) {
                checkpoint::save(&last_dir, model, Some(&opt), Some(&state))?;
                emit(
                    run,
                    sink,
                    &TrainEvent::Checkpoint {
                        step: state.step,
                        kind: "interrupted".into(),
                    },
                );
                return Ok(Outcome::Interrupted { step: state.step });
            }
            if state.epoch >= t.epochs {
                break 'epochs;
            }
        }
    }
    let summary = finish(model, data, cfg, role, pooling, &state, run)?;
    run.write_summary(&summary)?;
    emit(
        run,
        sink,
        &TrainEvent::Finished {
            summary: summary.clone(),
        },
    );
    Ok(Outcome::Finished(summary))
}

/// Forward and backward over the batches of one optimizer step, summing their gradients
/// (each batch's loss scaled by 1 / number of batches). Returns the mean loss and the number
/// of contracts seen.
#[allow(clippy::too_many_arguments)]
fn accumulate(
    model: &Classifier,
    data: &Data,
    group: &[Vec<usize>],
    rng: &mut SeededRng,
    pooling: Pooling,
    opt: &AdamW,
    grads: &mut HashMap<String, Tensor>,
    step: u64,
    objective: &dyn Objective,
) -> Result<(f64, usize, BTreeMap<String, f64>), TrainError> {
    let device = model.device().clone();
    let parts = group.len() as f64;
    let (mut mean_loss, mut contracts) = (0.0, 0);
    let mut terms = BTreeMap::new();
    for batch in group {
        let chosen: Vec<&Sample> = batch.iter().map(|&i| &data.train[i]).collect();
        let logits = contract_logits(model, &chosen, &mut Mode::Train(rng), pooling)?;
        let (l, batch_terms) = objective.loss(&logits, &chosen, &device)?;
        let value = l.to_scalar::<f32>()? as f64;
        for (k, v) in batch_terms {
            *terms.entry(k).or_insert(0.0) += v / parts;
        }
        if !value.is_finite() {
            return Err(TrainError::NonFinite {
                step: step + 1,
                loss: value,
            });
        }
        mean_loss += value / parts;
        let store = (l / parts)?.backward()?;
        for (name, var) in opt.vars() {
            if let Some(g) = store.get(var.as_tensor()) {
                let sum = match grads.remove(name) {
                    Some(prev) => (prev + g)?,
                    None => g.clone(),
                };
                grads.insert(name.clone(), sum);
            }
        }
        contracts += chosen.len();
    }
    Ok((mean_loss, contracts, terms))
}

pub(crate) fn emit(run: &mut RunDir, sink: &mut dyn EventSink, event: &TrainEvent) {
    run.emit(event);
    sink.emit(event);
}
