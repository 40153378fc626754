//! `alambic model info`: what a model is, in exact numbers.

use super::heads::HeadKind;
use super::load::{Classifier, LoadReport};
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    pub family: String,
    pub layers: usize,
    pub hidden: usize,
    pub heads: usize,
    pub intermediate: usize,
    pub parameters: ParamCounts,
    /// Size of the f32 weights in MB (10^6 bytes), and of the file they came from.
    pub size_mb: f64,
    pub file_mb: Option<f64>,
    pub vocab_size: usize,
    pub tokenizer: Option<String>,
    pub head: HeadKind,
    pub labels: Vec<String>,
    /// Per token: the parameters a token goes through and the matmul FLOPs they cost (2 per
    /// weight; attention scores, which grow with the window, left out). Differs from the
    /// totals for Mixture-of-Experts models, whose tokens use top-k of the experts.
    pub active: ActiveCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moe: Option<super::moe::MoeConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bottleneck: Option<super::bottleneck::BottleneckConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding: Option<super::embedding_factor::EmbeddingConfig>,
    /// Dense layers held in int8 (their weights count one byte each in `size_mb`, plus a
    /// 4-byte scale per output channel).
    pub int8_layers: usize,
}

/// The bytes of the weights: 4 per f32 parameter, 1 per int8 one plus its scales.
fn weight_bytes(model: &Classifier, total: usize) -> f64 {
    let int8: usize = model
        .encoder
        .int8_weights()
        .iter()
        .map(|(_, w)| 3 * w.n * w.k - 4 * w.n)
        .sum();
    (4 * total - int8) as f64
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActiveCounts {
    pub encoder_parameters: usize,
    pub flops_per_token: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParamCounts {
    pub total: usize,
    pub embedding: usize,
    pub encoder: usize,
    pub head: usize,
}

pub fn info(model: &Classifier, report: &LoadReport) -> ModelInfo {
    let prefix = model.family().prefix();
    let mut counts = ParamCounts {
        total: 0,
        embedding: 0,
        encoder: 0,
        head: 0,
    };
    for (name, var) in model.named_vars() {
        let n = var.as_tensor().elem_count();
        counts.total += n;
        if name.starts_with(&format!("{prefix}.embeddings.")) {
            counts.embedding += n;
        } else if name.starts_with(&format!("{prefix}.encoder.")) {
            counts.encoder += n;
        } else {
            counts.head += n;
        }
    }
    let file_mb = report
        .weights
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
        .map(|m| m.len() as f64 / 1e6);
    let c = &model.config;
    let inactive: usize = c.alambic_moe.as_ref().map_or(0, |m| {
        let (active, all) = m.layer_params(c.hidden_size);
        (all - active) * m.layers.len()
    });
    let active_encoder = counts.encoder - inactive;
    let projection = c.alambic_embedding.map_or(0, |f| f.size * c.hidden_size);
    ModelInfo {
        active: ActiveCounts {
            encoder_parameters: active_encoder,
            // A factorised embedding's projection is one more matmul per token.
            flops_per_token: 2 * (active_encoder + projection),
        },
        embedding: c.alambic_embedding,
        moe: c.alambic_moe.clone(),
        bottleneck: c.alambic_bottleneck.clone(),
        family: format!("{:?}", model.family()).to_lowercase(),
        layers: c.num_hidden_layers,
        hidden: c.hidden_size,
        heads: c.num_attention_heads,
        intermediate: c.intermediate_size,
        size_mb: weight_bytes(model, counts.total) / 1e6,
        int8_layers: model.encoder.int8_weights().len(),
        parameters: counts,
        file_mb,
        vocab_size: c.vocab_size,
        tokenizer: model.tokenizer.as_ref().map(|t| t.kind().to_string()),
        head: model.head_kind,
        labels: model.labels.clone(),
    }
}

impl ModelInfo {
    pub fn render(&self) -> String {
        let p = &self.parameters;
        let mut s = format!(
            "family      {}\nshape       {} layers x {} hidden x {} heads (FFN {})\n\
             parameters  {} total = {} embedding + {} encoder + {} head\n\
             size        {:.1} MB{}",
            self.family,
            self.layers,
            self.hidden,
            self.heads,
            self.intermediate,
            p.total,
            p.embedding,
            p.encoder,
            p.head,
            self.size_mb,
            match self.int8_layers {
                0 => " as f32".to_string(),
                n => format!(" ({n} dense layers in int8, the rest f32)"),
            }
        );
        if let Some(f) = self.file_mb {
            s.push_str(&format!(" ({f:.1} MB on disk)"));
        }
        if let Some(m) = &self.moe {
            s.push_str(&format!(
                "\nexperts     layers {:?}: {} experts of {} neurons, top-{}, {} shared\n\
                 per token   {} of {} encoder parameters, {:.2} MFLOP (matmuls)",
                m.layers,
                m.experts,
                m.expert_size,
                m.top_k,
                m.shared_size,
                self.active.encoder_parameters,
                p.encoder,
                self.active.flops_per_token as f64 / 1e6
            ));
        }
        if let Some(b) = &self.bottleneck {
            s.push_str(&format!(
                "\nbottleneck  layers {:?}: attention and FFN at width {} (of {})",
                b.layers, b.inner, self.hidden
            ));
        }
        if let Some(f) = &self.embedding {
            s.push_str(&format!(
                "\nembeddings  factorised: {} x {} then {} x {}",
                self.vocab_size, f.size, f.size, self.hidden
            ));
        }
        s.push_str(&format!(
            "\nvocabulary  {}\ntokenizer   {}\nhead        {:?}, {} labels: {}\n",
            self.vocab_size,
            self.tokenizer.as_deref().unwrap_or("none"),
            self.head,
            self.labels.len(),
            self.labels.join(", ")
        ));
        s
    }
}
