//! Building the model a role trains: any model source, a run folder (its best checkpoint), or
//! a scratch model whose tokenizer is first trained on the training split.

use super::TrainError;
use super::checkpoint;
use super::config::ModelSection;
use crate::data::{Dataset, Split};
use crate::model::load::{LoadOptions, LoadReport};
use crate::model::{Classifier, ModelSource, load_source};
use crate::tokenize::{TokenizerKind, train_tokenizer};
use candle_core::Device;
use std::path::Path;

/// A run folder names its best checkpoint.
pub fn run_checkpoint(source: &str) -> Option<std::path::PathBuf> {
    let dir = Path::new(source);
    if !dir.join("run.json").is_file() {
        return None;
    }
    checkpoint::existing(&dir.join("checkpoints/best"))
        .or_else(|| checkpoint::existing(&dir.join("checkpoints/last")))
}

/// A source built on run folders (`derive:runs/<run>?layers=3,6`, `moe:runs/<run>?…`) reads
/// their best checkpoints; any other source is returned as it is (a bare run folder loads
/// through `run_checkpoint`, with its own head).
pub fn with_run_checkpoints(source: &str) -> String {
    match ModelSource::parse(source) {
        Ok(parsed @ (ModelSource::Derive { .. } | ModelSource::Rewrite { .. })) => parsed
            .map_folders(&|dir| run_checkpoint(&dir.display().to_string()).unwrap_or(dir))
            .to_string(),
        _ => source.to_string(),
    }
}

pub fn build_model(
    section: &ModelSection,
    ds: &Dataset,
    data: &crate::data::DataConfig,
    pooling: super::evaluate::Pooling,
    run_path: &Path,
    seed: u64,
    device: &Device,
) -> Result<(Classifier, LoadReport), TrainError> {
    // A run's checkpoint loads as it is, unless the section rewrites it (experts, a
    // bottleneck, pruned or factorised embeddings).
    let run = run_checkpoint(&section.model);
    // A pretraining run's checkpoint has no classifier (no labels): it loads as a model
    // folder, with a fresh head for this dataset's classes.
    if let Some(dir) = &run
        && !section.rewrites()
        && !checkpoint::encoder_only(dir)
    {
        return Ok(checkpoint::load_model(dir, seed, device)?);
    }
    let mut source = run.map_or_else(
        || with_run_checkpoints(&section.model),
        |d| d.display().to_string(),
    );
    let parsed = ModelSource::parse(&source)?;
    if parsed.lacks_tokenizer() {
        let texts: Vec<&str> = ds
            .split_records(Split::Train)
            .map(|r| r.code.as_str())
            .collect();
        let tok = train_tokenizer(&texts, TokenizerKind::Wordpiece, section.tokenizer_vocab)?;
        let dir = run_path.join("tokenizer");
        tok.save(&dir)?;
        source = parsed
            .with_tokenizer(&dir.join("tokenizer.json").display().to_string())
            .to_string();
    }
    let source = section.source_for(&source);
    let opts = LoadOptions {
        labels: Some(ds.classes.clone()),
        head: section.head.kind(),
        seed,
        calibration: Some(super::calibration::calibration(ds, data, pooling, seed)),
        corpus: Some(std::sync::Arc::new(
            ds.split_records(Split::Train)
                .chain(ds.split_records(Split::Unlabeled))
                .map(|r| r.code.clone())
                .collect(),
        )),
    };
    let (model, report) = load_source(&source, &opts, device)?;
    if model.tokenizer.is_none() {
        return Err(TrainError::Invalid(format!(
            "model `{}` has no tokenizer (tokenizer.json, vocab.txt or vocab.json + merges.txt)",
            section.model
        )));
    }
    Ok((model, report))
}
