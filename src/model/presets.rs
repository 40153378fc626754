//! Scratch presets: `scratch:bert-tiny` and friends, BERT configs of the published small
//! models (Turc et al. 2019; TinyBERT 4L-312D).

use super::config::{Activation, ModelConfig};
use std::collections::BTreeMap;

/// `(name, layers, hidden, heads, intermediate)`
pub const PRESETS: [(&str, usize, usize, usize, usize); 5] = [
    ("bert-tiny", 2, 128, 2, 512),
    ("bert-mini", 4, 256, 4, 1024),
    ("tinybert-4l-312d", 4, 312, 12, 1200),
    ("bert-small", 4, 512, 8, 2048),
    // BERT-base and CodeBERT's shape (with `vocab=50265`): what GPU benchmarks measure.
    ("bert-base", 12, 768, 12, 3072),
];

pub fn preset(name: &str, vocab_size: usize, pad_token_id: u32) -> Option<ModelConfig> {
    let &(_, layers, hidden, heads, inter) = PRESETS.iter().find(|p| p.0 == name)?;
    Some(ModelConfig {
        model_type: "bert".into(),
        vocab_size,
        hidden_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        intermediate_size: inter,
        hidden_act: Activation::Gelu,
        hidden_dropout_prob: 0.1,
        attention_probs_dropout_prob: 0.1,
        max_position_embeddings: 512,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        pad_token_id,
        classifier_dropout: None,
        id2label: None,
        architectures: None,
        alambic_moe: None,
        alambic_bottleneck: None,
        alambic_embedding: None,
        alambic_int8: None,
        extra: BTreeMap::from([("initializer_range".to_string(), serde_json::json!(0.02))]),
    })
}

pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.0).collect()
}

/// Sizes that override a preset's (`scratch:bert-tiny?layers=1&hidden=64`), for students the
/// published presets do not cover.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    pub layers: Option<usize>,
    pub hidden: Option<usize>,
    pub heads: Option<usize>,
    pub intermediate: Option<usize>,
}

impl Shape {
    /// The preset with these sizes; an error when the heads do not divide the width.
    pub fn apply(self, mut config: ModelConfig) -> Result<ModelConfig, String> {
        // A narrower model keeps the preset's FFN ratio unless told otherwise.
        let ratio = config.intermediate_size / config.hidden_size.max(1);
        config.num_hidden_layers = self.layers.unwrap_or(config.num_hidden_layers);
        config.hidden_size = self.hidden.unwrap_or(config.hidden_size);
        config.num_attention_heads = self.heads.unwrap_or(config.num_attention_heads);
        config.intermediate_size = match (self.intermediate, self.hidden) {
            (Some(i), _) => i,
            (None, Some(h)) => h * ratio.max(1),
            (None, None) => config.intermediate_size,
        };
        if !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        {
            return Err(format!(
                "hidden={} is not a multiple of heads={}",
                config.hidden_size, config.num_attention_heads
            ));
        }
        Ok(config)
    }

    /// `key=value` options in `scratch:`'s order, for the ones that are set.
    pub fn options(&self) -> Vec<String> {
        [
            ("layers", self.layers),
            ("hidden", self.hidden),
            ("heads", self.heads),
            ("intermediate", self.intermediate),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect()
    }
}
