//! A model with the config that prepared its data (a run folder's own `config.toml`, its
//! validation threshold) on the config's device, and the verdict for one contract text.

use super::InferError;
use crate::data::Task;
use crate::data::clean::clean_with_lines;
use crate::model::encoder::Batch;
use crate::model::load::LoadOptions;
use crate::model::{Classifier, Mode, load_source};
use crate::tokenize::{Offsets, TextTokenizer, Window};
use crate::train::ExperimentConfig;
use crate::train::checkpoint;
use crate::train::device::DeviceSpec;
use crate::train::evaluate::{Pooling, argmax};
use crate::train::samples::selected_windows;
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

/// A contract as the model read it (see [`Scorer::read`]).
pub struct Reading {
    /// The cleaned text the model saw.
    pub text: String,
    /// For each line of `text`, the 1-based line of the contract as given.
    pub source_lines: Vec<usize>,
    /// The windows the config's selection keeps.
    pub windows: Vec<Window>,
    /// Byte range in `text` of every content token (windows index them).
    pub offsets: Offsets,
    /// Each window's logits.
    pub rows: Vec<Vec<f32>>,
    /// The verdict's class index.
    pub class: usize,
    pub verdict: Verdict,
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
    /// First and last line of that window in the contract as given (1-based).
    pub lines: [usize; 2],
}

impl Verdict {
    /// The probability of the verdict's own class.
    pub fn probability(&self) -> f32 {
        self.probabilities
            .iter()
            .find(|(c, _)| *c == self.verdict)
            .map_or(0.0, |(_, p)| *p)
    }
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
        Ok(self.read(raw)?.verdict)
    }

    /// Everything the verdict was made of: the cleaned text, its windows and their logits.
    pub fn read(&self, raw: &str) -> Result<Reading, InferError> {
        let (text, source_lines) = clean_with_lines(raw, &self.cfg.dataset.clean);
        if text.trim().is_empty() {
            return Err(InferError::Input(
                "no code to score (empty, blank or only comments)".into(),
            ));
        }
        let (windows, offsets) = selected_windows(self.tokenizer()?, &text, &self.cfg.dataset)?;
        let ids: Vec<Vec<u32>> = windows.iter().map(|w| w.ids.clone()).collect();
        let rows = self.window_logits(&ids)?;
        let probs = self.probabilities(&self.pool(&rows))?;
        let class = match (self.cfg.dataset.task, self.threshold) {
            (Task::Binary, Some(t)) => {
                usize::from(probs.get(1).copied().unwrap_or(0.0) as f64 >= t)
            }
            _ => argmax(&probs),
        };
        let driver = rows
            .iter()
            .enumerate()
            .max_by(|a, b| a.1[class].total_cmp(&b.1[class]))
            .map_or(0, |(i, _)| i);
        let (start, end) = windows.get(driver).map_or((0, 0), |w| w.bytes);
        let line = |byte: usize| {
            let cleaned = text[..byte.min(text.len())].matches('\n').count();
            source_lines.get(cleaned).copied().unwrap_or(cleaned + 1)
        };
        let verdict = Verdict {
            verdict: self.model.labels[class].clone(),
            probabilities: self.model.labels.iter().cloned().zip(probs).collect(),
            window: driver + 1,
            windows: windows.len(),
            lines: [line(start), line(end)],
        };
        Ok(Reading {
            text,
            source_lines,
            windows,
            offsets,
            rows,
            class,
            verdict,
        })
    }

    pub fn tokenizer(&self) -> Result<&TextTokenizer, InferError> {
        self.model
            .tokenizer
            .as_ref()
            .ok_or_else(|| InferError::Invalid("the model has no tokenizer".into()))
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
