//! `moe:SRC?experts=E&top_k=K&layers=…&init=upcycle|split[&shared=S]`: a dense model's FFNs
//! turned into mixtures (`moe.rs`).
//!
//! - `upcycle`: every expert is a copy of the dense FFN (sparse upcycling), so at
//!   initialisation the model computes exactly what the dense one does, whatever the router.
//! - `split` (MoEBERT): the FFN's neurons are ranked by importance, the `shared` most important
//!   go to every token, the rest are dealt out to the experts in turn, so the experts and the
//!   shared neurons partition the dense FFN and a token uses `shared + (d_ff − shared) / E`
//!   neurons. Importance of neuron j is Σ |w · ∂L/∂w| over its input weights, input bias and
//!   output weights, on the calibration batches the caller gives (training batches); with
//!   none, Σ |w| (said in the load report).

use super::ModelError;
use super::load::{Calibration, Classifier, LoadReport};
use super::moe::MoeConfig;
use super::rewrite::{layers_of, layers_query, parse_layers, rebuild, tensors_of};
use candle_core::Tensor;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MoeInit {
    Upcycle,
    Split,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoeSpec {
    pub experts: usize,
    pub top_k: usize,
    /// 1-based; `None`: every layer.
    pub layers: Option<Vec<usize>>,
    pub init: MoeInit,
    /// Shared neurons of a split; `None`: a quarter of an expert's share.
    pub shared: Option<usize>,
}

impl MoeSpec {
    pub fn parse(query: &str) -> Result<Self, String> {
        let mut spec = Self {
            experts: 4,
            top_k: 1,
            layers: None,
            init: MoeInit::Upcycle,
            shared: None,
        };
        for part in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: expected key=value"))?;
            let number = || {
                value
                    .parse::<usize>()
                    .map_err(|_| format!("{key}=`{value}`: expected a whole number"))
            };
            match key {
                "experts" => spec.experts = number()?,
                "top_k" => spec.top_k = number()?,
                "shared" => spec.shared = Some(number()?),
                "init" => {
                    spec.init = match value {
                        "upcycle" => MoeInit::Upcycle,
                        "split" => MoeInit::Split,
                        _ => return Err(format!("init=`{value}`: upcycle or split")),
                    }
                }
                "layers" => spec.layers = Some(parse_layers(value)?),
                other => {
                    return Err(format!(
                        "unknown option `{other}` (experts, top_k, layers, init, shared)"
                    ));
                }
            }
        }
        if spec.experts < 2 {
            return Err(format!("experts={}: at least 2", spec.experts));
        }
        if spec.top_k == 0 || spec.top_k > spec.experts {
            return Err(format!(
                "top_k={}: between 1 and experts ({})",
                spec.top_k, spec.experts
            ));
        }
        Ok(spec)
    }

    /// The query `parse` reads back.
    pub fn query(&self) -> String {
        let mut parts = vec![
            format!("experts={}", self.experts),
            format!("top_k={}", self.top_k),
        ];
        if let Some(l) = &self.layers {
            parts.push(layers_query(l));
        }
        parts.push(
            match self.init {
                MoeInit::Upcycle => "init=upcycle",
                MoeInit::Split => "init=split",
            }
            .into(),
        );
        if let Some(s) = self.shared {
            parts.push(format!("shared={s}"));
        }
        parts.join("&")
    }
}

/// The mixture version of `dense`, on its device, with the same head and tokenizer.
pub fn to_moe(
    dense: Classifier,
    spec: &MoeSpec,
    calibration: Option<&Calibration>,
    seed: u64,
    report: &mut LoadReport,
) -> Result<Classifier, ModelError> {
    let cfg = &dense.config;
    let layers = layers_of(cfg, spec.layers.as_deref(), "moe")?;
    let d_ff = cfg.intermediate_size;
    let (expert_size, shared_size) = sizes(spec, d_ff)?;
    let moe = MoeConfig {
        experts: spec.experts,
        top_k: spec.top_k,
        layers: layers.clone(),
        expert_size,
        shared_size,
    };
    let importance = match (spec.init, calibration) {
        (MoeInit::Split, Some(c)) => Some(gradient_importance(&dense, &layers, c)?),
        (MoeInit::Split, None) => {
            report.notes.push(
                "split experts: no training batches to rank neurons by |w·∂L/∂w|; ranked by |w|"
                    .into(),
            );
            None
        }
        _ => None,
    };
    let prefix = format!("{}.encoder.layer", dense.family().prefix());
    let mut tensors = tensors_of(&dense);
    for &l in &layers {
        let base = format!("{prefix}.{}", l - 1);
        let ffn = DenseFfn::take(&mut tensors, &base)?;
        let order = match &importance {
            Some(map) => map[&l].clone(),
            None => ffn.magnitude()?,
        };
        for (name, t) in ffn.experts(&base, &moe, spec.init, &order)? {
            tensors.insert(name, t);
        }
    }
    let mut config = cfg.clone();
    config.alambic_moe = Some(moe);
    let model = rebuild(&dense, &config, tensors, seed, report)?;
    report.notes.push(format!(
        "Mixture of Experts: layers {layers:?}, {} experts of {expert_size} neurons, top-{}, \
         {shared_size} shared, {} init",
        spec.experts,
        spec.top_k,
        match spec.init {
            MoeInit::Upcycle => "upcycled",
            MoeInit::Split => "split",
        }
    ));
    Ok(model)
}

/// `(expert_size, shared_size)`: upcycled experts are whole FFNs; split ones share the rest
/// of the FFN equally after the shared neurons (which take the remainder of the division).
fn sizes(spec: &MoeSpec, d_ff: usize) -> Result<(usize, usize), ModelError> {
    if spec.init == MoeInit::Upcycle {
        return Ok((d_ff, 0));
    }
    let wanted = spec.shared.unwrap_or(d_ff / spec.experts / 4);
    let shared = wanted + (d_ff.saturating_sub(wanted)) % spec.experts;
    let expert = d_ff.saturating_sub(shared) / spec.experts;
    if expert == 0 {
        return Err(ModelError::Config(format!(
            "split: {d_ff} neurons cannot give {} experts a neuron each after {shared} shared",
            spec.experts
        )));
    }
    Ok((expert, shared))
}

/// One dense FFN's weights, removed from the tensor map (the output bias stays).
struct DenseFfn {
    w_in: Tensor,
    b_in: Tensor,
    w_out: Tensor,
}

impl DenseFfn {
    fn take(tensors: &mut HashMap<String, Tensor>, base: &str) -> Result<Self, ModelError> {
        let mut take = |name: &str| {
            tensors
                .remove(&format!("{base}.{name}"))
                .ok_or_else(|| ModelError::Config(format!("{base}.{name} is missing")))
        };
        Ok(Self {
            w_in: take("intermediate.dense.weight")?,
            b_in: take("intermediate.dense.bias")?,
            w_out: take("output.dense.weight")?,
        })
    }

    /// Neurons by Σ |w| over their weights, most important first.
    fn magnitude(&self) -> Result<Vec<usize>, ModelError> {
        let score = (self.w_in.abs()?.sum(1)? + self.b_in.abs()?)? + self.w_out.abs()?.sum(0)?;
        Ok(rank(&score?.to_vec1::<f32>()?))
    }

    /// Every expert's tensors (and the shared ones), from the neuron order.
    fn experts(
        &self,
        base: &str,
        moe: &MoeConfig,
        init: MoeInit,
        order: &[usize],
    ) -> Result<Vec<(String, Tensor)>, ModelError> {
        let groups: Vec<(String, Vec<usize>)> = match init {
            MoeInit::Upcycle => {
                let all: Vec<usize> = (0..self.b_in.dim(0)?).collect();
                (0..moe.experts)
                    .map(|e| (format!("{base}.moe.experts.{e}"), all.clone()))
                    .collect()
            }
            MoeInit::Split => split_groups(base, moe, order),
        };
        let mut out = Vec::new();
        for (name, neurons) in groups {
            let idx = Tensor::from_vec(
                neurons.iter().map(|&n| n as u32).collect::<Vec<_>>(),
                neurons.len(),
                self.w_in.device(),
            )?;
            out.push((
                format!("{name}.intermediate.weight"),
                self.w_in.index_select(&idx, 0)?,
            ));
            out.push((
                format!("{name}.intermediate.bias"),
                self.b_in.index_select(&idx, 0)?,
            ));
            out.push((
                format!("{name}.output.weight"),
                self.w_out.index_select(&idx, 1)?,
            ));
        }
        Ok(out)
    }
}

/// The shared group (the most important neurons) and each expert's neurons, dealt in turn
/// down the rest of the ranking.
fn split_groups(base: &str, moe: &MoeConfig, order: &[usize]) -> Vec<(String, Vec<usize>)> {
    let (shared, rest) = order.split_at(moe.shared_size.min(order.len()));
    let mut groups: Vec<(String, Vec<usize>)> = (0..moe.experts)
        .map(|e| (format!("{base}.moe.experts.{e}"), Vec::new()))
        .collect();
    for (i, &n) in rest.iter().enumerate() {
        groups[i % moe.experts].1.push(n);
    }
    if !shared.is_empty() {
        groups.push((format!("{base}.moe.shared"), shared.to_vec()));
    }
    groups
}

/// Indices by score, highest first (ties: lower index first).
fn rank(score: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]).then(a.cmp(&b)));
    order
}

/// Per MoE layer, neurons ranked by Σ |w · ∂L/∂w| of the calibration loss.
fn gradient_importance(
    dense: &Classifier,
    layers: &[usize],
    calibration: &Calibration,
) -> Result<HashMap<usize, Vec<usize>>, ModelError> {
    let vars: HashMap<String, candle_core::Var> = dense.named_vars().into_iter().collect();
    let prefix = format!("{}.encoder.layer", dense.family().prefix());
    let mut totals: HashMap<usize, Tensor> = HashMap::new();
    for loss in (calibration.0)(dense)? {
        let grads = loss.backward()?;
        for &l in layers {
            let base = format!("{prefix}.{}", l - 1);
            let term = |name: &str, dim: Option<usize>| -> Result<Tensor, ModelError> {
                let var = vars
                    .get(&format!("{base}.{name}"))
                    .ok_or_else(|| ModelError::Config(format!("{base}.{name} is missing")))?;
                let w = var.as_tensor();
                let wg = match grads.get(w) {
                    Some(g) => (w * g)?.abs()?,
                    None => w.zeros_like()?,
                };
                Ok(match dim {
                    Some(d) => wg.sum(d)?,
                    None => wg,
                })
            };
            let score = ((term("intermediate.dense.weight", Some(1))?
                + term("intermediate.dense.bias", None)?)?
                + term("output.dense.weight", Some(0))?)?;
            let sum = match totals.remove(&l) {
                Some(prev) => (prev + score)?,
                None => score,
            };
            totals.insert(l, sum);
        }
    }
    totals
        .into_iter()
        .map(|(l, t)| Ok((l, rank(&t.to_vec1::<f32>()?))))
        .collect()
}
