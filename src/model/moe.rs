//! Mixture-of-Experts feed-forward blocks: the FFN of chosen encoder layers becomes E experts
//! behind a token router (a linear gate, softmax, top-k, the chosen gates renormalised to sum
//! to 1), as in the Switch Transformer (Fedus et al. 2022), sparse upcycling (Komatsuzaki et
//! al., ICLR 2023) and MoEBERT (Zuo et al., NAACL 2022).
//!
//! One layer's output is `shared(x) + Σ_chosen g_e · expert_e(x) + b`, with `b` the dense FFN's
//! output bias (`output.dense.bias`, kept once), so that both initialisations reproduce the
//! dense FFN: upcycled experts are copies of it (gates sum to 1), split experts and the shared
//! neurons partition its neurons (their un-gated outputs sum to it).

use super::config::{Activation, ModelConfig};
use super::ops::{Dense, activation};
use candle_core::{D, DType, Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// `alambic_moe` in a model's `config.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoeConfig {
    pub experts: usize,
    pub top_k: usize,
    /// Encoder layers (1-based) whose FFN is a mixture.
    pub layers: Vec<usize>,
    /// Neurons of each expert.
    pub expert_size: usize,
    /// Neurons every token goes through (the split's most important ones); 0 for none.
    #[serde(default)]
    pub shared_size: usize,
}

impl MoeConfig {
    /// Whether the 0-based layer `index` is a mixture.
    pub fn covers(&self, index: usize) -> bool {
        self.layers.contains(&(index + 1))
    }

    /// `(name, shape)` of one mixture layer's parameters under `base` (`….encoder.layer.N`);
    /// the layer keeps `output.dense.bias` and both LayerNorms of the dense one.
    pub fn params(&self, base: &str, hidden: usize) -> Vec<(String, Vec<usize>)> {
        let mut out = vec![(
            format!("{base}.moe.router.weight"),
            vec![self.experts, hidden],
        )];
        let mut expert = |name: String, size: usize| {
            out.push((format!("{name}.intermediate.weight"), vec![size, hidden]));
            out.push((format!("{name}.intermediate.bias"), vec![size]));
            out.push((format!("{name}.output.weight"), vec![hidden, size]));
        };
        for e in 0..self.experts {
            expert(format!("{base}.moe.experts.{e}"), self.expert_size);
        }
        if self.shared_size > 0 {
            expert(format!("{base}.moe.shared"), self.shared_size);
        }
        out
    }

    /// Parameters one token uses in a mixture layer (router, shared neurons, k experts) and
    /// in all of it, without the output bias both count once elsewhere.
    pub fn layer_params(&self, hidden: usize) -> (usize, usize) {
        let per_neuron = 2 * hidden + 1;
        let router = self.experts * hidden;
        let shared = self.shared_size * per_neuron;
        let expert = self.expert_size * per_neuron;
        (
            router + shared + self.top_k * expert,
            router + shared + self.experts * expert,
        )
    }
}

/// One expert: `W_out · act(W_in · x + b_in)`, no output bias.
#[derive(Clone, Debug)]
struct Expert {
    input: Dense,
    output: Tensor,
}

impl Expert {
    fn new(vb: VarBuilder, hidden: usize, size: usize) -> Result<Self> {
        Ok(Self {
            input: Dense::new(vb.pp("intermediate"), hidden, size)?,
            output: vb.get((hidden, size), "output.weight")?,
        })
    }

    fn forward(&self, x: &Tensor, act: Activation) -> Result<Tensor> {
        let inner = activation(&candle_core::Module::forward(&self.input, x)?, act)?;
        super::fused::linear(&inner, &self.output, None)
    }
}

/// What one mixture layer did on a batch: the Switch load-balancing loss
/// `E · Σᵢ fᵢ · Pᵢ` (differentiable through Pᵢ) and each expert's share of the routed tokens.
#[derive(Clone, Debug)]
pub struct MoeStats {
    /// The encoder layer, 1-based.
    pub layer: usize,
    pub balance: Tensor,
    pub load: Vec<f64>,
}

/// The flat positions (`batch × seq`) of the real tokens under `mask` `[batch, seq]`: what
/// every mixture layer of one forward pass routes (padding is not routed).
pub fn routed_tokens(mask: &Tensor) -> Result<Tensor> {
    let real: Vec<u32> = mask
        .flatten_all()?
        .to_vec1::<f32>()?
        .iter()
        .enumerate()
        .filter(|(_, m)| **m > 0.5)
        .map(|(i, _)| i as u32)
        .collect();
    let n = real.len();
    Tensor::from_vec(real, n, mask.device())
}

#[derive(Clone, Debug)]
pub struct MoeFfn {
    layer: usize,
    top_k: usize,
    router: Tensor,
    experts: Vec<Expert>,
    shared: Option<Expert>,
    act: Activation,
}

impl MoeFfn {
    /// `vb` points at the encoder layer (`….encoder.layer.N`); `index` is N.
    pub fn new(vb: VarBuilder, cfg: &ModelConfig, moe: &MoeConfig, index: usize) -> Result<Self> {
        let h = cfg.hidden_size;
        let m = vb.pp("moe");
        Ok(Self {
            layer: index + 1,
            top_k: moe.top_k.clamp(1, moe.experts.max(1)),
            router: m.get((moe.experts, h), "router.weight")?,
            experts: (0..moe.experts)
                .map(|e| Expert::new(m.pp(format!("experts.{e}")), h, moe.expert_size))
                .collect::<Result<_>>()?,
            shared: match moe.shared_size {
                0 => None,
                s => Some(Expert::new(m.pp("shared"), h, s)?),
            },
            act: cfg.hidden_act,
        })
    }

    /// `x` `[batch, seq, hidden]`, `tokens` the positions to route (`routed_tokens`): the
    /// mixture's output without the output bias (zero at the other, padded, positions), and its
    /// statistics.
    pub fn forward(&self, x: &Tensor, tokens: &Tensor) -> Result<(Tensor, MoeStats)> {
        let (b, s, h) = x.dims3()?;
        let flat = x.reshape((b * s, h))?;
        let routed = flat.index_select(tokens, 0)?;
        let probs = candle_nn::ops::softmax(&routed.matmul(&self.router.t()?)?, D::Minus1)?;
        let choice = self.choose(&probs)?;
        let chosen = Tensor::from_vec(
            choice.mask.clone(),
            (tokens.dim(0)?, self.experts.len()),
            x.device(),
        )?;
        // The renormalising sum is a constant to the gradient: the gates' values are the
        // renormalised ones, but a top-1 gate (always 1) still passes the router a gradient,
        // as Switch's un-normalised gate would; otherwise the router of a top-1 mixture learns
        // from the balancing term alone.
        let kept = (&probs * &chosen)?;
        let gates = kept.broadcast_div(&kept.sum_keepdim(D::Minus1)?.detach())?;
        let mut out = match &self.shared {
            Some(shared) => shared.forward(&routed, self.act)?,
            None => routed.zeros_like()?,
        };
        for (e, expert) in self.experts.iter().enumerate() {
            let rows = &choice.rows[e];
            if rows.is_empty() {
                continue;
            }
            let at = Tensor::from_vec(rows.clone(), rows.len(), x.device())?;
            let y = expert.forward(&routed.index_select(&at, 0)?, self.act)?;
            let g = gates.index_select(&at, 0)?.narrow(1, e, 1)?;
            out = out.index_add(&at, &y.broadcast_mul(&g)?, 0)?;
        }
        let full = Tensor::zeros((b * s, h), DType::F32, x.device())?.index_add(tokens, &out, 0)?;
        let stats = self.stats(&probs, &choice)?;
        Ok((full.reshape((b, s, h))?, stats))
    }

    /// Each routed token's top-k experts, as a 0/1 mask `[tokens, E]` and, per expert, the
    /// rows routed to it. Ties go to the lower expert number.
    fn choose(&self, probs: &Tensor) -> Result<Choice> {
        let e = self.experts.len();
        let p = probs.to_vec2::<f32>()?;
        let mut mask = vec![0f32; p.len() * e];
        let mut rows = vec![Vec::new(); e];
        for (t, row) in p.iter().enumerate() {
            let mut order: Vec<usize> = (0..e).collect();
            order.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
            for &x in order.iter().take(self.top_k) {
                mask[t * e + x] = 1.0;
                rows[x].push(t as u32);
            }
        }
        Ok(Choice { mask, rows })
    }

    fn stats(&self, probs: &Tensor, choice: &Choice) -> Result<MoeStats> {
        let e = self.experts.len();
        let assigned: usize = choice.rows.iter().map(Vec::len).sum();
        let load: Vec<f64> = choice
            .rows
            .iter()
            .map(|r| r.len() as f64 / assigned.max(1) as f64)
            .collect();
        let share = Tensor::from_vec(
            load.iter().map(|&f| f as f32).collect::<Vec<_>>(),
            e,
            probs.device(),
        )?;
        let mean_prob = match probs.dim(0)? {
            0 => Tensor::zeros(e, DType::F32, probs.device())?,
            _ => probs.mean(0)?,
        };
        let balance = ((mean_prob * share)?.sum_all()? * e as f64)?;
        Ok(MoeStats {
            layer: self.layer,
            balance,
            load,
        })
    }
}

struct Choice {
    mask: Vec<f32>,
    rows: Vec<Vec<u32>>,
}
