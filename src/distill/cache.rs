//! The teacher's contract-level logits for every training and validation contract, computed
//! once and kept as safetensors under `<out>/.cache/teacher/<key>.safetensors`. The key hashes
//! everything that changes them: the teacher's weights and tokenizer, the dataset file and
//! every `[dataset]` setting (cleaning, split and seed, max_len, stride, window selection) and
//! the window pooling, the transfer set. Later runs and sweep cells with the same key read the
//! file. Token-level terms add a second file beside it with the teacher's window outputs
//! (`teacher_tokens.rs`), keyed by the same key and the layers it holds.

use super::teacher_tokens::Needs;
use crate::data::{Dataset, Split};
use crate::model::Classifier;
use crate::model::Mode;
use crate::train::evaluate::contract_logits;
use crate::train::samples::{Sample, samples};
use crate::train::{ExperimentConfig, TrainError};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::Xxh3;

/// Teacher logits by record index.
pub type TeacherLogits = HashMap<usize, Vec<f32>>;

pub fn key(cfg: &ExperimentConfig, teacher: &Classifier) -> Result<String, TrainError> {
    let mut h = Xxh3::new();
    for (name, var) in teacher.named_vars() {
        h.update(name.as_bytes());
        let values = var.as_tensor().flatten_all()?.to_vec1::<f32>()?;
        for v in values {
            h.update(&v.to_le_bytes());
        }
    }
    if let Some(tok) = &teacher.tokenizer {
        h.update(tok.inner().to_string(false).unwrap_or_default().as_bytes());
    }
    h.update(&std::fs::read(&cfg.dataset.file).map_err(TrainError::Io)?);
    h.update(toml::to_string(&cfg.dataset).unwrap_or_default().as_bytes());
    h.update(cfg.train.pooling.name().as_bytes());
    if !cfg.distill.transfer.is_empty() {
        h.update(&std::fs::read(&cfg.distill.transfer).map_err(TrainError::Io)?);
    }
    Ok(format!("{:016x}", h.digest()))
}

/// The file of the teacher's window-level outputs: the logits key plus which layers it holds.
pub fn tokens_path(out: &Path, key: &str, needs: &Needs) -> PathBuf {
    let layers = xxhash_rust::xxh3::xxh3_64(needs.cache_tag().as_bytes());
    out.join(".cache")
        .join("teacher")
        .join(format!("{key}-tokens-{layers:016x}.safetensors"))
}

/// Writes named tensors atomically (staged beside the target, then renamed).
pub fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<u64, TrainError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{}.tmp", std::process::id()));
    candle_core::safetensors::save(tensors, &tmp)?;
    let bytes = std::fs::metadata(&tmp)?.len();
    std::fs::rename(&tmp, path)?;
    Ok(bytes)
}

pub fn path(out: &Path, key: &str) -> PathBuf {
    out.join(".cache")
        .join("teacher")
        .join(format!("{key}.safetensors"))
}

/// The teacher's pooled logits on the train and valid samples (tokenized with the teacher's
/// own tokenizer).
pub fn compute(
    cfg: &ExperimentConfig,
    ds: &Dataset,
    teacher: &Classifier,
) -> Result<TeacherLogits, TrainError> {
    let tok = teacher
        .tokenizer
        .as_ref()
        .ok_or_else(|| TrainError::Invalid("the teacher has no tokenizer".into()))?;
    let pooling = cfg.train.pooling;
    let mut out = HashMap::new();
    for split in [Split::Train, Split::Valid, Split::Unlabeled] {
        let list: Vec<Sample> = samples(ds, split, tok, &cfg.dataset)?;
        for chunk in list.chunks(cfg.train.batch_size.max(1)) {
            let refs: Vec<&Sample> = chunk.iter().collect();
            let logits =
                contract_logits(teacher, &refs, &mut Mode::Eval, pooling)?.to_vec2::<f32>()?;
            for (s, row) in chunk.iter().zip(logits) {
                out.insert(s.record, row);
            }
        }
    }
    Ok(out)
}

pub fn save(path: &Path, logits: &TeacherLogits) -> Result<u64, TrainError> {
    let mut records: Vec<usize> = logits.keys().copied().collect();
    records.sort_unstable();
    let classes = records.first().map_or(0, |r| logits[r].len());
    let flat: Vec<f32> = records.iter().flat_map(|r| logits[r].clone()).collect();
    let device = Device::Cpu;
    let tensors = HashMap::from([
        (
            "logits".to_string(),
            Tensor::from_vec(flat, (records.len(), classes), &device)?,
        ),
        (
            "records".to_string(),
            Tensor::from_vec(
                records.iter().map(|&r| r as u32).collect::<Vec<_>>(),
                records.len(),
                &device,
            )?,
        ),
    ]);
    save_tensors(path, &tensors)
}

pub fn load(path: &Path) -> Result<TeacherLogits, TrainError> {
    let t = candle_core::safetensors::load(path, &Device::Cpu)?;
    let (Some(logits), Some(records)) = (t.get("logits"), t.get("records")) else {
        return Err(TrainError::Invalid(format!(
            "{}: not a teacher cache",
            path.display()
        )));
    };
    let rows = logits.to_vec2::<f32>()?;
    let records = records.to_vec1::<u32>()?;
    Ok(records.into_iter().map(|r| r as usize).zip(rows).collect())
}
