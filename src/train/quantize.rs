//! `alambic quantize RUN -o DIR`: a finished run's best checkpoint with its encoder's dense
//! layers in int8 (`model/int8/`), as a run folder of its own: the same config, the quantised
//! checkpoint as `checkpoints/best`, and its summary and predictions scored on the run's own
//! validation and test splits, so `eval`, `predict`, `bench`, the workbench and the report read
//! it like any run, at the f32 run's decision threshold. `quantize.json` says what changed:
//! sizes, and how often the int8 verdicts are the f32 ones.

use super::TrainError;
use super::checkpoint::{self, TrainState};
use super::config::ExperimentConfig;
use super::trainer::{load_samples, prepare_data};
use crate::model::int8::folder::{INT8_FILE, quantize_model};
use crate::store::schema::{Predictions, RunSummary};
use crate::store::{RunDir, write_atomic};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const REPORT_FILE: &str = "quantize.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantizeReport {
    pub source: String,
    /// Dense layers now in int8.
    pub layers: usize,
    /// The int8 kernel this machine runs (`avx512-vnni` or `portable`).
    pub kernel: String,
    /// The checkpoint's weight files, in MB (10^6 bytes), before and after.
    pub f32_mb: f64,
    pub int8_mb: f64,
    /// Share of contracts whose int8 verdict is the f32 one, per split.
    pub agreement_valid: Option<f64>,
    pub agreement_test: Option<f64>,
    pub test_macro_f1_f32: Option<f64>,
    pub test_macro_f1_int8: Option<f64>,
}

pub fn quantize_run(source: &Path, out: &Path) -> Result<QuantizeReport, TrainError> {
    let best = checkpoint::existing(&source.join("checkpoints/best")).ok_or_else(|| {
        TrainError::Invalid(format!(
            "{}: not a finished run (no checkpoints/best)",
            source.display()
        ))
    })?;
    let before = RunSummary::read(source)?;
    if out.exists() {
        return Err(TrainError::Invalid(format!(
            "{} exists: quantize writes a new run folder",
            out.display()
        )));
    }
    let cfg_path = source.join("config.toml");
    let cfg = ExperimentConfig::load(Some(&cfg_path), &[])?;
    let cfg_text = std::fs::read_to_string(&cfg_path)?;
    let device = candle_core::Device::Cpu;
    let (mut model, _) = checkpoint::load_model(&best, cfg.train.seed, &device)?;
    if model.config.alambic_int8.is_some() {
        return Err(TrainError::Invalid(format!(
            "{} is already int8",
            source.display()
        )));
    }
    let layers = quantize_model(&mut model)?;
    let mut run = RunDir::create_at(out, &before.role, &cfg_text)?;
    checkpoint::save(&run.checkpoint_dir("best"), &model, None)?;
    let data = load_samples(&cfg, prepare_data(&cfg)?, &model)?;
    let state = TrainState {
        step: before.steps,
        best_step: before.best_step,
        best_macro_f1: before.best_valid_macro_f1,
        train_seconds: before.train_seconds,
        ..TrainState::fresh(cfg.train.seed)
    };
    // The same model at the same calibration: the f32 run's validation threshold, so a
    // verdict changes only where int8 moves a probability across it.
    let mut summary = super::validation::finish(
        &model,
        &data,
        &cfg,
        &before.role,
        cfg.train.pooling,
        &state,
        &run,
        before.valid_threshold(),
    )?;
    summary.model = format!("int8:{}", before.model);
    summary.teacher_agreement = before.teacher_agreement.clone();
    summary.write(&run.path)?;
    let agree = |split: &str| agreement(source, &run.path, split);
    let report = QuantizeReport {
        source: source.display().to_string(),
        layers,
        kernel: crate::model::int8::kernel_name().into(),
        f32_mb: file_mb(&best.join("model.safetensors")),
        int8_mb: file_mb(&run.checkpoint_dir("best").join("model.safetensors"))
            + file_mb(&run.checkpoint_dir("best").join(INT8_FILE)),
        agreement_valid: agree("valid"),
        agreement_test: agree("test"),
        test_macro_f1_f32: before.test_macro_f1(),
        test_macro_f1_int8: summary.test_macro_f1(),
    };
    let text = serde_json::to_string_pretty(&report).unwrap_or_default();
    write_atomic(&run.path.join(REPORT_FILE), text.as_bytes())?;
    crate::store::EventSink::emit(
        &mut run,
        &crate::store::TrainEvent::Finished {
            summary: Box::new(summary),
        },
    );
    Ok(report)
}

fn file_mb(path: &Path) -> f64 {
    std::fs::metadata(path).map_or(0.0, |m| m.len() as f64 / 1e6)
}

/// The share of a split's contracts on which two runs' verdicts agree.
fn agreement(a: &Path, b: &Path, split: &str) -> Option<f64> {
    let (pa, pb) = (Predictions::read(a).ok()?, Predictions::read(b).ok()?);
    let (sa, sb) = (pa.split(split)?, pb.split(split)?);
    let pairs: Vec<(usize, usize)> = sa
        .iter()
        .filter_map(|(id, p)| Some((p.p, sb.get(id)?.p)))
        .collect();
    crate::eval::agreement(&pairs)
}
