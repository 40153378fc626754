//! A model with the config that prepared its data (a run folder's own `config.toml`, its
//! validation threshold) on the config's device, and the verdict for one contract text.

use super::InferError;
use crate::data::Task;
use crate::data::clean::clean;
use crate::model::encoder::Batch;
use crate::model::load::LoadOptions;
use crate::model::{Classifier, Mode, load_source};
use crate::train::ExperimentConfig;
use crate::train::checkpoint;
use crate::train::device::DeviceSpec;
use crate::train::evaluate::{Pooling, argmax};
use crate::train::samples::windows_of;
use crate::train::setup::run_checkpoint;
use candle_core::{D, Device, Tensor};
use serde::Serialize;
use std::path::Path;

pub struct Scorer {
    pub model: Classifier,
    pub cfg: ExperimentConfig,
    /// The binary decision threshold chosen on validation, for a run folder.
    pub threshold: Option<f64>,
    pub pooling: Pooling,
    pub device: Device,
}

/// One contract's verdict, and the window that decided it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub verdict: String,
    /// (class, probability), in the model's class order.
    pub probabilities: Vec<(String, f32)>,
    /// 1-based window that drove the verdict, of `windows`.
    pub window: usize,
    pub windows: usize,
    /// First and last line of that window in the cleaned contract (1-based).
    pub lines: [usize; 2],
}

impl Scorer {
    /// A run folder (its best checkpoint, config and threshold), or a model source scored
    /// with `config` (defaults when none); on `device` when given, else the config's.
    pub fn open(
        source: &str,
        config: Option<&Path>,
        device: Option<DeviceSpec>,
    ) -> Result<Self, InferError> {
        let (mut cfg, threshold, dir) = match run_checkpoint(source) {
            Some(dir) => {
                let run = Path::new(source);
                let cfg = ExperimentConfig::load(Some(&run.join("config.toml")), &[])?;
                let threshold = crate::store::schema::RunSummary::read(run)
                    .ok()
                    .and_then(|s| s.valid_threshold());
                (cfg, threshold, Some(dir))
            }
            None => (ExperimentConfig::load(config, &[])?, None, None),
        };
        if let Some(d) = device {
            cfg.device = d;
        }
        let device = cfg.device.open()?;
        let model = match dir {
            Some(dir) => checkpoint::load_model(&dir, cfg.train.seed, &device)?.0,
            None => load_source(source, &LoadOptions::default(), &device)?.0,
        };
        let pooling = cfg.train.pooling;
        Ok(Self {
            model,
            cfg,
            threshold,
            pooling,
            device,
        })
    }

    /// The verdict for a contract's text, cleaned as the model's training data was. A text
    /// with no code (empty, blank, only comments) is refused: "safe" would be a guess.
    pub fn verdict(&self, raw: &str) -> Result<Verdict, InferError> {
        let text = clean(raw, &self.cfg.dataset.clean);
        if text.trim().is_empty() {
            return Err(InferError::Input(
                "no code to score (empty, blank or only comments)".into(),
            ));
        }
        let tok = self
            .model
            .tokenizer
            .as_ref()
            .ok_or_else(|| InferError::Invalid("the model has no tokenizer".into()))?;
        let (windows, spans) = windows_of(tok, &text, &self.cfg.dataset)?;
        let rows = self.window_logits(&windows)?;
        let probs = self.probabilities(&self.pool(&rows))?;
        let verdict = match (self.cfg.dataset.task, self.threshold) {
            (Task::Binary, Some(t)) => {
                usize::from(probs.get(1).copied().unwrap_or(0.0) as f64 >= t)
            }
            _ => argmax(&probs),
        };
        let driver = rows
            .iter()
            .enumerate()
            .max_by(|a, b| a.1[verdict].total_cmp(&b.1[verdict]))
            .map_or(0, |(i, _)| i);
        let (start, end) = spans.get(driver).copied().unwrap_or((0, 0));
        let line = |byte: usize| 1 + text[..byte.min(text.len())].matches('\n').count();
        Ok(Verdict {
            verdict: self.model.labels[verdict].clone(),
            probabilities: self.model.labels.iter().cloned().zip(probs).collect(),
            window: driver + 1,
            windows: windows.len(),
            lines: [line(start), line(end)],
        })
    }

    /// Each window's logits, one window per forward: no padding, its own logits.
    fn window_logits(&self, windows: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, InferError> {
        let mut rows = Vec::with_capacity(windows.len());
        for w in windows {
            let mask = vec![1u32; w.len()];
            let out = self.model.forward(
                &Batch {
                    input_ids: std::slice::from_ref(w),
                    attention_mask: std::slice::from_ref(&mask),
                },
                &mut Mode::Eval,
                false,
            )?;
            rows.push(out.logits.squeeze(0)?.to_vec1::<f32>()?);
        }
        Ok(rows)
    }

    /// The windows' logits pooled into one verdict, as in training.
    fn pool(&self, rows: &[Vec<f32>]) -> Vec<f32> {
        (0..self.model.labels.len())
            .map(|c| {
                let col = rows.iter().map(|r| r[c]);
                match self.pooling {
                    Pooling::Max => col.fold(f32::MIN, f32::max),
                    Pooling::Mean => col.sum::<f32>() / rows.len().max(1) as f32,
                }
            })
            .collect()
    }

    fn probabilities(&self, logits: &[f32]) -> Result<Vec<f32>, InferError> {
        let t = Tensor::new(logits, &self.device)?;
        let p = if self.cfg.dataset.task == Task::Multilabel {
            candle_nn::ops::sigmoid(&t)?
        } else {
            candle_nn::ops::softmax(&t, D::Minus1)?
        };
        Ok(p.to_vec1::<f32>()?)
    }

    /// The verdict for a file; a file that cannot be read is an input error naming it.
    pub fn verdict_for_file(&self, path: &Path) -> Result<Verdict, InferError> {
        let raw = std::fs::read_to_string(path)
            .map_err(|e| InferError::Input(format!("cannot read it ({e}); UTF-8 text expected")))?;
        self.verdict(&raw)
    }
}
