//! The training batches a model source may rank its weights on (`moe:…&init=split` ranks FFN
//! neurons by |w·∂L/∂w|): the label loss of the first few training contracts, as the model
//! itself tokenizes them.

use super::evaluate::{Pooling, contract_forward};
use super::loss::{LabelLoss, Objective};
use super::samples::{Sample, sample_of, target_of};
use crate::data::{DataConfig, Dataset, Split};
use crate::model::Mode;
use crate::model::init::SeededRng;
use crate::model::load::Calibration;
use std::sync::Arc;

/// Contracts per calibration batch, and batches (MoEBERT ranks on a few batches).
const BATCH: usize = 8;
const BATCHES: usize = 4;

pub fn calibration(ds: &Dataset, data: &DataConfig, pooling: Pooling, seed: u64) -> Calibration {
    let records: Vec<(String, super::samples::Target)> = ds
        .split_records(Split::Train)
        .filter_map(|r| target_of(r, ds).map(|t| (r.code.clone(), t)))
        .take(BATCH * BATCHES)
        .collect();
    let data = data.clone();
    Calibration(Arc::new(move |model| {
        let tok = model
            .tokenizer
            .as_ref()
            .ok_or_else(|| candle_core::Error::Msg("the model has no tokenizer".into()))?;
        let samples = records
            .iter()
            .enumerate()
            .map(|(i, (code, target))| {
                sample_of(i, code, target.clone(), tok, &data)
                    .map_err(|e| candle_core::Error::Msg(e.to_string()))
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let mut rng = SeededRng::new(seed);
        let objective = LabelLoss {
            class_weights: None,
        };
        samples
            .chunks(BATCH)
            .map(|chunk| {
                let batch: Vec<&Sample> = chunk.iter().collect();
                let forward =
                    contract_forward(model, &batch, &mut Mode::Train(&mut rng), pooling, false)?;
                Ok(objective.loss(&forward, &batch)?.0)
            })
            .collect()
    }))
}
