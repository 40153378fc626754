//! One string names a model everywhere: a folder; `hf:owner/name[@rev]`;
//! `scratch:PRESET[?tokenizer=SRC&vocab=N&layers=L&hidden=H&heads=A&intermediate=I]`;
//! `derive:SRC?layers=…&pooler=false`; `moe:SRC?experts=E&top_k=K&layers=…&init=upcycle|split`;
//! `bottleneck:SRC?inner=B&layers=…`; `prune:SRC[?min_count=N]`; `factor:SRC?size=E`;
//! `int8:SRC`.

use super::derive::{DeriveSpec, derive};
use super::load::{Classifier, LoadOptions, LoadReport};
use super::rewrite::Rewrite;
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
        /// The preset's sizes a user changed (`layers=1&hidden=64`).
        shape: presets::Shape,
    },
    Derive {
        base: Box<ModelSource>,
        spec: DeriveSpec,
    },
    /// A source rewritten after loading: `moe:`, `bottleneck:`, `prune:`, `factor:`, `int8:`.
    Rewrite {
        base: Box<ModelSource>,
        rewrite: Rewrite,
    },
}

impl ModelSource {
    /// A scratch model named without a tokenizer, alone or under `moe:` / `bottleneck:`:
    /// training gives it one.
    pub fn lacks_tokenizer(&self) -> bool {
        match self {
            Self::Scratch { tokenizer, .. } => tokenizer.is_none(),
            Self::Rewrite { base, .. } => base.lacks_tokenizer(),
            _ => false,
        }
    }

    /// The same source with every folder it names passed through `f`.
    pub fn map_folders(self, f: &dyn Fn(PathBuf) -> PathBuf) -> Self {
        match self {
            Self::Folder(dir) => Self::Folder(f(dir)),
            Self::Derive { base, spec } => Self::Derive {
                base: Box::new(base.map_folders(f)),
                spec,
            },
            Self::Rewrite { base, rewrite } => Self::Rewrite {
                base: Box::new(base.map_folders(f)),
                rewrite,
            },
            other => other,
        }
    }

    /// A scratch source (alone or under `moe:` / `bottleneck:`) that reads this tokenizer; any
    /// other source as it is.
    pub fn with_tokenizer(self, path: &str) -> Self {
        match self {
            Self::Rewrite { base, rewrite } => Self::Rewrite {
                base: Box::new(base.with_tokenizer(path)),
                rewrite,
            },
            Self::Scratch {
                preset,
                vocab,
                shape,
                ..
            } => Self::Scratch {
                preset,
                tokenizer: Some(path.to_string()),
                vocab,
                shape,
            },
            other => other,
        }
    }

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
            let mut shape = presets::Shape::default();
            for part in query.split('&').filter(|p| !p.is_empty()) {
                let (key, value) = part.split_once('=').unwrap_or((part, ""));
                let size = |least: usize| {
                    value
                        .parse::<usize>()
                        .ok()
                        .filter(|&n| n >= least)
                        .ok_or_else(|| {
                            err(format!(
                                "{key}=`{value}`: a whole number of at least {least}"
                            ))
                        })
                };
                match key {
                    "tokenizer" => tokenizer = Some(value.to_string()),
                    "vocab" => vocab = Some(size(5)?),
                    "layers" => shape.layers = Some(size(1)?),
                    "hidden" => shape.hidden = Some(size(1)?),
                    "heads" => shape.heads = Some(size(1)?),
                    "intermediate" => shape.intermediate = Some(size(1)?),
                    _ => {
                        return Err(err(format!(
                            "unknown option `{part}` (tokenizer=SRC, vocab=N, layers=N, \
                             hidden=N, heads=N, intermediate=N)"
                        )));
                    }
                }
            }
            presets::preset(preset, 1, 0)
                .map(|c| shape.apply(c))
                .transpose()
                .map_err(err)?;
            return Ok(Self::Scratch {
                preset: preset.to_string(),
                tokenizer,
                vocab,
                shape,
            });
        }
        if let Some((rewrite, base)) = Rewrite::parse(s).map_err(err)? {
            return Ok(Self::Rewrite {
                base: Box::new(Self::parse(base)?),
                rewrite,
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

/// The source string again, with a scratch model's options in a fixed order (callers rewrite
/// the tokenizer of a scratch source and must keep its other options).
impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Folder(p) => write!(f, "{}", p.display()),
            Self::Hub(spec) => write!(f, "hf:{spec}"),
            Self::Scratch {
                preset,
                tokenizer,
                vocab,
                shape,
            } => {
                let mut options: Vec<String> = tokenizer
                    .iter()
                    .map(|t| format!("tokenizer={t}"))
                    .chain(vocab.map(|v| format!("vocab={v}")))
                    .collect();
                options.extend(shape.options());
                match options.is_empty() {
                    true => write!(f, "scratch:{preset}"),
                    false => write!(f, "scratch:{preset}?{}", options.join("&")),
                }
            }
            Self::Derive { base, spec } => write!(f, "derive:{base}?{}", spec.query()),
            Self::Rewrite { base, rewrite } => match rewrite.query().as_str() {
                "" => write!(f, "{}:{base}", rewrite.kind()),
                query => write!(f, "{}:{base}?{query}", rewrite.kind()),
            },
        }
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
                         hf:owner/name, scratch:PRESET, derive:SRC?layers=…, moe:SRC?…, \
                         bottleneck:SRC?inner=B, prune:SRC, factor:SRC?size=E or int8:SRC",
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
            shape,
        } => scratch(&preset, tokenizer.as_deref(), vocab, shape, opts, device),
        ModelSource::Derive { base, spec } => {
            if !matches!(*base, ModelSource::Folder(_) | ModelSource::Hub(_)) {
                return Err(ModelError::Source {
                    source_name: source.to_string(),
                    msg: "derive needs a pretrained model (a folder or hf:…)".into(),
                });
            }
            let (teacher, mut report) = load_source(&base.to_string(), opts, device)?;
            let (student, derived) = derive(&teacher, &spec, opts.seed)?;
            report.notes.extend(derived.notes);
            report.initialised = derived.initialised;
            report.unused.clear();
            Ok((student, report))
        }
        ModelSource::Rewrite { base, rewrite } => {
            let (model, mut report) = load_source(&base.to_string(), opts, device)?;
            let model = rewrite
                .apply(model, opts, &mut report)
                .map_err(|e| in_source(e, source))?;
            Ok((model, report))
        }
    }
}

/// A config error of a rewriting source (`moe:`, `bottleneck:`, …), named by that source.
fn in_source(e: ModelError, source: &str) -> ModelError {
    match e {
        ModelError::Config(msg) => ModelError::Source {
            source_name: source.to_string(),
            msg,
        },
        other => other,
    }
}

fn scratch(
    preset: &str,
    tokenizer: Option<&str>,
    vocab: Option<usize>,
    shape: presets::Shape,
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
    let source_error = |msg: String| ModelError::Source {
        source_name: format!("scratch:{preset}"),
        msg,
    };
    let config =
        presets::preset(preset, vocab, pad).ok_or_else(|| source_error("unknown preset".into()))?;
    let config = shape.apply(config).map_err(source_error)?;
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
