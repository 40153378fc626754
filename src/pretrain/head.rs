//! The masked-language-model head, as transformers builds it: a transform (dense, the model's
//! activation, layer norm) then a decoder tied to the word embeddings plus a bias. BERT names
//! it `cls.predictions.*`, RoBERTa `lm_head.*`. Loaded from the checkpoint when it has one,
//! else initialised as transformers does; the decoder weight is never a parameter of its own
//! (a checkpoint's `decoder.weight` is the tied copy and is ignored).

use crate::model::config::Family;
use crate::model::ops::{LayerNorm, activation};
use crate::model::{Classifier, ModelError, fused};
use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;

/// Our names of the head's parameters for a family: dense, layer norm, output bias.
pub struct HeadNames {
    pub dense: &'static str,
    pub norm: &'static str,
    pub bias: &'static str,
    /// The tied decoder's name in an export (transformers reads it, or re-ties it).
    pub decoder: &'static str,
}

pub fn names(family: Family) -> HeadNames {
    match family {
        Family::Bert => HeadNames {
            dense: "cls.predictions.transform.dense",
            norm: "cls.predictions.transform.LayerNorm",
            bias: "cls.predictions.bias",
            decoder: "cls.predictions.decoder",
        },
        Family::Roberta => HeadNames {
            dense: "lm_head.dense",
            norm: "lm_head.layer_norm",
            bias: "lm_head.bias",
            decoder: "lm_head.decoder",
        },
    }
}

/// The name of the model's word-embedding matrix.
pub fn word_embeddings_name(family: Family) -> String {
    format!("{}.embeddings.word_embeddings.weight", family.prefix())
}

#[derive(Clone, Debug)]
pub struct MlmHead {
    dense_weight: Tensor,
    dense_bias: Tensor,
    norm: LayerNorm,
    bias: Tensor,
    act: crate::model::config::Activation,
    /// `[vocab, hidden]`: the model's own word embeddings (the same variable).
    word_embeddings: Tensor,
}

/// Whether `name` is one of the head's parameters (for either family).
pub fn is_head_param(name: &str) -> bool {
    name.starts_with("cls.predictions.") || name.starts_with("lm_head.")
}

impl MlmHead {
    /// Builds the head into `model`'s variables: from `saved` (a checkpoint's tensors, in the
    /// file's key names) when they hold it, else freshly initialised from `seed`. Returns the
    /// head and the names it initialised.
    pub fn attach(
        model: &Classifier,
        saved: &HashMap<String, Tensor>,
        seed: u64,
    ) -> Result<(Self, Vec<String>), ModelError> {
        let cfg = &model.config;
        if cfg.alambic_embedding.is_some() {
            return Err(ModelError::Config(
                "masked-language modelling ties its decoder to the word embeddings: a model \
                 with factorised embeddings (factor:) cannot be pretrained"
                    .into(),
            ));
        }
        if model.config.alambic_int8.is_some() {
            return Err(ModelError::Config(
                "an int8 model cannot be pretrained (its weights are frozen integers)".into(),
            ));
        }
        let family = model.family();
        let n = names(family);
        let h = cfg.hidden_size;
        let device = model.device().clone();
        let word_name = word_embeddings_name(family);
        let vocab = cfg.vocab_size;
        let shapes: [(String, Vec<usize>); 5] = [
            (format!("{}.weight", n.dense), vec![h, h]),
            (format!("{}.bias", n.dense), vec![h]),
            (format!("{}.weight", n.norm), vec![h]),
            (format!("{}.bias", n.norm), vec![h]),
            (n.bias.to_string(), vec![vocab]),
        ];
        let mut initialised = Vec::new();
        let mut tensors = Vec::new();
        let std = cfg
            .extra
            .get("initializer_range")
            .and_then(|v| v.as_f64())
            .unwrap_or(0.02);
        for (name, shape) in &shapes {
            let t = match saved.get(name).or_else(|| legacy(saved, name)) {
                Some(t) if t.dims() == shape.as_slice() => {
                    t.to_dtype(DType::F32)?.to_device(&device)?
                }
                Some(t) => {
                    return Err(ModelError::Config(format!(
                        "{name}: the checkpoint has shape {:?}, the model needs {shape:?}",
                        t.dims()
                    )));
                }
                None => {
                    initialised.push(name.clone());
                    fresh(name, shape, std, seed, &device)?
                }
            };
            let var = Var::from_tensor(&t)?;
            model
                .varmap
                .data()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), var.clone());
            tensors.push(var.as_tensor().clone());
        }
        let word_embeddings = model
            .named_vars()
            .into_iter()
            .find(|(k, _)| *k == word_name)
            .map(|(_, v)| v.as_tensor().clone())
            .ok_or_else(|| ModelError::Config(format!("the model has no `{word_name}`")))?;
        let [dense_weight, dense_bias, norm_weight, norm_bias, bias]: [Tensor; 5] = tensors
            .try_into()
            .map_err(|_| ModelError::Config("MLM head: five tensors expected".into()))?;
        Ok((
            Self {
                dense_weight,
                dense_bias,
                norm: LayerNorm {
                    weight: norm_weight,
                    bias: norm_bias,
                    eps: cfg.layer_norm_eps,
                },
                bias,
                // RoBERTa's head applies GELU whatever the encoder's activation.
                act: match family {
                    Family::Bert => cfg.hidden_act,
                    Family::Roberta => crate::model::config::Activation::Gelu,
                },
                word_embeddings,
            },
            initialised,
        ))
    }

    /// The transform of `hidden` (`[rows, hidden]`): dense, activation, layer norm.
    pub fn transform(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        let x = fused::linear(hidden, &self.dense_weight, Some(&self.dense_bias))?;
        let x = activation(&x, self.act)?;
        candle_core::Module::forward(&self.norm, &x)
    }

    /// `[rows, vocab]` logits of `hidden` rows: the transform times the word embeddings,
    /// plus the bias. Callers pass only the masked rows, so the vocabulary projection costs
    /// rows × vocab, not batch × sequence × vocab.
    pub fn logits(&self, hidden: &Tensor) -> candle_core::Result<Tensor> {
        fused::linear(
            &self.transform(hidden)?,
            &self.word_embeddings,
            Some(&self.bias),
        )
    }
}

/// transformers also saves the output bias as `decoder.bias` (the two are one parameter).
fn legacy<'a>(saved: &'a HashMap<String, Tensor>, name: &str) -> Option<&'a Tensor> {
    let stem = name.strip_suffix(".bias")?;
    saved.get(&format!("{stem}.decoder.bias"))
}

fn fresh(
    name: &str,
    shape: &[usize],
    std: f64,
    seed: u64,
    device: &Device,
) -> Result<Tensor, ModelError> {
    let norm = name.contains("LayerNorm") || name.contains("layer_norm");
    Ok(if norm && name.ends_with("weight") {
        Tensor::ones(shape, DType::F32, device)?
    } else if name.ends_with("bias") {
        Tensor::zeros(shape, DType::F32, device)?
    } else {
        crate::model::init::SeededRng::for_name(seed, name).normal(shape, std, device)?
    })
}
