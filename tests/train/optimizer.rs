//! AdamW against `torch.optim.AdamW` (`../shared/fixtures/adamw`).

use crate::common::fixture;
use alambic::train::optim::{AdamW, AdamWConfig, lr_at};
use candle_core::{Device, Var};
use std::collections::HashMap;

#[test]
fn adamw_matches_pytorch_for_three_steps() {
    let golden = candle_core::safetensors::load(fixture("adamw/golden.safetensors"), &Device::Cpu)
        .expect("golden");
    let w = Var::from_tensor(&golden["w0"]).expect("var");
    let mut opt = AdamW::new(
        vec![("w".to_string(), w.clone())],
        AdamWConfig {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
        },
    )
    .expect("optimizer");
    for step in 0..3 {
        let grads = HashMap::from([("w".to_string(), golden[&format!("grad.{step}")].clone())]);
        opt.step(&grads, 1e-2).expect("step");
        let want = &golden[&format!("w.{}", step + 1)];
        let diff = (w.as_tensor() - want)
            .and_then(|d| d.abs())
            .and_then(|d| d.flatten_all())
            .and_then(|d| d.max(0))
            .and_then(|d| d.to_scalar::<f32>())
            .expect("diff");
        assert!(diff < 1e-6, "step {}: max diff {diff}", step + 1);
    }
}

#[test]
fn warmup_then_linear_decay() {
    let lrs: Vec<f64> = (0..10).map(|s| lr_at(s, 1.0, 2, 10)).collect();
    assert_eq!(
        lrs,
        vec![0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]
    );
}
