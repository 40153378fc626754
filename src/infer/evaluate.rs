//! `alambic eval`: a model scored on a labelled dataset's split, overall and broken down by a
//! record field, with the run's validation threshold.

use super::{InferError, Scorer};
use crate::data::{Dataset, Split};
use crate::train::evaluate::{Scores, predict, score};
use crate::train::samples::{Sample, samples};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Debug, Serialize)]
pub struct Evaluation {
    pub overall: Scores,
    /// By the values of `--by`'s field (empty without it).
    pub by: BTreeMap<String, Scores>,
    #[serde(skip)]
    pub classes: Vec<String>,
}

/// `train`, `valid`, `test` or `all`.
pub fn split_names(name: &str) -> Result<Vec<Split>, InferError> {
    Ok(match name {
        "all" => Split::MODEL_SPLITS.to_vec(),
        other => vec![Split::parse(other).ok_or_else(|| {
            InferError::Invalid(format!("--split `{other}`: train, valid, test or all"))
        })?],
    })
}

/// A record field as a group name; lists (like cgt_dasp's `origin`) give their sources.
pub fn field_value(v: Option<&serde_json::Value>) -> String {
    let values = crate::data::field_values(v);
    if values.is_empty() {
        "-".into()
    } else {
        values.join("+")
    }
}

pub fn evaluate(
    scorer: &Scorer,
    data: &Path,
    split: &str,
    by: Option<&str>,
) -> Result<Evaluation, InferError> {
    let model = &scorer.model;
    let mut cfg = scorer.cfg.dataset.clone();
    cfg.file = data.to_path_buf();
    let mut ds = Dataset::prepare(&cfg)?;
    if let Some(unknown) = ds.classes.iter().find(|c| !model.labels.contains(c)) {
        return Err(InferError::Invalid(format!(
            "{}: class `{unknown}` is not one the model predicts ({})",
            data.display(),
            model.labels.join(", ")
        )));
    }
    ds.classes = model.labels.clone();
    let tok = scorer.tokenizer()?;
    let mut all: Vec<Sample> = Vec::new();
    for s in split_names(split)? {
        all.extend(samples(&ds, s, tok, &cfg)?);
    }
    if all.is_empty() {
        return Err(InferError::Invalid(format!(
            "{}: no contracts in split `{split}`",
            data.display()
        )));
    }
    let batch = scorer.cfg.train.batch_size;
    let probs = predict(model, &all, ds.task, batch, scorer.pooling)?;
    let th = scorer.threshold;
    let overall = score(&all, &probs, &ds.classes, ds.task, th, true);
    let mut groups = BTreeMap::new();
    if let Some(field) = by {
        let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in all.iter().enumerate() {
            let value = field_value(ds.records[s.record].extra.get(field));
            members.entry(value).or_default().push(i);
        }
        for (name, idx) in members {
            let sub: Vec<Sample> = idx.iter().map(|&i| all[i].clone()).collect();
            let p: Vec<Vec<f32>> = idx.iter().map(|&i| probs[i].clone()).collect();
            groups.insert(name, score(&sub, &p, &ds.classes, ds.task, th, false));
        }
    }
    Ok(Evaluation {
        overall,
        by: groups,
        classes: ds.classes,
    })
}
