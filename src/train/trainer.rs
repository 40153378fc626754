//! The training loop. One optimizer step = `accumulation` batches of `batch_size` contracts;
//! every random draw comes from seeded generators (data order from (seed, epoch), dropout from
//! a generator whose state is checkpointed), so a run interrupted and resumed ends with the
//! same weights as one that never stopped.

use super::TrainError;
use super::batches::{epoch_batches, micro_batches};
use super::checkpoint::{self, TrainState};
use super::config::ExperimentConfig;
use super::evaluate::{Pooling, contract_forward};
use super::loss::{LabelLoss, Objective};
use super::optim::{AdamW, AdamWConfig, clip_grad_norm, lr_at};
use super::samples::{Sample, Target, samples};
use super::setup::build_model;
use super::validation::{finish, validate};
use crate::data::{Dataset, Split};
use crate::model::init::SeededRng;
use crate::model::{Classifier, Mode};
use crate::store::{EventSink, RunDir, TrainEvent};
use candle_core::{Tensor, Var};
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
    let plan = Plan::single(cfg, "train", &objective);
    fit(cfg, role, run, sink, stop, &model, &data, resumed, &plan)
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
    let model = build_model(section, ds, &run.path, seed, device)?.0;
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
            }],
            extra: Vec::new(),
        }
    }
}

/// The loop proper, stage after stage. The step counter runs on across stages (curves stay
/// one line); the learning-rate schedule, epochs and best checkpoint are per stage, so the
/// `best` checkpoint is the best of the last stage.
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
    plan: &Plan,
) -> Result<Outcome, TrainError> {
    let t = &cfg.train;
    let pooling = Pooling::parse(&t.pooling).map_err(TrainError::Invalid)?;
    let last_dir = run.checkpoint_dir("last");
    let accumulation = t.accumulation.max(1);
    let batches_per_epoch = data.train.len().div_ceil(t.batch_size.max(1));
    let steps_per_epoch = batches_per_epoch.div_ceil(accumulation) as u64;
    // `max_steps` caps each stage, so a smoke test still reaches every stage.
    let stage_totals: Vec<u64> = plan
        .stages
        .iter()
        .map(|s| {
            let n = steps_per_epoch * s.epochs as u64;
            if t.max_steps > 0 {
                n.min(t.max_steps)
            } else {
                n
            }
        })
        .collect();
    let total: u64 = stage_totals.iter().sum();
    let mut vars = model.named_vars();
    vars.extend(plan.extra.iter().cloned());
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let mut state = TrainState {
        step: 0,
        epoch: 0,
        next_batch: 0,
        rng: SeededRng::for_name(t.seed, "dropout").state(),
        best_macro_f1: None,
        best_step: 0,
        stale_evals: 0,
        train_seconds: 0.0,
        stage: 0,
        stage_start: 0,
    };
    let resuming = resumed.is_some();
    let mut moments = None;
    if let Some((saved_moments, saved)) = resumed {
        state = saved;
        moments = Some(saved_moments);
        if let Some(dir) = checkpoint::existing(&last_dir) {
            checkpoint::restore_extra(&dir, &plan.extra)?;
        }
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
    let named_stages = plan.stages.len() > 1;
    while state.stage < plan.stages.len() {
        let stage = &plan.stages[state.stage];
        let stage_total = stage_totals[state.stage];
        let warmup = (t.warmup_ratio * stage_total as f64).round() as u64;
        let mut opt = AdamW::new(
            vars.clone(),
            AdamWConfig {
                lr: stage.lr,
                weight_decay: t.weight_decay,
                ..AdamWConfig::default()
            },
        )?;
        if let Some(m) = moments.take() {
            opt.restore(&m, state.step - state.stage_start)?;
        }
        'epochs: while state.epoch < stage.epochs && state.step - state.stage_start < stage_total {
            let epoch = state.epoch;
            let batches = epoch_batches(&data.train, t.batch_size, t.seed, epoch, t.bucket);
            // Ends when the epoch rolls over (state.epoch moves on), so the next epoch reshuffles.
            while state.epoch == epoch && state.next_batch < batches.len() {
                let group_end = (state.next_batch + accumulation).min(batches.len());
                let group = &batches[state.next_batch..group_end];
                let (step_loss, contracts, terms) = accumulate(
                    model,
                    data,
                    group,
                    &mut rng,
                    pooling,
                    &opt,
                    &mut grads,
                    state.step,
                    stage.objective,
                    t.max_batch_tokens,
                )?;
                window_samples += contracts;
                clip_grad_norm(&mut grads, t.max_grad_norm)?;
                let local = state.step - state.stage_start;
                let lr = lr_at(local, stage.lr, warmup, stage_total);
                opt.step(&grads, lr)?;
                grads.clear();
                state.step += 1;
                let stage_done = local + 1 >= stage_total;
                state.next_batch = group_end;
                if state.next_batch >= batches.len() {
                    state.epoch += 1;
                    state.next_batch = 0;
                }
                if state.step.is_multiple_of(t.log_every.max(1)) || stage_done {
                    let secs = window_clock.elapsed().as_secs_f64().max(1e-9);
                    let event = TrainEvent::Step {
                        step: state.step,
                        epoch: state.epoch,
                        stage: named_stages.then(|| stage.name.clone()),
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
                    || stage_done;
                state.rng = rng.state();
                state.train_seconds = base_seconds + clock.elapsed().as_secs_f64();
                if eval_now {
                    let improved = validate(model, data, cfg, pooling, &mut state, run, sink)?;
                    if improved {
                        checkpoint::save(&run.checkpoint_dir("best"), model, None)?;
                    }
                    save_last(run, model, &opt, &state, &plan.extra, "last", sink)?;
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
                if stage_done {
                    break 'epochs;
                }
                if stop.load(Ordering::SeqCst) {
                    save_last(run, model, &opt, &state, &plan.extra, "interrupted", sink)?;
                    return Ok(Outcome::Interrupted { step: state.step });
                }
                if state.epoch >= stage.epochs {
                    break 'epochs;
                }
            }
        }
        // The next stage starts afresh: epochs, schedule, and the best validation score.
        state.stage += 1;
        state.stage_start = state.step;
        state.epoch = 0;
        state.next_batch = 0;
        if state.stage < plan.stages.len() {
            state.best_macro_f1 = None;
            state.stale_evals = 0;
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

fn save_last(
    run: &mut RunDir,
    model: &Classifier,
    opt: &AdamW,
    state: &TrainState,
    extra: &[(String, Var)],
    kind: &str,
    sink: &mut dyn EventSink,
) -> Result<(), TrainError> {
    let resume = checkpoint::ResumeState {
        optimizer: opt,
        state,
        extra,
    };
    checkpoint::save(&run.checkpoint_dir("last"), model, Some(&resume))?;
    emit(
        run,
        sink,
        &TrainEvent::Checkpoint {
            step: state.step,
            kind: kind.into(),
        },
    );
    Ok(())
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
    max_batch_tokens: usize,
) -> Result<(f64, usize, BTreeMap<String, f64>), TrainError> {
    let parts = group.len() as f64;
    let (mut mean_loss, mut contracts) = (0.0, 0);
    let mut terms = BTreeMap::new();
    for batch in group {
        let whole: Vec<&Sample> = batch.iter().map(|&i| &data.train[i]).collect();
        for part in micro_batches(&whole, max_batch_tokens) {
            // A part's loss is a mean over its contracts: weighted by its share of the batch,
            // the parts' gradients add up to the whole batch's.
            let share = part.len() as f64 / whole.len() as f64;
            let weight = share / parts;
            let chosen = &whole[part];
            let forward = contract_forward(
                model,
                chosen,
                &mut Mode::Train(rng),
                pooling,
                objective.wants_scores(),
            )?;
            let (l, batch_terms) = objective.loss(&forward, chosen)?;
            let value = l.to_scalar::<f32>()? as f64;
            for (k, v) in batch_terms {
                *terms.entry(k).or_insert(0.0) += v * weight;
            }
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    step: step + 1,
                    loss: value,
                });
            }
            mean_loss += value * weight;
            // (× share, then / parts: with one part, exactly the unsplit batch's arithmetic.)
            let store = ((l * share)? / parts)?.backward()?;
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
    }
    Ok((mean_loss, contracts, terms))
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
) -> Result<serde_json::Value, TrainError> {
    let device = super::device::device(&cfg.device)?;
    let ds = prepare_data(cfg)?;
    let last = checkpoint::existing(&run.checkpoint_dir("last")).ok_or_else(|| {
        TrainError::Invalid(format!("{}: no checkpoint to score", run.path.display()))
    })?;
    let (model, _) = checkpoint::load_model(&last, cfg.train.seed, &device)?;
    let (_, state) = checkpoint::load_state(&last, &device)?;
    let data = load_samples(cfg, ds, &model)?;
    let pooling = Pooling::parse(&cfg.train.pooling).map_err(TrainError::Invalid)?;
    let mut cfg = cfg.clone();
    cfg.train.test = true;
    finish(&model, &data, &cfg, role, pooling, &state, run)
}
