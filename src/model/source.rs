//! One string names a model everywhere: a folder; `hf:owner/name[@rev]`;
//! `scratch:PRESET[?tokenizer=SRC]`; `derive:SRC?layers=…&pooler=false`.

use super::derive::{DeriveSpec, derive};
use super::load::{Classifier, LoadOptions, LoadReport};
use super::{ModelError, hub, presets};
use crate::tokenize::TextTokenizer;
use candle_core::Device;
use std::collections::HashMap;
use std::path::PathBuf;

/// Vocabulary of a scratch model named without a tokenizer (the size `alambic data tokenizer`
/// trains by default).
pub const SCRATCH_VOCAB: usize = 8000;

#[derive(Clone, Debug, PartialEq)]
pub enum ModelSource {
    Folder(PathBuf),
    Hub(String),
    Scratch {
        preset: String,
        tokenizer: Option<String>,
        /// The vocabulary size when no tokenizer is named (`vocab=50265`, CodeBERT's).
        vocab: Option<usize>,
    },
    Derive {
        base: Box<ModelSource>,
        spec: DeriveSpec,
    },
}

impl ModelSource {
    pub fn parse(s: &str) -> Result<Self, ModelError> {
        let err = |msg: String| ModelError::Source {
            source_name: s.to_string(),
            msg,
        };
        if let Some(rest) = s.strip_prefix("hf:") {
            if !rest.contains('/') {
                return Err(err("expected hf:owner/name[@revision]".into()));
            }
            return Ok(Self::Hub(rest.to_string()));
        }
        if let Some(rest) = s.strip_prefix("scratch:") {
            let (preset, query) = rest.split_once('?').unwrap_or((rest, ""));
            if presets::preset(preset, 1, 0).is_none() {
                return Err(err(format!(
                    "unknown preset `{preset}` (one of: {})",
                    presets::names().join(", ")
                )));
            }
            let (mut tokenizer, mut vocab) = (None, None);
            for part in query.split('&').filter(|p| !p.is_empty()) {
                match part.split_once('=') {
                    Some(("tokenizer", v)) => tokenizer = Some(v.to_string()),
                    Some(("vocab", v)) => {
                        vocab =
                            Some(v.parse::<usize>().ok().filter(|&n| n > 4).ok_or_else(|| {
                                err(format!("vocab=`{v}`: a vocabulary size above 4"))
                            })?)
                    }
                    _ => {
                        return Err(err(format!(
                            "unknown option `{part}` (tokenizer=SRC, vocab=N)"
                        )));
                    }
                }
            }
            return Ok(Self::Scratch {
                preset: preset.to_string(),
                tokenizer,
                vocab,
            });
        }
        if let Some(rest) = s.strip_prefix("derive:") {
            let (base, query) = rest
                .rsplit_once('?')
                .ok_or_else(|| err("expected derive:SRC?layers=2,4,6[&pooler=false]".into()))?;
            let spec = DeriveSpec::parse(query).map_err(err)?;
            return Ok(Self::Derive {
                base: Box::new(Self::parse(base)?),
                spec,
            });
        }
        Ok(Self::Folder(PathBuf::from(s)))
    }
}

pub fn load_source(
    source: &str,
    opts: &LoadOptions,
    device: &Device,
) -> Result<(Classifier, LoadReport), ModelError> {
    match ModelSource::parse(source)? {
        ModelSource::Folder(dir) => {
            if !dir.join("config.json").is_file() {
                return Err(ModelError::Source {
                    source_name: source.to_string(),
                    msg: format!(
                        "{} is not a model folder (no config.json); model sources are a folder, \
                         hf:owner/name, scratch:PRESET or derive:SRC?layers=…",
                        dir.display()
                    ),
                });
            }
            Classifier::from_folder(&dir, opts, device)
        }
        ModelSource::Hub(spec) => Classifier::from_folder(&hub::resolve(&spec)?, opts, device),
        ModelSource::Scratch {
            preset,
            tokenizer,
            vocab,
        } => scratch(&preset, tokenizer.as_deref(), vocab, opts, device),
        ModelSource::Derive { base, spec } => {
            let base_name = match *base {
                ModelSource::Folder(ref p) => p.display().to_string(),
                ModelSource::Hub(ref h) => format!("hf:{h}"),
                _ => {
                    return Err(ModelError::Source {
                        source_name: source.to_string(),
                        msg: "derive needs a pretrained model (a folder or hf:…)".into(),
                    });
                }
            };
            let (teacher, mut report) = load_source(&base_name, opts, device)?;
            let (student, derived) = derive(&teacher, &spec, opts.seed)?;
            report.notes.extend(derived.notes);
            report.initialised = derived.initialised;
            report.unused.clear();
            Ok((student, report))
        }
    }
}

fn scratch(
    preset: &str,
    tokenizer: Option<&str>,
    vocab: Option<usize>,
    opts: &LoadOptions,
    device: &Device,
) -> Result<(Classifier, LoadReport), ModelError> {
    let tok = tokenizer.map(TextTokenizer::load).transpose()?;
    let mut report = LoadReport::default();
    let (vocab, pad) = match &tok {
        Some(t) => (
            t.vocab_size(),
            t.token_to_id("[PAD]")
                .or_else(|| t.token_to_id("<pad>"))
                .unwrap_or(0),
        ),
        None => {
            let n = vocab.unwrap_or(SCRATCH_VOCAB);
            report.notes.push(format!(
                "no tokenizer named: vocabulary of {n}, for a tokenizer trained on the dataset"
            ));
            (n, 0)
        }
    };
    let config = presets::preset(preset, vocab, pad).ok_or_else(|| ModelError::Source {
        source_name: format!("scratch:{preset}"),
        msg: "unknown preset".into(),
    })?;
    let head = opts.head.unwrap_or(super::HeadKind::BertPooler);
    let labels = opts
        .labels
        .clone()
        .unwrap_or_else(|| vec!["LABEL_0".into(), "LABEL_1".into()]);
    let mut model = Classifier::from_tensors(
        &config,
        HashMap::new(),
        head,
        labels,
        opts.seed,
        device,
        &mut report,
    )?;
    // Every parameter of a scratch model is initialised; the list says nothing new.
    report.initialised.clear();
    report
        .notes
        .push(format!("scratch model `{preset}`, seed {}", opts.seed));
    model.tokenizer = tok;
    Ok((model, report))
}
