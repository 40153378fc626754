//! int8 inference: each quantised layer stays within the error its two roundings allow, a
//! quantised model saves and loads back bit for bit, and a quantised run is a run.

use super::golden::max_diff;
use crate::common::scratch_dir;
use alambic::model::encoder::Batch;
use alambic::model::int8::{PackedInt8, int8_dense, quantize_weight};
use alambic::model::load::{Classifier, LoadOptions};
use alambic::model::{Mode, load_source};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use std::sync::Arc;

fn load(src: &str) -> Classifier {
    load_source(
        src,
        &LoadOptions {
            seed: 3,
            ..LoadOptions::default()
        },
        &Device::Cpu,
    )
    .unwrap_or_else(|e| panic!("{src}: {e}"))
    .0
}

/// For every dense layer of MiniLM, on random inputs: |int8 − f32| ≤ (s_w/2)·‖x‖₁ +
/// (s_x/2)·‖ŵ‖₁ per output (the weight rounding seen through x, the activation rounding seen
/// through the rounded weights), plus f32 summation slack.
#[test]
fn each_int8_layer_stays_within_its_rounding_bound() {
    let minilm = alambic::testing::minilm_folder().expect("fetch all-MiniLM-L6-v2");
    let mut model = load(minilm.to_str().expect("path"));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let rows = 21;
    let mut checked = 0;
    for (name, dense) in model.encoder.dense_layers() {
        let (n, k) = dense.weight.dims2().expect("matrix");
        let w = dense
            .weight
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .expect("w");
        let b = dense.bias.to_vec1::<f32>().expect("b");
        let x: Vec<f32> = (0..rows * k).map(|_| rng.random_range(-3.0..3.0)).collect();
        let (q, scale) = quantize_weight(&w, n, k);
        let packed = Arc::new(PackedInt8::pack(&q, scale.clone(), n, k));
        let xt = Tensor::from_vec(x.clone(), (rows, k), &Device::Cpu).expect("x");
        let got = int8_dense(&xt, &packed, &dense.bias, None, false)
            .expect("int8")
            .expect("cpu f32")
            .to_vec2::<f32>()
            .expect("out");
        for (r, row) in x.chunks(k).enumerate() {
            let sx = row.iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
            let x1: f32 = row.iter().map(|v| v.abs()).sum();
            for c in 0..n {
                let wr = &w[c * k..(c + 1) * k];
                let exact: f32 = row.iter().zip(wr).map(|(a, b)| a * b).sum::<f32>() + b[c];
                let w1: f32 = q[c * k..(c + 1) * k]
                    .iter()
                    .map(|&v| (f32::from(v) * scale[c]).abs())
                    .sum();
                let bound = scale[c] / 2.0 * x1 + sx / 2.0 * w1;
                let err = (got[r][c] - exact).abs();
                assert!(
                    err <= bound * 1.001 + 1e-4,
                    "{name} [{r}, {c}]: error {err} over the bound {bound}"
                );
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 36, "six layers of six dense layers");
}

fn logits(model: &Classifier) -> Tensor {
    let ids: Vec<Vec<u32>> = (0..3u32)
        .map(|r| {
            (0..40u32)
                .map(|i| 1000 + (i * 37 + r * 101) % 20000)
                .collect()
        })
        .collect();
    let mask = vec![vec![1u32; 40]; 3];
    model
        .forward(
            &Batch {
                input_ids: &ids,
                attention_mask: &mask,
            },
            &mut Mode::Eval,
            false,
        )
        .expect("forward")
        .logits
}

/// `int8:` quantises the dense layers; saved as a checkpoint, the int8 weights go to their
/// own file (not twice), and the model loads back with exactly the same logits. The f32 view
/// of the weights is what the int8 stands for, and the int8 logits stay close to f32's.
#[test]
fn an_int8_model_saves_and_loads_back_bit_for_bit() {
    let minilm = alambic::testing::minilm_folder().expect("fetch all-MiniLM-L6-v2");
    let src = minilm.to_str().expect("path");
    let f32_model = load(src);
    let int8 = load(&format!("int8:{src}"));
    assert_eq!(
        int8.config.alambic_int8.as_ref().map(|c| c.layers),
        Some(36)
    );
    let (want, got) = (logits(&f32_model), logits(&int8));
    let diff = max_diff(&want, &got);
    assert!(diff > 0.0 && diff < 0.05, "int8 logits differ by {diff}");

    let dir = scratch_dir("int8-checkpoint");
    alambic::train::checkpoint::save(&dir, &int8, None).expect("save");
    let saved = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu)
        .expect("f32 file");
    assert!(!saved.contains_key("bert.encoder.layer.0.intermediate.dense.weight"));
    assert!(saved.contains_key("bert.encoder.layer.0.intermediate.dense.bias"));
    let (back, _) =
        alambic::train::checkpoint::load_model(&dir, 3, &Device::Cpu).expect("load back");
    assert_eq!(back.encoder.int8_weights().len(), 36);
    assert_eq!(max_diff(&got, &logits(&back)), 0.0);
    let err = load_source(
        &format!("int8:{}", dir.display()),
        &LoadOptions::default(),
        &Device::Cpu,
    )
    .err()
    .expect("int8 twice")
    .to_string();
    assert!(err.contains("already int8"), "{err}");
}

/// `quantize` on a finished run writes a run folder: the int8 checkpoint, a summary scored on
/// the same splits at the same threshold, and a report whose agreement is the share of equal
/// verdicts in the two runs' predictions (all but at most 1 %); the quantised run cannot be
/// trained from, nor quantised again.
#[test]
fn quantize_turns_a_finished_run_into_an_int8_run() {
    let (run, _) = crate::train::runs::run_tiny("quantize", &[]);
    let out = scratch_dir("quantize-int8");
    let q = out.join("int8");
    let report = alambic::train::quantize::quantize_run(&run, &q).expect("quantize");
    assert_eq!(report.layers, 12, "2 layers × 6 dense layers");
    assert!(report.int8_mb < 0.6 * report.f32_mb, "{report:?}");
    let summary = alambic::store::schema::RunSummary::read(&q).expect("summary");
    assert!(summary.model.starts_with("int8:"));
    // Summaries, the workbench and the report size an int8 run by its bytes.
    let f32_size = alambic::store::schema::RunSummary::read(&run)
        .expect("f32 summary")
        .weights_mb();
    assert_eq!(
        summary.parameters,
        alambic::store::schema::RunSummary::read(&run)
            .expect("s")
            .parameters
    );
    assert!(
        summary.weights_mb() < 0.6 * f32_size,
        "{} MB",
        summary.weights_mb()
    );
    let (a, b) = (
        alambic::store::schema::Predictions::read(&run).expect("f32"),
        alambic::store::schema::Predictions::read(&q).expect("int8"),
    );
    let (ta, tb) = (
        a.split("test").expect("test"),
        b.split("test").expect("test"),
    );
    let same = ta.iter().filter(|(id, p)| tb[*id].p == p.p).count();
    assert_eq!(report.agreement_test, Some(same as f64 / ta.len() as f64));
    assert!(
        same as f64 >= 0.95 * ta.len() as f64,
        "{same} of {}",
        ta.len()
    );
    let again = alambic::train::quantize::quantize_run(&q, &out.join("again"))
        .expect_err("twice")
        .to_string();
    assert!(again.contains("already int8"), "{again}");
    let cfg = crate::common::tiny(&[&format!("student.model=\"{}\"", q.display())]);
    let mut dir = alambic::store::RunDir::create(&out, "student", &cfg.to_toml()).expect("dir");
    let err = alambic::train::trainer::train(
        &cfg,
        "student",
        &mut dir,
        &mut alambic::store::VecSink::default(),
        &std::sync::atomic::AtomicBool::new(false),
        false,
    )
    .err()
    .expect("training an int8 model")
    .to_string();
    assert!(err.contains("int8-quantised, for inference"), "{err}");
}
