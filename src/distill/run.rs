//! `alambic distill`: response-based distillation of the student from the teacher.
//!
//! The teacher is a run folder (its best checkpoint) or any model source; a source that is not
//! a run folder is first fine-tuned on the dataset as a child run under `<out>/.teachers/`,
//! keyed by the teacher, dataset and training settings, and reused by later distillations.
//! Its logits come from the cache (see `cache.rs`). The student then trains on
//! `alpha · KL·T² + (1 − alpha) · CE` (+ optional logit MSE) in the ordinary training loop, so
//! the run folder, resume and evaluation are those of `alambic train`.

use super::DistillConfig;
use super::cache::{self, TeacherLogits};
use super::logits::{logit_mse, response};
use crate::data::{Dataset, Task};
use crate::model::Classifier;
use crate::store::runs::{Status, status_of};
use crate::store::{EventSink, RunDir, TrainEvent};
use crate::train::checkpoint;
use crate::train::loss::Objective;
use crate::train::samples::{Sample, Target};
use crate::train::setup::run_checkpoint;
use crate::train::trainer::{emit, fit, load_samples, model_for_run, prepare_data, record_failure};
use crate::train::{ExperimentConfig, Outcome, TrainError, train};
use candle_core::{Device, Result as CResult, Tensor};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

struct ResponseLoss<'a> {
    cfg: &'a DistillConfig,
    teacher: &'a TeacherLogits,
}

impl Objective for ResponseLoss<'_> {
    fn loss(
        &self,
        logits: &Tensor,
        batch: &[&Sample],
        device: &Device,
    ) -> CResult<(Tensor, BTreeMap<String, f64>)> {
        let mut rows = Vec::with_capacity(batch.len());
        let mut labels = Vec::with_capacity(batch.len());
        for s in batch {
            let Some(row) = self.teacher.get(&s.record) else {
                candle_core::bail!("no teacher logits for record {}", s.record);
            };
            rows.extend_from_slice(row);
            labels.push(match s.target {
                Target::Class(c) => c,
                Target::Labels(_) => candle_core::bail!("distillation needs single-label targets"),
            });
        }
        let teacher = Tensor::from_vec(rows, logits.dims(), device)?;
        let (mut total, soft, hard) = response(
            logits,
            &teacher,
            &labels,
            self.cfg.alpha,
            self.cfg.temperature,
        )?;
        let mut terms = BTreeMap::from([
            ("soft_kl".to_string(), soft.to_scalar::<f32>()? as f64),
            ("hard_ce".to_string(), hard.to_scalar::<f32>()? as f64),
        ]);
        if self.cfg.logit_mse > 0.0 {
            let mse = logit_mse(logits, &teacher)?;
            terms.insert("logit_mse".into(), mse.to_scalar::<f32>()? as f64);
            total = (total + (mse * self.cfg.logit_mse)?)?;
        }
        Ok((total, terms))
    }
}

/// Distils `[student]` from `[teacher]` into `run`.
pub fn distill(
    cfg: &ExperimentConfig,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<Outcome, TrainError> {
    let result = distill_inner(cfg, run, sink, stop, resume);
    record_failure(run, sink, result)
}

fn distill_inner(
    cfg: &ExperimentConfig,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<Outcome, TrainError> {
    let device = crate::train::device::device(&cfg.device)?;
    let ds = prepare_data(cfg)?;
    if ds.task == Task::Multilabel {
        return Err(TrainError::Invalid(
            "distillation supports multiclass and binary tasks (dataset.task)".into(),
        ));
    }
    let out = run.path.parent().map(Path::to_path_buf).unwrap_or_default();
    let teacher_dir = match teacher_checkpoint(cfg, &out, sink, stop)? {
        Ok(dir) => dir,
        Err(outcome) => return Ok(outcome),
    };
    std::fs::write(
        run.path.join("teacher.txt"),
        format!("{}\n", teacher_dir.display()),
    )?;
    let (teacher, _) = checkpoint::load_model(&teacher_dir, cfg.train.seed, &device)?;
    check_labels(&teacher, &ds)?;
    let logits = teacher_logits(cfg, &ds, &teacher, &out, run, sink)?;
    drop(teacher);
    let (student, resumed) = model_for_run(cfg, &cfg.student, &ds, run, resume, &device)?;
    let data = load_samples(cfg, ds, &student)?;
    let objective = ResponseLoss {
        cfg: &cfg.distill,
        teacher: &logits,
    };
    fit(
        cfg, "distill", run, sink, stop, &student, &data, resumed, &objective,
    )
}

fn check_labels(teacher: &Classifier, ds: &Dataset) -> Result<(), TrainError> {
    if teacher.labels != ds.classes {
        return Err(TrainError::Invalid(format!(
            "the teacher predicts {} but the dataset's classes are {}",
            teacher.labels.join(", "),
            ds.classes.join(", ")
        )));
    }
    Ok(())
}

/// The teacher's best checkpoint: a run folder as given, else a fine-tuned child run (found
/// again next time by its key). `Err(outcome)` if the child run was interrupted.
fn teacher_checkpoint(
    cfg: &ExperimentConfig,
    out: &Path,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
) -> Result<std::result::Result<PathBuf, Outcome>, TrainError> {
    if let Some(dir) = run_checkpoint(&cfg.teacher.model) {
        return Ok(Ok(dir));
    }
    let key = format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(
            format!(
                "{}{}{}{}",
                toml::to_string(&cfg.teacher).unwrap_or_default(),
                toml::to_string(&cfg.dataset).unwrap_or_default(),
                toml::to_string(&cfg.train).unwrap_or_default(),
                std::fs::read(&cfg.dataset.file)
                    .map(|b| xxhash_rust::xxh3::xxh3_64(&b))
                    .unwrap_or(0)
            )
            .as_bytes()
        )
    );
    let teachers = out.join(".teachers").join(key);
    if let Ok(entries) = std::fs::read_dir(&teachers) {
        for e in entries.filter_map(std::result::Result::ok) {
            let finished = status_of(&e.path()).is_some_and(|s| s.status == Status::Finished);
            if let (true, Some(dir)) = (finished, run_checkpoint(&e.path().display().to_string())) {
                return Ok(Ok(dir));
            }
        }
    }
    let mut child = RunDir::create(&teachers, "teacher", &cfg.to_toml())?;
    match train(cfg, "teacher", &mut child, sink, stop, false)? {
        Outcome::Finished(_) => run_checkpoint(&child.path.display().to_string())
            .map(Ok)
            .ok_or_else(|| TrainError::Invalid("the fine-tuned teacher left no checkpoint".into())),
        interrupted => Ok(Err(interrupted)),
    }
}

fn teacher_logits(
    cfg: &ExperimentConfig,
    ds: &Dataset,
    teacher: &Classifier,
    out: &Path,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
) -> Result<TeacherLogits, TrainError> {
    let clock = Instant::now();
    let path = cache::path(out, &cache::key(cfg, teacher)?);
    let (logits, hit) = if cfg.distill.cache && path.is_file() {
        (cache::load(&path)?, true)
    } else {
        let logits = cache::compute(cfg, ds, teacher)?;
        if cfg.distill.cache {
            cache::save(&path, &logits)?;
        }
        (logits, false)
    };
    let event = TrainEvent::TeacherCache {
        hit,
        path: path.display().to_string(),
        bytes: std::fs::metadata(&path).map_or(0, |m| m.len()),
        seconds: clock.elapsed().as_secs_f64(),
    };
    emit(run, sink, &event);
    Ok(logits)
}
