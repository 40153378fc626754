//! Building what a corpus run trains: the model (from its source, or the checkpoint a resumed
//! run continues) and its objective (an MLM head, or a frozen teacher with the projection and
//! layer pairs of general distillation).

use super::head::{MlmHead, is_head_param};
use super::mask::Vocabulary;
use super::objective::{General, GeneralWeights, Mlm, Objective};
use crate::distill::layer_map::{check_attention, check_token_level, resolve};
use crate::model::load::{LoadOptions, read_weights};
use crate::model::{Classifier, ModelSource, load_source};
use crate::tokenize::TextTokenizer;
use crate::train::setup::with_run_checkpoints;
use crate::train::{ExperimentConfig, TrainError};
use candle_core::{Device, Tensor, Var};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Masked-language modelling, or general distillation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Mlm,
    General,
}

/// The source of the model a run of this kind trains.
pub fn model_source(kind: Kind, cfg: &ExperimentConfig) -> &str {
    match kind {
        Kind::Mlm => &cfg.teacher.model,
        Kind::General => &cfg.student.model,
    }
}

pub fn build(
    kind: Kind,
    cfg: &ExperimentConfig,
    resume: Option<&Path>,
    device: &Device,
) -> Result<(Classifier, Objective), TrainError> {
    let seed = cfg.train.seed;
    match kind {
        Kind::Mlm => {
            let (mut model, saved) = load_model(&cfg.teacher.model, seed, resume, device)?;
            encoder_only(&mut model);
            let (head, _) = MlmHead::attach(&model, &saved, seed)?;
            let tok = tokenizer_of(&model, &cfg.teacher.model)?;
            let vocab = vocabulary(tok, model.config.vocab_size)?;
            let spec = cfg.pretrain.mask_spec();
            Ok((model, Objective::Mlm(Box::new(Mlm { head, vocab, spec }))))
        }
        Kind::General => {
            let (mut student, _) = load_model(&cfg.student.source(), seed, resume, device)?;
            encoder_only(&mut student);
            let (mut teacher, _) = load_model(&cfg.teacher.model, seed, None, device)?;
            encoder_only(&mut teacher);
            let general = general(cfg, &student, teacher, device)?;
            Ok((student, Objective::General(Box::new(general))))
        }
    }
}

fn tokenizer_of<'m>(model: &'m Classifier, source: &str) -> Result<&'m TextTokenizer, TrainError> {
    model
        .tokenizer
        .as_ref()
        .ok_or_else(|| TrainError::Invalid(format!("model `{source}` has no tokenizer")))
}

/// The frozen teacher, the layer pairs, the projection and the weights (`[distill]`'s
/// `embedding_mse`, `hidden_mse`, `attention_score_mse`; all 0: TinyBERT's, 1 each).
fn general(
    cfg: &ExperimentConfig,
    student: &Classifier,
    teacher: Classifier,
    device: &Device,
) -> Result<General, TrainError> {
    let (s_tok, t_tok) = (
        tokenizer_of(student, &cfg.student.model)?,
        tokenizer_of(&teacher, &cfg.teacher.model)?,
    );
    match check_token_level(s_tok, t_tok).map_err(TrainError::Invalid)? {
        None => {}
        Some(_) => {
            return Err(TrainError::Invalid(
                "general distillation reads one window for both models: the student needs the \
                 teacher's own tokenizer (a pruned vocabulary renumbers it; prune after general \
                 distillation instead)"
                    .into(),
            ));
        }
    }
    let d = &cfg.distill;
    let weights = if d.embedding_mse + d.hidden_mse + d.attention_score_mse > 0.0 {
        GeneralWeights {
            embedding: d.embedding_mse,
            hidden: d.hidden_mse,
            attention: d.attention_score_mse,
        }
    } else {
        GeneralWeights {
            embedding: 1.0,
            hidden: 1.0,
            attention: 1.0,
        }
    };
    let (sc, tc) = (&student.config, &teacher.config);
    let pairs = resolve(&d.layer_map, sc.num_hidden_layers, tc.num_hidden_layers)
        .map_err(TrainError::Invalid)?;
    let attention_pairs: Vec<(usize, usize)> = match weights.attention > 0.0 {
        true => pairs.iter().copied().filter(|&(s, _)| s > 0).collect(),
        false => Vec::new(),
    };
    check_attention(
        &attention_pairs,
        sc.num_attention_heads,
        tc.num_attention_heads,
    )
    .map_err(TrainError::Invalid)?;
    let projection = crate::distill::objective::projection(
        sc.hidden_size,
        tc.hidden_size,
        cfg.train.seed,
        device,
    )?;
    Ok(General {
        teacher,
        projection,
        hidden_pairs: pairs,
        attention_pairs,
        weights,
    })
}

/// The model and the tensors its MLM head may come from: the checkpoint resumed, else the
/// teacher's source (a run folder's best checkpoint, a folder, the Hub; derived and scratch
/// models start with a fresh head).
fn load_model(
    source: &str,
    seed: u64,
    resume: Option<&Path>,
    device: &Device,
) -> Result<(Classifier, HashMap<String, Tensor>), TrainError> {
    let opts = LoadOptions {
        seed,
        ..LoadOptions::default()
    };
    let folder: Option<PathBuf> = match resume {
        Some(dir) => Some(dir.to_path_buf()),
        None => match crate::train::setup::run_checkpoint(source) {
            Some(dir) => Some(dir),
            None => match ModelSource::parse(source)? {
                ModelSource::Folder(dir) => Some(dir),
                ModelSource::Hub(spec) => Some(crate::model::hub::resolve(&spec)?),
                _ => None,
            },
        },
    };
    let model = match &folder {
        Some(dir) if dir.join("config.json").is_file() => {
            Classifier::from_folder(dir, &opts, device)?.0
        }
        _ => load_source(&with_run_checkpoints(source), &opts, device)?.0,
    };
    let saved = match &folder {
        Some(dir) if dir.join("config.json").is_file() => read_weights(dir, device)?
            .0
            .into_iter()
            .map(|(k, t)| (k.strip_prefix("module.").unwrap_or(&k).to_string(), t))
            .filter(|(k, _)| is_head_param(k))
            .collect(),
        _ => HashMap::new(),
    };
    Ok((model, saved))
}

/// Pretraining has no classifier: its variables leave the model (a later fine-tuning run
/// initialises a head for its own classes), and the checkpoint says it has no labels.
pub fn encoder_only(model: &mut Classifier) {
    model
        .varmap
        .data()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|k, _| !k.starts_with("classifier."));
    model.labels.clear();
}

/// The variables a corpus run trains: the encoder and the MLM head (a BERT pooler stays as
/// loaded: it reads only [CLS], which neither objective's loss sees).
pub fn trainable(model: &Classifier) -> Vec<(String, Var)> {
    model
        .named_vars()
        .into_iter()
        .filter(|(k, _)| !k.contains(".pooler."))
        .collect()
}

/// What masking needs of the tokenizer.
pub fn vocabulary(tok: &TextTokenizer, model_vocab: usize) -> Result<Vocabulary, TrainError> {
    let mask_id = ["[MASK]", "<mask>"]
        .iter()
        .find_map(|t| tok.token_to_id(t))
        .ok_or_else(|| {
            TrainError::Invalid(format!(
                "tokenizer {} has no mask token ([MASK] or <mask>)",
                tok.source
            ))
        })?;
    let size = tok.vocab_size().min(model_vocab) as u32;
    let mut special: Vec<u32> = tok.prefix().iter().chain(tok.suffix()).copied().collect();
    for t in [
        "[PAD]", "<pad>", "[CLS]", "[SEP]", "<s>", "</s>", "[MASK]", "<mask>",
    ] {
        special.extend(tok.token_to_id(t));
    }
    special.sort_unstable();
    special.dedup();
    let kind = tok.kind();
    let continues = (0..size)
        .map(|id| {
            let piece = tok.inner().id_to_token(id).unwrap_or_default();
            match kind {
                "wordpiece" => piece.starts_with("##"),
                "bpe" => !piece.starts_with('Ġ'),
                _ => false,
            }
        })
        .collect();
    Ok(Vocabulary {
        mask_id,
        size,
        special,
        continues,
    })
}
