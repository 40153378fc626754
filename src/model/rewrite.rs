//! What the sources that rewrite a loaded model's layers (`moe:`, `bottleneck:`) share: their
//! `layers=` option, the check that the source is a plain model, and the rebuild of the
//! classifier from the rewritten tensors.

use super::ModelError;
use super::config::ModelConfig;
use super::load::{Classifier, LoadReport};
use candle_core::Tensor;
use std::collections::HashMap;

/// `layers=2,4`: 1-based encoder layers.
pub fn parse_layers(value: &str) -> Result<Vec<usize>, String> {
    let parsed: Vec<usize> = value
        .split(',')
        .map(|v| v.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("layers=`{value}`: numbers like 2,4"))?;
    if parsed.is_empty() || parsed.contains(&0) {
        return Err("layers are numbered from 1".into());
    }
    Ok(parsed)
}

/// `layers=…` as `parse_layers` reads it back.
pub fn layers_query(layers: &[usize]) -> String {
    let l: Vec<String> = layers.iter().map(usize::to_string).collect();
    format!("layers={}", l.join(","))
}

/// The layers a rewrite touches (`None`: all of them), checked against the source's count;
/// an error when the source is already rewritten (a mixture's or a bottleneck's layers are
/// not the dense ones these rewrites start from).
pub fn layers_of(
    cfg: &ModelConfig,
    layers: Option<&[usize]>,
    kind: &str,
) -> Result<Vec<usize>, ModelError> {
    if cfg.alambic_moe.is_some() || cfg.alambic_bottleneck.is_some() {
        return Err(ModelError::Config(
            "the source is already a Mixture of Experts or a bottleneck model".into(),
        ));
    }
    let n = cfg.num_hidden_layers;
    let layers = layers.map_or_else(|| (1..=n).collect(), <[usize]>::to_vec);
    if let Some(&bad) = layers.iter().find(|&&l| l > n) {
        return Err(ModelError::Config(format!(
            "{kind} layers: the source has {n} layers, not {bad}"
        )));
    }
    Ok(layers)
}

/// Every variable of `model` as a plain tensor, by name: what a rewrite edits.
pub fn tensors_of(model: &Classifier) -> HashMap<String, Tensor> {
    model
        .named_vars()
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().detach()))
        .collect()
}

/// Every variable of `model` but its word embeddings, their key, and their value: what the
/// embedding rewrites (`prune:`, `factor:`) replace.
pub fn without_word_embeddings(
    model: &Classifier,
) -> Result<(HashMap<String, Tensor>, String, Tensor), ModelError> {
    let key = format!(
        "{}.embeddings.word_embeddings.weight",
        model.family().prefix()
    );
    let mut tensors = tensors_of(model);
    let word = tensors
        .remove(&key)
        .ok_or_else(|| ModelError::Config(format!("{key} is missing")))?;
    Ok((tensors, key, word))
}

/// `source` rebuilt with `config` from the rewritten `tensors`, on its device, with its head,
/// labels and tokenizer; what had to be initialised joins `report`.
pub fn rebuild(
    source: &Classifier,
    config: &ModelConfig,
    tensors: HashMap<String, Tensor>,
    seed: u64,
    report: &mut LoadReport,
) -> Result<Classifier, ModelError> {
    let mut inner = LoadReport::default();
    let mut model = Classifier::from_tensors(
        config,
        tensors,
        source.head_kind,
        source.labels.clone(),
        seed,
        source.device(),
        &mut inner,
    )?;
    model.tokenizer = source.tokenizer.clone();
    report.initialised.extend(inner.initialised);
    Ok(model)
}

/// What a rewriting source does to the model its base loads.
#[derive(Clone, Debug, PartialEq)]
pub enum Rewrite {
    Moe(super::moe_init::MoeSpec),
    Bottleneck(super::bottleneck_init::BottleneckSpec),
    Prune(super::vocab_prune::PruneSpec),
    Factor(super::embedding_factor::FactorSpec),
    /// `int8:SRC`: the dense layers quantised (`int8/`), for inference.
    Int8,
}

impl Rewrite {
    /// `KIND:BASE?QUERY` as the rewrite and its base, `None` for any other source. The
    /// query is the last `?` part (the base's own query comes before it); `prune:`'s is
    /// optional.
    pub fn parse(s: &str) -> Result<Option<(Self, &str)>, String> {
        let Some((kind, rest)) = s.split_once(':') else {
            return Ok(None);
        };
        let split = |usage: &str| {
            rest.rsplit_once('?')
                .ok_or_else(|| format!("expected {kind}:SRC?{usage}"))
        };
        Ok(Some(match kind {
            "moe" => {
                let (base, q) = split("experts=4&top_k=1&layers=…&init=upcycle|split")?;
                (Self::Moe(super::moe_init::MoeSpec::parse(q)?), base)
            }
            "bottleneck" => {
                let (base, q) = split("inner=128[&layers=…]")?;
                (
                    Self::Bottleneck(super::bottleneck_init::BottleneckSpec::parse(q)?),
                    base,
                )
            }
            "factor" => {
                let (base, q) = split("size=128")?;
                (
                    Self::Factor(super::embedding_factor::FactorSpec::parse(q)?),
                    base,
                )
            }
            "int8" => (Self::Int8, rest),
            "prune" => {
                use super::vocab_prune::PruneSpec;
                match rest.rsplit_once('?') {
                    Some((base, q)) if q.starts_with("min_count=") => {
                        (Self::Prune(PruneSpec::parse(q)?), base)
                    }
                    _ => (Self::Prune(PruneSpec::default()), rest),
                }
            }
            _ => return Ok(None),
        }))
    }

    /// The source prefix.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Moe(_) => "moe",
            Self::Bottleneck(_) => "bottleneck",
            Self::Prune(_) => "prune",
            Self::Factor(_) => "factor",
            Self::Int8 => "int8",
        }
    }

    /// The query `parse` reads back.
    pub fn query(&self) -> String {
        match self {
            Self::Moe(s) => s.query(),
            Self::Bottleneck(s) => s.query(),
            Self::Prune(s) => s.query(),
            Self::Factor(s) => s.query(),
            Self::Int8 => String::new(),
        }
    }

    pub fn apply(
        &self,
        model: Classifier,
        opts: &super::load::LoadOptions,
        report: &mut LoadReport,
    ) -> Result<Classifier, ModelError> {
        let seed = opts.seed;
        match self {
            Self::Moe(spec) => {
                super::moe_init::to_moe(model, spec, opts.calibration.as_ref(), seed, report)
            }
            Self::Bottleneck(spec) => {
                super::bottleneck_init::to_bottleneck(model, spec, seed, report)
            }
            Self::Prune(spec) => {
                super::vocab_prune::prune_vocab(model, spec, opts.corpus.as_ref(), seed, report)
            }
            Self::Factor(spec) => super::embedding_factor::to_factored(model, spec, seed, report),
            Self::Int8 => {
                let mut model = model;
                if model.config.alambic_int8.is_some() {
                    return Err(ModelError::Config("the source is already int8".into()));
                }
                let layers = super::int8::folder::quantize_model(&mut model)?;
                report.notes.push(format!(
                    "int8: {layers} dense layers quantised (per-channel weights, activations \
                     per row; {} kernel)",
                    super::int8::kernel_name()
                ));
                Ok(model)
            }
        }
    }
}
