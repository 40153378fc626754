//! Loading weights into a trainable [`Classifier`]: safetensors, PyTorch zip and legacy `.bin`,
//! key prefixes `bert.`/`roberta.`/none, LayerNorm `gamma`/`beta`; every parameter becomes a
//! `Var` in a `VarMap` so the whole model trains. Missing keys are initialised (and reported),
//! unknown keys are reported and ignored, shape mismatches are errors.

use super::config::{Family, ModelConfig};
use super::encoder::{Batch, Encoder, EncoderOutput};
use super::heads::{Head, HeadKind, Pooling};
use super::init::SeededRng;
use super::{Mode, ModelError};
use crate::tokenize::TextTokenizer;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct LoadReport {
    /// The weights file read, if any.
    pub weights: Option<PathBuf>,
    /// Parameters the checkpoint lacked, freshly initialised.
    pub initialised: Vec<String>,
    /// Checkpoint tensors we do not use (e.g. TinyBERT's `fit_dense`, an MLM head).
    pub unused: Vec<String>,
    pub notes: Vec<String>,
}

impl LoadReport {
    pub fn fresh_head(&self) -> bool {
        self.initialised.iter().any(|k| k.starts_with("classifier"))
    }
}

/// How to build the classifier around the checkpoint.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Class names; a head trained for other classes is replaced by a fresh one.
    pub labels: Option<Vec<String>>,
    /// Head to use; default: the checkpoint's (BERT pooler when present, RoBERTa head).
    pub head: Option<HeadKind>,
    /// Seed for whatever must be initialised.
    pub seed: u64,
    /// Losses on a few training batches, for sources that rank weights by their gradients
    /// (`moe:…&init=split`); `None` where no data is at hand (`model info`).
    pub calibration: Option<Calibration>,
    /// The training (and transfer) contracts, for sources that keep only the tokens those
    /// use (`prune:`); `None` where no data is at hand.
    pub corpus: Option<super::vocab_prune::Corpus>,
}

/// Given a model, the losses of a few training batches (each one backward pass).
#[derive(Clone)]
#[allow(clippy::type_complexity)]
pub struct Calibration(
    pub std::sync::Arc<dyn Fn(&Classifier) -> candle_core::Result<Vec<Tensor>> + Send + Sync>,
);

impl std::fmt::Debug for Calibration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Calibration(..)")
    }
}

/// An encoder with a classification head, its trainable variables, and its tokenizer.
pub struct Classifier {
    pub config: ModelConfig,
    pub head_kind: HeadKind,
    pub labels: Vec<String>,
    pub varmap: VarMap,
    pub encoder: Encoder,
    pub head: Head,
    pub tokenizer: Option<TextTokenizer>,
}

pub struct Output {
    pub encoder: EncoderOutput,
    /// `[batch, labels]`
    pub logits: Tensor,
}

impl Classifier {
    pub fn family(&self) -> Family {
        self.encoder.family
    }

    pub fn device(&self) -> &Device {
        self.encoder.device()
    }

    pub fn forward(
        &self,
        batch: &Batch,
        mode: &mut Mode,
        want_scores: bool,
    ) -> candle_core::Result<Output> {
        // Inference records no backprop graph (see `Mode`).
        let _no_grad = (!mode.is_train()).then(candle_core::no_grad);
        let encoder = self.encoder.forward(batch, mode, want_scores)?;
        let logits = self.head.forward(encoder.last()?, &encoder.mask, mode)?;
        Ok(Output { encoder, logits })
    }

    /// The forward pass from word embeddings (see [`Encoder::forward_from_words`]).
    pub fn forward_from_words(
        &self,
        batch: &Batch,
        words: &Tensor,
        mode: &mut Mode,
    ) -> candle_core::Result<Output> {
        let _no_grad = (!mode.is_train()).then(candle_core::no_grad);
        let encoder = self.encoder.forward_from_words(batch, words, mode, false)?;
        let logits = self.head.forward(encoder.last()?, &encoder.mask, mode)?;
        Ok(Output { encoder, logits })
    }

    /// Every variable by name, sorted (a `VarMap` is a `HashMap`; order matters for optimizer
    /// state and reproducibility).
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        let mut vars: Vec<(String, Var)> =
            data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars
    }

    /// Builds the model from named tensors (already in our key names); what is missing is
    /// initialised as transformers does, from our seeded generator.
    pub fn from_tensors(
        config: &ModelConfig,
        mut tensors: HashMap<String, Tensor>,
        head_kind: HeadKind,
        labels: Vec<String>,
        seed: u64,
        device: &Device,
        report: &mut LoadReport,
    ) -> Result<Self, ModelError> {
        let family = config.family().map_err(ModelError::Config)?;
        let mut expected = encoder_params(config, family);
        expected.extend(head_kind.params(config, labels.len()));
        let varmap = VarMap::new();
        {
            let mut data = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
            for (name, shape) in &expected {
                let tensor = match tensors.remove(name) {
                    Some(t) => {
                        if t.dims() != shape.as_slice() {
                            if name.starts_with("classifier") {
                                report.notes.push(format!(
                                    "{name}: checkpoint shape {:?} does not fit {} classes; \
                                     initialised afresh",
                                    t.dims(),
                                    labels.len()
                                ));
                                report.initialised.push(name.clone());
                                init_param(name, shape, config, seed, device)?
                            } else {
                                return Err(ModelError::Config(format!(
                                    "{name}: the checkpoint has shape {:?}, the config needs {shape:?}",
                                    t.dims()
                                )));
                            }
                        } else {
                            t.to_dtype(DType::F32)?.to_device(device)?
                        }
                    }
                    None => {
                        report.initialised.push(name.clone());
                        init_param(name, shape, config, seed, device)?
                    }
                };
                data.insert(name.clone(), Var::from_tensor(&tensor)?);
            }
        }
        let mut unused: Vec<String> = tensors.into_keys().collect();
        unused.sort();
        report.unused.extend(unused);
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let encoder = Encoder::new(vb.pp(family.prefix()), config)?;
        let head = Head::new(vb.clone(), head_kind, config, labels.len())?;
        Ok(Self {
            config: config.clone(),
            head_kind,
            labels,
            varmap,
            encoder,
            head,
            tokenizer: None,
        })
    }

    /// A Hugging Face folder: `config.json`, weights, and the tokenizer when there is one.
    pub fn from_folder(
        dir: &Path,
        opts: &LoadOptions,
        device: &Device,
    ) -> Result<(Self, LoadReport), ModelError> {
        let config = ModelConfig::from_file(&dir.join("config.json"))?;
        let family = config.family().map_err(ModelError::Config)?;
        let mut report = LoadReport::default();
        let (mut raw, weights) = read_weights(dir, device)?;
        report.weights = Some(weights);
        let int8 = match config.alambic_int8 {
            Some(_) => {
                let m = super::int8::folder::load(&dir.join(super::int8::folder::INT8_FILE))?;
                raw.extend(super::int8::folder::dequantized(&m, device)?);
                Some(m)
            }
            None => None,
        };
        let tensors = normalise_keys(raw, family, &mut report);
        let exported_head = config
            .extra
            .get(super::export::ALAMBIC_HEAD)
            .and_then(|v| serde_json::from_value::<HeadKind>(v.clone()).ok());
        let head_kind = opts.head.or(exported_head).unwrap_or(match family {
            Family::Roberta => HeadKind::Roberta,
            Family::Bert if tensors.contains_key("bert.pooler.dense.weight") => {
                HeadKind::BertPooler
            }
            Family::Bert => HeadKind::Plain(Pooling::Cls),
        });
        let labels = match (&opts.labels, config.labels()) {
            (Some(l), _) => l.clone(),
            (None, Some(l)) if has_head(&tensors) => l,
            _ => {
                let n = head_out_rows(&tensors, head_kind).unwrap_or(2);
                (0..n).map(|i| format!("LABEL_{i}")).collect()
            }
        };
        let weights_path = report.weights.clone().unwrap_or_else(|| dir.to_path_buf());
        let mut model = Self::from_tensors(
            &config,
            tensors,
            head_kind,
            labels,
            opts.seed,
            device,
            &mut report,
        )
        .map_err(|e| match e {
            ModelError::Config(msg) => ModelError::file(&weights_path, msg),
            other => other,
        })?;
        if report.fresh_head() {
            report
                .notes
                .push("no trained classification head: a fresh one was initialised".into());
        }
        if let Some(m) = &int8 {
            super::int8::folder::attach(&mut model, m);
        }
        model.tokenizer = match TextTokenizer::load(dir) {
            Ok(t) => Some(t),
            Err(e) => {
                report.notes.push(format!("no tokenizer loaded: {e}"));
                None
            }
        };
        Ok((model, report))
    }
}

fn has_head(tensors: &HashMap<String, Tensor>) -> bool {
    tensors.keys().any(|k| k.starts_with("classifier."))
}

fn head_out_rows(tensors: &HashMap<String, Tensor>, kind: HeadKind) -> Option<usize> {
    let key = match kind {
        HeadKind::Roberta => "classifier.out_proj.weight",
        _ => "classifier.weight",
    };
    tensors.get(key).map(|t| t.dims()[0])
}

/// `(name, shape)` of every encoder parameter, in our (transformers') key names.
pub fn encoder_params(cfg: &ModelConfig, family: Family) -> Vec<(String, Vec<usize>)> {
    let p = family.prefix();
    let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
    let width = cfg.alambic_embedding.map_or(h, |f| f.size);
    let mut out = vec![
        (
            format!("{p}.embeddings.word_embeddings.weight"),
            vec![cfg.vocab_size, width],
        ),
        (
            format!("{p}.embeddings.position_embeddings.weight"),
            vec![cfg.max_position_embeddings, h],
        ),
        (
            format!("{p}.embeddings.token_type_embeddings.weight"),
            vec![cfg.type_vocab_size, h],
        ),
        (format!("{p}.embeddings.LayerNorm.weight"), vec![h]),
        (format!("{p}.embeddings.LayerNorm.bias"), vec![h]),
    ];
    if let Some(f) = cfg.alambic_embedding {
        out.push((
            format!(
                "{p}.embeddings.{}.weight",
                super::embedding_factor::PROJECTION
            ),
            vec![h, f.size],
        ));
    }
    for l in 0..cfg.num_hidden_layers {
        let b = format!("{p}.encoder.layer.{l}");
        let w = cfg.inner_width(l);
        let bottleneck = cfg.alambic_bottleneck.as_ref().filter(|b| b.covers(l));
        for (name, inp, outp) in [
            ("attention.self.query", h, w),
            ("attention.self.key", h, w),
            ("attention.self.value", h, w),
            ("attention.output.dense", w, h),
            ("intermediate.dense", h, i),
            ("output.dense", i, h),
        ] {
            let mixture = cfg.alambic_moe.as_ref().filter(|m| m.covers(l));
            match (mixture, name) {
                // A bottleneck layer's FFN is factored (below).
                _ if bottleneck.is_some() && !name.starts_with("attention") => continue,
                // A mixture layer's experts replace the FFN's weights; its output bias stays.
                (Some(_), "intermediate.dense") => continue,
                (Some(_), "output.dense") => {}
                _ => out.push((format!("{b}.{name}.weight"), vec![outp, inp])),
            }
            out.push((format!("{b}.{name}.bias"), vec![outp]));
        }
        if let Some(m) = cfg.alambic_moe.as_ref().filter(|m| m.covers(l)) {
            out.extend(m.params(&b, h));
        }
        if let Some(f) = bottleneck {
            out.extend(f.ffn_params(&b, h, i));
        }
        for norm in ["attention.output.LayerNorm", "output.LayerNorm"] {
            out.push((format!("{b}.{norm}.weight"), vec![h]));
            out.push((format!("{b}.{norm}.bias"), vec![h]));
        }
    }
    out
}

/// transformers' `_init_weights`: normal(0, initializer_range) for linear and embedding
/// weights (the padding row of word embeddings zeroed), zero biases, LayerNorm 1 and 0.
pub fn init_param(
    name: &str,
    shape: &[usize],
    cfg: &ModelConfig,
    seed: u64,
    device: &Device,
) -> Result<Tensor, ModelError> {
    let std = cfg
        .extra
        .get("initializer_range")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.02);
    let t = if name.contains("LayerNorm") {
        if name.ends_with("weight") {
            Tensor::ones(shape, DType::F32, device)?
        } else {
            Tensor::zeros(shape, DType::F32, device)?
        }
    } else if name.ends_with("bias") {
        Tensor::zeros(shape, DType::F32, device)?
    } else {
        let t = SeededRng::for_name(seed, name).normal(shape, std, device)?;
        let pad = cfg.pad_token_id as usize;
        if name.ends_with("word_embeddings.weight") && pad < shape[0] {
            let rows = t.dims()[0];
            let zero = Tensor::zeros((1, shape[1]), DType::F32, device)?;
            let mut parts = Vec::new();
            if pad > 0 {
                parts.push(t.narrow(0, 0, pad)?);
            }
            parts.push(zero);
            if pad + 1 < rows {
                parts.push(t.narrow(0, pad + 1, rows - pad - 1)?);
            }
            Tensor::cat(&parts, 0)?
        } else {
            t
        }
    };
    Ok(t)
}

/// Reads `model.safetensors`, else `pytorch_model.bin` (zip or legacy pickle).
pub fn read_weights(
    dir: &Path,
    device: &Device,
) -> Result<(Vec<(String, Tensor)>, PathBuf), ModelError> {
    let st = dir.join("model.safetensors");
    if st.is_file() {
        let map = candle_core::safetensors::load(&st, device)
            .map_err(|e| ModelError::file(&st, e.to_string()))?;
        return Ok((map.into_iter().collect(), st));
    }
    let bin = dir.join("pytorch_model.bin");
    if bin.is_file() {
        let tensors = if super::legacy_pickle::is_legacy(&bin) {
            super::legacy_pickle::read(&bin, device)?
        } else {
            candle_core::pickle::read_all(&bin)
                .map_err(|e| ModelError::file(&bin, e.to_string()))?
        };
        return Ok((tensors, bin));
    }
    Err(ModelError::file(
        dir,
        "no weights: expected model.safetensors or pytorch_model.bin",
    ))
}

/// Our key names: the family prefix on encoder keys (whether the file had `bert.`, `roberta.`
/// or no prefix, as sentence-transformers saves), `weight`/`bias` for LayerNorm `gamma`/`beta`.
/// Keys we cannot place are reported as unused.
pub fn normalise_keys(
    raw: Vec<(String, Tensor)>,
    family: Family,
    report: &mut LoadReport,
) -> HashMap<String, Tensor> {
    let prefix = family.prefix();
    let mut out = HashMap::new();
    let mut notes: BTreeMap<&str, &str> = BTreeMap::new();
    for (key, tensor) in raw {
        let key = key.strip_prefix("module.").unwrap_or(&key).to_string();
        let body = ["bert.", "roberta.", "model."]
            .iter()
            .find_map(|p| key.strip_prefix(p))
            .unwrap_or(&key);
        let is_encoder = ["embeddings.", "encoder.", "pooler."]
            .iter()
            .any(|p| body.starts_with(p));
        let mut name = if is_encoder {
            format!("{prefix}.{body}")
        } else {
            key.clone()
        };
        if name.contains("LayerNorm") {
            if let Some(stem) = name.strip_suffix(".gamma") {
                name = format!("{stem}.weight");
            } else if let Some(stem) = name.strip_suffix(".beta") {
                name = format!("{stem}.bias");
            }
        }
        if name.ends_with("embeddings.position_ids") || name.ends_with("embeddings.token_type_ids")
        {
            continue; // buffers, not parameters
        }
        if key.starts_with("fit_dense") {
            notes.insert(
                "fit_dense",
                "TinyBERT's fit_dense projection (used only by its own distillation) is ignored",
            );
        }
        out.insert(name, tensor);
    }
    report.notes.extend(notes.into_values().map(String::from));
    out
}
