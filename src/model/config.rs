//! The subset of a Hugging Face `config.json` our encoders read, kept with every other key so
//! an export writes back what it was given.

use super::ModelError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Bert,
    Roberta,
}

impl Family {
    /// The key prefix of the encoder's weights in transformers' checkpoints.
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Roberta => "roberta",
        }
    }
}

/// `hidden_act`, written back in transformers' own spelling (its `ACT2FN` keys): an export's
/// `config.json` must name a function transformers knows, and the one the source named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// The exact erf GELU. (`Gelu` and `GeluTanh` are how checkpoints of older Alambic
    /// builds spelled these.)
    #[serde(rename = "gelu", alias = "Gelu")]
    Gelu,
    #[serde(rename = "gelu_new", alias = "GeluTanh")]
    GeluNew,
    #[serde(rename = "gelu_pytorch_tanh")]
    GeluPytorchTanh,
    #[serde(rename = "gelu_fast")]
    GeluFast,
    #[serde(rename = "relu", alias = "Relu")]
    Relu,
}

fn default_act() -> Activation {
    Activation::Gelu
}
fn default_eps() -> f64 {
    1e-12
}
fn default_dropout() -> f64 {
    0.1
}
fn default_type_vocab() -> usize {
    2
}
fn default_positions() -> usize {
    512
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_dropout: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Alambic's Mixture-of-Experts layers (`src/model/moe.rs`); transformers has no such BERT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alambic_moe: Option<super::moe::MoeConfig>,
    /// Alambic's bottleneck layers (`src/model/bottleneck.rs`); transformers has no such BERT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alambic_bottleneck: Option<super::bottleneck::BottleneckConfig>,
    /// Alambic's factorised word embeddings (`src/model/embedding_factor.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alambic_embedding: Option<super::embedding_factor::EmbeddingConfig>,
    /// An int8-quantised model (`src/model/int8/`): its dense layers are in `int8.safetensors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alambic_int8: Option<super::int8::folder::Int8Config>,
    /// Every other key, written back on export.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl ModelConfig {
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::io(path, e))?;
        let cfg: Self = serde_json::from_str(&text)
            .map_err(|e| ModelError::file(path, format!("not a model config: {e}")))?;
        cfg.family().map_err(|msg| ModelError::file(path, msg))?;
        if cfg.num_attention_heads == 0 || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
        {
            return Err(ModelError::file(
                path,
                format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    cfg.hidden_size, cfg.num_attention_heads
                ),
            ));
        }
        if let Some(b) = &cfg.alambic_bottleneck
            && (b.inner == 0 || !b.inner.is_multiple_of(cfg.num_attention_heads))
        {
            return Err(ModelError::file(
                path,
                format!(
                    "alambic_bottleneck.inner {} is not a multiple of num_attention_heads {}",
                    b.inner, cfg.num_attention_heads
                ),
            ));
        }
        if let Some(f) = &cfg.alambic_embedding
            && (f.size == 0 || f.size > cfg.hidden_size)
        {
            return Err(ModelError::file(
                path,
                format!(
                    "alambic_embedding.size {} is not between 1 and hidden_size {}",
                    f.size, cfg.hidden_size
                ),
            ));
        }
        Ok(cfg)
    }

    /// The width of layer `index`'s (0-based) attention and FFN: the bottleneck's inner
    /// width for its layers, the hidden size otherwise.
    pub fn inner_width(&self, index: usize) -> usize {
        match &self.alambic_bottleneck {
            Some(b) if b.covers(index) => b.inner,
            _ => self.hidden_size,
        }
    }

    pub fn family(&self) -> Result<Family, String> {
        match self.model_type.as_str() {
            "bert" => Ok(Family::Bert),
            "roberta" | "xlm-roberta" | "camembert" => Ok(Family::Roberta),
            other => Err(format!(
                "model_type `{other}` is not supported (bert, roberta, xlm-roberta)"
            )),
        }
    }

    /// The family, for configs already validated by [`ModelConfig::from_file`] or built by us.
    pub fn family_or_bert(&self) -> Family {
        self.family().unwrap_or(Family::Bert)
    }

    /// Class names by index, from `id2label`, when the checkpoint has a trained head.
    pub fn labels(&self) -> Option<Vec<String>> {
        let map = self.id2label.as_ref()?;
        let mut pairs: Vec<(usize, &String)> = map
            .iter()
            .filter_map(|(k, v)| k.parse().ok().map(|i| (i, v)))
            .collect();
        pairs.sort();
        Some(pairs.into_iter().map(|(_, v)| v.clone()).collect())
    }

    /// Records class names as transformers does: `id2label` and `label2id`.
    pub fn set_labels(&mut self, labels: &[String]) {
        self.id2label = Some(
            labels
                .iter()
                .enumerate()
                .map(|(i, l)| (i.to_string(), l.clone()))
                .collect(),
        );
        let label2id: BTreeMap<&String, usize> =
            labels.iter().enumerate().map(|(i, l)| (l, i)).collect();
        self.extra
            .insert("label2id".into(), serde_json::json!(label2id));
    }

    pub fn classifier_dropout_prob(&self) -> f64 {
        self.classifier_dropout.unwrap_or(self.hidden_dropout_prob)
    }
}
