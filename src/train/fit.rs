//! The loop proper, stage after stage, as a type that owns its state: the trainer's position
//! (`TrainState`, what a checkpoint saves), the dropout generator, the optimizer of the stage,
//! the clocks and the gradient buffer. The step counter runs on across stages (curves stay one
//! line); the learning-rate schedule, epochs and best checkpoint are per stage, so the `best`
//! checkpoint is the best of the last stage.

use super::TrainError;
use super::batches::{epoch_batches, micro_batches};
use super::checkpoint::{self, ResumeState, TrainState};
use super::config::ExperimentConfig;
use super::evaluate::{Pooling, contract_forward};
use super::optim::{AdamW, AdamWConfig, add_grads, clip_grad_norm, lr_at};
use super::samples::Sample;
use super::trainer::{Data, Outcome, Plan, Resumed, Stage, emit};
use super::validation::{finish, validate};
use crate::model::init::SeededRng;
use crate::model::{Classifier, Mode};
use crate::store::{EventSink, RunDir, TrainEvent};
use candle_core::{Tensor, Var};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Where a run reports and what can stop it.
pub struct RunContext<'a> {
    pub cfg: &'a ExperimentConfig,
    pub role: &'a str,
    pub run: &'a mut RunDir,
    pub sink: &'a mut dyn EventSink,
    pub stop: &'a AtomicBool,
}

/// What the loop does after a step.
enum Next {
    Continue,
    /// The stage is over (its steps, epochs or early stopping).
    EndStage,
    Interrupted,
}

/// The seconds and contracts behind the logged throughput and the summary's training time.
struct Clocks {
    started: Instant,
    base_seconds: f64,
    window: Instant,
    window_contracts: usize,
}

/// One optimizer step's report.
struct StepResult {
    loss: f64,
    terms: BTreeMap<String, f64>,
    lr: f64,
}

pub struct Loop<'a> {
    ctx: RunContext<'a>,
    model: &'a Classifier,
    data: &'a Data,
    plan: &'a Plan<'a>,
    vars: Vec<(String, Var)>,
    pooling: Pooling,
    stage_totals: Vec<u64>,
    state: TrainState,
    rng: SeededRng,
    /// Saved optimizer moments, for the first stage after a resume.
    moments: Option<HashMap<String, Tensor>>,
    resuming: bool,
    grads: HashMap<String, Tensor>,
    clocks: Clocks,
    /// Mixture layers' expert shares summed over the parts since the last step event.
    expert_load: ExpertLoad,
}

/// Sums of each mixture layer's expert shares, and how many parts they came from.
#[derive(Default)]
struct ExpertLoad {
    sums: BTreeMap<usize, Vec<f64>>,
    parts: usize,
}

impl ExpertLoad {
    fn add(&mut self, stats: &[crate::model::moe::MoeStats]) {
        for s in stats {
            let sum = self
                .sums
                .entry(s.layer)
                .or_insert_with(|| vec![0.0; s.load.len()]);
            for (acc, v) in sum.iter_mut().zip(&s.load) {
                *acc += v;
            }
        }
        self.parts += usize::from(!stats.is_empty());
    }

    /// The event of the means, and a fresh sum; `None` for a dense model.
    fn take(&mut self, step: u64) -> Option<TrainEvent> {
        let taken = std::mem::take(self);
        let n = taken.parts.max(1) as f64;
        (!taken.sums.is_empty()).then(|| TrainEvent::ExpertLoad {
            step,
            layers: taken
                .sums
                .into_iter()
                .map(|(l, v)| (l.to_string(), v.into_iter().map(|x| x / n).collect()))
                .collect(),
        })
    }
}

/// Trains `model` through `plan`'s stages into the run folder; with `resumed`, from the saved
/// optimizer moments and position.
pub fn fit<'a>(
    ctx: RunContext<'a>,
    model: &'a Classifier,
    data: &'a Data,
    resumed: Option<Resumed>,
    plan: &'a Plan<'a>,
) -> Result<Outcome, TrainError> {
    Loop::new(ctx, model, data, plan, resumed)?.run()
}

/// The optimizer steps of each stage; `max_steps` caps each, so a smoke test still reaches
/// every stage.
fn stage_totals(cfg: &ExperimentConfig, data: &Data, plan: &Plan) -> Vec<u64> {
    let t = &cfg.train;
    let batches_per_epoch = data.train.len().div_ceil(t.batch_size.max(1));
    let steps_per_epoch = batches_per_epoch.div_ceil(t.accumulation.max(1)) as u64;
    plan.stages
        .iter()
        .map(|s| {
            let n = steps_per_epoch * s.epochs as u64;
            if t.max_steps > 0 {
                n.min(t.max_steps)
            } else {
                n
            }
        })
        .collect()
}

impl<'a> Loop<'a> {
    fn new(
        ctx: RunContext<'a>,
        model: &'a Classifier,
        data: &'a Data,
        plan: &'a Plan<'a>,
        resumed: Option<Resumed>,
    ) -> Result<Self, TrainError> {
        let t = &ctx.cfg.train;
        let stage_totals = stage_totals(ctx.cfg, data, plan);
        let mut vars = model.named_vars();
        vars.extend(plan.extra.iter().cloned());
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let resuming = resumed.is_some();
        let (moments, state) = match resumed {
            Some((moments, state)) => {
                if let Some(dir) = checkpoint::existing(&ctx.run.checkpoint_dir("last")) {
                    checkpoint::restore_extra(&dir, &plan.extra)?;
                }
                (Some(moments), state)
            }
            None => (None, TrainState::fresh(t.seed)),
        };
        let rng = SeededRng::restore(&state.rng)
            .ok_or_else(|| TrainError::Invalid("corrupt generator state".into()))?;
        let now = Instant::now();
        Ok(Self {
            pooling: ctx.cfg.train.pooling,
            clocks: Clocks {
                started: now,
                base_seconds: state.train_seconds,
                window: now,
                window_contracts: 0,
            },
            ctx,
            model,
            data,
            plan,
            vars,
            stage_totals,
            state,
            rng,
            moments,
            resuming,
            grads: HashMap::new(),
            expert_load: ExpertLoad::default(),
        })
    }

    fn emit(&mut self, event: &TrainEvent) {
        emit(self.ctx.run, self.ctx.sink, event);
    }

    fn run(mut self) -> Result<Outcome, TrainError> {
        let started = TrainEvent::Started {
            run_id: self.ctx.run.info.run_id.clone(),
            role: self.ctx.role.to_string(),
            total_steps: self.stage_totals.iter().sum(),
            resumed_from: self.resuming.then_some(self.state.step),
        };
        self.emit(&started);
        while self.state.stage < self.plan.stages.len() {
            if let Some(outcome) = self.train_stage()? {
                return Ok(outcome);
            }
            self.next_stage();
        }
        self.finish()
    }

    /// The current stage's epochs with its own optimizer and warm-up; `Some` when the run was
    /// interrupted.
    fn train_stage(&mut self) -> Result<Option<Outcome>, TrainError> {
        let plan: &'a Plan<'a> = self.plan;
        let stage = &plan.stages[self.state.stage];
        let vars: Vec<(String, Var)> = match &stage.trains {
            Some(prefixes) => (self.vars.iter())
                .filter(|(name, _)| prefixes.iter().any(|p| name.starts_with(p.as_str())))
                .cloned()
                .collect(),
            None => self.vars.clone(),
        };
        let mut opt = AdamW::new(
            vars,
            AdamWConfig {
                lr: stage.lr,
                weight_decay: self.ctx.cfg.train.weight_decay,
                ..AdamWConfig::default()
            },
        )?;
        if let Some(m) = self.moments.take() {
            opt.restore(&m, self.state.step - self.state.stage_start)?;
        }
        let total = self.stage_totals[self.state.stage];
        while self.state.epoch < stage.epochs && self.state.step - self.state.stage_start < total {
            match self.train_epoch(&mut opt, stage)? {
                Next::Continue => {}
                Next::EndStage => break,
                Next::Interrupted => {
                    return Ok(Some(Outcome::Interrupted {
                        step: self.state.step,
                    }));
                }
            }
        }
        Ok(None)
    }

    /// The rest of the current epoch (all of it, unless resuming inside it).
    fn train_epoch(&mut self, opt: &mut AdamW, stage: &Stage) -> Result<Next, TrainError> {
        let t = &self.ctx.cfg.train;
        let epoch = self.state.epoch;
        let batches = epoch_batches(&self.data.train, t.batch_size, t.seed, epoch, t.bucket);
        let accumulation = t.accumulation.max(1);
        // Ends when the epoch rolls over (state.epoch moves on), so the next epoch reshuffles.
        while self.state.epoch == epoch && self.state.next_batch < batches.len() {
            let end = (self.state.next_batch + accumulation).min(batches.len());
            let step = self.step(opt, stage, &batches[self.state.next_batch..end])?;
            self.state.next_batch = end;
            if self.state.next_batch >= batches.len() {
                self.state.epoch += 1;
                self.state.next_batch = 0;
            }
            let next = self.after_step(opt, stage, step)?;
            if !matches!(next, Next::Continue) {
                return Ok(next);
            }
        }
        Ok(Next::Continue)
    }

    /// One optimizer step over a group of batches.
    fn step(
        &mut self,
        opt: &mut AdamW,
        stage: &Stage,
        group: &[Vec<usize>],
    ) -> Result<StepResult, TrainError> {
        let (loss, terms) = self
            .accumulate(opt, stage, group)
            .map_err(|e| self.with_checkpoint(e))?;
        clip_grad_norm(&mut self.grads, self.ctx.cfg.train.max_grad_norm)?;
        let local = self.state.step - self.state.stage_start;
        let total = self.stage_totals[self.state.stage];
        let warmup = (self.ctx.cfg.train.warmup_ratio * total as f64).round() as u64;
        let lr = lr_at(local, stage.lr, warmup, total);
        opt.step(&self.grads, lr)?;
        self.grads.clear();
        self.state.step += 1;
        Ok(StepResult { loss, terms, lr })
    }

    /// A non-finite loss names the last good checkpoint, if one was saved.
    fn with_checkpoint(&self, e: TrainError) -> TrainError {
        match e {
            TrainError::NonFinite { step, loss, .. } => TrainError::NonFinite {
                step,
                loss,
                checkpoint: checkpoint::last_good_step(self.ctx.run),
            },
            other => other,
        }
    }

    /// Logging, evaluation, checkpoints and the stop flag after a step.
    fn after_step(
        &mut self,
        opt: &AdamW,
        stage: &Stage,
        step: StepResult,
    ) -> Result<Next, TrainError> {
        let t = &self.ctx.cfg.train;
        let local = self.state.step - self.state.stage_start;
        let stage_done = local >= self.stage_totals[self.state.stage];
        if self.state.step.is_multiple_of(t.log_every.max(1)) || stage_done {
            self.log_step(stage, step);
        }
        let epoch_done = self.state.next_batch == 0;
        let eval_now =
            (t.eval_every > 0 && self.state.step.is_multiple_of(t.eval_every)) || epoch_done;
        self.state.rng = self.rng.state();
        self.state.train_seconds =
            self.clocks.base_seconds + self.clocks.started.elapsed().as_secs_f64();
        if (eval_now || stage_done) && self.evaluate_and_save(opt)? {
            return Ok(Next::EndStage);
        }
        if stage_done {
            return Ok(Next::EndStage);
        }
        if self.ctx.stop.load(Ordering::SeqCst) {
            self.checkpoint(opt, "interrupted")?;
            return Ok(Next::Interrupted);
        }
        if self.state.epoch >= stage.epochs {
            return Ok(Next::EndStage);
        }
        Ok(Next::Continue)
    }

    fn log_step(&mut self, stage: &Stage, step: StepResult) {
        let secs = self.clocks.window.elapsed().as_secs_f64().max(1e-9);
        let event = TrainEvent::Step {
            step: self.state.step,
            epoch: self.state.epoch,
            stage: (self.plan.stages.len() > 1).then(|| stage.name.clone()),
            loss: step.loss,
            terms: step.terms,
            lr: step.lr,
            samples_per_s: self.clocks.window_contracts as f64 / secs,
        };
        self.emit(&event);
        if let Some(load) = self.expert_load.take(self.state.step) {
            self.emit(&load);
        }
        self.clocks.window = Instant::now();
        self.clocks.window_contracts = 0;
    }

    /// Validation, the best and last checkpoints; true when early stopping ends the stage.
    fn evaluate_and_save(&mut self, opt: &AdamW) -> Result<bool, TrainError> {
        let (model, data, cfg, pooling) = (self.model, self.data, self.ctx.cfg, self.pooling);
        let improved = validate(
            model,
            data,
            cfg,
            pooling,
            &mut self.state,
            self.ctx.run,
            self.ctx.sink,
        )?;
        if improved {
            checkpoint::save(&self.ctx.run.checkpoint_dir("best"), model, None)?;
        }
        self.checkpoint(opt, "last")?;
        // Events that could not be written would be lost silently: stop instead.
        if let Some(e) = self.ctx.run.write_error.take() {
            return Err(TrainError::Invalid(e));
        }
        let patience = cfg.train.early_stopping;
        Ok(patience > 0 && self.state.stale_evals >= patience)
    }

    fn checkpoint(&mut self, opt: &AdamW, kind: &str) -> Result<(), TrainError> {
        let resume = ResumeState {
            optimizer: opt,
            state: &self.state,
            extra: &self.plan.extra,
        };
        checkpoint::save(
            &self.ctx.run.checkpoint_dir("last"),
            self.model,
            Some(&resume),
        )?;
        let event = TrainEvent::Checkpoint {
            step: self.state.step,
            kind: kind.into(),
        };
        self.emit(&event);
        Ok(())
    }

    /// The next stage starts afresh: epochs, schedule, and the best validation score.
    fn next_stage(&mut self) {
        let s = &mut self.state;
        s.stage += 1;
        s.stage_start = s.step;
        s.epoch = 0;
        s.next_batch = 0;
        if s.stage < self.plan.stages.len() {
            s.best_macro_f1 = None;
            s.stale_evals = 0;
        }
    }

    fn finish(mut self) -> Result<Outcome, TrainError> {
        let ctx = &self.ctx;
        let summary = finish(
            self.model,
            self.data,
            ctx.cfg,
            ctx.role,
            self.pooling,
            &self.state,
            ctx.run,
            None,
        )?;
        let summary = Box::new(summary);
        summary.write(&self.ctx.run.path)?;
        self.emit(&TrainEvent::Finished {
            summary: summary.clone(),
        });
        Ok(Outcome::Finished(summary))
    }

    /// Forward and backward over the batches of one optimizer step, summing their gradients
    /// (each batch's loss scaled by 1 / number of batches). Returns the mean loss and terms.
    fn accumulate(
        &mut self,
        opt: &AdamW,
        stage: &Stage,
        group: &[Vec<usize>],
    ) -> Result<(f64, BTreeMap<String, f64>), TrainError> {
        let parts = group.len() as f64;
        let mut mean_loss = 0.0;
        let mut terms = BTreeMap::new();
        for batch in group {
            let whole: Vec<&Sample> = batch.iter().map(|&i| &self.data.train[i]).collect();
            for part in micro_batches(&whole, self.ctx.cfg.train.max_batch_tokens) {
                // A part's loss is a mean over its contracts: weighted by its share of the
                // batch, the parts' gradients add up to the whole batch's.
                let share = part.len() as f64 / whole.len() as f64;
                let chosen = &whole[part];
                let value = self.backward_part(opt, stage, chosen, share, parts, &mut terms)?;
                mean_loss += value * (share / parts);
                self.clocks.window_contracts += chosen.len();
            }
        }
        Ok((mean_loss, terms))
    }

    /// A Mixture-of-Experts model's loss gains `train.moe_balance` × the Switch balancing
    /// term (mean over its mixture layers), whose value joins the terms; its expert shares
    /// join the next expert-load event.
    fn moe_balance(
        &mut self,
        loss: Tensor,
        stats: &[crate::model::moe::MoeStats],
        terms: &mut BTreeMap<String, f64>,
    ) -> Result<Tensor, TrainError> {
        if stats.is_empty() {
            return Ok(loss);
        }
        self.expert_load.add(stats);
        let layers: Vec<Tensor> = stats.iter().map(|s| s.balance.clone()).collect();
        let balance = Tensor::stack(&layers, 0)?.mean_all()?;
        terms.insert("moe_balance".into(), balance.to_scalar::<f32>()? as f64);
        let weight = self.ctx.cfg.train.moe_balance;
        Ok(match weight > 0.0 {
            true => (loss + (balance * weight)?)?,
            false => loss,
        })
    }

    /// One part's forward and backward; its gradients join the step's. Returns its loss.
    fn backward_part(
        &mut self,
        opt: &AdamW,
        stage: &Stage,
        chosen: &[&Sample],
        share: f64,
        parts: f64,
        terms: &mut BTreeMap<String, f64>,
    ) -> Result<f64, TrainError> {
        let objective = stage.objective;
        let mut mode = Mode::Train(&mut self.rng);
        let forward = contract_forward(
            self.model,
            chosen,
            &mut mode,
            self.pooling,
            objective.wants_scores(),
        )?;
        let (l, mut batch_terms) = objective.loss(&forward, chosen)?;
        let l = self.moe_balance(l, &forward.output.encoder.moe, &mut batch_terms)?;
        let value = l.to_scalar::<f32>()? as f64;
        let weight = share / parts;
        for (k, v) in batch_terms {
            *terms.entry(k).or_insert(0.0) += v * weight;
        }
        if !value.is_finite() {
            return Err(TrainError::NonFinite {
                step: self.state.step + 1,
                loss: value,
                checkpoint: None,
            });
        }
        // (× share, then / parts: with one part, exactly the unsplit batch's arithmetic.)
        let store = ((l * share)? / parts)?.backward()?;
        add_grads(&mut self.grads, &store, opt.vars())?;
        Ok(value)
    }
}
