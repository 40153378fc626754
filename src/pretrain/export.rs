//! A pretraining run exported as transformers' `BertForMaskedLM` / `RobertaForMaskedLM`: the
//! encoder (no pooler: those classes have none) and the MLM head under transformers' names.
//! The decoder is tied to the word embeddings and its bias to the head's bias, so neither is
//! written (transformers ties them on load, as `_tied_weights_keys` says).

use super::build::encoder_only;
use super::head::{MlmHead, is_head_param};
use crate::model::config::Family;
use crate::model::export::{save_weights, write_config};
use crate::model::load::{LoadOptions, read_weights};
use crate::model::{Classifier, ModelError};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// Exports the encoder-only checkpoint in `dir` to `out`; returns the keys written.
pub fn export_masked_lm(dir: &Path, out: &Path) -> Result<Vec<String>, ModelError> {
    let device = Device::Cpu;
    let (mut model, _) = Classifier::from_folder(dir, &LoadOptions::default(), &device)?;
    encoder_only(&mut model);
    let saved: HashMap<String, Tensor> = read_weights(dir, &device)?
        .0
        .into_iter()
        .filter(|(k, _)| is_head_param(k))
        .collect();
    let (_, initialised) = MlmHead::attach(&model, &saved, 0)?;
    if !initialised.is_empty() {
        return Err(ModelError::file(
            dir,
            format!(
                "not a pretraining checkpoint: it has no {}",
                initialised.join(", ")
            ),
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| ModelError::io(out, e))?;
    let weights: HashMap<String, Tensor> = model
        .named_vars()
        .into_iter()
        .filter(|(k, _)| !k.contains(".pooler.") && !k.starts_with("classifier."))
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    let keys = save_weights(&weights, out)?;
    let architecture = match model.family() {
        Family::Bert => "BertForMaskedLM",
        Family::Roberta => "RobertaForMaskedLM",
    };
    write_config(&model, model.config.clone(), architecture, out)?;
    Ok(keys)
}
