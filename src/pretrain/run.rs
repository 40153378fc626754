//! The pretraining loop: a stream of masked windows, AdamW with warm-up and linear decay over
//! the steps the corpus gives, validation on held-out windows at every epoch's end (and
//! `train.eval_every`), `last` and `best` checkpoints, a stop flag, and resume from `last`
//! that ends with the same weights as an uninterrupted run (the data order, the masks and the
//! dropout masks are all drawn from seeded generators whose positions the checkpoint keeps).

use super::build::{Kind, build, model_source, trainable};
use super::corpus::{Contract, Corpus, ShuffleBuffer, Windowing};
use super::mask::Masked;
use super::objective::Objective;
use crate::model::init::SeededRng;
use crate::model::{Classifier, Mode};
use crate::store::schema::{HeldOutScores, PretrainSummary};
use crate::store::{EventSink, RunDir, TrainEvent, write_atomic};
use crate::tokenize::TextTokenizer;
use crate::train::checkpoint::{self, ResumeState, TrainState};
use crate::train::optim::{AdamW, AdamWConfig, add_grads, clip_grad_norm, lr_at};
use crate::train::trainer::emit;
use crate::train::{ExperimentConfig, TrainError};
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub enum PretrainOutcome {
    Finished(Box<PretrainSummary>),
    Interrupted { step: u64 },
}

impl PretrainOutcome {
    /// The step a stopped run resumes from; `None` when it finished.
    pub fn interrupted_at(&self) -> Option<u64> {
        match self {
            Self::Finished(_) => None,
            Self::Interrupted { step } => Some(*step),
        }
    }
}

/// What the stream does after a step.
enum Flow {
    Go,
    /// `train.max_steps` reached inside an epoch.
    Done,
    Interrupted(u64),
}

/// What the counting pass found, kept in the run folder so a resumed run does not recount.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct CorpusPlan {
    contracts: u64,
    valid_contracts: u64,
    train_windows: u64,
    valid_windows: u64,
}

const PLAN_FILE: &str = "corpus.json";
pub const VALID_MASKS_FILE: &str = "valid_masks.json";

/// Masks of the held-out windows are drawn once, from an epoch no training epoch reaches.
const VALID_EPOCH: usize = 1 << 20;

/// Masked-language modelling of `[teacher].model` on `[pretrain].corpus`, into `run`.
pub fn pretrain(
    cfg: &ExperimentConfig,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<PretrainOutcome, TrainError> {
    on_corpus(Kind::Mlm, cfg, run, sink, stop, resume)
}

/// TinyBERT's general distillation of `[student].model` from `[teacher].model` on
/// `[pretrain].corpus`, into `run`.
pub fn general_distill(
    cfg: &ExperimentConfig,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<PretrainOutcome, TrainError> {
    on_corpus(Kind::General, cfg, run, sink, stop, resume)
}

fn on_corpus(
    kind: Kind,
    cfg: &ExperimentConfig,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<PretrainOutcome, TrainError> {
    let result = Session::open(kind, cfg, run, sink, stop, resume).and_then(Session::run);
    if let Err(e) = &result {
        emit(
            run,
            sink,
            &TrainEvent::Failed {
                error: e.to_string(),
            },
        );
    }
    result
}

struct Session<'a> {
    kind: Kind,
    cfg: &'a ExperimentConfig,
    run: &'a mut RunDir,
    sink: &'a mut dyn EventSink,
    stop: &'a AtomicBool,
    model: Classifier,
    objective: Objective,
    /// The objective's own variables (a projection), saved with `last` for resume.
    extra: Vec<(String, Var)>,
    tok: TextTokenizer,
    corpus: Corpus,
    windowing: Windowing,
    valid: Vec<Masked>,
    plan: CorpusPlan,
    opt: AdamW,
    state: TrainState,
    rng: SeededRng,
    total_steps: u64,
    resumed_from: Option<u64>,
    before: Option<HeldOutScores>,
    best: Option<HeldOutScores>,
    started: Instant,
    window: (Instant, u64),
}

impl<'a> Session<'a> {
    fn open(
        kind: Kind,
        cfg: &'a ExperimentConfig,
        run: &'a mut RunDir,
        sink: &'a mut dyn EventSink,
        stop: &'a AtomicBool,
        resume: bool,
    ) -> Result<Self, TrainError> {
        let p = &cfg.pretrain;
        if p.corpus.as_os_str().is_empty() {
            return Err(TrainError::Invalid(
                "pretrain.corpus is empty: name a dataset file of unlabelled contracts".into(),
            ));
        }
        let device = crate::train::device::open_for(cfg.device, cfg.train.precision)?;
        run.set_device(&cfg.device.to_string());
        let last = checkpoint::existing(&run.checkpoint_dir("last"));
        let resume_dir = match (resume, last) {
            (true, Some(dir)) => Some(dir),
            (true, None) => {
                return Err(TrainError::Invalid(format!(
                    "{}: no checkpoint to resume from",
                    run.path.display()
                )));
            }
            (false, _) => None,
        };
        let (model, objective) = build(kind, cfg, resume_dir.as_deref(), &device)?;
        let tok = model.tokenizer.clone().ok_or_else(|| {
            TrainError::Invalid(format!(
                "model `{}` has no tokenizer",
                model_source(kind, cfg)
            ))
        })?;
        let extra = objective.extra_vars();
        if let Some(dir) = &resume_dir {
            checkpoint::restore_extra(dir, &extra)?;
        }
        let corpus = Corpus {
            path: p.corpus.clone(),
            data: cfg.dataset.clone(),
            valid_share: p.valid_share,
        };
        let windowing = Windowing {
            body: cfg
                .dataset
                .max_len
                .saturating_sub(tok.special_count())
                .max(1),
            share: p.window_share,
            seed: cfg.train.seed,
        };
        let mut vars = trainable(&model);
        vars.extend(extra.iter().cloned());
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut opt = AdamW::new(
            vars,
            AdamWConfig {
                lr: cfg.train.lr,
                weight_decay: cfg.train.weight_decay,
                ..AdamWConfig::default()
            },
        )?;
        let state = match &resume_dir {
            Some(dir) => {
                let (moments, state) = checkpoint::load_state(dir, &device)?;
                opt.restore(&moments, state.step)?;
                state
            }
            None => TrainState::fresh(cfg.train.seed),
        };
        let rng = SeededRng::restore(&state.rng)
            .ok_or_else(|| TrainError::Invalid("corrupt generator state".into()))?;
        let mut session = Self {
            plan: CorpusPlan::default(),
            valid: Vec::new(),
            total_steps: 0,
            resumed_from: resume_dir.is_some().then_some(state.step),
            before: None,
            best: None,
            started: Instant::now(),
            window: (Instant::now(), 0),
            kind,
            cfg,
            run,
            sink,
            stop,
            model,
            objective,
            extra,
            tok,
            corpus,
            windowing,
            opt,
            state,
            rng,
        };
        session.count_and_hold_out()?;
        Ok(session)
    }

    fn emit(&mut self, event: &TrainEvent) {
        emit(self.run, self.sink, event);
    }

    /// One pass over the corpus: the training windows an epoch has (for the schedule) and the
    /// held-out windows, masked once. A resumed run reads the count back.
    fn count_and_hold_out(&mut self) -> Result<(), TrainError> {
        let plan_path = self.run.path.join(PLAN_FILE);
        let known: Option<CorpusPlan> = std::fs::read_to_string(&plan_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok());
        let most = self.cfg.pretrain.valid_windows;
        let mut plan = CorpusPlan::default();
        let mut valid: Vec<Vec<u32>> = Vec::new();
        let (corpus, windowing, tok) = (self.corpus.clone(), self.windowing.clone(), &self.tok);
        let counting = known.is_none();
        corpus.for_each(|c: Contract| {
            plan.contracts += 1;
            if corpus.is_valid(&c.key) {
                plan.valid_contracts += 1;
                if valid.len() < most {
                    let mut all = Windowing {
                        share: 1.0,
                        ..windowing.clone()
                    }
                    .windows(tok, &c, 0)?;
                    all.truncate(most - valid.len());
                    valid.extend(all);
                }
            } else if counting {
                plan.train_windows += windowing.windows(tok, &c, 0)?.len() as u64;
            }
            // With the count known, the pass stops once the held-out windows are in.
            Ok(counting || valid.len() < most)
        })?;
        plan.valid_windows = valid.len() as u64;
        if let Some(k) = known {
            plan = CorpusPlan {
                valid_windows: plan.valid_windows,
                ..k
            };
        } else {
            let text = serde_json::to_string_pretty(&plan).unwrap_or_default();
            write_atomic(&plan_path, text.as_bytes())?;
        }
        if plan.train_windows == 0 {
            return Err(TrainError::Invalid(format!(
                "{}: no training windows ({} contracts, {} held out)",
                self.corpus.path.display(),
                plan.contracts,
                plan.valid_contracts
            )));
        }
        let t = &self.cfg.train;
        let per_epoch = plan
            .train_windows
            .div_ceil((t.batch_size * t.accumulation.max(1)) as u64);
        let total = per_epoch * t.epochs as u64;
        self.total_steps = if t.max_steps > 0 {
            total.min(t.max_steps)
        } else {
            total
        };
        self.valid = valid
            .iter()
            .enumerate()
            .map(|(i, w)| self.objective.prepare(w, t.seed, VALID_EPOCH, i as u64))
            .collect();
        self.plan = plan;
        // The held-out windows as masked, so another implementation can score the export on
        // exactly what validation scored (scripts/check-mlm-export.py).
        let masks = serde_json::to_string(&self.valid).unwrap_or_default();
        write_atomic(&self.run.path.join(VALID_MASKS_FILE), masks.as_bytes())?;
        Ok(())
    }

    fn run(mut self) -> Result<PretrainOutcome, TrainError> {
        let started = TrainEvent::Started {
            run_id: self.run.info.run_id.clone(),
            role: self.run.info.role.clone(),
            total_steps: self.total_steps,
            resumed_from: self.resumed_from,
        };
        self.emit(&started);
        if self.resumed_from.is_none() && !self.valid.is_empty() {
            self.before = Some(self.evaluate()?);
        }
        while self.state.step < self.total_steps && self.state.epoch < self.cfg.train.epochs {
            if let Some(out) = self.epoch()? {
                return Ok(out);
            }
        }
        self.finish()
    }

    /// The rest of the current epoch; `Some` when the run was interrupted.
    fn epoch(&mut self) -> Result<Option<PretrainOutcome>, TrainError> {
        let t = &self.cfg.train;
        let epoch = self.state.epoch;
        let per_step = t.batch_size.max(1) * t.accumulation.max(1);
        let corpus = self.corpus.clone();
        let windowing = self.windowing.clone();
        let tok = self.tok.clone();
        let mut buffer = ShuffleBuffer::new(self.cfg.pretrain.shuffle_buffer, t.seed, epoch);
        let mut pending: Vec<Vec<u32>> = Vec::with_capacity(per_step);
        // Windows the stream has handed out this epoch; a resumed run skips those its
        // checkpoint had already trained on.
        let mut handed = 0u64;
        let skip = (self.state.next_batch * per_step) as u64;
        let mut flow = Flow::Go;
        let mut offer = |this: &mut Self, w: Vec<u32>, last: bool| -> Result<Flow, TrainError> {
            handed += 1;
            if handed > skip {
                pending.push(w);
            }
            if pending.len() == per_step || (last && !pending.is_empty()) {
                return this.step_and_after(std::mem::take(&mut pending), handed, last);
            }
            Ok(Flow::Go)
        };
        corpus.for_each(|c| {
            if corpus.is_valid(&c.key) {
                return Ok(true);
            }
            for w in windowing.windows(&tok, &c, epoch)? {
                if let Some(out) = buffer.push(w) {
                    flow = offer(self, out, false)?;
                    if !matches!(flow, Flow::Go) {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        })?;
        if matches!(flow, Flow::Go) {
            let rest = buffer.drain();
            let n = rest.len();
            for (i, w) in rest.into_iter().enumerate() {
                flow = offer(self, w, i + 1 == n)?;
                if !matches!(flow, Flow::Go) {
                    break;
                }
            }
        }
        match flow {
            Flow::Interrupted(step) => Ok(Some(PretrainOutcome::Interrupted { step })),
            Flow::Done => Ok(None),
            Flow::Go => {
                // The epoch is over: validate, checkpoint; the next one reshuffles.
                self.state.epoch += 1;
                self.state.next_batch = 0;
                self.validate_and_save()?;
                Ok(None)
            }
        }
    }

    /// One optimizer step on `windows` (the last of which is window `handed` − 1 of the
    /// epoch, the epoch's last when `ends_epoch`), then logging, evaluation, checkpoints and
    /// the stop flag.
    fn step_and_after(
        &mut self,
        windows: Vec<Vec<u32>>,
        handed: u64,
        ends_epoch: bool,
    ) -> Result<Flow, TrainError> {
        let first = handed - windows.len() as u64;
        let (epoch, seed) = (self.state.epoch, self.cfg.train.seed);
        let masked: Vec<Masked> = windows
            .iter()
            .enumerate()
            .map(|(i, w)| self.objective.prepare(w, seed, epoch, first + i as u64))
            .collect();
        let (loss, terms, lr) = self.step(&masked)?;
        let t = &self.cfg.train;
        let per_step = (t.batch_size.max(1) * t.accumulation.max(1)) as u64;
        self.state.next_batch = handed.div_ceil(per_step) as usize;
        self.state.tokens += windows.iter().map(|w| w.len() as u64).sum::<u64>();
        self.window.1 += windows.len() as u64;
        self.state.rng = self.rng.state();
        let done = self.state.step >= self.total_steps;
        if self.state.step.is_multiple_of(t.log_every.max(1)) || done {
            self.log(loss, terms, lr);
        }
        if t.eval_every > 0 && self.state.step.is_multiple_of(t.eval_every) {
            self.validate_and_save()?;
        }
        // The last step of an epoch ends it as usual (validation, checkpoint), cap or not.
        if done && !ends_epoch {
            return Ok(Flow::Done);
        }
        if self.stop.load(Ordering::SeqCst) {
            self.checkpoint("interrupted")?;
            return Ok(Flow::Interrupted(self.state.step));
        }
        Ok(Flow::Go)
    }

    fn log(&mut self, loss: f64, terms: BTreeMap<String, f64>, lr: f64) {
        let secs = self.window.0.elapsed().as_secs_f64().max(1e-9);
        let event = TrainEvent::Step {
            step: self.state.step,
            epoch: self.state.epoch,
            stage: None,
            loss,
            terms,
            lr,
            samples_per_s: self.window.1 as f64 / secs,
        };
        self.emit(&event);
        self.window = (Instant::now(), 0);
    }

    /// Forward and backward over the step's windows in batches of `train.batch_size`, the
    /// gradients summed (each batch weighted by its share of the masked tokens, so the step
    /// minimises the mean over every masked token of the step), clipped, then AdamW.
    fn step(&mut self, masked: &[Masked]) -> Result<(f64, BTreeMap<String, f64>, f64), TrainError> {
        let t = &self.cfg.train;
        let all = self.objective.weight(masked);
        let mut grads: HashMap<String, Tensor> = HashMap::new();
        let mut mean = 0.0;
        let mut terms: BTreeMap<String, f64> = BTreeMap::new();
        for part in masked.chunks(t.batch_size.max(1)) {
            let n = self.objective.weight(part);
            if n == 0 {
                continue;
            }
            let mut mode = Mode::Train(&mut self.rng);
            let out = self.objective.loss(&self.model, part, &mut mode, false)?;
            let loss = out.loss;
            let value = loss.to_scalar::<f32>()? as f64;
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    step: self.state.step + 1,
                    loss: value,
                    checkpoint: checkpoint::last_good_step(self.run),
                });
            }
            let share = n as f64 / all.max(1) as f64;
            mean += value * share;
            for (k, v) in out.terms {
                *terms.entry(k).or_insert(0.0) += v * share;
            }
            let store = (loss * share)?.backward()?;
            add_grads(&mut grads, &store, self.opt.vars())?;
        }
        clip_grad_norm(&mut grads, t.max_grad_norm)?;
        let warmup = (t.warmup_ratio * self.total_steps as f64).round() as u64;
        let lr = lr_at(self.state.step, t.lr, warmup, self.total_steps);
        self.opt.step(&grads, lr)?;
        self.state.step += 1;
        self.state.train_seconds += self.started.elapsed().as_secs_f64();
        self.started = Instant::now();
        Ok((mean, terms, lr))
    }

    /// Held-out loss, perplexity and masked-token accuracy, without dropout.
    fn evaluate(&mut self) -> Result<HeldOutScores, TrainError> {
        let _no_grad = candle_core::no_grad();
        let (mut loss_sum, mut correct, mut count) = (0.0, 0u64, 0u64);
        for part in self.valid.chunks(self.cfg.train.batch_size.max(1)) {
            let n = self.objective.weight(part);
            if n == 0 {
                continue;
            }
            let out = self
                .objective
                .loss(&self.model, part, &mut Mode::Eval, true)?;
            loss_sum += out.loss.to_scalar::<f32>()? as f64 * n as f64;
            correct += out.correct;
            count += n as u64;
        }
        let loss = loss_sum / count.max(1) as f64;
        let mlm = matches!(self.objective, Objective::Mlm(_));
        let scores = HeldOutScores {
            loss,
            perplexity: mlm.then(|| loss.exp()),
            masked_accuracy: mlm.then(|| correct as f64 / count.max(1) as f64),
            tokens: count,
        };
        let event = TrainEvent::Eval {
            step: self.state.step,
            split: "valid".into(),
            metrics: serde_json::to_value(&scores).unwrap_or_default(),
        };
        self.emit(&event);
        Ok(scores)
    }

    /// Validation, `best` when the loss improved, and `last`.
    fn validate_and_save(&mut self) -> Result<(), TrainError> {
        if !self.valid.is_empty() {
            let scores = self.evaluate()?;
            if self.state.best_loss.is_none_or(|b| scores.loss < b) {
                self.state.best_loss = Some(scores.loss);
                self.state.best_step = self.state.step;
                checkpoint::save(&self.run.checkpoint_dir("best"), &self.model, None)?;
                self.best = Some(scores);
            }
        } else {
            checkpoint::save(&self.run.checkpoint_dir("best"), &self.model, None)?;
            self.state.best_step = self.state.step;
        }
        self.checkpoint("last")?;
        if let Some(e) = self.run.write_error.take() {
            return Err(TrainError::Invalid(e));
        }
        Ok(())
    }

    fn checkpoint(&mut self, kind: &str) -> Result<(), TrainError> {
        self.state.rng = self.rng.state();
        let resume = ResumeState {
            optimizer: &self.opt,
            state: &self.state,
            extra: &self.extra,
        };
        checkpoint::save(&self.run.checkpoint_dir("last"), &self.model, Some(&resume))?;
        let event = TrainEvent::Checkpoint {
            step: self.state.step,
            kind: kind.into(),
        };
        self.emit(&event);
        Ok(())
    }

    fn finish(mut self) -> Result<PretrainOutcome, TrainError> {
        if self.state.next_batch > 0 || self.best.is_none() {
            // Stopped by max_steps inside an epoch: the end is a validation point too.
            self.validate_and_save()?;
        }
        let best = match (&self.best, self.valid.is_empty()) {
            (Some(b), _) => b.clone(),
            (None, true) => HeldOutScores {
                loss: f64::NAN,
                perplexity: None,
                masked_accuracy: None,
                tokens: 0,
            },
            (None, false) => self.evaluate()?,
        };
        let secs = self.state.train_seconds;
        let summary = PretrainSummary {
            run_id: self.run.info.run_id.clone(),
            objective: self.objective.name().into(),
            model: model_source(self.kind, self.cfg).to_string(),
            corpus: self.corpus.path.display().to_string(),
            steps: self.state.step,
            epochs: self.state.epoch,
            tokens: self.state.tokens,
            train_seconds: secs,
            tokens_per_s: self.state.tokens as f64 / secs.max(1e-9),
            train_windows: self.plan.train_windows,
            valid_windows: self.plan.valid_windows,
            before: self
                .before
                .take()
                .or_else(|| previous_before(&self.run.path)),
            best,
            best_step: self.state.best_step,
        };
        summary.write(&self.run.path)?;
        let event = TrainEvent::Pretrained {
            summary: Box::new(summary.clone()),
        };
        self.emit(&event);
        Ok(PretrainOutcome::Finished(Box::new(summary)))
    }
}

/// A resumed run's score before training, from the first evaluation in its events.
fn previous_before(run: &Path) -> Option<HeldOutScores> {
    let events = crate::store::events::read_events(&run.join("events.jsonl")).ok()?;
    events.into_iter().find_map(|e| match e {
        TrainEvent::Eval {
            step: 0, metrics, ..
        } => serde_json::from_value(metrics).ok(),
        _ => None,
    })
}
