//! `alambic distill`: the student learns from the teacher, stage after stage.
//!
//! The teacher is a run folder (its best checkpoint) or any model source; a source that is not
//! a run folder is first fine-tuned on the dataset as a child run under `<out>/.teachers/`,
//! keyed by the teacher, dataset and training settings, and reused by later distillations.
//! Its logits (and, for token-level terms, its window outputs) come from the cache (see
//! `cache.rs`) or, with `cache = false`, from the live teacher. The stages (see `stages.rs`)
//! then run in the ordinary training loop, so the run folder, resume and evaluation are those
//! of `alambic train`.

use super::cache;
use super::layer_map::{check_attention, check_token_level, resolve};
use super::objective::{DistillLoss, Projection, projection};
use super::stages::{self, ResolvedStage, StageLayers};
use super::teacher::{
    TeacherLock, teacher_checkpoint, teacher_logits, teacher_tokens, teacher_votes,
};
use super::teacher_tokens::{Needs, TeacherTokens};
use super::{LossSpec, transfer};
use crate::data::{Dataset, Split, Task};
use crate::model::Classifier;
use crate::model::ModelSource;
use crate::store::{EventSink, RunDir, TrainEvent};
use crate::train::checkpoint;
use crate::train::config::ModelSection;
use crate::train::fit::{RunContext, fit};
use crate::train::samples::samples;
use crate::train::trainer::{
    Plan, Stage, emit, load_samples, model_for_run, prepare_data, record_failure,
};
use crate::train::{ExperimentConfig, Outcome, TrainError};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Distils `[student]` from `[teacher]` into `run`.
pub fn distill(
    cfg: &ExperimentConfig,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<Outcome, TrainError> {
    let result = match cfg.distill.recipe {
        super::Recipe::TinybertFull => full(cfg, run, sink, stop, resume),
        _ => distill_inner(cfg, run, sink, stop, resume),
    };
    record_failure(run, sink, result)
}

/// `tinybert-full`: general distillation on the corpus into `<run>/general/` (its own run
/// folder, resumed where it stopped), then the tinybert recipe from that student.
fn full(
    cfg: &ExperimentConfig,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<Outcome, TrainError> {
    let dir = run.path.join("general");
    if !dir.join(crate::store::schema::PRETRAIN_FILE).is_file() {
        let mut general = cfg.clone();
        let d = &cfg.distill;
        if !d.general_teacher.is_empty() {
            general.teacher.model = d.general_teacher.clone();
        }
        if d.general_steps > 0 {
            general.train.max_steps = d.general_steps;
        }
        if d.general_epochs > 0 {
            general.train.epochs = d.general_epochs;
        }
        if d.general_lr > 0.0 {
            general.train.lr = d.general_lr;
        }
        general.distill.recipe = super::Recipe::General;
        let started = dir.join("run.json").is_file();
        let mut child = match started {
            true => RunDir::open(&dir, "distill", false)?,
            false => RunDir::create_at(&dir, "distill", &general.to_toml())?,
        };
        let again = started && checkpoint::existing(&child.checkpoint_dir("last")).is_some();
        let outcome = crate::pretrain::general_distill(&general, &mut child, sink, stop, again)?;
        if let crate::pretrain::PretrainOutcome::Interrupted { step } = outcome {
            return Ok(Outcome::Interrupted { step });
        }
    }
    let mut task = cfg.clone();
    task.distill.recipe = super::Recipe::Tinybert;
    task.student.model = dir.display().to_string();
    let again = resume && checkpoint::existing(&run.checkpoint_dir("last")).is_some();
    distill_inner(&task, run, sink, stop, again)
}

/// The layer pairs of the token-level terms, checked against both models.
struct Layout {
    hidden_pairs: Vec<(usize, usize)>,
    attention_pairs: Vec<(usize, usize)>,
    needs: Needs,
}

fn layout(
    cfg: &ExperimentConfig,
    plan: &[ResolvedStage],
    student: &Classifier,
    teacher: &Classifier,
) -> Result<Layout, TrainError> {
    let all: Vec<&LossSpec> = plan.iter().flat_map(|s| &s.terms).collect();
    let mut needs = Needs::default();
    if !all.iter().any(|t| t.token_level()) {
        return Ok(Layout {
            hidden_pairs: Vec::new(),
            attention_pairs: Vec::new(),
            needs,
        });
    }
    if let (Some(s), Some(t)) = (&student.tokenizer, &teacher.tokenizer) {
        needs.teacher_ids = check_token_level(s, t)
            .map_err(TrainError::Invalid)?
            .map(std::sync::Arc::new);
    }
    let (ls, lt) = (
        student.config.num_hidden_layers,
        teacher.config.num_hidden_layers,
    );
    let pairs = resolve(&cfg.distill.layer_map, ls, lt).map_err(TrainError::Invalid)?;
    let has = |f: fn(&LossSpec) -> bool| all.iter().any(|t| f(t));
    let mut attention_pairs = Vec::new();
    if has(LossSpec::attention) {
        check_attention(
            &pairs,
            student.config.num_attention_heads,
            teacher.config.num_attention_heads,
        )
        .map_err(TrainError::Invalid)?;
        attention_pairs = pairs.clone();
        needs.scores = pairs.iter().map(|&(_, t)| t).collect();
    }
    if has(|t| matches!(t, LossSpec::HiddenMse { .. })) {
        needs.hidden.extend(pairs.iter().map(|&(_, t)| t));
    }
    if has(|t| matches!(t, LossSpec::EmbeddingMse { .. })) {
        needs.hidden.insert(0);
    }
    needs.pooled = has(|t| matches!(t, LossSpec::Cosine { .. }));
    Ok(Layout {
        hidden_pairs: pairs,
        attention_pairs,
        needs,
    })
}

fn distill_inner(
    cfg: &ExperimentConfig,
    run: &mut RunDir,
    sink: &mut dyn EventSink,
    stop: &AtomicBool,
    resume: bool,
) -> Result<Outcome, TrainError> {
    let device = crate::train::device::open_for(cfg.device, cfg.train.precision)?;
    run.set_device(&cfg.device.to_string());
    let plan = stages::resolve(&cfg.distill, &cfg.train).map_err(TrainError::Invalid)?;
    let mut ds = prepare_data(cfg)?;
    if ds.task == Task::Multilabel {
        return Err(TrainError::Invalid(
            "distillation supports multiclass and binary tasks (dataset.task)".into(),
        ));
    }
    let out = run.path.parent().map(Path::to_path_buf).unwrap_or_default();
    // Runs started together prepare the teacher one at a time; the first does the work.
    let lock = TeacherLock::acquire(&out)?;
    let teacher_dir = match teacher_checkpoint(cfg, &out, sink, stop)? {
        Ok(dir) => dir,
        Err(outcome) => return Ok(outcome),
    };
    std::fs::write(
        run.path.join("teacher.txt"),
        format!("{}\n", teacher_dir.display()),
    )?;
    if let Some(report) = attach_transfer(cfg, &mut ds)? {
        let event = TrainEvent::Transfer {
            file: report.file,
            kept: report.kept,
            dropped_leaking: report.dropped_leaking,
        };
        emit(run, sink, &event);
    }
    let (teacher, _) = checkpoint::load_model(&teacher_dir, cfg.train.seed, &device)?;
    check_labels(&teacher, &ds)?;
    let section = student_section(cfg, &teacher_dir);
    let (student, resumed) = model_for_run(cfg, &section, &ds, run, resume, &device)?;
    let plan =
        stages::expand(plan, student.config.num_hidden_layers).map_err(TrainError::Invalid)?;
    let layout = layout(cfg, &plan, &student, &teacher)?;
    let key = cache::key(cfg, &teacher)?;
    let (logits, event) = teacher_logits(cfg, &ds, &teacher, &out, &key)?;
    if let Some(event) = event {
        emit(run, sink, &event);
    }
    let votes = teacher_votes(cfg, &ds, &teacher, &teacher_dir)?;
    let mut data = load_samples(cfg, ds, &student)?;
    data.teacher_votes = Some(votes);
    if let Some(tok) = &student.tokenizer {
        let extra = samples(&data.ds, Split::Unlabeled, tok, &cfg.dataset)?;
        data.train.extend(extra);
    }
    let (tokens, event) = teacher_tokens(cfg, &layout.needs, teacher, &data, &out, &key)?;
    if let Some(event) = event {
        emit(run, sink, &event);
    }
    drop(lock);
    let projection: Option<Projection> = if layout.needs.hidden.is_empty() && !layout.needs.pooled {
        None
    } else {
        let teacher_width = match &tokens {
            Some(TeacherTokens::Live { model, .. }) => model.config.hidden_size,
            _ => teacher_width(&teacher_dir)?,
        };
        projection(
            student.config.hidden_size,
            teacher_width,
            cfg.train.seed,
            &device,
        )?
    };
    let objectives: Vec<DistillLoss> = plan
        .iter()
        .map(|s| {
            let (hidden_pairs, attention_pairs) = (
                stage_pairs(s, &layout.hidden_pairs)?,
                stage_pairs(s, &layout.attention_pairs)?,
            );
            Ok(DistillLoss {
                terms: s.terms.clone(),
                alpha: cfg.distill.alpha,
                temperature: cfg.distill.temperature,
                logits: &logits,
                tokens: tokens.as_ref(),
                hidden_pairs,
                attention_pairs,
                projection: projection.as_ref().map(|p| &p.linear),
            })
        })
        .collect::<Result<_, TrainError>>()?;
    let family = student.family().prefix();
    let plan = Plan {
        stages: plan
            .iter()
            .zip(&objectives)
            .map(|(s, objective)| Stage {
                name: s.name.clone(),
                epochs: s.epochs,
                lr: s.lr,
                objective,
                trains: trained_prefixes(s.layer, family),
            })
            .collect(),
        extra: projection
            .as_ref()
            .map(|p| p.vars.clone())
            .unwrap_or_default(),
    };
    let ctx = RunContext {
        cfg,
        role: "distill",
        run,
        sink,
        stop,
    };
    fit(ctx, &student, &data, resumed, &plan)
}

/// The layer pairs a stage's terms read: all of them, or for a one-layer stage the one pair
/// of its layer (a stage of one layer needs the layer map to pair it with one teacher layer).
fn stage_pairs(
    stage: &ResolvedStage,
    pairs: &[(usize, usize)],
) -> Result<Vec<(usize, usize)>, TrainError> {
    let StageLayers::One(layer) = stage.layer else {
        return Ok(pairs.to_vec());
    };
    let own: Vec<(usize, usize)> = pairs.iter().copied().filter(|p| p.0 == layer).collect();
    if own.len() > 1 || (own.is_empty() && !pairs.is_empty()) {
        return Err(TrainError::Invalid(format!(
            "distill stage `{}` trains student layer {layer} alone, so the layer map must pair \
             it with exactly one teacher layer; it gives {:?}",
            stage.name, own
        )));
    }
    Ok(own)
}

/// What a stage trains: everything, or one encoder layer (layer 1 with the embeddings) and the
/// distillation projection.
fn trained_prefixes(layers: StageLayers, family: &str) -> Option<Vec<String>> {
    let StageLayers::One(layer) = layers else {
        return None;
    };
    let mut prefixes = vec![
        format!("{family}.encoder.layer.{}.", layer - 1),
        "distill.projection.".to_string(),
    ];
    if layer == 1 {
        prefixes.push(format!("{family}.embeddings."));
    }
    Some(prefixes)
}

/// Appends `[distill] transfer` to the dataset, if set.
pub(crate) fn attach_transfer(
    cfg: &ExperimentConfig,
    ds: &mut Dataset,
) -> Result<Option<transfer::TransferReport>, TrainError> {
    if cfg.distill.transfer.is_empty() {
        return Ok(None);
    }
    Ok(Some(transfer::attach(
        ds,
        Path::new(&cfg.distill.transfer),
        &cfg.dataset,
    )?))
}

/// A scratch student with no tokenizer named takes the teacher's (DESIGN.md), so token-level
/// terms stay possible; any other source is used as written.
fn student_section(cfg: &ExperimentConfig, teacher_dir: &Path) -> ModelSection {
    let mut section = cfg.student.clone();
    if let Ok(parsed) = ModelSource::parse(&section.model)
        && parsed.lacks_tokenizer()
    {
        section.model = parsed
            .with_tokenizer(&teacher_dir.display().to_string())
            .to_string();
    }
    section
}

/// The teacher's hidden width, from its checkpoint's config (the model itself may be gone).
fn teacher_width(dir: &Path) -> Result<usize, TrainError> {
    let config = crate::model::ModelConfig::from_file(&dir.join("config.json"))?;
    Ok(config.hidden_size)
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
