//! Mixture-of-Experts students (`moe:` sources): the invariants of both initialisations, the
//! router's gradient, and training, checkpoints and resume through the engine.

use super::golden::max_diff;
use super::sources::{load, var};
use crate::common::{scratch_dir, tiny};
use crate::train::runs::{interrupted_at, max_weight_diff, resume_to_end, run_tiny};
use alambic::model::encoder::Batch;
use alambic::model::load::{Classifier, LoadOptions};
use alambic::model::{HeadKind, Mode, Pooling, load_source};
use alambic::store::TrainEvent;
use candle_core::{Device, Tensor};

const DENSE: &str = "scratch:bert-tiny?vocab=300";

/// Three windows of different lengths (padding included).
fn logits(model: &Classifier, mode: &mut Mode) -> Tensor {
    let ids: Vec<Vec<u32>> = vec![
        (0..24).map(|i| (i * 7 + 3) % 300).collect(),
        (0..24).map(|i| (i * 13 + 5) % 300).collect(),
        (0..24)
            .map(|i| if i < 10 { (i * 11 + 1) % 300 } else { 0 })
            .collect(),
    ];
    let mask: Vec<Vec<u32>> = ids
        .iter()
        .enumerate()
        .map(|(r, row)| (0..row.len()).map(|i| u32::from(r < 2 || i < 10)).collect())
        .collect();
    model
        .forward(
            &Batch {
                input_ids: &ids,
                attention_mask: &mask,
            },
            mode,
            false,
        )
        .expect("forward")
        .logits
}

/// Upcycled experts are copies of the dense FFN and the gates sum to 1: the mixture computes
/// exactly what the dense model does, for top-1 and top-2 and for any router weights.
#[test]
fn upcycled_mixture_equals_its_dense_source_for_any_router() {
    let dense = logits(&load(DENSE), &mut Mode::Eval);
    for top_k in [1, 2] {
        let moe = load(&format!("moe:{DENSE}?experts=4&top_k={top_k}&init=upcycle"));
        for layer in 0..2 {
            let router = var(
                &moe,
                &format!("bert.encoder.layer.{layer}.moe.router.weight"),
            );
            // Far from the initial scale: routing changes, the output must not.
            let wild = router.as_tensor().randn_like(0.0, 3.0).expect("randn");
            router.set(&wild).expect("set");
        }
        let diff = max_diff(&dense, &logits(&moe, &mut Mode::Eval));
        assert!(diff < 1e-5, "top-{top_k}: upcycled logits differ by {diff}");
    }
}

/// Split experts and the shared neurons partition the dense FFN: the sum of every expert's
/// un-gated output plus the shared neurons' (counted once) and the output bias is the dense
/// FFN's output, computed here from the tensors on random inputs.
#[test]
fn split_experts_cover_the_dense_ffn_exactly() {
    let dense = load(DENSE);
    let moe = load(&format!(
        "moe:{DENSE}?experts=4&top_k=1&init=split&layers=2&shared=40"
    ));
    let cfg = moe.config.alambic_moe.clone().expect("moe config");
    // 512 neurons: 40 shared, and 4 × 118 = 472 dealt out.
    assert_eq!(
        (cfg.shared_size, cfg.expert_size, cfg.layers),
        (40, 118, vec![2])
    );
    let x = Tensor::randn(0f32, 1.0, (16, 128), &Device::Cpu).expect("x");
    let t = |m: &Classifier, name: &str| {
        var(m, &format!("bert.encoder.layer.1.{name}"))
            .as_tensor()
            .clone()
    };
    let ffn = |w_in: Tensor, b_in: Tensor, w_out: Tensor| -> Tensor {
        x.matmul(&w_in.t().expect("t"))
            .and_then(|h| h.broadcast_add(&b_in))
            .and_then(|h| h.gelu_erf())
            .and_then(|h| h.matmul(&w_out.t().expect("t")))
            .expect("ffn")
    };
    let want = ffn(
        t(&dense, "intermediate.dense.weight"),
        t(&dense, "intermediate.dense.bias"),
        t(&dense, "output.dense.weight"),
    );
    let mut names: Vec<String> = (0..4).map(|e| format!("moe.experts.{e}")).collect();
    names.push("moe.shared".into());
    let mut got = x.zeros_like().expect("zeros");
    for n in &names {
        let part = ffn(
            t(&moe, &format!("{n}.intermediate.weight")),
            t(&moe, &format!("{n}.intermediate.bias")),
            t(&moe, &format!("{n}.output.weight")),
        );
        got = (got + part).expect("add");
    }
    let diff = max_diff(&want, &got);
    assert!(
        diff < 1e-4,
        "experts + shared differ from the dense FFN by {diff}"
    );
    // The untouched layer and the output bias are the dense model's own.
    assert_eq!(
        max_diff(
            &t(&dense, "output.dense.bias"),
            &t(&moe, "output.dense.bias")
        ),
        0.0
    );
    let first = |m: &Classifier| {
        var(m, "bert.encoder.layer.0.intermediate.dense.weight")
            .as_tensor()
            .clone()
    };
    assert_eq!(max_diff(&first(&dense), &first(&moe)), 0.0);
}

/// Training reaches every router weight: each expert's row of the gate gets a gradient from
/// the label loss (through the renormalised gates) and from the balancing term.
#[test]
fn a_router_gradient_reaches_every_gate_weight() {
    let moe = load(&format!("moe:{DENSE}?experts=4&top_k=1&init=split"));
    let mut rng = alambic::model::init::SeededRng::new(5);
    let ids: Vec<Vec<u32>> = (0..8)
        .map(|r| {
            (0..32)
                .map(|i| ((r * 31 + i * 17) % 299 + 1) as u32)
                .collect()
        })
        .collect();
    let mask: Vec<Vec<u32>> = ids.iter().map(|r| vec![1; r.len()]).collect();
    let out = moe
        .forward(
            &Batch {
                input_ids: &ids,
                attention_mask: &mask,
            },
            &mut Mode::Train(&mut rng),
            false,
        )
        .expect("forward");
    assert_eq!(out.encoder.moe.len(), 2);
    for stats in &out.encoder.moe {
        let total: f64 = stats.load.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "shares sum to {total}");
    }
    let label_loss = out
        .logits
        .narrow(1, 0, 1)
        .expect("col")
        .sum_all()
        .expect("sum");
    let grads = label_loss.backward().expect("backward");
    for layer in 0..2 {
        let router = var(
            &moe,
            &format!("bert.encoder.layer.{layer}.moe.router.weight"),
        );
        let g = grads
            .get(router.as_tensor())
            .expect("the label loss reaches the router");
        let rows: Vec<Vec<f32>> = g.abs().expect("abs").to_vec2().expect("rows");
        for (e, row) in rows.iter().enumerate() {
            // (A top-1 gate renormalised through its own sum is p/p: a gradient of rounding
            // error, ~1e-9, not of the loss.)
            let largest = row.iter().copied().fold(0.0, f32::max);
            assert!(
                largest > 1e-4,
                "layer {layer}: expert {e}'s gate has no gradient from the label loss ({largest:e})"
            );
        }
        let balance = &out.encoder.moe[layer].balance;
        let g = balance.backward().expect("backward");
        let g = g
            .get(router.as_tensor())
            .expect("balance reaches the router");
        let all: Vec<f32> = g
            .abs()
            .expect("abs")
            .flatten_all()
            .expect("f")
            .to_vec1()
            .expect("v");
        assert!(
            all.iter().all(|v| *v > 0.0),
            "a router weight has no balance gradient"
        );
    }
}

/// A mixture student trains through the engine: the balancing term in the step events, one
/// expert-load event per step event with shares summing to 1, and a run interrupted at step 7
/// resumes to the weights of an uninterrupted one.
#[test]
fn mixture_student_trains_and_resumes_exactly() {
    let model = "student.model=\"moe:scratch:bert-tiny?tokenizer=data/demo/tokenizer.json?experts=4&top_k=2&init=split\"";
    let sets = [model, "train.max_steps=12"];
    let (full, events) = run_tiny("moe-full", &sets);
    let steps = events
        .iter()
        .filter(|e| matches!(e, TrainEvent::Step { .. }))
        .count();
    let loads: Vec<&TrainEvent> = events
        .iter()
        .filter(|e| matches!(e, TrainEvent::ExpertLoad { .. }))
        .collect();
    assert_eq!(loads.len(), steps);
    for e in &events {
        match e {
            TrainEvent::Step { terms, .. } => {
                let b = terms["moe_balance"];
                // E · Σ fᵢ Pᵢ is 1 for an even load and at most E.
                assert!(b > 0.5 && b <= 4.0, "moe_balance {b}");
            }
            TrainEvent::ExpertLoad { layers, .. } => {
                assert_eq!(layers.keys().collect::<Vec<_>>(), vec!["1", "2"]);
                for shares in layers.values() {
                    assert_eq!(shares.len(), 4);
                    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                }
            }
            _ => {}
        }
    }
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(full.join("checkpoints/last/config.json")).expect("config"),
    )
    .expect("json");
    assert_eq!(config["alambic_moe"]["experts"], 4);

    let cfg = tiny(&sets);
    let path = interrupted_at(&cfg, &scratch_dir("moe-resume"), 7);
    resume_to_end(&cfg, &path);
    let diff = max_weight_diff(&full, &path);
    assert!(diff <= 1e-6, "resumed weights differ by {diff}");
}

/// The export is Alambic's own folder (transformers has no BERT with experts, and the README
/// says so); it loads back with its head and the same logits.
#[test]
fn mixture_export_reloads_with_the_same_logits() {
    let (moe, _) = load_source(
        &format!("moe:{DENSE}?experts=4&top_k=2&init=split&layers=1"),
        &LoadOptions {
            seed: 3,
            head: Some(HeadKind::Plain(Pooling::Max)),
            ..LoadOptions::default()
        },
        &Device::Cpu,
    )
    .expect("load");
    let dir = scratch_dir("moe-export");
    alambic::model::export::export(&moe, &dir).expect("export");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("readme");
    assert!(
        readme.contains("transformers has no BERT with experts"),
        "{readme}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(
        config["architectures"][0],
        "AlambicMoeForSequenceClassification"
    );
    let back = load(dir.to_str().expect("path"));
    assert_eq!(back.head_kind, HeadKind::Plain(Pooling::Max));
    assert_eq!(back.config.alambic_moe, moe.config.alambic_moe);
    let diff = max_diff(
        &logits(&moe, &mut Mode::Eval),
        &logits(&back, &mut Mode::Eval),
    );
    assert_eq!(diff, 0.0);
}
