//! Models, loss terms and AdamW against PyTorch's numbers in `../shared/fixtures`.

use super::{Check, guard};
use crate::distill::{attention, cosine, hidden, logits};
use crate::model::encoder::Batch;
use crate::model::load::LoadOptions;
use crate::model::{Classifier, Mode};
use crate::train::optim::{AdamW, AdamWConfig};
use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;
use std::path::Path;

type Tensors = HashMap<String, Tensor>;
/// Token ids and attention mask, one row per text.
type Rows = (Vec<Vec<u32>>, Vec<Vec<u32>>);

fn load(path: &Path, device: &Device) -> Result<Tensors, String> {
    candle_core::safetensors::load(path, device).map_err(|e| format!("{}: {e}", path.display()))
}

/// Largest |a − b|, both in f32.
pub fn max_diff(a: &Tensor, b: &Tensor) -> Result<f64, String> {
    if a.dims() != b.dims() {
        return Err(format!("shape {:?} against {:?}", a.dims(), b.dims()));
    }
    let f = |t: &Tensor| t.to_dtype(DType::F32);
    (|| {
        (f(a)? - f(b)?)?
            .abs()?
            .flatten_all()?
            .max(0)?
            .to_scalar::<f32>()
    })()
    .map(f64::from)
    .map_err(|e| e.to_string())
}

/// The golden rows, padded with `pad`, and their mask.
fn golden_batch(g: &Tensors, pad: u32) -> Result<Rows, String> {
    let rows = |name: &str| -> Result<Vec<Vec<i64>>, String> {
        g[name]
            .to_dtype(DType::I64)
            .and_then(|t| t.to_vec2::<i64>())
            .map_err(|e| e.to_string())
    };
    let (ids, mask) = (rows("input_ids")?, rows("attention_mask")?);
    let ids = ids
        .iter()
        .zip(&mask)
        .map(|(r, m)| {
            r.iter()
                .zip(m)
                .map(|(&i, &m)| if m == 1 { i as u32 } else { pad })
                .collect()
        })
        .collect();
    let mask = mask
        .iter()
        .map(|m| m.iter().map(|&x| x as u32).collect())
        .collect();
    Ok((ids, mask))
}

/// A fixture model's hidden states, attention maps and logits against its goldens.
pub fn model(
    fixtures: &Path,
    name: &str,
    golden_of: &str,
    pad: u32,
    device: &Device,
) -> Vec<Check> {
    guard(&format!("model {name}"), || {
        let (model, _) =
            Classifier::from_folder(&fixtures.join(name), &LoadOptions::default(), device)
                .map_err(|e| e.to_string())?;
        let g = load(&fixtures.join(golden_of).join("golden.safetensors"), device)?;
        let (ids, mask) = golden_batch(&g, pad)?;
        let batch = Batch {
            input_ids: &ids,
            attention_mask: &mask,
        };
        let out = model
            .forward(&batch, &mut Mode::Eval, true)
            .map_err(|e| e.to_string())?;
        let tol = 1e-4;
        let mut checks = Vec::new();
        for (i, h) in out.encoder.hidden_states.iter().enumerate() {
            let d = max_diff(h, &g[&format!("hidden_states.{i}")])?;
            checks.push(Check::new(format!("{name} hidden_states.{i}"), d, tol));
        }
        for (i, a) in out.encoder.attentions.iter().enumerate() {
            if let Some(want) = g.get(&format!("attentions.{i}")) {
                checks.push(Check::new(
                    format!("{name} attentions.{i}"),
                    max_diff(a, want)?,
                    tol,
                ));
            }
        }
        if golden_of == name && !model_has_fresh_head(&model, &g) {
            checks.push(Check::new(
                format!("{name} logits"),
                max_diff(&out.logits, &g["logits"])?,
                tol,
            ));
        }
        Ok(checks)
    })
}

fn model_has_fresh_head(model: &Classifier, g: &Tensors) -> bool {
    g["logits"].dims().last() != Some(&model.labels.len())
}

/// Every distillation term against `kd-losses/golden.json`, within 1e-5 (as the tests).
pub fn losses(fixtures: &Path, device: &Device) -> Vec<Check> {
    guard("loss terms", || {
        let dir = fixtures.join("kd-losses");
        let t = load(&dir.join("golden.safetensors"), device)?;
        let text = std::fs::read_to_string(dir.join("golden.json")).map_err(|e| e.to_string())?;
        let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let e = |x: candle_core::Error| x.to_string();
        let scalar = |x: &Tensor| -> Result<f64, String> {
            x.to_dtype(DType::F32)
                .and_then(|v| v.to_scalar::<f32>())
                .map(f64::from)
                .map_err(e)
        };
        let close = |name: &str, got: f64, want: &serde_json::Value| {
            Check::new(name, (got - want.as_f64().unwrap_or(f64::NAN)).abs(), 1e-5)
        };
        let labels: Vec<usize> = t["labels"]
            .to_dtype(DType::I64)
            .and_then(|l| l.to_vec1::<i64>())
            .map_err(e)?
            .into_iter()
            .map(|l| l as usize)
            .collect();
        let mut checks = Vec::new();
        for case in json["logit_cases"].as_array().into_iter().flatten() {
            let (temp, alpha) = (
                case["temperature"].as_f64().unwrap_or(1.0),
                case["alpha"].as_f64().unwrap_or(0.5),
            );
            let (total, soft, _) = logits::response(
                &t["student_logits"],
                &t["teacher_logits"],
                &labels,
                alpha,
                temp,
            )
            .map_err(e)?;
            let name = format!("response T={temp} alpha={alpha}");
            checks.push(close(
                &format!("{name} soft_kl_t2"),
                scalar(&soft)?,
                &case["soft_kl_t2"],
            ));
            checks.push(close(
                &format!("{name} total"),
                scalar(&total)?,
                &case["total"],
            ));
        }
        let proj = candle_nn::Linear::new(t["proj.weight"].clone(), Some(t["proj.bias"].clone()));
        let hidden_mse =
            hidden::projected_mse(&t["student_hidden"], &t["teacher_hidden"], &proj).map_err(e)?;
        checks.push(close(
            "hidden_mse",
            scalar(&hidden_mse)?,
            &json["hidden_mse_with_projection"],
        ));
        let emb = hidden::projected_mse(&t["student_embeddings"], &t["teacher_embeddings"], &proj)
            .map_err(e)?;
        checks.push(close(
            "embedding_mse",
            scalar(&emb)?,
            &json["embedding_mse_with_projection"],
        ));
        let mse = attention::score_mse(
            &t["student_attention_scores"],
            &t["teacher_attention_scores"],
        )
        .map_err(e)?;
        checks.push(close(
            "attention_score_mse",
            scalar(&mse)?,
            &json["attention_score_mse_tinybert"],
        ));
        let kl = attention::prob_kl(
            &t["student_attention_scores"],
            &t["teacher_attention_scores"],
            &t["mask"],
        )
        .map_err(e)?;
        checks.push(close(
            "attention_prob_kl",
            scalar(&kl)?,
            &json["attention_prob_kl"],
        ));
        let lm = logits::logit_mse(&t["student_logits"], &t["teacher_logits"]).map_err(e)?;
        checks.push(close("logit_mse", scalar(&lm)?, &json["logit_mse"]));
        let cos = cosine::cosine(&t["student_pooled"], &t["teacher_pooled"]).map_err(e)?;
        checks.push(close("cosine", scalar(&cos)?, &json["cosine_loss"]));
        Ok(checks)
    })
}

/// Three AdamW steps against `torch.optim.AdamW`.
pub fn adamw(fixtures: &Path, device: &Device) -> Vec<Check> {
    guard("adamw", || {
        let g = load(&fixtures.join("adamw/golden.safetensors"), device)?;
        let e = |x: candle_core::Error| x.to_string();
        let w = Var::from_tensor(&g["w0"]).map_err(e)?;
        let cfg = AdamWConfig {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        };
        let mut opt = AdamW::new(vec![("w".to_string(), w.clone())], cfg).map_err(e)?;
        let mut checks = Vec::new();
        for step in 0..3 {
            let grads = HashMap::from([("w".to_string(), g[&format!("grad.{step}")].clone())]);
            opt.step(&grads, 1e-2).map_err(e)?;
            let d = max_diff(w.as_tensor(), &g[&format!("w.{}", step + 1)])?;
            checks.push(Check::new(format!("adamw step {}", step + 1), d, 1e-6));
        }
        Ok(checks)
    })
}
