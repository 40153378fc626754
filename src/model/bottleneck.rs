//! Bottleneck layers (after MobileBERT, Sun et al., ACL 2020): the layer reads and writes the
//! model's width H, keeps its residuals and LayerNorms at H, and runs attention and the
//! feed-forward block at an inner width B.
//!
//! - Attention: query, key and value map H → B (heads of B / heads features each), the output
//!   maps B → H. The in-bottleneck is the projections themselves: a separate H → B linear
//!   followed by B → B projections computes the same family of functions with more weights.
//! - Feed-forward: H → B → intermediate → B → H, the two reductions without bias.
//!
//! Hidden states and attention maps keep the teacher's shapes (H wide, as many heads), so
//! hidden-state and attention distillation need no projection. With B = H and the factors of
//! `bottleneck_init`, a layer computes exactly what its dense source did.

use super::ops::Dense;
use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

/// `alambic_bottleneck` in a model's `config.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BottleneckConfig {
    /// The inner width B of attention and the feed-forward block.
    pub inner: usize,
    /// Encoder layers (1-based) that run at the inner width.
    pub layers: Vec<usize>,
}

impl BottleneckConfig {
    /// Whether the 0-based layer `index` is a bottleneck layer.
    pub fn covers(&self, index: usize) -> bool {
        self.layers.contains(&(index + 1))
    }

    /// `(name, shape)` of the feed-forward parameters of one bottleneck layer under `base`
    /// (`….encoder.layer.N`); attention keeps its dense names with B-wide shapes.
    pub fn ffn_params(
        &self,
        base: &str,
        hidden: usize,
        intermediate: usize,
    ) -> Vec<(String, Vec<usize>)> {
        let b = self.inner;
        vec![
            (
                format!("{base}.intermediate.reduce.weight"),
                vec![b, hidden],
            ),
            (
                format!("{base}.intermediate.dense.weight"),
                vec![intermediate, b],
            ),
            (
                format!("{base}.intermediate.dense.bias"),
                vec![intermediate],
            ),
            (
                format!("{base}.output.reduce.weight"),
                vec![b, intermediate],
            ),
            (format!("{base}.output.dense.weight"), vec![hidden, b]),
            (format!("{base}.output.dense.bias"), vec![hidden]),
        ]
    }
}

/// A bottleneck layer's feed-forward block: `up(W_out · reduce_out(act(W_in · reduce_in(x))))`.
#[derive(Clone, Debug)]
pub struct FactoredFfn {
    pub reduce_in: Tensor,
    pub intermediate: Dense,
    pub reduce_out: Tensor,
    pub output: Dense,
}

impl FactoredFfn {
    /// `vb` points at the encoder layer (`….encoder.layer.N`).
    pub fn new(vb: &VarBuilder, hidden: usize, intermediate: usize, inner: usize) -> Result<Self> {
        Ok(Self {
            reduce_in: vb.get((inner, hidden), "intermediate.reduce.weight")?,
            intermediate: Dense::new(vb.pp("intermediate.dense"), inner, intermediate)?,
            reduce_out: vb.get((inner, intermediate), "output.reduce.weight")?,
            output: Dense::new(vb.pp("output.dense"), inner, hidden)?,
        })
    }

    /// The block up to the activation, `[.., intermediate]`.
    pub fn expand(&self, x: &Tensor) -> Result<Tensor> {
        let reduced = super::fused::linear(x, &self.reduce_in, None)?;
        candle_core::Module::forward(&self.intermediate, &reduced)
    }

    /// The activated intermediate back to B: what the output dense layer reads.
    pub fn contract(&self, inter: &Tensor) -> Result<Tensor> {
        super::fused::linear(inter, &self.reduce_out, None)
    }
}
