//! Training-step and inference samples/s of one encoder at one shape, as the PyTorch peer
//! measures them: random ids, full mask, 2 labels, a BERT pooler head; training is forward
//! with dropout, cross-entropy, backward, gradient clipping and an AdamW step — the trainer's
//! own step on a one-window batch.

use super::machine::peak_rss_mb;
use super::median;
use crate::model::encoder::Batch;
use crate::model::info::{ParamCounts, info};
use crate::model::init::SeededRng;
use crate::model::load::LoadOptions;
use crate::model::{Classifier, HeadKind, Mode, ModelError, load_source};
use crate::train::loss::cross_entropy;
use crate::train::optim::{AdamW, AdamWConfig, clip_grad_norm};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Train,
    Infer,
    /// A masked-language-modelling step (`alambic pretrain`'s): 15 % of the tokens masked,
    /// the tied head on the masked rows only, backward, clipping, AdamW.
    Mlm,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelCase {
    /// A model source (`scratch:tinybert-4l-312d`, a folder, …).
    pub model: String,
    pub seq: usize,
    pub batch: usize,
    pub phase: Phase,
    pub warmup: usize,
    pub steps: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelRate {
    pub case: ModelCase,
    pub median_s: f64,
    pub samples_per_s: f64,
    /// Useful FLOPs per second, counted as the peer counts them (6 per parameter per token
    /// for training, 2 for inference, plus attention's two matmuls; embeddings excluded).
    pub gflops: f64,
    pub parameters: usize,
    pub peak_rss_mb: Option<f64>,
    pub step_seconds: Vec<f64>,
}

/// The MLM head (fresh, tied) joined to the model's variables, and the batch masked as
/// pretraining masks it (15 %, whole words off: the ids are random).
fn mlm_setup(
    model: &Classifier,
    ids: &[Vec<u32>],
) -> Result<
    (
        crate::pretrain::head::MlmHead,
        Vec<crate::pretrain::mask::Masked>,
    ),
    ModelError,
> {
    use crate::pretrain::mask::{MaskSpec, Vocabulary, mask, window_rng};
    let (head, _) = crate::pretrain::head::MlmHead::attach(model, &HashMap::new(), 0)?;
    let vocab = Vocabulary {
        mask_id: (model.tokenizer.as_ref())
            .and_then(|t| t.token_to_id("[MASK]").or_else(|| t.token_to_id("<mask>")))
            .unwrap_or(0),
        size: model.config.vocab_size as u32,
        special: Vec::new(),
        continues: Vec::new(),
    };
    let spec = MaskSpec {
        share: 0.15,
        mask_token: 0.8,
        random_token: 0.1,
        whole_words: false,
    };
    let masked = ids
        .iter()
        .enumerate()
        .map(|(i, w)| mask(w, &vocab, &spec, &mut window_rng(0, 0, i as u64)))
        .collect();
    Ok((head, masked))
}

/// The FLOP count of one step, the peer's formula.
pub fn step_flops(model: &Classifier, counts: &ParamCounts, case: &ModelCase) -> f64 {
    let c = &model.config;
    let mult = if case.phase == Phase::Infer { 2.0 } else { 6.0 };
    let (b, s) = (case.batch as f64, case.seq as f64);
    mult * (counts.total - counts.embedding) as f64 * b * s
        + 2.0 * mult * c.num_hidden_layers as f64 * s * s * c.hidden_size as f64 * b
}

pub fn measure_model(case: &ModelCase, device: &Device) -> Result<ModelRate, ModelError> {
    let opts = LoadOptions {
        labels: Some(vec!["safe".into(), "vulnerable".into()]),
        head: Some(HeadKind::BertPooler),
        seed: 0,
        calibration: None,
        corpus: None,
    };
    let (model, report) = load_source(&case.model, &opts, device)?;
    let counts = info(&model, &report).parameters;
    let mut gen_ids = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let vocab = model.config.vocab_size as u32;
    let ids: Vec<Vec<u32>> = (0..case.batch)
        .map(|_| {
            (0..case.seq)
                .map(|_| gen_ids.random_range(1000.min(vocab - 1)..vocab))
                .collect()
        })
        .collect();
    let mask = vec![vec![1u32; case.seq]; case.batch];
    let labels: Vec<usize> = (0..case.batch).map(|i| i % 2).collect();
    let batch = Batch {
        input_ids: &ids,
        attention_mask: &mask,
    };
    let mut rng = SeededRng::new(0);
    let mlm = match case.phase {
        Phase::Mlm => Some(mlm_setup(&model, &ids)?),
        _ => None,
    };
    let mut opt = AdamW::new(
        model.named_vars(),
        AdamWConfig {
            lr: 2e-5,
            ..AdamWConfig::default()
        },
    )?;
    let mut times = Vec::new();
    for i in 0..case.warmup + case.steps {
        let clock = Instant::now();
        match case.phase {
            Phase::Train | Phase::Mlm => {
                let mut mode = Mode::Train(&mut rng);
                let loss = match &mlm {
                    Some((head, masked)) => {
                        crate::pretrain::objective::mlm_loss(&model, head, masked, &mut mode, false)
                            .map_err(|e| ModelError::Config(e.to_string()))?
                            .loss
                    }
                    None => cross_entropy(
                        &model.forward(&batch, &mut mode, false)?.logits,
                        &labels,
                        None,
                    )?,
                };
                let store = loss.backward()?;
                let mut grads: HashMap<String, Tensor> = opt
                    .vars()
                    .iter()
                    .filter_map(|(n, v)| store.get(v.as_tensor()).map(|g| (n.clone(), g.clone())))
                    .collect();
                clip_grad_norm(&mut grads, 1.0)?;
                opt.step(&grads, 2e-5)?;
                loss.to_scalar::<f32>()?;
            }
            Phase::Infer => {
                let out = model.forward(&batch, &mut Mode::Eval, false)?;
                out.logits.sum_all()?.to_scalar::<f32>()?;
            }
        }
        if i >= case.warmup {
            times.push(clock.elapsed().as_secs_f64());
        }
    }
    let median_s = median(times.clone());
    let flops = step_flops(&model, &counts, case);
    Ok(ModelRate {
        case: case.clone(),
        median_s,
        samples_per_s: case.batch as f64 / median_s.max(1e-12),
        gflops: flops / median_s.max(1e-12) / 1e9,
        parameters: counts.total,
        peak_rss_mb: peak_rss_mb(),
        step_seconds: times,
    })
}
