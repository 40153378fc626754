//! The teacher's side of a distillation: its fine-tuned checkpoint (a child run made and
//! reused when the config names a source rather than a run folder), its logits and window
//! outputs (cached or live), its verdicts for the agreement. Preparing the teacher holds a lock
//! on `<out>/.cache/teacher.lock`, so runs started together (sweep cells, several processes)
//! fine-tune and cache it once: the first does the work, the others find it done.

use super::cache::{self, TeacherLogits};
use super::teacher_tokens::{self, Needs, TeacherTokens};
use crate::data::{Dataset, Split};
use crate::model::Classifier;
use crate::store::runs::{Status, status_of};
use crate::store::schema::{RunSummary, run_of_checkpoint};
use crate::store::{EventSink, RunDir, TrainEvent};
use crate::train::evaluate::predict;
use crate::train::samples::samples;
use crate::train::setup::run_checkpoint;
use crate::train::trainer::Data;
use crate::train::trainer::prepare_data;
use crate::train::{ExperimentConfig, Outcome, TrainError, train};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

/// Held while the teacher is prepared; released when dropped.
pub struct TeacherLock(#[allow(dead_code)] File);

impl TeacherLock {
    pub fn acquire(out: &Path) -> Result<Self, TrainError> {
        let dir = out.join(".cache");
        std::fs::create_dir_all(&dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("teacher.lock"))?;
        file.lock()?;
        Ok(Self(file))
    }
}

/// The teacher's verdict (argmax of its pooled logits) on every validation and test contract.
///
/// A binary teacher votes at the threshold its own run chose on validation (its run's
/// summary), as its reported metrics do.
pub fn teacher_votes(
    cfg: &ExperimentConfig,
    ds: &Dataset,
    teacher: &Classifier,
    checkpoint: &Path,
) -> Result<HashMap<usize, usize>, TrainError> {
    let threshold = run_of_checkpoint(checkpoint)
        .and_then(|run| RunSummary::read(run).ok())
        .and_then(|s| s.valid_threshold());
    let tok = teacher
        .tokenizer
        .as_ref()
        .ok_or_else(|| TrainError::Invalid("the teacher has no tokenizer".into()))?;
    let pooling = cfg.train.pooling;
    let mut votes = HashMap::new();
    for split in [Split::Valid, Split::Test] {
        let list = samples(ds, split, tok, &cfg.dataset)?;
        let probs = predict(teacher, &list, ds.task, cfg.train.batch_size, pooling)?;
        for (s, p) in list.iter().zip(&probs) {
            votes.insert(s.record, crate::train::validation::verdict(p, threshold));
        }
    }
    Ok(votes)
}

/// The teacher's best checkpoint: a run folder as given, else a fine-tuned child run (found
/// again next time by its key). `Err(outcome)` if the child run was interrupted.
pub fn teacher_checkpoint(
    cfg: &ExperimentConfig,
    out: &Path,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
) -> Result<std::result::Result<PathBuf, Outcome>, TrainError> {
    if let Some(dir) = run_checkpoint(&cfg.teacher.model) {
        return Ok(Ok(dir));
    }
    let key = teacher_key(cfg);
    // A teacher run already trained under `out` from the same config (the workbench's `T`,
    // or `alambic train --role teacher`) is the teacher: no second fine-tuning.
    if let Some(dir) = finished_teacher_with_key(out, &key) {
        return Ok(Ok(dir));
    }
    let teachers = out.join(".teachers").join(key);
    // The child teacher always scores its test split (the report compares it with students).
    let mut child_cfg = cfg.clone();
    child_cfg.train.test = true;
    let mut unfinished = None;
    if let Ok(entries) = std::fs::read_dir(&teachers) {
        for e in entries.filter_map(std::result::Result::ok) {
            let Some(listing) = status_of(&e.path()) else {
                continue;
            };
            let checkpoint = run_checkpoint(&e.path().display().to_string());
            match (listing.status, checkpoint) {
                (Status::Finished, Some(dir)) => return Ok(Ok(dir)),
                (Status::Stopped | Status::Dead, Some(_)) => unfinished = Some(e.path()),
                _ => {}
            }
        }
    }
    // An interrupted child teacher resumes from its checkpoint rather than starting over.
    let (mut child, resume) = match unfinished {
        Some(path) => (RunDir::open(&path, "teacher", false)?, true),
        None => (
            RunDir::create(&teachers, "teacher", &child_cfg.to_toml())?,
            false,
        ),
    };
    match train(&child_cfg, "teacher", &mut child, sink, stop, resume)? {
        Outcome::Finished(_) => run_checkpoint(&child.path.display().to_string())
            .map(Ok)
            .ok_or_else(|| TrainError::Invalid("the fine-tuned teacher left no checkpoint".into())),
        interrupted => Ok(Err(interrupted)),
    }
}

/// What identifies a fine-tuned teacher: its section, the dataset settings and file, and the
/// training settings (test scoring on).
fn teacher_key(cfg: &ExperimentConfig) -> String {
    let train = crate::train::config::TrainConfig {
        test: true,
        ..cfg.train.clone()
    };
    let text = format!(
        "{}{}{}{}",
        toml::to_string(&cfg.teacher).unwrap_or_default(),
        toml::to_string(&cfg.dataset).unwrap_or_default(),
        toml::to_string(&train).unwrap_or_default(),
        std::fs::read(&cfg.dataset.file)
            .map(|b| xxhash_rust::xxh3::xxh3_64(&b))
            .unwrap_or(0)
    );
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// A finished teacher run directly under `out` whose resolved config gives `key`.
fn finished_teacher_with_key(out: &Path, key: &str) -> Option<PathBuf> {
    let mut runs: Vec<PathBuf> = std::fs::read_dir(out)
        .ok()?
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .collect();
    // The newest first (run folders are named by time).
    runs.sort();
    runs.into_iter().rev().find_map(|run| {
        let listing = status_of(&run)?;
        if listing.info.role != "teacher" || listing.status != Status::Finished {
            return None;
        }
        let text = std::fs::read_to_string(run.join("config.toml")).ok()?;
        let cfg = ExperimentConfig::from_text(&text, &run.display().to_string()).ok()?;
        (teacher_key(&cfg) == key).then(|| run_checkpoint(&run.display().to_string()))?
    })
}

pub fn teacher_logits(
    cfg: &ExperimentConfig,
    ds: &Dataset,
    teacher: &Classifier,
    out: &Path,
    key: &str,
) -> Result<(TeacherLogits, Option<TrainEvent>), TrainError> {
    let clock = Instant::now();
    if !cfg.distill.cache {
        return Ok((cache::compute(cfg, ds, teacher)?, None));
    }
    let path = cache::path(out, key);
    let hit = path.is_file();
    let logits = if hit {
        cache::load(&path)?
    } else {
        let logits = cache::compute(cfg, ds, teacher)?;
        cache::save(&path, &logits)?;
        logits
    };
    Ok((logits, Some(cache_event(&path, hit, clock))))
}

/// The `teacher_cache` event for a cache file read (`hit`) or written since `since`.
fn cache_event(path: &Path, hit: bool, since: Instant) -> TrainEvent {
    TrainEvent::TeacherCache {
        hit,
        path: path.display().to_string(),
        bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
        seconds: since.elapsed().as_secs_f64(),
    }
}

/// The teacher's window outputs for token-level terms: from the cache (built on a miss), or
/// the live teacher itself when `cache = false`. `None` when no term needs them.
pub fn teacher_tokens(
    cfg: &ExperimentConfig,
    needs: &Needs,
    teacher: Classifier,
    data: &Data,
    out: &Path,
    key: &str,
) -> Result<(Option<TeacherTokens>, Option<TrainEvent>), TrainError> {
    if needs.is_empty() {
        return Ok((None, None));
    }
    if !cfg.distill.cache {
        let live = TeacherTokens::Live {
            model: Box::new(teacher),
            needs: needs.clone(),
        };
        return Ok((Some(live), None));
    }
    let clock = Instant::now();
    let path = cache::tokens_path(out, key, needs);
    let hit = path.is_file();
    let tensors = if hit {
        candle_core::safetensors::load(&path, &candle_core::Device::Cpu)?
    } else {
        let tensors = teacher_tokens::compute(&teacher, needs, &data.train, cfg.train.batch_size)?;
        cache::save_tensors(&path, &tensors)?;
        tensors
    };
    let event = cache_event(&path, hit, clock);
    Ok((Some(TeacherTokens::Cached { tensors }), Some(event)))
}

pub use crate::store::schema::TeacherPass;

/// The teacher ready for every distillation of `cfg` under `out`: fine-tuned (or found) and
/// its logits cached. A sweep does this once before its first cell. `Err(outcome)` when the
/// teacher's fine-tuning was interrupted.
pub fn prepare(
    cfg: &ExperimentConfig,
    out: &Path,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
) -> Result<Result<TeacherPass, Outcome>, TrainError> {
    let clock = Instant::now();
    let _lock = TeacherLock::acquire(out)?;
    let checkpoint = match teacher_checkpoint(cfg, out, sink, stop)? {
        Ok(dir) => dir,
        Err(outcome) => return Ok(Err(outcome)),
    };
    let mut cache_hit = false;
    if cfg.distill.cache {
        let device = cfg.device.open()?;
        let mut ds = prepare_data(cfg)?;
        super::run::attach_transfer(cfg, &mut ds)?;
        let (teacher, _) =
            crate::train::checkpoint::load_model(&checkpoint, cfg.train.seed, &device)?;
        let key = cache::key(cfg, &teacher)?;
        let (_, event) = teacher_logits(cfg, &ds, &teacher, out, &key)?;
        if let Some(event) = event {
            cache_hit = matches!(event, TrainEvent::TeacherCache { hit: true, .. });
            sink.emit(&event);
        }
    }
    Ok(Ok(TeacherPass {
        schema: crate::store::schema::SCHEMA,
        checkpoint,
        seconds: clock.elapsed().as_secs_f64(),
        cache_hit,
    }))
}
