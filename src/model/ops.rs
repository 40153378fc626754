//! Differentiable building blocks. candle-nn's `LayerNorm` and `softmax_last_dim` run fused
//! kernels that have no backward pass and silently cut the gradient (candle #2977, #3011), so
//! on the CPU these use our own fused kernels with backward passes (`fused`), and elsewhere
//! compositions of candle ops that have them.

use super::Mode;
use super::config::Activation;
use super::fused;
use candle_core::{D, Module, Result, Tensor};

/// A dense layer `x · Wᵀ + b`, candle-nn's `Linear` with the bias gradient computed by a
/// fused kernel on the CPU.
#[derive(Clone, Debug)]
pub struct Dense {
    pub weight: Tensor,
    pub bias: Tensor,
    /// The weight in int8 (a quantised model, `int8/`): inference multiplies by it instead.
    pub int8: Option<std::sync::Arc<super::int8::PackedInt8>>,
}

impl Dense {
    pub fn new(vb: candle_nn::VarBuilder, inp: usize, out: usize) -> Result<Self> {
        Ok(Self {
            weight: vb.get((out, inp), "weight")?,
            bias: vb.get(out, "bias")?,
            int8: None,
        })
    }
}

impl Dense {
    /// As [`Module::forward`]; in `Gradient` mode with the weights cut from the graph, so
    /// that the backward pass computes gradients for the inputs only (a third of the work
    /// less: no `xᵀ·g` per layer).
    pub fn forward_mode(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        match mode {
            Mode::Gradient => fused::linear(x, &self.weight.detach(), Some(&self.bias.detach())),
            _ => self.forward(x),
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        fused::linear(x, &self.weight, Some(&self.bias))
    }
}

/// Layer normalisation over the last dimension.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub eps: f64,
}

impl LayerNorm {
    pub fn new(vb: candle_nn::VarBuilder, size: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            bias: vb.get(size, "bias")?,
            eps,
        })
    }
}

impl LayerNorm {
    /// Our fused kernel on the CPU; elsewhere candle's fused kernel in inference (it has no
    /// backward pass) and the differentiable composition in training.
    pub fn forward_mode(&self, x: &Tensor, mode: &Mode) -> Result<Tensor> {
        if fused::fusable(x) {
            fused::layer_norm(x, &self.weight, &self.bias, self.eps)
        } else if mode.is_train() {
            self.forward(x)
        } else {
            candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps as f32)
        }
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if fused::fusable(x) {
            return fused::layer_norm(x, &self.weight, &self.bias, self.eps);
        }
        composed_layer_norm(self, x)
    }
}

/// The reference the fused kernel is tested against, and the path off the CPU.
pub fn composed_layer_norm(ln: &LayerNorm, x: &Tensor) -> Result<Tensor> {
    {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(var + ln.eps)?.sqrt()?)?;
        normed.broadcast_mul(&ln.weight)?.broadcast_add(&ln.bias)
    }
}

/// Softmax over the last dimension: candle's fused kernel in inference, the differentiable
/// composition in training.
pub fn softmax_mode(x: &Tensor, mode: &Mode) -> Result<Tensor> {
    if mode.is_train() {
        softmax_last_dim(x)
    } else {
        candle_nn::ops::softmax_last_dim(x)
    }
}

/// Softmax over the last dimension. The max is subtracted for stability and detached: it
/// cancels out of the result, so it needs no gradient.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let exp = x.broadcast_sub(&max)?.exp()?;
    let sum = exp.sum_keepdim(D::Minus1)?;
    exp.broadcast_div(&sum)
}

pub fn activation(x: &Tensor, act: Activation) -> Result<Tensor> {
    match act {
        Activation::Gelu if fused::fusable(x) => fused::gelu_erf(x),
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluNew | Activation::GeluPytorchTanh | Activation::GeluFast => x.gelu(),
        Activation::Relu => x.relu(),
    }
}

/// Inverted dropout with a mask from our seeded generator; the identity in eval mode.
pub fn dropout(x: &Tensor, p: f64, mode: &mut Mode) -> Result<Tensor> {
    match mode {
        Mode::Train(rng) if p > 0.0 && fused::fusable(x) => {
            let words = rng.words(x.elem_count());
            fused::dropout(x, words, p)
        }
        Mode::Train(rng) if p > 0.0 => {
            let mask = rng.dropout_mask(x.dims(), p, x.device())?;
            x.mul(&mask)
        }
        _ => Ok(x.clone()),
    }
}
