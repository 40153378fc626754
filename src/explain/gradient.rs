//! Integrated gradients and gradient × input on the word embeddings, window by window.

use crate::infer::{InferError, Reading};
use crate::model::encoder::Batch;
use crate::model::{Classifier, Mode};
use candle_core::{D, Tensor, Var};

/// Interpolation steps that share one forward and backward pass: enough to fill the cores,
/// few enough that a 512-token window of a base-sized model stays within a few GB.
const STEPS_PER_PASS: usize = 16;

/// Each content token's attribution to the `target` (weights over the logits, see
/// [`super::target_weights`]): the mean over the kept windows that hold it, `None` for a
/// token none holds; and the largest completeness gap of a window.
/// `integrate`: `steps` midpoint steps from the baseline; otherwise one step at the input.
pub fn token_attributions(
    model: &Classifier,
    reading: &Reading,
    target: &[f32],
    steps: usize,
    integrate: bool,
) -> Result<(Vec<Option<f32>>, f32), InferError> {
    let prefix = model.tokenizer.as_ref().map_or(0, |t| t.prefix().len());
    let alphas: Vec<f32> = if integrate {
        (0..steps)
            .map(|k| (k as f32 + 0.5) / steps as f32)
            .collect()
    } else {
        vec![1.0]
    };
    let mut means = super::TokenMeans::new(reading.offsets.len());
    let mut delta = 0f32;
    for (w, row) in reading.windows.iter().zip(&reading.rows) {
        let content = prefix..prefix + (w.tokens.1 - w.tokens.0);
        let window = attribute_window(model, &w.ids, content.clone(), target, &alphas)?;
        let at_input = super::weighted(row, target);
        delta = delta.max((window.total() - (at_input - window.baseline_logit)).abs());
        for (t, &a) in (w.tokens.0..w.tokens.1).zip(&window.scores[content]) {
            means.add(t, a);
        }
    }
    Ok((means.finish(), delta))
}

/// One window's attributions, position by position (special tokens included, at 0: they
/// equal the baseline's), and the target at the baseline.
pub struct WindowAttribution {
    pub scores: Vec<f32>,
    pub baseline_logit: f32,
}

impl WindowAttribution {
    pub fn total(&self) -> f32 {
        self.scores.iter().sum()
    }
}

/// The path integral of the gradient of the target (`target · logits`) along the straight line from the
/// baseline (`content` positions replaced by padding) to the window's word embeddings, by the
/// midpoint rule at `alphas`, times the distance from the baseline, summed over each
/// embedding.
pub fn attribute_window(
    model: &Classifier,
    ids: &[u32],
    content: std::ops::Range<usize>,
    target: &[f32],
    alphas: &[f32],
) -> Result<WindowAttribution, InferError> {
    let mask = vec![1u32; ids.len()];
    let mut baseline_ids = ids.to_vec();
    for id in &mut baseline_ids[content] {
        *id = model.config.pad_token_id;
    }
    let input = embedded(model, ids.to_vec(), &mask)?;
    let baseline = embedded(model, baseline_ids, &mask)?;
    let diff = (&input - &baseline)?;
    let baseline_logit = {
        let _no_grad = candle_core::no_grad();
        let (rows, masks) = (vec![ids.to_vec()], vec![mask.clone()]);
        let batch = Batch {
            input_ids: &rows,
            attention_mask: &masks,
        };
        let out = model.forward_from_words(&batch, &baseline, &mut Mode::Eval)?;
        super::weighted(&out.logits.get(0)?.to_vec1::<f32>()?, target)
    };
    let weights = Tensor::new(target, model.device())?.unsqueeze(1)?;
    let mut grad_sum: Option<Tensor> = None;
    for chunk in alphas.chunks(STEPS_PER_PASS) {
        let n = chunk.len();
        let a = Tensor::new(chunk, model.device())?.reshape((n, 1, 1))?;
        let path = Var::from_tensor(&baseline.broadcast_add(&diff.broadcast_mul(&a)?)?)?;
        let rows = vec![ids.to_vec(); n];
        let masks = vec![mask.clone(); n];
        let batch = Batch {
            input_ids: &rows,
            attention_mask: &masks,
        };
        let out = model.forward_from_words(&batch, path.as_tensor(), &mut Mode::Gradient)?;
        let grads = out.logits.matmul(&weights)?.sum_all()?.backward()?;
        let g = grads
            .get(path.as_tensor())
            .ok_or_else(|| InferError::Invalid("no gradient reached the embeddings".into()))?
            .sum(0)?;
        grad_sum = Some(match grad_sum {
            Some(s) => (s + g)?,
            None => g,
        });
    }
    let grad = match grad_sum {
        Some(s) => (s / alphas.len().max(1) as f64)?,
        None => diff.squeeze(0)?.zeros_like()?,
    };
    let scores = grad
        .mul(&diff.squeeze(0)?)?
        .sum(D::Minus1)?
        .to_vec1::<f32>()?;
    Ok(WindowAttribution {
        scores,
        baseline_logit,
    })
}

/// `[1, seq, E]` word embeddings of one row, outside any graph.
fn embedded(model: &Classifier, ids: Vec<u32>, mask: &[u32]) -> Result<Tensor, InferError> {
    let _no_grad = candle_core::no_grad();
    let (rows, masks) = (vec![ids], vec![mask.to_vec()]);
    let batch = Batch {
        input_ids: &rows,
        attention_mask: &masks,
    };
    Ok(model.encoder.word_embeddings(&batch)?.detach())
}
