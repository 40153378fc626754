//! Milliseconds per call of each fused CPU kernel against the candle composition it replaces,
//! forward and backward, on the tensors of a MiniLM step (batch 16 × 128; the loss on those of a
//! masked-language-model step).
//! `cargo bench --bench fused_ops`

use alambic::model::fused;
use alambic::model::ops::{LayerNorm, composed_layer_norm, softmax_last_dim};
use alambic::train::loss::composed_cross_entropy;
use candle_core::{Device, Tensor, Var};
use candle_nn::Module;
use std::time::Instant;

type Case = Box<dyn Fn() -> candle_core::Result<Tensor>>;

/// Best of 7 after one warm-up, in milliseconds.
fn ms(f: &dyn Fn() -> candle_core::Result<Tensor>) -> candle_core::Result<f64> {
    f()?;
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t = Instant::now();
        f()?;
        best = best.min(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok(best)
}

fn main() -> candle_core::Result<()> {
    alambic::runtime::tune_allocator();
    let d = Device::Cpu;
    let scores = Var::from_tensor(&Tensor::randn(0f32, 1.0, (16, 12, 128, 128), &d)?)?;
    let mask = Tensor::ones((16, 128), candle_core::DType::F32, &d)?;
    let additive = mask.zeros_like()?.unsqueeze(1)?.unsqueeze(1)?;
    let hidden = Var::from_tensor(&Tensor::randn(0f32, 1.0, (16, 128, 384), &d)?)?;
    let wide = Var::from_tensor(&Tensor::randn(0f32, 1.0, (16, 128, 1536), &d)?)?;
    let ln = LayerNorm {
        weight: Var::from_tensor(&Tensor::ones(384, candle_core::DType::F32, &d)?)?
            .as_tensor()
            .clone(),
        bias: Var::from_tensor(&Tensor::zeros(384, candle_core::DType::F32, &d)?)?
            .as_tensor()
            .clone(),
        eps: 1e-12,
    };
    let bias = Var::from_tensor(&Tensor::zeros(1536, candle_core::DType::F32, &d)?)?;
    // Forward, then backward from the sum: the time of both passes.
    fn probe(t: Tensor) -> candle_core::Result<Tensor> {
        t.sum_all()?.backward()?;
        Ok(t)
    }
    let (s1, s2, m1) = (scores.clone(), scores.clone(), mask.clone());
    let (h1, h2, ln1, ln2) = (hidden.clone(), hidden.clone(), ln.clone(), ln.clone());
    let (w1, w2, w3, w4) = (wide.clone(), wide.clone(), wide.clone(), wide.clone());
    let (b1, b2) = (bias.clone(), bias.clone());
    let a1 = additive.clone();
    let (s3, s4, m3, a3) = (
        scores.clone(),
        scores.clone(),
        mask.clone(),
        additive.clone(),
    );
    let (w5, w6) = (wide.clone(), wide.clone());
    // The masked-language model's loss: 15 % of a batch of 8 × 256 over BERT's vocabulary.
    let vocab_logits = Var::from_tensor(&Tensor::randn(0f32, 1.0, (307, 30_522), &d)?)?;
    let (v1, v2) = (vocab_logits.clone(), vocab_logits.clone());
    let targets: Vec<u32> = (0..307u32).map(|i| i * 97 % 30_522).collect();
    let (t1, t2) = (targets.clone(), targets);
    let ones = vec![1f32; 307];
    let (o1, o2) = (ones.clone(), ones);
    let cases: Vec<(&str, Case, Case)> = vec![
        (
            "softmax 16×12×128×128 fwd",
            Box::new(move || fused::masked_softmax(&s3, &m3, 0.17, -1e4)),
            Box::new(move || softmax_last_dim(&(s4.as_tensor() * 0.17)?.broadcast_add(&a3)?)),
        ),
        (
            "gelu 16×128×1536 fwd",
            Box::new(move || fused::gelu_erf(&w5)),
            Box::new(move || w6.gelu_erf()),
        ),
        (
            "softmax 16×12×128×128 fwd+bwd",
            Box::new(move || probe(fused::masked_softmax(&s1, &m1, 0.17, -1e4)?)),
            Box::new(move || {
                probe(softmax_last_dim(
                    &(s2.as_tensor() * 0.17)?.broadcast_add(&a1)?,
                )?)
            }),
        ),
        (
            "layer norm 16×128×384 fwd+bwd",
            Box::new(move || probe(ln1.forward(&h1)?)),
            Box::new(move || probe(composed_layer_norm(&ln2, &h2)?)),
        ),
        (
            "gelu 16×128×1536 fwd+bwd",
            Box::new(move || probe(fused::gelu_erf(&w1)?)),
            Box::new(move || probe(w2.gelu_erf()?)),
        ),
        (
            "bias 16×128×1536 fwd+bwd",
            Box::new(move || probe(fused::add_bias(&w3, &b1)?)),
            Box::new(move || probe(w4.broadcast_add(&b2)?)),
        ),
        (
            "cross-entropy 307×30522 fwd+bwd",
            Box::new(move || probe(fused::cross_entropy_rows(&v1, &t1, &o1)?)),
            Box::new(move || probe(composed_cross_entropy(&v2, &t2, &o2)?)),
        ),
    ];
    println!(
        "{:34} {:>9} {:>9} {:>7}",
        "op", "fused ms", "candle ms", "ratio"
    );
    for (name, ours, theirs) in &cases {
        let (a, b) = (ms(ours.as_ref())?, ms(theirs.as_ref())?);
        println!("{name:34} {a:9.2} {b:9.2} {:6.1}×", b / a);
    }
    Ok(())
}
